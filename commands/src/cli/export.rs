//! `ledger export --period P [--format jsonl|csv|parquet] [--pseudonymize KEYFILE]` (issue #8, #15 §4,
//! §5): a period's events plus a manifest of counts, chain heads and SHA-256. Every file is written
//! whole or not at all (`crate::files`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ledger::log::{EventEnvelope, EventLog};
use ledger::public::CloudEvents;

use super::history::{ExportArgs, ExportFormat, csv_line, parse_period};
use super::{GlobalOpts, UsageError, open};
use crate::audit::{ExportWriter, Manifest, Selection, scan};
use crate::files::AtomicFile;
use crate::pseudonym::Pseudonymizer;

/// Reads `--pseudonymize KEYFILE`, refusing an unusable key as bad input.
pub fn pseudonymizer(path: Option<&Path>) -> anyhow::Result<Option<Pseudonymizer>> {
    path.map(|path| {
        Pseudonymizer::from_key_file(path).map_err(|error| UsageError(error.to_string()).into())
    })
    .transpose()
}

pub fn run(args: ExportArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let period = parse_period(&args.period)?;
    let pseudonymizer = pseudonymizer(args.pseudonymize.as_deref())?;
    let selection = Selection::Period {
        period: period.clone(),
    };
    let runtime = super::runtime()?;
    let log = open::read_only(&runtime, global)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    if args.format == ExportFormat::ImportCsv {
        let rows = runtime.block_on(super::export_import::export(&*log, &period, &args.out))?;
        println!(
            "exported {rows} dispensings of {period} in the import layout to {}",
            args.out.join("dispensings.csv").display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut manifest = match args.format {
        ExportFormat::Parquet => {
            runtime.block_on(parquet(&*log, &selection, &args.out, pseudonymizer.clone()))?
        }
        format => runtime.block_on(text(
            &*log,
            &selection,
            &args.out,
            format,
            &jsonl_form(global, pseudonymizer.as_ref()),
        ))?,
    };
    manifest.selection = format!("period {period}");
    manifest.pseudonymized = pseudonymizer.as_ref().map(Pseudonymizer::fingerprint);
    let manifest_path = args.out.join("manifest.json");
    crate::files::write_file(
        &manifest_path,
        serde_json::to_string_pretty(&manifest)? + "\n",
    )
    .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    println!(
        "exported {} events of {period} as {} to {} (manifest {})",
        manifest.events,
        manifest.format,
        args.out.display(),
        manifest_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The form of `--format jsonl` (issue #14 §6, DESIGN §9): the one public form, the CloudEvent of
/// `ledger::public` that `history --format json` prints and the JSON topic carries; with
/// `--pseudonymize`, its `data` with patient identifiers replaced by their pseudonyms.
pub(crate) fn jsonl_form(
    global: &GlobalOpts,
    pseudonymizer: Option<&Pseudonymizer>,
) -> CloudEvents {
    let form = super::public::form(global);
    match pseudonymizer {
        Some(pseudonymizer) => form.with_data_map(Arc::new(pseudonymizer.clone())),
        None => form,
    }
}

/// JSONL or CSV: one file, `events.<format>`.
async fn text(
    log: &dyn EventLog,
    selection: &Selection,
    out: &Path,
    format: ExportFormat,
    form: &CloudEvents,
) -> anyhow::Result<Manifest> {
    let extension = match format {
        ExportFormat::Csv => "csv",
        _ => "jsonl",
    };
    let path = out.join(format!("events.{extension}"));
    let file =
        AtomicFile::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut writer = ExportWriter::new(file);
    if format == ExportFormat::Csv {
        writer.header("position,stream,version,event_type,schema_version,occurred_at,recorded_at,actor,command_id,hash")?;
    }
    // A record without a public form stops the scan, and nothing is written; the error names it.
    let mut unrendered = None;
    let scanned = scan(log, selection, None, |envelope| {
        let line = match format {
            ExportFormat::Csv => csv_line(envelope),
            _ => {
                let mut line = Vec::with_capacity(1536);
                super::public::write_line(&mut line, form, envelope).map_err(|error| {
                    let stop = std::io::Error::other(error.to_string());
                    unrendered = Some(error);
                    stop
                })?;
                line.pop(); // `record` adds the newline
                String::from_utf8(line).expect("serde_json writes UTF-8")
            }
        };
        writer.record(envelope, &line)
    })
    .await;
    if let Some(error) = unrendered {
        return Err(error);
    }
    let heads = scanned?;
    writer
        .commit(extension, heads)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Parquet: one file per event type and `registry_lines.parquet`, of the events `selection` takes.
pub async fn parquet(
    log: &dyn EventLog,
    selection: &Selection,
    out: &Path,
    pseudonymizer: Option<Pseudonymizer>,
) -> anyhow::Result<Manifest> {
    crate::audit::parquet::export(log, out, pseudonymizer, &|envelope: &EventEnvelope| {
        selection.matches(&envelope.body.stream)
    })
    .await
}
