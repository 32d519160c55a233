//! `ledger submit FILE.jsonl`: one JSON command per line (docs/commands.md), each validated and
//! appended through the command handler; refused lines go to a rejects file with line, field, rule and
//! message, as `ledger import` does.
//!
//! Each line carries its own command id, and each command is one atomic append, so a re-run of the
//! same file, even after the process was killed in the middle, appends nothing twice and loses nothing:
//! lines already appended answer as duplicates.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use indicatif::ProgressBar;
use ledger::domain::ident::Bin;
use ledger::log::file::FileLogOptions;

use super::GlobalOpts;
use super::batch::{Tally, Wording};
use super::trust::LocalTrustArgs;
use crate::auth::Principal;
use crate::import::RowReject;
use crate::submit::Refusal;
use crate::submit::dispatch::{Dispatcher, Outcome, SubmitError};
use crate::submit::wire::{COMMAND_BYTES_MAX, CommandEnvelope};

/// The most lines one file may hold (external input is bounded).
pub const SUBMIT_LINES_MAX: u64 = 5_000_000;

/// How many lines are decided and appended at once (bounds memory; enough to fill a group commit).
const LINES_IN_FLIGHT_MAX: usize = 64;

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// JSON lines, one command each (see docs/commands.md).
    pub file: PathBuf,
    /// Where refused lines are written (line, field, rule, message); default FILE.rejects.csv.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// The Fund's BIN: the signer the law expects on conclusions, approvals and act signatures.
    #[arg(long, env = "LEDGER_FUND_BIN")]
    pub fund_bin: Bin,
    #[command(flatten)]
    pub trust: LocalTrustArgs,
}

pub fn run(args: SubmitArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?
        .len();
    let (policy, principal) = args.trust.resolve(args.fund_bin)?;
    let runtime = super::runtime()?;
    let tally = runtime.block_on(async {
        let opened = super::open::writer(global, FileLogOptions::default()).await?;
        let spinner = super::batch::start_up_spinner();
        let state_dir = super::open::writer_state_dir(global);
        let dispatcher =
            Dispatcher::open_with_state(opened.log(), args.fund_bin, policy, Some(&state_dir))
                .await?
                .with_skew(args.trust.skew());
        spinner.finish_and_clear();
        let bar = ProgressBar::new(size);
        let tally = submit_file(&dispatcher, &principal, &args.file, &bar).await;
        bar.finish_and_clear();
        tally
    })?;
    let wording = Wording {
        done: "submitted",
        already: "already appended",
        place: "field",
    };
    super::batch::finish(&args.file, args.rejects.as_deref(), &wording, &tally)
}

/// Submits the lines with up to [`LINES_IN_FLIGHT_MAX`] in flight, so that appends to different
/// streams share the log's group commit; an operational error (the log failing) stops the run, a
/// refused line does not.
///
/// Order: lines are started in file order and the writer queues commands on one stream in the order
/// they start (a fair lock per partition key: a contract and its periods), so a stream's commands are decided in file order; results are
/// taken in file order too.
async fn submit_file(
    dispatcher: &Dispatcher,
    principal: &Principal,
    file: &Path,
    bar: &ProgressBar,
) -> anyhow::Result<Tally> {
    let mut lines = Lines::open(file)?;
    let mut tally = Tally::default();
    let mut in_flight = FuturesOrdered::new();
    let mut exhausted = false;
    loop {
        while !exhausted && in_flight.len() < LINES_IN_FLIGHT_MAX {
            match lines.next(bar)? {
                Some((line, text)) => in_flight.push_back(async move {
                    (line, submit_line(dispatcher, principal, &text).await)
                }),
                None => exhausted = true,
            }
        }
        let Some((line, result)) = in_flight.next().await else {
            return Ok(tally);
        };
        match result? {
            Ok(true) => tally.appended += 1,
            Ok(false) => tally.already += 1,
            Err(refusal) => tally.rejects.push(line_reject(line, refusal)),
        }
    }
}

/// The non-blank lines of a file with their numbers, each at most [`COMMAND_BYTES_MAX`] bytes read (a
/// longer line is cut there, its rest skipped, and refused as too long).
struct Lines {
    reader: std::io::BufReader<std::fs::File>,
    file: PathBuf,
    number: u64,
}

impl Lines {
    fn open(file: &Path) -> anyhow::Result<Lines> {
        let reader =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        Ok(Lines {
            reader: std::io::BufReader::new(reader),
            file: file.to_owned(),
            number: 0,
        })
    }

    fn next(&mut self, bar: &ProgressBar) -> anyhow::Result<Option<(u64, Vec<u8>)>> {
        let limit = u64::try_from(COMMAND_BYTES_MAX).expect("fits") + 1;
        let failed = || format!("cannot read {}", self.file.display());
        loop {
            let mut text = Vec::new();
            let read = (&mut self.reader)
                .take(limit)
                .read_until(b'\n', &mut text)
                .with_context(failed)?;
            if read == 0 {
                return Ok(None);
            }
            bar.inc(u64::try_from(read).expect("fits"));
            if text.last() != Some(&b'\n') && text.len() > COMMAND_BYTES_MAX {
                let skipped = self.reader.skip_until(b'\n').with_context(failed)?;
                bar.inc(u64::try_from(skipped).expect("fits"));
            }
            self.number += 1;
            anyhow::ensure!(
                self.number <= SUBMIT_LINES_MAX,
                super::UsageError(format!(
                    "{} has more than {SUBMIT_LINES_MAX} lines",
                    self.file.display()
                ))
            );
            if !text.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some((self.number, text)));
            }
        }
    }
}

/// `Ok(Ok(true))`: appended now; `Ok(Ok(false))`: appended earlier under the same command id;
/// `Ok(Err)`: refused (bad shape, a domain rule, or a conflict).
async fn submit_line(
    dispatcher: &Dispatcher,
    principal: &Principal,
    text: &[u8],
) -> anyhow::Result<Result<bool, Refusal>> {
    let envelope = match CommandEnvelope::parse(text) {
        Ok(envelope) => envelope,
        Err(error) => return Ok(Err(Refusal::shape(error))),
    };
    match dispatcher.submit(principal, &envelope).await {
        Ok(Outcome::Appended(appended)) => Ok(Ok(!appended.duplicate)),
        Ok(Outcome::Refused(refusal) | Outcome::Denied(refusal) | Outcome::Reused(refusal)) => {
            Ok(Err(refusal))
        }
        Err(conflict @ SubmitError::Conflict { .. }) => Ok(Err(Refusal {
            rule: "CONFLICT".into(),
            field: None,
            message: conflict.to_string(),
        })),
        Err(error) => Err(error.into()),
    }
}

/// A refused line as a row of the rejects file; a refusal of the whole command names no field.
fn line_reject(line: u64, refusal: Refusal) -> RowReject {
    RowReject {
        line,
        column: refusal.field.unwrap_or_else(|| "(command)".into()),
        rule: refusal.rule,
        message: refusal.message,
    }
}
