//! `ledger export --period YYYY-MM --format import-csv` (issue #17): the period's live KZ dispensings
//! in the layout `ledger import dispensings` reads (docs/import.md), so that a pharmacy's corrected
//! rows, or a whole period, go back in exactly as the ledger printed them. Beside it, the manifest of
//! every export (counts, chain heads, SHA-256).
//!
//! Two passes over the period's streams: the reversals first (a reversed dispensing is no longer
//! claimed, P-09), then each dispensing recorded and not reversed, in log order. Memory stays bounded
//! by the reversals, not by the period.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use ledger::domain::event::Event;
use ledger::domain::values::DispensingId;
use ledger::log::EventLog;

use crate::audit::{ExportWriter, Selection, scan};
use crate::files::AtomicFile;
use crate::import::{HEADER, recorded_row};

/// Writes `<out>/dispensings.csv` and `<out>/manifest.json`; returns the rows written.
pub async fn export(log: &dyn EventLog, period: &str, out: &Path) -> anyhow::Result<u64> {
    let selection = Selection::Period {
        period: period.to_owned(),
    };
    let reversed = reversed(log, &selection).await?;
    let path = out.join("dispensings.csv");
    let file =
        AtomicFile::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut writer = ExportWriter::new(file);
    writer
        .header(&HEADER.join(","))
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut failure = None;
    let heads = scan(log, &selection, None, |envelope| {
        if envelope.body.payload.event_type != "DispensingRecorded" {
            return Ok(());
        }
        let recorded = match Event::from_payload(&envelope.body.payload) {
            Ok(Event::DispensingRecorded(recorded)) => recorded,
            other => {
                failure.get_or_insert(format!("{}: {other:?}", envelope.position));
                return Ok(());
            }
        };
        let key = (
            envelope.body.stream.to_string(),
            recorded.dispensing_id.clone(),
        );
        if reversed.contains(&key) {
            return Ok(());
        }
        match recorded_row(&recorded) {
            Ok(row) => writer.record(envelope, &csv_line(&row)),
            Err(error) => {
                failure.get_or_insert(error);
                Ok(())
            }
        }
    })
    .await?;
    if let Some(failure) = failure {
        anyhow::bail!("cannot export {period} in the import layout: {failure}");
    }
    let mut manifest = writer
        .commit("import-csv", heads)
        .with_context(|| format!("cannot write {}", path.display()))?;
    manifest.selection = format!("period {period}, live dispensings in the import layout");
    let manifest_path = out.join("manifest.json");
    crate::files::write_file(
        &manifest_path,
        serde_json::to_string_pretty(&manifest)? + "\n",
    )
    .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    Ok(manifest.events)
}

/// The period's reversed dispensings, by (stream, dispensing id): the first pass.
async fn reversed(
    log: &dyn EventLog,
    selection: &Selection,
) -> anyhow::Result<BTreeSet<(String, DispensingId)>> {
    let mut reversed = BTreeSet::new();
    scan(log, selection, None, |envelope| {
        if envelope.body.payload.event_type == "DispensingReversed"
            && let Ok(Event::DispensingReversed(reversal)) =
                Event::from_payload(&envelope.body.payload)
        {
            reversed.insert((envelope.body.stream.to_string(), reversal.dispensing_id));
        }
        Ok(())
    })
    .await?;
    Ok(reversed)
}

fn csv_line(cells: &[String]) -> String {
    let mut out = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    out.write_record(cells).expect("write to memory");
    let bytes = out.into_inner().expect("flush to memory");
    String::from_utf8(bytes)
        .expect("CSV of UTF-8 strings")
        .trim_end()
        .to_owned()
}
