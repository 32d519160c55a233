//! `ledger import dispensings FILE.csv`: see `crate::import` for the format and the idempotency rule.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use ledger::domain::calendar::{Calendar, CalendarSet};
use ledger::domain::context::DecisionContext;
use ledger::domain::event::Event;
use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys::KeyRegistry;
use ledger::domain::period::{self, PeriodContext, PeriodState};
use ledger::domain::rules::RuleBook;
use ledger::log::file::{FileLog, FileLogOptions};
use ledger::log::{Actor, AppendRequest, CommandId, EventLog, StreamId};
use sha2::Digest;

use super::GlobalOpts;
use super::batch::{Tally, Wording};
use super::trust::LocalTrustArgs;
use crate::audit::seal::SealedMonths;
use crate::auth::policy::Request;
use crate::auth::{Organisation, Policy, Principal, time};
use crate::demo::engine::{contract_stream, period_stream, rule_book, stream};
use crate::handler::Handler;
use crate::import::{self, PriceWarning, Row, RowReject};
use crate::submit::Refusal;
use crate::uniqueness::UniquenessIndex;
use crate::writer::{
    CommandMeta, ContractAggregate, PeriodAggregate, PriceListAggregate, new_events,
};
use crate::writer_state::WriterState;

/// Rows per append (one command id per chunk).
const CHUNK_ROWS: usize = 1000;

/// Events handed to the log in one `append_many` (chunks of several streams share a group commit).
const EVENTS_PER_CALL: usize = 16_000;

#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Dispensings in the Appendix 1 column layout (see docs/import.md).
    Dispensings {
        file: PathBuf,
        /// Where refused rows are written (line, column, rule, message).
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// The Fund's BIN (the policy's Fund, and its default local operator).
        #[arg(long, env = "LEDGER_FUND_BIN")]
        fund_bin: Bin,
        #[command(flatten)]
        trust: LocalTrustArgs,
        /// Where rows whose limit price disagrees with the published list are written (line,
        /// column, claimed, published, list version, rule); default FILE.warnings.csv.
        #[arg(long)]
        warnings: Option<PathBuf>,
        /// Refuse rows whose limit price disagrees with the list in force on the dispensing date
        /// (M-02, A-14) instead of recording them at the published price with a warning.
        #[arg(long)]
        strict_prices: bool,
    },
}

/// What the import found besides its tally: the price disagreements (M-02, A-14).
#[derive(Debug, Default)]
struct Findings {
    warnings: Vec<PriceWarning>,
}

struct Inputs {
    /// Who imports (issue #13): stamped on the events, and checked by the policy per contract.
    principal: Principal,
    policy: Policy,
    fund_bin: Bin,
    skew: std::time::Duration,
    calendar: Calendar,
    rules: RuleBook,
    keys: KeyRegistry,
    /// M-06 across periods: rebuilt from the log, then kept up with each chunk appended.
    index: UniquenessIndex,
    strict_prices: bool,
    /// SEAL-01: the sealed months, read from the log at start-up.
    sealed: SealedMonths,
}

pub fn run(command: ImportCommand, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let ImportCommand::Dispensings {
        file,
        rejects,
        fund_bin,
        trust,
        warnings,
        strict_prices,
    } = command;
    let (policy, principal) = trust.resolve(fund_bin)?;
    let (rows, mut tally) = read(&file)?;
    let mut findings = Findings::default();
    let log: Arc<dyn EventLog> = Arc::new(
        FileLog::open(&global.data_dir, FileLogOptions::default()).with_context(|| {
            format!("cannot open the event log in {}", global.data_dir.display())
        })?,
    );
    let bar = ProgressBar::new(u64::try_from(rows.len()).unwrap_or(0));
    super::runtime()?.block_on(async {
        let spinner = super::batch::start_up_spinner();
        // The writer's own state (issue #16): read from its checkpoint, not rebuilt from the
        // whole log on every import; caught up after the import so the next one starts there.
        let state_dir = super::open::writer_state_dir(global);
        let loaded = WriterState::open(&log, Some(&state_dir)).await?;
        let (state, keys, index, sealed) = (loaded.state, loaded.keys, loaded.index, loaded.sealed);
        spinner.finish_and_clear();
        let inputs = Inputs {
            principal,
            policy,
            fund_bin,
            skew: trust.skew(),
            calendar: CalendarSet::embedded()?.latest(Jurisdiction::KZ)?,
            rules: rule_book()?,
            keys,
            index,
            strict_prices,
            sealed,
        };
        import_all(&*log, &inputs, rows, (&mut tally, &mut findings), &bar).await?;
        state.catch_up(&log).await?;
        state.flush()?;
        anyhow::Ok(())
    })?;
    bar.finish_and_clear();
    let wording = Wording {
        done: "imported",
        already: "already imported",
        place: "column",
    };
    let code = super::batch::finish(&file, rejects.as_deref(), &wording, &tally)?;
    let warnings_path = warnings.unwrap_or_else(|| file.with_extension("warnings.csv"));
    write_warnings(&warnings_path, &findings.warnings)?;
    println!(
        "price warnings: {}{}",
        findings.warnings.len(),
        if findings.warnings.is_empty() {
            String::new()
        } else {
            format!(
                " (rows whose limit price differs from the list in force on the dispensing date \
                 were recorded at the published price, M-02, A-14; see {})",
                warnings_path.display()
            )
        }
    );
    Ok(code)
}

/// Validates the rows stream by stream and appends the new ones, the chunks of several streams in
/// one `append_many` (issue #16 §2).
async fn import_all(
    log: &dyn EventLog,
    inputs: &Inputs,
    rows: Vec<Row>,
    (tally, findings): (&mut Tally, &mut Findings),
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let mut counts = (tally, findings);
    let mut chunks = Vec::new();
    for ((contract_id, _), group) in import::by_stream(rows) {
        chunks.extend(import_stream(log, inputs, &contract_id, group, &mut counts, bar).await?);
        let events: usize = chunks
            .iter()
            .map(|(chunk, _): &(AppendRequest, u64)| chunk.events.len())
            .sum();
        if events >= EVENTS_PER_CALL {
            counts.0.appended += append_chunks(log, std::mem::take(&mut chunks)).await?;
        }
    }
    counts.0.appended += append_chunks(log, chunks).await?;
    Ok(())
}

/// The warnings file: written on every run (empty after a clean one), like the rejects file.
fn write_warnings(path: &Path, warnings: &[PriceWarning]) -> anyhow::Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    writer.write_record([
        "line",
        "column",
        "claimed",
        "published",
        "list_version",
        "rule",
    ])?;
    for warning in warnings {
        writer.write_record([
            warning.line.to_string(),
            warning.column.clone(),
            warning.claimed.clone(),
            warning.published.clone(),
            warning.list_version.to_string(),
            warning.rule.clone(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

fn read(file: &Path) -> anyhow::Result<(Vec<Row>, Tally)> {
    let mut reader =
        csv::Reader::from_path(file).with_context(|| format!("cannot read {}", file.display()))?;
    let headers = reader.headers()?.clone();
    if headers.iter().map(str::trim).ne(import::HEADER) {
        bail!(super::UsageError(format!(
            "{}: the header must be {}",
            file.display(),
            import::HEADER.join(",")
        )));
    }
    let (mut rows, mut tally) = (Vec::new(), Tally::default());
    for (index, record) in reader.records().enumerate() {
        if index >= import::IMPORT_ROWS_MAX {
            bail!(super::UsageError(format!(
                "{} has more than {} rows",
                file.display(),
                import::IMPORT_ROWS_MAX
            )));
        }
        let line = u64::try_from(index).expect("bounded") + 2;
        let parsed = match record {
            Ok(record) => import::parse_row(line, &record),
            Err(error) => Err(RowReject {
                line,
                column: "(row)".into(),
                rule: "CSV".into(),
                message: error.to_string(),
            }),
        };
        match parsed {
            Ok(row) => rows.push(row),
            Err(reject) => tally.rejects.push(reject),
        }
    }
    Ok((rows, tally))
}

/// The refusal of a row at the edge, before the domain: a dispensing in the writer's future or of a
/// month not begun (TIME-01, TIME-02), or a new row of a sealed month (SEAL-01; a row imported before
/// the seal still answers as already imported).
fn edge_refusal(
    inputs: &Inputs,
    row: &Row,
    sealed: Option<&Refusal>,
    state: &PeriodState,
    now: ledger::domain::time::Timestamp,
) -> Option<RowReject> {
    let timely = time::check_dispensing(
        "dispensed_at",
        row.command.dispensed_at,
        row.period,
        Jurisdiction::KZ,
        now,
        inputs.skew,
    );
    if let Err(refusal) = timely {
        return Some(row_reject(row, refusal));
    }
    let sealed = sealed.filter(|_| !state.dispensings.contains_key(&row.command.dispensing_id))?;
    Some(RowReject {
        line: row.line,
        column: "dispensed_at".into(),
        rule: sealed.rule.clone(),
        message: sealed.message.clone(),
    })
}

/// Validates each row against the period as it stands and returns the new ones as chunks to append
/// (the caller appends chunks of several streams together, issue #16 §2). The new rows' M-06 keys go
/// into the index at once, so the next stream's rows are checked against them; should the append
/// fail, the import stops (exit 2) and the index dies with the process.
async fn import_stream(
    log: &dyn EventLog,
    inputs: &Inputs,
    contract_id: &str,
    rows: Vec<Row>,
    (tally, findings): &mut (&mut Tally, &mut Findings),
    bar: &ProgressBar,
) -> anyhow::Result<Vec<(AppendRequest, u64)>> {
    let period = rows[0].period;
    let stream_id = period_stream(contract_id, period);
    let sealed = inputs.sealed.refusal(&stream_id, Jurisdiction::KZ);
    let (contract, _) = Handler::<ContractAggregate>::default()
        .load(log, &contract_stream(contract_id))
        .await?;
    let (prices, _) = Handler::<PriceListAggregate>::default()
        .load(log, &stream("reference/prices/KZ".into()))
        .await?;
    let periods = Handler::<PeriodAggregate>::default();
    let (mut state, version) = periods.load(log, &stream_id).await?;
    let actor = match authorize(inputs, &stream_id, contract.holder()) {
        Ok(actor) => actor,
        Err(refusal) => {
            for row in rows {
                bar.inc(1);
                tally.rejects.push(row_reject(&row, refusal.clone()));
            }
            return Ok(Vec::new());
        }
    };
    let check = &inputs.keys;
    let decision = DecisionContext {
        calendar: &inputs.calendar,
        rules: &inputs.rules,
        signatures: check,
        fund_bin: inputs.fund_bin,
    };
    let context = PeriodContext {
        decision: &decision,
        contract: &contract,
        prices: &prices,
        period,
        index: &inputs.index,
    };
    let counts = (&mut **tally, &mut **findings);
    let accepted = accept_rows(
        inputs,
        &mut state,
        &context,
        sealed.as_ref(),
        rows,
        counts,
        bar,
    )?;
    let mut expected = version;
    let mut chunks = Vec::new();
    for chunk in accepted.chunks(CHUNK_ROWS) {
        let target = ChunkTarget {
            stream_id: &stream_id,
            actor: &actor,
        };
        let request = chunk_request(target, expected, chunk);
        let count = u64::try_from(request.events.len()).expect("fits");
        expected = ledger::log::StreamVersion(expected.0 + count);
        chunks.push((request, u64::try_from(chunk.len()).expect("small chunk")));
    }
    Ok(chunks)
}

/// The new, valid rows of one stream with their events (the state advances through them, their M-06
/// keys go into the index); the rest are counted as already imported or refused with their rule.
fn accept_rows(
    inputs: &Inputs,
    state: &mut PeriodState,
    context: &PeriodContext<'_>,
    sealed: Option<&Refusal>,
    rows: Vec<Row>,
    (tally, findings): (&mut Tally, &mut Findings),
    bar: &ProgressBar,
) -> anyhow::Result<Vec<(Row, Vec<Event>)>> {
    let mut accepted = Vec::new();
    let now = crate::handler::now();
    for row in rows {
        bar.inc(1);
        if let Some(reject) = edge_refusal(inputs, &row, sealed, state, now) {
            tally.rejects.push(reject);
            continue;
        }
        match classify(state, &row, context, inputs.strict_prices) {
            Ok((events, warning)) => {
                findings.warnings.extend(warning);
                if events.is_empty() {
                    tally.already += 1;
                } else {
                    for event in &events {
                        inputs.index.apply(event)?;
                    }
                    accepted.push((row, events));
                }
            }
            Err(reject) => tally.rejects.push(reject),
        }
    }
    Ok(accepted)
}

/// `Ok((events, _))`: new and valid, with the events it records (the state advances through them);
/// `Ok((no events, _))`: already imported with the same content; either with its price warning
/// (M-02, A-14), which `strict` turns into a refusal of a new row; `Err`: refused, with its rule.
fn classify(
    state: &mut PeriodState,
    row: &Row,
    context: &PeriodContext<'_>,
    strict: bool,
) -> Result<(Vec<Event>, Option<PriceWarning>), RowReject> {
    if let Some(entry) = state.dispensings.get(&row.command.dispensing_id) {
        let same = entry.recorded.marking_code == row.command.marking_code
            && entry.recorded.fiscal_receipt == row.command.fiscal_receipt
            && entry.recorded.quantity == row.command.quantity;
        return if same {
            Ok((Vec::new(), import::price_warning(row, &entry.recorded)))
        } else {
            Err(RowReject {
                line: row.line,
                column: "dispensing_id".into(),
                rule: "P-08".into(),
                message: format!(
                    "dispensing \"{}\" is already recorded with other content",
                    row.command.dispensing_id
                ),
            })
        };
    }
    let events = period::decide(state, import::command(row), context)
        .map_err(|error| import::domain_reject(row, &error))?;
    let warning = events.iter().find_map(|event| match event {
        Event::DispensingRecorded(recorded) => import::price_warning(row, recorded),
        _ => None,
    });
    if let (true, Some(warning)) = (strict, warning.clone()) {
        return Err(warning.into_reject());
    }
    for event in &events {
        *state = period::evolve(std::mem::take(state), event);
    }
    Ok((events, warning))
}

/// Where a chunk goes and who appends it.
struct ChunkTarget<'a> {
    stream_id: &'a ledger::log::StreamId,
    actor: &'a Actor,
}

/// The actor the import's events record on `stream_id`, if the policy lets the importing principal
/// record dispensings there (issue #13: the same policy as `submit` and `serve`).
fn authorize(inputs: &Inputs, stream_id: &StreamId, holder: Option<Bin>) -> Result<Actor, Refusal> {
    let request = Request {
        command_type: "RecordDispensing",
        stream: stream_id.as_str(),
        owner: holder.map(Organisation::Kz),
    };
    match inputs.policy.authorize(&inputs.principal, &request) {
        Ok(grant) => Ok(inputs
            .principal
            .organisation
            .actor(grant.role.actor_role(), inputs.principal.person)),
        Err(denial) => Err(Refusal {
            rule: denial.rule.to_owned(),
            field: None,
            message: denial.message,
        }),
    }
}

fn row_reject(row: &Row, refusal: Refusal) -> RowReject {
    RowReject {
        line: row.line,
        column: refusal.field.unwrap_or_else(|| "(row)".into()),
        rule: refusal.rule,
        message: refusal.message,
    }
}

/// The append of one chunk of new rows: one command whose id is derived from its dispensing ids,
/// so a re-run of the same rows is the same command.
fn chunk_request(
    target: ChunkTarget<'_>,
    expected: ledger::log::StreamVersion,
    chunk: &[(Row, Vec<Event>)],
) -> AppendRequest {
    let mut digest = sha2::Sha256::new();
    for (row, _) in chunk {
        digest.update(row.command.dispensing_id.as_str().as_bytes());
        digest.update(b"\n");
    }
    let command_id = CommandId::derived("ledger-import", &hex::encode(digest.finalize()));
    let meta = CommandMeta {
        command_id,
        at: chunk[chunk.len() - 1].0.command.dispensed_at,
        jurisdiction: Jurisdiction::KZ,
        actor: target.actor.clone(),
        correlation_id: command_id.0,
        digest: None,
    };
    let events = chunk
        .iter()
        .flat_map(|(_, events)| events.iter().cloned())
        .collect();
    AppendRequest {
        stream: target.stream_id.clone(),
        expected,
        command_id,
        events: new_events(events, &meta),
    }
}

/// Appends chunks (of one or several streams) in one call; returns the rows appended. Every chunk
/// was validated against the state it extends, so any refusal is an operational error.
async fn append_chunks(
    log: &dyn EventLog,
    chunks: Vec<(AppendRequest, u64)>,
) -> anyhow::Result<u64> {
    if chunks.is_empty() {
        return Ok(0);
    }
    let (requests, rows): (Vec<AppendRequest>, Vec<u64>) = chunks.into_iter().unzip();
    for outcome in log.append_many(requests).await {
        outcome.context("a validated chunk was refused on append")?;
    }
    Ok(rows.iter().sum())
}
