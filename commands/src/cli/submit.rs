//! `ledger submit FILE.jsonl`: one JSON command per line (docs/commands.md), each validated and
//! appended through the command handler; refused lines go to a rejects file with line, field, rule and
//! message, as `ledger import` does.
//!
//! Each line carries its own command id, and each command is one atomic append, so a re-run of the
//! same file, even after the process was killed in the middle, appends nothing twice and loses nothing:
//! lines already appended answer as duplicates.
//!
//! Lines go to the writer in batches of up to [`COMMANDS_PER_CALL_MAX`] (issue #16 §2): a batch's
//! dispensings are decided one after another and committed together, so a file of one-event
//! commands is appended at the log's group-commit pace, not one fsync per line.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::ProgressBar;
use ledger::domain::ident::Bin;
use ledger::log::file::FileLogOptions;

use super::GlobalOpts;
use super::batch::{Tally, Wording};
use super::trust::LocalTrustArgs;
use crate::auth::Principal;
use crate::import::RowReject;
use crate::submit::Refusal;
use crate::submit::dispatch::{
    Answer, COMMANDS_PER_CALL_MAX, Dispatcher, Outcome, Submission, SubmitError,
};
use crate::submit::wire::{COMMAND_BYTES_MAX, CommandEnvelope};

/// The most lines one file may hold (external input is bounded).
pub const SUBMIT_LINES_MAX: u64 = 5_000_000;

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

/// Submits the lines in batches of up to [`COMMANDS_PER_CALL_MAX`]; an operational error (the log
/// failing) stops the run, a refused line does not.
///
/// Order: the writer decides a batch's commands in file order, and batches follow each other, so a
/// stream's commands are decided in file order; results are taken in file order too.
async fn submit_file(
    dispatcher: &Dispatcher,
    principal: &Principal,
    file: &Path,
    bar: &ProgressBar,
) -> anyhow::Result<Tally> {
    let mut lines = Lines::open(file)?;
    let mut tally = Tally::default();
    loop {
        let mut parsed = Vec::with_capacity(COMMANDS_PER_CALL_MAX);
        while parsed.len() < COMMANDS_PER_CALL_MAX {
            let Some((line, text)) = lines.next(bar)? else {
                break;
            };
            match CommandEnvelope::parse(&text) {
                Ok(envelope) => parsed.push((line, envelope)),
                Err(error) => tally.rejects.push(line_reject(line, Refusal::shape(error))),
            }
        }
        if parsed.is_empty() && lines.exhausted {
            tally.rejects.sort_by_key(|reject| reject.line);
            return Ok(tally);
        }
        let submissions: Vec<Submission<'_>> = parsed
            .iter()
            .map(|(_, envelope)| Submission {
                principal,
                envelope,
            })
            .collect();
        let answers = dispatcher.submit_many(&submissions).await;
        for ((line, _), answer) in parsed.iter().zip(answers) {
            match line_result(answer)? {
                Ok(true) => tally.appended += 1,
                Ok(false) => tally.already += 1,
                Err(refusal) => tally.rejects.push(line_reject(*line, refusal)),
            }
        }
    }
}

/// The non-blank lines of a file with their numbers, each at most [`COMMAND_BYTES_MAX`] bytes read (a
/// longer line is cut there, its rest skipped, and refused as too long).
struct Lines {
    reader: std::io::BufReader<std::fs::File>,
    file: PathBuf,
    number: u64,
    /// Set once the end of the file was read.
    exhausted: bool,
}

impl Lines {
    fn open(file: &Path) -> anyhow::Result<Lines> {
        let reader =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        Ok(Lines {
            reader: std::io::BufReader::new(reader),
            file: file.to_owned(),
            number: 0,
            exhausted: false,
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
                self.exhausted = true;
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
/// `Ok(Err)`: refused (a domain rule, the trust boundary, or a conflict).
fn line_result(answer: Answer) -> anyhow::Result<Result<bool, Refusal>> {
    match answer {
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
