//! Statutory deadline clocks (RULES D-01…D-12, A-01, A-02, A-07, A-08, A-23, A-27).
//!
//! An event that starts a clock carries the rule, the calendar version and the computed due dates
//! ([`Deadline`]), so projections never look the calendar up again (DESIGN §2).
//!
//! This file holds the rules, their terms and the pure due-date arithmetic; `state` holds a running
//! clock instance (suspensions, stop, status as of an instant). The clock table with start and stop
//! events is in `docs/calendars.md`.

mod state;

use std::fmt;

use chrono::{Datelike, Days, NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use super::calendar::{
    CalendarDays, CalendarError, CalendarVersion, WorkingCalendar, WorkingDays, deadline_end,
    local_datetime,
};
use super::jurisdiction::Jurisdiction;
use super::time::Timestamp;

pub use state::{Clock, ClockError, ClockStatus, DayCount, SUSPENSIONS_MAX, Suspension};

/// The named statutory clocks; never "the 5-day clock".
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClockRule {
    /// D-01: the Fund reviews a contract application within 5 working days.
    ContractReview,
    /// D-02, D-03: the registry is due the 25th of the month after the period ends.
    RegistrySubmission,
    /// D-04: the Fund reviews a received registry within 10 working days.
    RegistryReview,
    /// optional grace period for sending the act after approval (none by default).
    ActSubmission,
    /// D-06: the Fund signs a received act within 5 working days.
    ActSigning,
    /// D-07, D-08: the Fund pays within 5 calendar days of signing; suspendable.
    Payment,
    /// D-10, A-23 (KG): a refusal to contract is sent within 3 calendar days of the application.
    KgRefusal,
    /// D-11 (KG): a prescription is valid 30 calendar days from the day it was written.
    KgPrescriptionValidity,
    /// D-12, A-27 (KG): disputes are accepted within the dispensing month, before the payment report.
    KgDisputeWindow,
    /// D-13 (KG): the pharmacy's monthly payment report, due on the day of the following month the
    /// contract sets. Appended last: every encoding of the earlier variants is unchanged.
    KgPaymentReport,
}

impl ClockRule {
    pub const ALL: [ClockRule; 10] = [
        ClockRule::ContractReview,
        ClockRule::RegistrySubmission,
        ClockRule::RegistryReview,
        ClockRule::ActSubmission,
        ClockRule::ActSigning,
        ClockRule::Payment,
        ClockRule::KgRefusal,
        ClockRule::KgPrescriptionValidity,
        ClockRule::KgDisputeWindow,
        ClockRule::KgPaymentReport,
    ];

    /// The wire and CLI name, e.g. `REGISTRY_REVIEW`.
    pub fn name(self) -> &'static str {
        match self {
            ClockRule::ContractReview => "CONTRACT_REVIEW",
            ClockRule::RegistrySubmission => "REGISTRY_SUBMISSION",
            ClockRule::RegistryReview => "REGISTRY_REVIEW",
            ClockRule::ActSubmission => "ACT_SUBMISSION",
            ClockRule::ActSigning => "ACT_SIGNING",
            ClockRule::Payment => "PAYMENT",
            ClockRule::KgRefusal => "KG_REFUSAL",
            ClockRule::KgPrescriptionValidity => "KG_PRESCRIPTION_VALIDITY",
            ClockRule::KgDisputeWindow => "KG_DISPUTE_WINDOW",
            ClockRule::KgPaymentReport => "KG_PAYMENT_REPORT",
        }
    }

    /// The RULES id of the obligation the clock measures, e.g. `D-02` for REGISTRY_SUBMISSION.
    pub fn rule_id(self) -> &'static str {
        match self {
            ClockRule::ContractReview => "D-01",
            ClockRule::RegistrySubmission => "D-02",
            ClockRule::RegistryReview => "D-04",
            ClockRule::ActSubmission => "A-07",
            ClockRule::ActSigning => "D-06",
            ClockRule::Payment => "D-07",
            ClockRule::KgRefusal => "D-10",
            ClockRule::KgPrescriptionValidity => "D-11",
            ClockRule::KgDisputeWindow => "D-12",
            ClockRule::KgPaymentReport => "D-13",
        }
    }

    /// Whether a party can breach the clock: the obligations to act by a date. A prescription's
    /// validity (D-11) and a dispute window (D-12) only close; nobody breaches them.
    pub fn is_obligation(self) -> bool {
        !matches!(
            self,
            ClockRule::KgPrescriptionValidity | ClockRule::KgDisputeWindow
        )
    }
}

impl fmt::Display for ClockRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A deadline as decided when its clock started: carried by the starting event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Deadline {
    pub rule: ClockRule,
    /// The calendar version the due date was computed with.
    pub calendar_version: CalendarVersion,
    /// The local date of the triggering event (the day that never counts, A-02).
    pub started_on: NaiveDate,
    /// The due date by strict arithmetic (for calendar-day clocks, before rolling to a working day).
    pub due_strict: NaiveDate,
    /// The due date that binds: the deadline ends at 23:59:59 local time of this date.
    pub due: NaiveDate,
}

impl Deadline {
    /// The instant (UTC) the deadline ends: 23:59:59 local time of `due` (RULES "Day counting").
    pub fn ends_at(&self, jurisdiction: Jurisdiction) -> Timestamp {
        deadline_end(jurisdiction, self.due)
    }
}

/// The day the registry of a period is due: the 25th (D-02, D-03).
pub const REGISTRY_DUE_DAY: u32 = 25;

/// D-13: the default day of the following month a KG payment report is due. S002 leaves the date to
/// the contract; the 10th is the project's default (configuration, `KgContractParameters`).
pub const KG_PAYMENT_REPORT_DAY: u32 = 10;

/// D-16 (S004 App. 4 item 7(1)): working hours end at 20:00 local time; used only by the optional
/// after-hours deeming policy (A-03a).
pub const WORKING_HOURS_END_HOUR: u32 = 20;

/// How a clock counts its term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockUnit {
    WorkingDays,
    CalendarDays,
}

/// The term of a clock, from its start date (which never counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockTerm {
    /// Due on the n-th working day after the start date.
    WorkingDays(WorkingDays),
    /// Due n calendar days after the start date, rolled forward to a working day.
    CalendarDays(CalendarDays),
    /// D-02, D-03: due the 25th of the month after the month the period ends in, rolled forward.
    RegistryDay,
    /// the window ends on the last day of the start date's month (never rolled).
    EndOfMonth,
    /// D-13 (KG): due on this day of the month after the period ends, rolled forward; the day is set
    /// by the contract ([`MonthlyDue`]).
    DayOfNextMonth(u32),
}

impl ClockTerm {
    pub fn unit(self) -> ClockUnit {
        match self {
            ClockTerm::WorkingDays(_) => ClockUnit::WorkingDays,
            ClockTerm::CalendarDays(_)
            | ClockTerm::RegistryDay
            | ClockTerm::EndOfMonth
            | ClockTerm::DayOfNextMonth(_) => ClockUnit::CalendarDays,
        }
    }
}

/// A-03a: whether a receipt after working hours or on a non-working day counts as received on the next
/// working day (the S004 deeming, by analogy). Off by default: the receipt's local date is the start.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AfterHours {
    #[default]
    CountFromReceiptDate,
    DeemNextWorkingDay,
}

/// The configurable parts of the clocks, set per rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClockPolicy {
    /// grace period for sending the act after the registry is approved; `None` by default, so
    /// an act is never overdue.
    pub act_submission: Option<ClockTerm>,
    /// the KG "3 days" for a refusal, read as calendar days by default.
    pub kg_refusal: ClockTerm,
    /// A-03a: after-hours deeming for working-day clocks; off by default.
    pub after_hours: AfterHours,
    /// D-13: the day of the following month a KG payment report is due, as a KG contract is
    /// concluded with by default (the contract's own day binds, [`MonthlyDue`]).
    pub kg_payment_report_day: u32,
}

impl Default for ClockPolicy {
    fn default() -> Self {
        ClockPolicy {
            act_submission: None,
            kg_refusal: ClockTerm::CalendarDays(CalendarDays(3)),
            after_hours: AfterHours::CountFromReceiptDate,
            kg_payment_report_day: KG_PAYMENT_REPORT_DAY,
        }
    }
}

impl ClockRule {
    /// The rule's term under `policy`; `None` when the rule sets no deadline (A-07 by default).
    pub fn term(self, policy: &ClockPolicy) -> Option<ClockTerm> {
        match self {
            ClockRule::ContractReview | ClockRule::ActSigning => {
                Some(ClockTerm::WorkingDays(WorkingDays(5)))
            }
            ClockRule::RegistrySubmission => Some(ClockTerm::RegistryDay),
            ClockRule::RegistryReview => Some(ClockTerm::WorkingDays(WorkingDays(10))),
            ClockRule::ActSubmission => policy.act_submission,
            ClockRule::Payment => Some(ClockTerm::CalendarDays(CalendarDays(5))),
            ClockRule::KgRefusal => Some(policy.kg_refusal),
            ClockRule::KgPrescriptionValidity => Some(ClockTerm::CalendarDays(CalendarDays(30))),
            ClockRule::KgDisputeWindow => Some(ClockTerm::EndOfMonth),
            ClockRule::KgPaymentReport => {
                Some(ClockTerm::DayOfNextMonth(policy.kg_payment_report_day))
            }
        }
    }

    /// D-08, A-08: only the payment clock can be suspended.
    pub fn is_suspendable(self) -> bool {
        matches!(self, ClockRule::Payment)
    }
}

/// A due date by strict arithmetic and the one rolled forward to a working day (shown side by side,
/// A-03(b)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DueDates {
    pub strict: NaiveDate,
    pub rolled: NaiveDate,
}

/// The n-th working day strictly after `from` (RULES "Day counting"; D-01, D-04, D-06).
pub fn add_working_days(
    calendar: &impl WorkingCalendar,
    from: NaiveDate,
    days: WorkingDays,
) -> Result<NaiveDate, CalendarError> {
    calendar.add_working_days(from, days)
}

/// A calendar-day clock (D-07, D-11, A-23): strict = `from + days`; rolled = the next working day on or
/// after it.
pub fn calendar_days_due(
    calendar: &impl WorkingCalendar,
    from: NaiveDate,
    days: CalendarDays,
) -> Result<DueDates, CalendarError> {
    // A count past the end of time cannot be covered: rolling `NaiveDate::MAX` reports `NotCovered`.
    let strict = from
        .checked_add_days(Days::new(u64::from(days.0)))
        .unwrap_or(NaiveDate::MAX);
    Ok(DueDates {
        strict,
        rolled: calendar.roll_forward(strict)?,
    })
}

/// Implements D-02, D-03, A-04, A-05: the registry of a period ending on `period_end` is due the 25th of
/// the following month (December → 25 January of the next year), inclusive; a non-working 25th rolls
/// forward to the next working day.
pub fn registry_due(
    calendar: &impl WorkingCalendar,
    period_end: NaiveDate,
) -> Result<DueDates, CalendarError> {
    day_of_next_month_due(calendar, period_end, REGISTRY_DUE_DAY)
}

/// Implements D-02, D-03, D-13: due on `day` of the month after the month of `period_end`
/// (December → January of the next year), rolled forward to a working day.
pub fn day_of_next_month_due(
    calendar: &(impl WorkingCalendar + ?Sized),
    period_end: NaiveDate,
    day: u32,
) -> Result<DueDates, CalendarError> {
    let (year, month) = if period_end.month() == 12 {
        (period_end.year() + 1, 1)
    } else {
        (period_end.year(), period_end.month() + 1)
    };
    let strict = NaiveDate::from_ymd_opt(year, month, day)
        .expect("a monthly due day is within 1–28, a day every month has");
    Ok(DueDates {
        strict,
        rolled: calendar.roll_forward(strict)?,
    })
}

/// The terms of a monthly clock as a contract is concluded with (DESIGN §2: the conclusion carries
/// what later clocks are computed from): REGISTRY_SUBMISSION (D-02, D-03: the 25th of the month after
/// each period) for a KZ contract, KG_PAYMENT_REPORT (D-13: the day the contract sets) for a KG one,
/// each rolled forward on the calendar version the conclusion was decided with. A view derives the
/// clock of every month the contract is in force from these terms and the month alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MonthlyDue {
    pub rule: ClockRule,
    /// The day of the month after the period (1–28).
    pub due_day: u32,
    pub calendar_version: CalendarVersion,
}

impl MonthlyDue {
    /// The deadline of the period ending on `period_end`, on `calendar` (which must be of the
    /// version the terms name; the caller looks it up).
    pub fn deadline(
        &self,
        calendar: &impl WorkingCalendar,
        period_end: NaiveDate,
    ) -> Result<Deadline, CalendarError> {
        assert_eq!(
            calendar.version(),
            self.calendar_version,
            "a monthly clock is computed on the calendar version its contract names"
        );
        let due = day_of_next_month_due(calendar, period_end, self.due_day)?;
        Ok(Deadline {
            rule: self.rule,
            calendar_version: self.calendar_version,
            started_on: period_end,
            due_strict: due.strict,
            due: due.rolled,
        })
    }
}

/// The last day of `date`'s month.
pub fn end_of_month(date: NaiveDate) -> NaiveDate {
    let first = date.with_day(1).expect("every month has a first day");
    let next_month = first
        .checked_add_months(chrono::Months::new(1))
        .expect("dates in the ledger are far from NaiveDate::MAX");
    next_month
        .pred_opt()
        .expect("a first of month has a predecessor")
}

/// The start date of a clock triggered at `received_at` (A-02: the day of receipt never counts).
/// Under [`AfterHours::DeemNextWorkingDay`] (A-03a, S004 D-15), a receipt at or after 20:00 local time or
/// on a non-working day counts as received on the next working day.
pub fn receipt_date(
    calendar: &impl WorkingCalendar,
    received_at: Timestamp,
    policy: &ClockPolicy,
) -> Result<NaiveDate, CalendarError> {
    let local = local_datetime(calendar.jurisdiction(), received_at);
    let date = local.date();
    if policy.after_hours == AfterHours::CountFromReceiptDate {
        return Ok(date);
    }
    if !calendar.is_working(date)? {
        return calendar.roll_forward(date);
    }
    let closing = NaiveTime::from_hms_opt(WORKING_HOURS_END_HOUR, 0, 0).expect("20:00 is a time");
    if local.time() >= closing {
        return calendar.roll_forward(plus_days(date, 1));
    }
    Ok(date)
}

/// The deadline of `rule` for a clock started on `started_on` (a local date), or `None` when the rule
/// sets no deadline under `policy`. For REGISTRY_SUBMISSION `started_on` is the last day of the
/// reporting period; for KG_DISPUTE_WINDOW it is the dispensing date.
pub fn deadline(
    calendar: &impl WorkingCalendar,
    rule: ClockRule,
    started_on: NaiveDate,
    policy: &ClockPolicy,
) -> Result<Option<Deadline>, CalendarError> {
    let Some(term) = rule.term(policy) else {
        return Ok(None);
    };
    let due = due_dates(calendar, term, started_on)?;
    assert!(
        due.strict <= due.rolled,
        "rolling never moves a due date back"
    );
    assert!(
        due.strict >= started_on,
        "a due date never precedes its start"
    );
    Ok(Some(Deadline {
        rule,
        calendar_version: calendar.version(),
        started_on,
        due_strict: due.strict,
        due: due.rolled,
    }))
}

/// The strict and binding due dates of `term` from `started_on`.
pub fn due_dates(
    calendar: &impl WorkingCalendar,
    term: ClockTerm,
    started_on: NaiveDate,
) -> Result<DueDates, CalendarError> {
    match term {
        ClockTerm::WorkingDays(days) => {
            let due = calendar.add_working_days(started_on, days)?;
            Ok(DueDates {
                strict: due,
                rolled: due,
            })
        }
        ClockTerm::CalendarDays(days) => calendar_days_due(calendar, started_on, days),
        ClockTerm::RegistryDay => registry_due(calendar, started_on),
        ClockTerm::DayOfNextMonth(day) => day_of_next_month_due(calendar, started_on, day),
        ClockTerm::EndOfMonth => {
            let last = end_of_month(started_on);
            Ok(DueDates {
                strict: last,
                rolled: last,
            })
        }
    }
}

/// Implements D-12, A-27 (KG): a dispute claim about a dispensing is accepted within the dispensing
/// month (local dates), and only before the pharmacy's payment report is submitted.
pub fn kg_dispute_claim_accepted(
    dispensed_on: NaiveDate,
    report_submitted_at: Option<Timestamp>,
    claim_at: Timestamp,
) -> bool {
    let claim_on = super::calendar::local_date(Jurisdiction::KG, claim_at);
    let within_month = claim_on >= dispensed_on && claim_on <= end_of_month(dispensed_on);
    let before_report = report_submitted_at.is_none_or(|report| claim_at < report);
    within_month && before_report
}

fn plus_days(date: NaiveDate, days: u32) -> NaiveDate {
    date.checked_add_days(Days::new(u64::from(days)))
        .expect("dates in the ledger are far from NaiveDate::MAX")
}

#[cfg(test)]
mod tests;
