//! `ledger deadlines`: every clock instance with its status as of a date (D-01…D-08).

use std::fmt::Write;
use std::process::ExitCode;

use chrono::NaiveDate;
use ledger::domain::calendar::{CalendarSet, WorkingCalendar, WorkingDays, deadline_end};
use ledger::domain::clock::ClockStatus;
use ledger::domain::values::ContractId;
use projector::views::deadlines::{self, ClockInstance, Party};
use serde::Serialize;

use super::{json, parse_contract, print};
use crate::cli::{Format, GlobalOpts, UsageError};

#[derive(Debug, clap::Args)]
pub struct DeadlinesArgs {
    #[command(flatten)]
    pub source: super::ViewsOpt,
    /// The date the status is computed for (end of that local day), YYYY-MM-DD.
    #[arg(long)]
    pub as_of: String,
    /// Only clocks past their due date and not stopped.
    #[arg(long)]
    pub overdue: bool,
    /// Only running clocks due within N working days after --as-of.
    #[arg(long)]
    pub within: Option<u32>,
    #[arg(long)]
    pub contract: Option<String>,
    /// Only clocks that oblige this party.
    #[arg(long, value_enum)]
    pub party: Option<PartyArg>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PartyArg {
    Fund,
    Pharmacy,
}

/// One clock as printed.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Row<'a> {
    rule: &'static str,
    party: &'static str,
    contract: &'a str,
    period: Option<String>,
    started_on: NaiveDate,
    due_strict: NaiveDate,
    due: NaiveDate,
    calendar_version: u32,
    stopped_by: Option<&'a str>,
    /// The `DeadlineBreached` fact recorded for the clock, if any.
    breached_at: Option<String>,
    status: ClockStatus,
}

pub fn run_deadlines(args: DeadlinesArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let as_of: NaiveDate = args
        .as_of
        .parse()
        .map_err(|_| UsageError(format!("--as-of {:?} is not a date YYYY-MM-DD", args.as_of)))?;
    let contract = args.contract.as_deref().map(parse_contract).transpose()?;
    let query = DeadlineQuery {
        as_of,
        overdue: args.overdue,
        within: args.within,
        contract,
        party: args.party.map(party_of),
    };
    let projected = super::open_views(global, &args.source)?;
    print(&answer(&projected.reader(), &query, args.format, &|_| {
        true
    })?)
}

/// Which clocks `ledger deadlines` (and `GET /v1/deadlines`) lists.
#[derive(Debug, Clone)]
pub struct DeadlineQuery {
    /// The status is computed for the end of this local day.
    pub as_of: NaiveDate,
    /// Only clocks past their due date and not stopped.
    pub overdue: bool,
    /// Only running clocks due within this many working days after `as_of`.
    pub within: Option<u32>,
    pub contract: Option<ContractId>,
    /// Only clocks that oblige this party.
    pub party: Option<Party>,
}

/// The clocks `query` selects of the contracts `visible` accepts (by contract id), as printed.
pub fn answer<R: projector::ViewRead>(
    reader: &projector::ProjectorReader<R>,
    query: &DeadlineQuery,
    format: Format,
    visible: &dyn Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let as_of = query.as_of;
    let calendars = CalendarSet::embedded()?;
    // D-02, D-13: the monthly clocks exist from the day a month ends, before any document.
    let instances = deadlines::as_of(reader, &calendars, as_of)?;
    let mut rows = Vec::new();
    for instance in &instances {
        let other_contract = query
            .contract
            .as_ref()
            .is_some_and(|contract| *contract != instance.contract_id);
        let other_party = query.party.is_some_and(|party| party != instance.party);
        // A clock that starts after the date does not exist yet as of it.
        if other_contract
            || other_party
            || instance.deadline().started_on > as_of
            || !visible(instance.contract_id.as_str())
        {
            continue;
        }
        let status = instance
            .status(&calendars, deadline_end(instance.jurisdiction, as_of))
            .map_err(|error| {
                anyhow::anyhow!(
                    "clock {} of contract \"{}\": {error}",
                    instance.rule,
                    instance.contract_id
                )
            })?;
        if query.overdue && !matches!(status, ClockStatus::Overdue { .. }) {
            continue;
        }
        if let Some(within) = query.within
            && !due_within(&calendars, instance, &status, as_of, within)?
        {
            continue;
        }
        rows.push(row(instance, status));
    }
    Ok(match format {
        Format::Json => json(&rows)?,
        Format::Text => text(&rows, as_of),
    })
}

fn party_of(party: PartyArg) -> Party {
    match party {
        PartyArg::Fund => Party::Fund,
        PartyArg::Pharmacy => Party::Pharmacy,
    }
}

/// A running clock whose binding due date is at most `within` working days after `as_of`.
fn due_within(
    calendars: &CalendarSet,
    instance: &ClockInstance,
    status: &ClockStatus,
    as_of: NaiveDate,
    within: u32,
) -> anyhow::Result<bool> {
    let ClockStatus::Running { due, .. } = status else {
        return Ok(false);
    };
    let calendar = calendars.latest(instance.jurisdiction)?;
    let limit = calendar.add_working_days(as_of, WorkingDays(within))?;
    Ok(*due <= limit)
}

fn row(instance: &ClockInstance, status: ClockStatus) -> Row<'_> {
    let deadline = instance.deadline();
    Row {
        rule: instance.rule.name(),
        party: instance.party.name(),
        contract: instance.contract_id.as_str(),
        period: instance.period.map(|period| period.key()),
        started_on: deadline.started_on,
        due_strict: deadline.due_strict,
        due: deadline.due,
        calendar_version: deadline.calendar_version.0,
        stopped_by: instance.stopped_by.as_deref(),
        breached_at: instance
            .breach
            .as_ref()
            .map(|breach| breach.breached_at.to_string()),
        status,
    }
}

fn text(rows: &[Row<'_>], as_of: NaiveDate) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} clocks as of {as_of}", rows.len());
    for row in rows {
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:<16} {:<8} started {} due {} (strict {}, calendar v{})  {}{}",
            row.rule,
            row.party,
            row.contract,
            row.period.as_deref().unwrap_or("-"),
            row.started_on,
            row.due,
            row.due_strict,
            row.calendar_version,
            status_text(&row.status),
            row.breached_at
                .as_deref()
                .map(|at| format!("; breach recorded ({at})"))
                .unwrap_or_default(),
        );
    }
    out
}

fn status_text(status: &ClockStatus) -> String {
    let days = |count: &ledger::domain::clock::DayCount| match count {
        ledger::domain::clock::DayCount::Working(days) => format!("{} WD", days.0),
        ledger::domain::clock::DayCount::Calendar(days) => format!("{} CD", days.0),
    };
    match status {
        ClockStatus::Running { remaining, .. } => format!("running, {} left", days(remaining)),
        ClockStatus::Suspended { since, remaining } => {
            format!("suspended since {since}, {} carried", days(remaining))
        }
        ClockStatus::MetOnTime { stopped_on, .. } => format!("met on time on {stopped_on}"),
        ClockStatus::MetLate {
            stopped_on,
            late_by,
            ..
        } => {
            format!("met late on {stopped_on} by {}", days(late_by))
        }
        ClockStatus::Overdue { overdue_by, .. } => format!("overdue by {}", days(overdue_by)),
    }
}

/// One overdue clock as the contracts view lists it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OverdueClock {
    pub rule: &'static str,
    pub period: Option<String>,
    pub due: NaiveDate,
    pub overdue: String,
    /// When a `DeadlineBreached` fact records it (`ledger watch`).
    pub breached_at: Option<String>,
}

/// Every clock overdue at the end of `as_of`, by contract id (D-02: a registry never submitted is
/// overdue the day after its due date).
pub fn overdue_by_contract<R: projector::ViewRead>(
    reader: &projector::ProjectorReader<R>,
    as_of: NaiveDate,
) -> anyhow::Result<std::collections::BTreeMap<String, Vec<OverdueClock>>> {
    let calendars = CalendarSet::embedded()?;
    let mut by_contract: std::collections::BTreeMap<String, Vec<OverdueClock>> =
        std::collections::BTreeMap::new();
    for instance in deadlines::as_of(reader, &calendars, as_of)? {
        if instance.deadline().started_on > as_of {
            continue;
        }
        let status = instance
            .status(&calendars, deadline_end(instance.jurisdiction, as_of))
            .map_err(anyhow::Error::msg)?;
        if let ClockStatus::Overdue { due, .. } = status {
            by_contract
                .entry(instance.contract_id.to_string())
                .or_default()
                .push(OverdueClock {
                    rule: instance.rule.name(),
                    period: instance.period.map(|period| period.key()),
                    due,
                    overdue: status_text(&status),
                    breached_at: instance
                        .breach
                        .as_ref()
                        .map(|breach| breach.breached_at.to_string()),
                });
        }
    }
    Ok(by_contract)
}
