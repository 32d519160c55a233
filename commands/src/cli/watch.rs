//! `ledger watch`: records every statutory clock that passed its due date while still running as a
//! `DeadlineBreached` fact, once (see `crate::watch` for when and why).

use std::process::ExitCode;

use chrono::NaiveDate;
use ledger::domain::calendar::CalendarSet;
use ledger::domain::ident::Bin;
use ledger::log::file::FileLogOptions;
use projector::views::deadlines;

use super::trust::LocalTrustArgs;
use super::{GlobalOpts, UsageError};
use crate::project::{catch_up_views, views_dir};
use crate::submit::dispatch::Dispatcher;
use crate::watch::{self, Overdue, WatchReport};

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Judge the clocks at the end of this local day (YYYY-MM-DD), but never past the log's time;
    /// by default at the log's time (the latest record's), never the wall clock.
    #[arg(long)]
    pub as_of: Option<String>,
    /// The Fund's BIN: the writer decides breaches like every other command.
    #[arg(long, env = "LEDGER_FUND_BIN")]
    pub fund_bin: Bin,
    /// Who records the breaches (`--as`, default the local operator) and under which policy.
    #[command(flatten)]
    pub trust: LocalTrustArgs,
}

pub fn run(args: WatchArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let as_of = args
        .as_of
        .as_deref()
        .map(|text| {
            text.parse::<NaiveDate>()
                .map_err(|_| UsageError(format!("--as-of {text:?} is not a date YYYY-MM-DD")))
        })
        .transpose()?;
    let (policy, principal) = args.trust.resolve(args.fund_bin)?;
    let runtime = super::runtime()?;
    let (report, log_time) = runtime.block_on(async {
        let opened = super::open::writer(global, FileLogOptions::default()).await?;
        let log = opened.log();
        let Some(log_time) = watch::log_time(&*log).await? else {
            return anyhow::Ok((WatchReport::default(), None));
        };
        let projected =
            catch_up_views(&*log, &views_dir(&global.data_dir), Default::default()).await?;
        let calendars = CalendarSet::embedded()?;
        let last_day = as_of.unwrap_or_else(|| {
            ledger::domain::calendar::local_date(
                ledger::domain::jurisdiction::Jurisdiction::KZ,
                log_time,
            )
        });
        let clocks = deadlines::as_of(&projected.reader(), &calendars, last_day)?;
        let overdue =
            watch::overdue(clocks, &calendars, as_of, log_time).map_err(anyhow::Error::msg)?;
        drop(projected);
        let spinner = super::batch::start_up_spinner();
        let state_dir = super::open::writer_state_dir(global);
        let dispatcher = Dispatcher::open_with_state(log, args.fund_bin, policy, Some(&state_dir))
            .await?
            .with_skew(args.trust.skew());
        spinner.finish_and_clear();
        let report = watch::record(&dispatcher, &principal, overdue).await?;
        anyhow::Ok((report, Some(log_time)))
    })?;
    let Some(log_time) = log_time else {
        println!("watched: the log is empty, no clock runs");
        return Ok(ExitCode::SUCCESS);
    };
    print!("{}", summary(&report, as_of, log_time));
    Ok(if report.refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn line(overdue: &Overdue) -> String {
    let clock = &overdue.clock;
    format!(
        "{:<20} {:<8} {:<16} {:<8} due {} observed {}{}",
        clock.rule.name(),
        clock.party.name(),
        clock.contract_id,
        clock
            .period
            .map(|period| period.key())
            .unwrap_or_else(|| "-".into()),
        clock.deadline().due,
        overdue.observed_at,
        if watch::raises_ground(clock.rule) {
            "  (+ termination ground)"
        } else {
            ""
        }
    )
}

fn summary(
    report: &WatchReport,
    as_of: Option<NaiveDate>,
    log_time: ledger::domain::time::Timestamp,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for overdue in &report.recorded {
        let _ = writeln!(out, "breached  {}", line(overdue));
    }
    for (overdue, refusal) in &report.refused {
        let _ = writeln!(
            out,
            "refused   {}: {} ({})",
            line(overdue),
            refusal.message,
            refusal.rule
        );
    }
    let judged = match as_of {
        Some(as_of) => format!("as of the end of {as_of} (log time {log_time})"),
        None => format!("at the log's time {log_time}"),
    };
    let _ = writeln!(
        out,
        "watched {judged}: {} breaches recorded, {} already recorded, {} refused",
        report.recorded.len(),
        report.already,
        report.refused.len()
    );
    out
}
