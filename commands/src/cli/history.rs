//! `ledger history` and `ledger export`: every event of a contract or a period, for regulators and
//! analysts.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use ledger::domain::time::Timestamp;
use ledger::log::EventEnvelope;

use super::{GlobalOpts, UsageError, open};
use crate::audit::{Selection, history_line, scan};

/// `--format json` prints each event as its CloudEvent (the public form, as on the Kafka topic
/// `<prefix>.events.json`), one per line.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Every event of one contract (its contract stream and all its period streams).
    #[arg(long, conflicts_with_all = ["period", "stream"])]
    pub contract: Option<String>,
    /// Every event of one reporting month (YYYY-MM), all contracts.
    #[arg(long, conflicts_with = "stream")]
    pub period: Option<String>,
    /// Every event of one stream of any kind, e.g. `reference/prices/KZ`, `budget/KZ/GOBMP/2026`,
    /// `keys/<BIN>`, `reference/calendar/KG`, `reference/kg-reference-book`,
    /// `recovery/pharmacy/<TIN>`, `contract/<id>/dispute/<id>`.
    #[arg(long)]
    pub stream: Option<String>,
    /// Only events recorded at or before this instant (RFC 3339, e.g. 2026-02-01T00:00:00Z).
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: super::Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
    /// The period's live dispensings in the layout `ledger import dispensings` reads.
    ImportCsv,
    /// One Parquet file per event type, typed columns, plus `registry_lines.parquet` (docs/analysis.md).
    Parquet,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The reporting month to export (YYYY-MM).
    #[arg(long)]
    pub period: String,
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,
    /// Output directory: gets `events.<format>` (Parquet: `<EventType>.parquet` and
    /// `registry_lines.parquet`) and `manifest.json`.
    #[arg(long, default_value = "export")]
    pub out: PathBuf,
    /// Replace patient IINs/PINs by keyed pseudonyms (HMAC-SHA256 under the key in this file) and
    /// drop patient names; the manifest records the key's fingerprint.
    #[arg(long, value_name = "KEYFILE")]
    pub pseudonymize: Option<PathBuf>,
}

fn selection(args: &HistoryArgs) -> anyhow::Result<Selection> {
    match (
        args.contract.as_deref(),
        args.period.as_deref(),
        args.stream.as_deref(),
    ) {
        (Some(contract_id), None, None) => {
            ledger::log::StreamId::new(format!("contract/{contract_id}"))
                .map_err(|error| UsageError(format!("--contract {contract_id:?}: {error}")))?;
            Ok(Selection::Contract {
                contract_id: contract_id.to_owned(),
            })
        }
        (None, Some(period), None) => Ok(Selection::Period {
            period: parse_period(period)?,
        }),
        (None, None, Some(stream)) => {
            let stream = ledger::log::StreamId::new(stream)
                .map_err(|error| UsageError(format!("--stream {stream:?}: {error}")))?;
            Ok(Selection::Stream { stream })
        }
        _ => Err(UsageError(
            "give exactly one of --contract ID, --period YYYY-MM or --stream STREAM-ID".into(),
        )
        .into()),
    }
}

/// Validates `YYYY-MM`.
pub fn parse_period(text: &str) -> anyhow::Result<String> {
    let valid = chrono::NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").is_ok()
        && text.len() == 7;
    if valid {
        Ok(text.to_owned())
    } else {
        Err(UsageError(format!("--period {text:?} is not a month YYYY-MM")).into())
    }
}

fn parse_until(text: Option<&str>) -> anyhow::Result<Option<Timestamp>> {
    text.map(|text| {
        Timestamp::parse_rfc3339(text).map_err(|error| {
            UsageError(format!(
                "--until {text:?} is not an RFC 3339 instant ({error})"
            ))
            .into()
        })
    })
    .transpose()
}

/// The longest payload summary printed by `ledger history`.
const SUMMARY_CHARS_MAX: usize = 160;

/// A one-line description of an event's payload: its decoded fields, shortened.
pub fn summary(envelope: &EventEnvelope) -> String {
    match decoded_payload(envelope) {
        Ok(value) => {
            let text = value.to_string();
            if text.chars().count() > SUMMARY_CHARS_MAX {
                format!(
                    "{}…",
                    text.chars().take(SUMMARY_CHARS_MAX).collect::<String>()
                )
            } else {
                text
            }
        }
        Err(error) => format!("(undecodable: {error})"),
    }
}

/// The event's fields as JSON, decoded (and upcast) by the domain.
fn decoded_payload(envelope: &EventEnvelope) -> Result<serde_json::Value, String> {
    let event = ledger::domain::event::Event::from_payload(&envelope.body.payload)
        .map_err(|error| error.to_string())?;
    let mut value = serde_json::to_value(&event).map_err(|error| error.to_string())?;
    // `{"EventType": {...}}` → `{...}`: the type is already in the envelope.
    if let serde_json::Value::Object(map) = &mut value
        && let Some(inner) = map.remove(&envelope.body.payload.event_type)
    {
        return Ok(inner);
    }
    Ok(value)
}

pub fn run_history(args: HistoryArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let selection = selection(&args)?;
    let until = parse_until(args.until.as_deref())?;
    let runtime = super::runtime()?;
    let log = open::read_only(&runtime, global)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut count = 0u64;
    let form = super::public::form(global);
    // A record without a public form stops the scan; the error names it.
    let mut unrendered = None;
    let scanned = runtime.block_on(scan(&*log, &selection, until, |envelope| {
        count += 1;
        match args.format {
            super::Format::Text => writeln!(out, "{}", history_line(envelope, &summary(envelope))),
            super::Format::Json => {
                super::public::write_line(&mut out, &form, envelope).map_err(|error| {
                    let stop = std::io::Error::other(error.to_string());
                    unrendered = Some(error);
                    stop
                })
            }
        }
    }));
    if let Some(error) = unrendered {
        return Err(error);
    }
    scanned?;
    out.flush()?;
    if count == 0 {
        eprintln!("no events matched");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_export(args: ExportArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    super::export::run(args, global)
}

pub(super) fn csv_line(envelope: &EventEnvelope) -> String {
    let body = &envelope.body;
    let mut out = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    out.write_record([
        envelope.position.to_string(),
        body.stream.to_string(),
        body.stream_version.to_string(),
        body.payload.event_type.clone(),
        body.payload.schema_version.to_string(),
        body.occurred_at.to_string(),
        body.recorded_at.to_string(),
        body.actor.id.to_string(),
        body.command_id.to_string(),
        envelope.hash.to_hex(),
    ])
    .expect("write to memory");
    let bytes = out.into_inner().expect("flush to memory");
    String::from_utf8(bytes)
        .expect("CSV of UTF-8 strings")
        .trim_end()
        .to_owned()
}
