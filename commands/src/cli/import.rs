//! `ledger import dispensings FILE.csv`: see `crate::import` for the format and the idempotency rule.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use ledger::domain::calendar::{Calendar, CalendarSet};
use ledger::domain::context::DecisionContext;
use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys::KeyRegistry;
use ledger::domain::period::{self, PeriodContext, PeriodState};
use ledger::domain::rules::RuleBook;
use ledger::log::file::{FileLog, FileLogOptions};
use ledger::log::{Actor, CommandId, EventLog, StreamId};
use sha2::Digest;

use super::GlobalOpts;
use super::batch::{Tally, Wording};
use super::trust::LocalTrustArgs;
use crate::audit::seal::SealedMonths;
use crate::auth::policy::Request;
use crate::auth::{Organisation, Policy, Principal, time};
use crate::demo::engine::{contract_stream, period_stream, rule_book, stream};
use crate::handler::{Handled, Handler};
use crate::import::{self, PriceWarning, Row, RowReject};
use crate::submit::Refusal;
use crate::uniqueness::{UniquenessIndex, load_writer_indexes};
use crate::writer::{Command, CommandMeta, ContractAggregate, PeriodAggregate, PriceListAggregate};

/// Rows per append (one command id per chunk).
const CHUNK_ROWS: usize = 1000;

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
        let (keys, index, sealed) = load_writer_indexes(&log).await?;
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
        let mut counts = (&mut tally, &mut findings);
        for ((contract_id, _), group) in import::by_stream(rows) {
            import_stream(&*log, &inputs, &contract_id, group, &mut counts, &bar).await?;
        }
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

/// Validates each row against the period as it stands and appends the new ones in chunks.
async fn import_stream(
    log: &dyn EventLog,
    inputs: &Inputs,
    contract_id: &str,
    rows: Vec<Row>,
    (tally, findings): &mut (&mut Tally, &mut Findings),
    bar: &ProgressBar,
) -> anyhow::Result<()> {
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
    let (mut state, _) = periods.load(log, &stream_id).await?;
    let actor = match authorize(inputs, &stream_id, contract.holder()) {
        Ok(actor) => actor,
        Err(refusal) => {
            for row in rows {
                bar.inc(1);
                tally.rejects.push(row_reject(&row, refusal.clone()));
            }
            return Ok(());
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
    let mut accepted = Vec::new();
    let now = crate::handler::now();
    for row in rows {
        bar.inc(1);
        if let Some(reject) = edge_refusal(inputs, &row, sealed.as_ref(), &state, now) {
            tally.rejects.push(reject);
            continue;
        }
        match classify(&mut state, &row, &context, inputs.strict_prices) {
            Ok((new, warning)) => {
                findings.warnings.extend(warning);
                if new {
                    accepted.push(row);
                } else {
                    tally.already += 1;
                }
            }
            Err(reject) => tally.rejects.push(reject),
        }
    }
    for chunk in accepted.chunks(CHUNK_ROWS) {
        let target = ChunkTarget {
            stream_id: &stream_id,
            actor: &actor,
        };
        append_chunk(log, &periods, target, chunk, &context, &inputs.index).await?;
        tally.appended += u64::try_from(chunk.len()).expect("small chunk");
    }
    Ok(())
}

/// `Ok((true, _))`: new and valid (the state advances through it); `Ok((false, _))`: already
/// imported with the same content; either with its price warning (M-02, A-14), which `strict` turns
/// into a refusal of a new row; `Err`: refused, with its rule.
fn classify(
    state: &mut PeriodState,
    row: &Row,
    context: &PeriodContext<'_>,
    strict: bool,
) -> Result<(bool, Option<PriceWarning>), RowReject> {
    if let Some(entry) = state.dispensings.get(&row.command.dispensing_id) {
        let same = entry.recorded.marking_code == row.command.marking_code
            && entry.recorded.fiscal_receipt == row.command.fiscal_receipt
            && entry.recorded.quantity == row.command.quantity;
        return if same {
            Ok((false, import::price_warning(row, &entry.recorded)))
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
        ledger::domain::event::Event::DispensingRecorded(recorded) => {
            import::price_warning(row, recorded)
        }
        _ => None,
    });
    if let (true, Some(warning)) = (strict, warning.clone()) {
        return Err(warning.into_reject());
    }
    for event in &events {
        *state = period::evolve(std::mem::take(state), event);
    }
    Ok((true, warning))
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

async fn append_chunk(
    log: &dyn EventLog,
    periods: &Handler<PeriodAggregate>,
    target: ChunkTarget<'_>,
    chunk: &[Row],
    context: &PeriodContext<'_>,
    index: &UniquenessIndex,
) -> anyhow::Result<()> {
    let mut digest = sha2::Sha256::new();
    for row in chunk {
        digest.update(row.command.dispensing_id.as_str().as_bytes());
        digest.update(b"\n");
    }
    let command_id = CommandId::derived("ledger-import", &hex::encode(digest.finalize()));
    let stream_id = target.stream_id;
    let meta = CommandMeta {
        command_id,
        at: chunk[chunk.len() - 1].command.dispensed_at,
        jurisdiction: Jurisdiction::KZ,
        actor: target.actor.clone(),
        correlation_id: command_id.0,
        digest: None,
    };
    let command = Command {
        meta,
        command: chunk.iter().map(import::command).collect(),
    };
    match periods
        .execute(log, stream_id, command_id, &command, context)
        .await?
    {
        Handled::Appended(appended) => Ok(index.apply_appended(log, &appended).await?),
        Handled::Rejected(refused) => bail!("a validated chunk was refused on append: {refused}"),
    }
}
