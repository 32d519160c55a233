//! The monthly clocks that run from the calendar, not from a document (issue #17): the registry of
//! every month a KZ contract is in force (REGISTRY_SUBMISSION, D-02, D-03) and the payment report of
//! every month a KG contract is in force (KG_PAYMENT_REPORT, D-13), each from the day the month ends.
//!
//! Decision (docs/decisions.md #17): the clock is derived from the contract's conclusion event, which
//! carries the due day and the calendar version (`MonthlyDue`, DESIGN §2), and from the month alone;
//! the view never reads another partition. What the view stores per contract is a [`Schedule`] (the
//! terms, renewals and the end), and per month only the facts of the month's own period stream
//! ([`MonthFacts`]: the first submission that stops the clock, a recorded breach). A month's
//! deadline is the one an event carried when there is one (a `RegistrySubmitted` or a
//! `DeadlineBreached`, decided by the domain), else it is computed when asked from the schedule on
//! the calendar version the contract names. Nothing is materialised per month ahead of time, so an
//! open-ended contract costs one record, however long it runs.
//!
//! Keys: `s\0<contract>\0<rule>` → [`Schedule`]; `m\0<contract>\0<rule>\0<YYYY-MM>` → [`MonthFacts`].

use chrono::{Datelike, NaiveDate};
use ledger::domain::calendar::{CalendarSet, deadline_end};
use ledger::domain::clock::{Clock, ClockRule, Deadline, MonthlyDue, REGISTRY_DUE_DAY};
use ledger::domain::contract::events::ContractTerm;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{ContractId, ReportingPeriod};
use ledger::log::EventId;
use serde::{Deserialize, Serialize};

use super::{Breach, ClockInstance, NAME, Party, term_of};
use crate::projector::ProjectorReader;
use crate::store::ViewRead;
use crate::view::{ViewError, ViewTxn};
use crate::views::{Key, QueryError, scan_values};

/// The most months one contract's schedule yields for one query (a century of monthly clocks).
pub const SCHEDULE_MONTHS_MAX: u32 = 1_200;

/// What a contract's monthly clock is computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub contract_id: ContractId,
    pub jurisdiction: Jurisdiction,
    pub due: MonthlyDue,
    /// The validity terms: the first and each renewal (KG, C-08).
    pub terms: Vec<ContractTerm>,
    /// The last day in force when the contract ended early (KZ: the termination notice's receipt,
    /// C-05, A-25).
    pub ended_on: Option<NaiveDate>,
    /// The conclusion event the schedule comes from.
    pub started_by: EventId,
}

impl Schedule {
    /// Whether the contract was in force on some day of `period`.
    fn in_force_during(&self, period: ReportingPeriod) -> bool {
        let (first, last) = (period.first_day(), period.last_day());
        self.ended_on.is_none_or(|ended| ended >= first)
            && self.terms.iter().any(|term| {
                term.starts_on <= last && term.ends_on.is_none_or(|ends_on| ends_on >= first)
            })
    }

    fn first_month(&self) -> Option<NaiveDate> {
        self.terms.iter().map(|term| term.starts_on).min()
    }
}

/// What the month's own period stream recorded about its monthly clock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthFacts {
    /// The deadline a domain decision carried (the submission's, or the breach's).
    pub deadline: Option<Deadline>,
    /// The first submission: its instant and event type (it stops the clock).
    pub stopped: Option<(Timestamp, String)>,
    pub breach: Option<Breach>,
    /// The event that first recorded a fact of the month.
    pub first_event: Option<EventId>,
}

/// The event a month's monthly clock is stopped by.
pub fn stopped_by(rule: ClockRule) -> &'static str {
    match rule {
        ClockRule::KgPaymentReport => "KgPaymentReportSubmitted",
        _ => "RegistrySubmitted",
    }
}

fn schedule_key(contract_id: &str, rule: ClockRule) -> Vec<u8> {
    Key::new(b's')
        .push(contract_id)
        .push(rule.name())
        .into_bytes()
}

fn month_key(contract_id: &str, rule: ClockRule, period: ReportingPeriod) -> Vec<u8> {
    Key::new(b'm')
        .push(contract_id)
        .push(rule.name())
        .push(&period.key())
        .into_bytes()
}

/// A contract was concluded: its schedule starts. `due` is what the conclusion carried; for a KZ
/// contract recorded before it did (schema v1), the law's 25th (D-02) on `fallback_calendar`, the
/// calendar version of the contract's own review clock.
pub fn conclude(
    txn: &mut ViewTxn<'_>,
    contract_id: &ContractId,
    jurisdiction: Jurisdiction,
    due: Option<MonthlyDue>,
    fallback_calendar: Option<ledger::domain::calendar::CalendarVersion>,
    term: ContractTerm,
    event_id: EventId,
) -> Result<(), ViewError> {
    let due = match (due, jurisdiction, fallback_calendar) {
        (Some(due), _, _) => due,
        (None, Jurisdiction::KZ, Some(calendar_version)) => MonthlyDue {
            rule: ClockRule::RegistrySubmission,
            due_day: REGISTRY_DUE_DAY,
            calendar_version,
        },
        // A KG contract without recorded report terms (D-13 leaves them to the contract) has none.
        _ => return Ok(()),
    };
    let schedule = Schedule {
        contract_id: contract_id.clone(),
        jurisdiction,
        due,
        terms: vec![term],
        ended_on: None,
        started_by: event_id,
    };
    txn.put_encoded(schedule_key(contract_id.as_str(), due.rule), &schedule)
}

/// Changes a contract's schedule of `rule`, if it has one.
pub fn change_schedule(
    txn: &mut ViewTxn<'_>,
    contract_id: &ContractId,
    rule: ClockRule,
    change: impl FnOnce(&mut Schedule),
) -> Result<(), ViewError> {
    let key = schedule_key(contract_id.as_str(), rule);
    if let Some(mut schedule) = txn.get_decoded::<Schedule>(&key)? {
        change(&mut schedule);
        txn.put_encoded(key, &schedule)?;
    }
    Ok(())
}

/// Records a fact of a month's clock.
pub fn change_month(
    txn: &mut ViewTxn<'_>,
    contract_id: &ContractId,
    rule: ClockRule,
    period: ReportingPeriod,
    event_id: EventId,
    change: impl FnOnce(&mut MonthFacts),
) -> Result<(), ViewError> {
    let key = month_key(contract_id.as_str(), rule, period);
    let mut facts = txn.get_decoded::<MonthFacts>(&key)?.unwrap_or_default();
    facts.first_event.get_or_insert(event_id);
    change(&mut facts);
    txn.put_encoded(key, &facts)
}

/// The instant a month's clock starts: local midnight of the period's last day (the day the month
/// ends), or the stop when a registry came even earlier.
fn start_instant(
    jurisdiction: Jurisdiction,
    period: ReportingPeriod,
    stop: Option<Timestamp>,
) -> Timestamp {
    let day_before_end = deadline_end(jurisdiction, period.last_day()).micros() - 86_399_000_000;
    let start = Timestamp::from_micros(day_before_end);
    stop.map_or(start, |stop| start.min(stop))
}

/// The clock instance of a month with `deadline` and the month's facts.
fn instance(
    contract_id: &ContractId,
    jurisdiction: Jurisdiction,
    period: ReportingPeriod,
    deadline: Deadline,
    facts: Option<&MonthFacts>,
    started_by: EventId,
) -> Result<ClockInstance, QueryError> {
    let stop = facts.and_then(|facts| facts.stopped.clone());
    let started_at = start_instant(jurisdiction, period, stop.as_ref().map(|(at, _)| *at));
    let mut clock = Clock::start(jurisdiction, deadline, term_of(deadline.rule), started_at);
    if let Some((stopped_at, _)) = &stop {
        clock
            .stop(*stopped_at)
            .map_err(|error| QueryError::Decode {
                view: NAME,
                key: format!("m/{contract_id}/{}/{}", deadline.rule, period.key()),
                detail: error.to_string(),
            })?;
    }
    Ok(ClockInstance {
        rule: deadline.rule,
        party: Party::of(deadline.rule),
        jurisdiction,
        contract_id: contract_id.clone(),
        period: Some(period),
        stream: format!("period/{contract_id}/{}", period.key()),
        started_by: facts
            .and_then(|facts| facts.first_event)
            .unwrap_or(started_by),
        stopped_by: stop.map(|(_, event_type)| event_type),
        amount_due: None,
        breach: facts.and_then(|facts| facts.breach.clone()),
        clock,
    })
}

/// The months whose facts carry a deadline, as clock instances (what the log itself fixed; no
/// calendar needed).
pub fn recorded<R: ViewRead>(
    reader: &ProjectorReader<R>,
) -> Result<Vec<ClockInstance>, QueryError> {
    let mut instances = Vec::new();
    for ((contract_id, rule, period), facts) in month_facts(reader)? {
        let Some(deadline) = facts.deadline else {
            continue;
        };
        assert_eq!(
            deadline.rule, rule,
            "a month's deadline is of its key's rule"
        );
        let first = facts
            .first_event
            .expect("a month's facts name their first event");
        instances.push(instance(
            &contract_id,
            jurisdiction_of(rule),
            period,
            deadline,
            Some(&facts),
            first,
        )?);
    }
    Ok(instances)
}

fn jurisdiction_of(rule: ClockRule) -> Jurisdiction {
    match rule {
        ClockRule::KgPaymentReport => Jurisdiction::KG,
        _ => Jurisdiction::KZ,
    }
}

type MonthId = (ContractId, ClockRule, ReportingPeriod);

fn month_facts<R: ViewRead>(
    reader: &ProjectorReader<R>,
) -> Result<Vec<(MonthId, MonthFacts)>, QueryError> {
    let pairs = reader.scan_prefix(NAME, &[b'm', 0], usize::MAX)?;
    pairs
        .into_iter()
        .map(|(key, bytes)| {
            let facts: MonthFacts = crate::views::decode_value(NAME, &key, &bytes)?;
            let text = String::from_utf8_lossy(&key[2..]).into_owned();
            let bad = |detail: String| QueryError::Decode {
                view: NAME,
                key: text.replace('\0', "/"),
                detail,
            };
            let parts: Vec<&str> = text.split('\0').collect();
            let [contract, rule, month] = parts.as_slice() else {
                return Err(bad("expected contract, rule and month".to_owned()));
            };
            let contract_id = ContractId::new(*contract).map_err(|error| bad(error.to_string()))?;
            let rule = ClockRule::ALL
                .into_iter()
                .find(|known| known.name() == *rule)
                .ok_or_else(|| bad(format!("unknown clock rule {rule}")))?;
            let period = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
                .ok()
                .and_then(|first| ReportingPeriod::month(first.year(), first.month()).ok())
                .ok_or_else(|| bad(format!("\"{month}\" is not a month YYYY-MM")))?;
            Ok(((contract_id, rule, period), facts))
        })
        .collect()
}

/// Every monthly clock that exists on `as_of`: those the log fixed ([`recorded`]) and, for every
/// schedule, each month in force that ended by `as_of` and has no recorded deadline, computed from
/// the schedule on the calendar version it names.
pub fn as_of<R: ViewRead>(
    reader: &ProjectorReader<R>,
    calendars: &CalendarSet,
    as_of: NaiveDate,
) -> Result<Vec<ClockInstance>, QueryError> {
    let mut instances = recorded(reader)?;
    let facts: std::collections::BTreeMap<(String, ClockRule, String), MonthFacts> =
        month_facts(reader)?
            .into_iter()
            .map(|((contract_id, rule, period), facts)| {
                ((contract_id.to_string(), rule, period.key()), facts)
            })
            .collect();
    let schedules: Vec<Schedule> = scan_values(reader, NAME, &[b's', 0])?;
    for schedule in &schedules {
        let calendar = calendars
            .calendar(schedule.jurisdiction, schedule.due.calendar_version)
            .map_err(|error| calendar_error(schedule, &error.to_string()))?;
        for period in months(schedule, as_of) {
            let known = facts.get(&(
                schedule.contract_id.to_string(),
                schedule.due.rule,
                period.key(),
            ));
            if known.is_some_and(|facts| facts.deadline.is_some()) {
                continue; // listed by `recorded`
            }
            let deadline = schedule
                .due
                .deadline(&calendar, period.last_day())
                .map_err(|error| {
                    calendar_error(schedule, &format!("period {}: {error}", period.key()))
                })?;
            instances.push(instance(
                &schedule.contract_id,
                schedule.jurisdiction,
                period,
                deadline,
                known,
                schedule.started_by,
            )?);
        }
    }
    Ok(instances)
}

fn calendar_error(schedule: &Schedule, detail: &str) -> QueryError {
    QueryError::Compute {
        view: NAME,
        detail: format!(
            "the {} clock of contract \"{}\" cannot be computed on the {} calendar {}: {detail}; \
             publish the calendar of the years it needs, or ask as of an earlier date",
            schedule.due.rule,
            schedule.contract_id,
            schedule.jurisdiction,
            schedule.due.calendar_version
        ),
    }
}

/// The calendar months the schedule's contract was in force in that ended on or before `as_of`.
fn months(schedule: &Schedule, as_of: NaiveDate) -> Vec<ReportingPeriod> {
    let Some(first) = schedule.first_month() else {
        return Vec::new();
    };
    let mut months = Vec::new();
    let (mut year, mut month) = (first.year(), first.month());
    for _ in 0..SCHEDULE_MONTHS_MAX {
        let Ok(period) = ReportingPeriod::month(year, month) else {
            break;
        };
        if period.last_day() > as_of {
            break;
        }
        if schedule.in_force_during(period) {
            months.push(period);
        }
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
    }
    months
}
