//! Computing the [`Deadline`] a clock-starting event carries (DESIGN §2), with the day-counting
//! conventions of RULES ("Day counting", A-02, A-03) on the passed-in [`WorkingCalendar`].
//!
//! The reusable due-date functions live in `clock.rs` (branch `calendar`); these small private helpers
//! only use the trait so that the domain does not depend on their arrival.

use chrono::{Datelike, Duration, NaiveDate};

use super::calendar::{CalendarDays, WorkingCalendar, WorkingDays};
use super::clock::{ClockRule, Deadline};
use super::context::{local_date, local_hour};
use super::error::DomainError;
use super::jurisdiction::Jurisdiction;
use super::rules::RuleParameters;
use super::time::Timestamp;

fn calendar_error(
    rule: &'static str,
    clock: ClockRule,
) -> impl Fn(super::calendar::CalendarError) -> DomainError {
    move |source| DomainError::Calendar {
        rule,
        clock: clock.name(),
        source,
    }
}

/// Implements A-02 and A-03(a): a working-day clock started by a receipt at `received_at` is due at
/// the end of the n-th working day after the receipt's local date. With `after_hours_deeming`, a
/// receipt on a non-working day or after the working day's end counts from the next working day.
pub fn working_day_clock(
    calendar: &dyn WorkingCalendar,
    parameters: &RuleParameters,
    rule: ClockRule,
    rule_id: &'static str,
    received_at: Timestamp,
    days: WorkingDays,
) -> Result<Deadline, DomainError> {
    let jurisdiction = calendar.jurisdiction();
    let on_error = calendar_error(rule_id, rule);
    let mut started_on = local_date(jurisdiction, received_at);
    if parameters.after_hours_deeming {
        let after_hours = local_hour(jurisdiction, received_at) >= parameters.working_day_end_hour;
        if after_hours || !calendar.is_working(started_on).map_err(&on_error)? {
            // Deemed received on the next working day, which then itself does not count.
            started_on = calendar
                .add_working_days(started_on, WorkingDays(1))
                .map_err(&on_error)?;
        }
    }
    let due = calendar
        .add_working_days(started_on, days)
        .map_err(&on_error)?;
    Ok(Deadline {
        rule,
        calendar_version: calendar.version(),
        started_on,
        due_strict: due,
        due,
    })
}

/// Implements A-02, A-03(b) for calendar-day clocks (D-07): due = start + n days, rolled forward to a
/// working day; both dates are kept.
pub fn calendar_day_clock(
    calendar: &dyn WorkingCalendar,
    rule: ClockRule,
    rule_id: &'static str,
    started_on: NaiveDate,
    days: CalendarDays,
) -> Result<Deadline, DomainError> {
    let due_strict = started_on + Duration::days(i64::from(days.0));
    let due = calendar
        .roll_forward(due_strict)
        .map_err(calendar_error(rule_id, rule))?;
    Ok(Deadline {
        rule,
        calendar_version: calendar.version(),
        started_on,
        due_strict,
        due,
    })
}

/// Implements D-02, D-03, A-04, A-05: the registry of a period ending on `period_last_day` is due on
/// the `due_day` of the following month (December → January of the next year), inclusive, rolled
/// forward when that day is not a working day.
pub fn registry_submission_clock(
    calendar: &dyn WorkingCalendar,
    period_last_day: NaiveDate,
    due_day: u32,
) -> Result<Deadline, DomainError> {
    let (year, month) = if period_last_day.month() == 12 {
        (period_last_day.year() + 1, 1)
    } else {
        (period_last_day.year(), period_last_day.month() + 1)
    };
    let due_strict = NaiveDate::from_ymd_opt(year, month, due_day)
        .expect("the registry due day is a day every month has (≤ 28)");
    let due = calendar
        .roll_forward(due_strict)
        .map_err(calendar_error("D-02", ClockRule::RegistrySubmission))?;
    Ok(Deadline {
        rule: ClockRule::RegistrySubmission,
        calendar_version: calendar.version(),
        started_on: period_last_day,
        due_strict,
        due,
    })
}

/// Whether `at` is after the deadline, which ends at 23:59:59 local time of its due date.
pub fn is_late(deadline: &Deadline, jurisdiction: Jurisdiction, at: Timestamp) -> bool {
    local_date(jurisdiction, at) > deadline.due
}

/// the calendar days of a payment clock left when it is suspended on `suspended_on`.
pub fn remaining_days(deadline: &Deadline, suspended_on: NaiveDate) -> CalendarDays {
    let left = (deadline.due_strict - suspended_on).num_days().max(0);
    CalendarDays(u32::try_from(left).expect("a 5-day clock leaves a small non-negative remainder"))
}
