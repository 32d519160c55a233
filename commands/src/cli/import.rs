//! `ledger import dispensings FILE.csv`: see `crate::import` for the format and the idempotency rule.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use ledger::domain::calendar::{Calendar, CalendarSet};
use ledger::domain::context::DecisionContext;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys::KeyRegistry;
use ledger::domain::period::{self, PeriodContext, PeriodState};
use ledger::domain::rules::RuleBook;
use ledger::log::file::{FileLog, FileLogOptions};
use ledger::log::{ActorId, ActorRole, CommandId, EventLog};
use sha2::Digest;

use super::GlobalOpts;
use super::batch::{Tally, Wording};
use crate::audit::seal::SealedMonths;
use crate::demo::engine::{contract_stream, period_stream, rule_book, stream};
use crate::handler::{Handled, Handler};
use crate::import::{self, Row, RowReject};
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
    },
}

struct Inputs {
    calendar: Calendar,
    rules: RuleBook,
    keys: KeyRegistry,
    /// M-06 across periods: rebuilt from the log, then kept up with each chunk appended.
    index: UniquenessIndex,
    /// SEAL-01: the sealed months, read from the log at start-up.
    sealed: SealedMonths,
}

pub fn run(command: ImportCommand, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let ImportCommand::Dispensings { file, rejects } = command;
    let (rows, mut tally) = read(&file)?;
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
            calendar: CalendarSet::embedded()?.latest(Jurisdiction::KZ)?,
            rules: rule_book()?,
            keys,
            index,
            sealed,
        };
        for ((contract_id, _), group) in import::by_stream(rows) {
            import_stream(&*log, &inputs, &contract_id, group, &mut tally, &bar).await?;
        }
        anyhow::Ok(())
    })?;
    bar.finish_and_clear();
    let wording = Wording {
        done: "imported",
        already: "already imported",
        place: "column",
    };
    super::batch::finish(&file, rejects.as_deref(), &wording, &tally)
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

/// Validates each row against the period as it stands and appends the new ones in chunks.
async fn import_stream(
    log: &dyn EventLog,
    inputs: &Inputs,
    contract_id: &str,
    rows: Vec<Row>,
    tally: &mut Tally,
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
    let check = &inputs.keys;
    let fund_bin = "000000000000".parse().expect("a valid placeholder BIN");
    let decision = DecisionContext {
        calendar: &inputs.calendar,
        rules: &inputs.rules,
        signatures: check,
        fund_bin,
    };
    let context = PeriodContext {
        decision: &decision,
        contract: &contract,
        prices: &prices,
        period,
        index: &inputs.index,
    };
    let mut accepted = Vec::new();
    for row in rows {
        bar.inc(1);
        // SEAL-01: a row of a sealed month is refused unless it was imported before the seal.
        if let Some(refusal) = &sealed
            && !state.dispensings.contains_key(&row.command.dispensing_id)
        {
            tally.rejects.push(RowReject {
                line: row.line,
                column: "dispensed_at".into(),
                rule: refusal.rule.clone(),
                message: refusal.message.clone(),
            });
            continue;
        }
        match classify(&mut state, &row, &context) {
            Ok(true) => accepted.push(row),
            Ok(false) => tally.already += 1,
            Err(reject) => tally.rejects.push(reject),
        }
    }
    for chunk in accepted.chunks(CHUNK_ROWS) {
        append_chunk(log, &periods, &stream_id, chunk, &context, &inputs.index).await?;
        tally.appended += u64::try_from(chunk.len()).expect("small chunk");
    }
    Ok(())
}

/// `Ok(true)`: new and valid (the state advances through it); `Ok(false)`: already imported with the
/// same content; `Err`: refused, with its rule.
fn classify(
    state: &mut PeriodState,
    row: &Row,
    context: &PeriodContext<'_>,
) -> Result<bool, RowReject> {
    if let Some(entry) = state.dispensings.get(&row.command.dispensing_id) {
        let same = entry.recorded.marking_code == row.command.marking_code
            && entry.recorded.fiscal_receipt == row.command.fiscal_receipt
            && entry.recorded.quantity == row.command.quantity;
        return if same {
            Ok(false)
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
    for event in &events {
        *state = period::evolve(std::mem::take(state), event);
    }
    Ok(true)
}

async fn append_chunk(
    log: &dyn EventLog,
    periods: &Handler<PeriodAggregate>,
    stream_id: &ledger::log::StreamId,
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
    let holder = chunk[0].command.dispenser_bin;
    let meta = CommandMeta {
        command_id,
        at: chunk[chunk.len() - 1].command.dispensed_at,
        jurisdiction: Jurisdiction::KZ,
        actor: ledger::log::Actor::new(ActorId::Organisation(holder), ActorRole::Pharmacy),
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
