//! The clocks of RULES D-01…D-12 with A-02…, on the embedded calendars.

use chrono::{Datelike, Days, NaiveDate};
use proptest::prelude::*;

use super::*;
use crate::domain::calendar::{Calendar, CalendarSet, WorkingCalendar, local_date};
use crate::domain::jurisdiction::Jurisdiction::{self, KG, KZ};

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

/// Noon local time of `date` (a safe instant on that local date in both jurisdictions).
fn noon(jurisdiction: Jurisdiction, date: NaiveDate) -> Timestamp {
    let end = deadline_end(jurisdiction, date);
    Timestamp::from_micros(end.micros() - 12 * 3_600 * 1_000_000)
}

fn latest(jurisdiction: Jurisdiction) -> Calendar {
    CalendarSet::embedded()
        .unwrap()
        .latest(jurisdiction)
        .unwrap()
}

fn due(calendar: &Calendar, rule: ClockRule, started_on: &str) -> Deadline {
    deadline(calendar, rule, date(started_on), &ClockPolicy::default())
        .unwrap()
        .unwrap()
}

#[test]
fn d01_contract_review_five_working_days_over_nauryz() {
    let deadline = due(&latest(KZ), ClockRule::ContractReview, "2026-03-20");
    assert_eq!(deadline.due, date("2026-04-01"));
    assert_eq!(deadline.due_strict, deadline.due);
    assert_eq!(deadline.calendar_version, CalendarVersion(2));
}

#[test]
fn d04_registry_review_ten_working_days_across_the_year_end() {
    let deadline = due(&latest(KZ), ClockRule::RegistryReview, "2026-12-25");
    assert_eq!(deadline.due, date("2027-01-13"));
}

#[test]
fn d06_act_signing_five_working_days() {
    let deadline = due(&latest(KZ), ClockRule::ActSigning, "2024-05-03");
    // 4 May is a working Saturday, 7–9 May are days off.
    assert_eq!(deadline.due, date("2024-05-14"));
}

#[test]
fn a02_the_start_day_never_counts() {
    let calendar = latest(KZ);
    assert_eq!(
        add_working_days(&calendar, date("2026-02-02"), WorkingDays(5)).unwrap(),
        date("2026-02-09")
    );
    assert_eq!(
        add_working_days(&calendar, date("2026-02-01"), WorkingDays(5)).unwrap(),
        date("2026-02-06")
    );
}

#[test]
fn d07_payment_five_calendar_days_strict_and_rolled() {
    let deadline = due(&latest(KZ), ClockRule::Payment, "2026-03-16");
    assert_eq!(deadline.due_strict, date("2026-03-21"));
    assert_eq!(deadline.due, date("2026-03-26"));
    let on_working_day = due(&latest(KZ), ClockRule::Payment, "2026-02-02");
    assert_eq!(
        (on_working_day.due_strict, on_working_day.due),
        (date("2026-02-07"), date("2026-02-09"))
    );
}

#[test]
fn d02_d03_a05_registry_due_25th_of_following_month() {
    let kz = latest(KZ);
    let february = registry_due(&kz, date("2026-02-28")).unwrap();
    assert_eq!(
        (february.strict, february.rolled),
        (date("2026-03-25"), date("2026-03-26"))
    );
    let december = registry_due(&kz, date("2026-12-31")).unwrap();
    assert_eq!(
        (december.strict, december.rolled),
        (date("2027-01-25"), date("2027-01-25"))
    );
    let december_2025 = registry_due(&kz, date("2025-12-31")).unwrap();
    assert_eq!(
        (december_2025.strict, december_2025.rolled),
        (date("2026-01-25"), date("2026-01-26"))
    );
    // a sub-monthly period is due by the month in which it ends.
    assert_eq!(
        registry_due(&kz, date("2026-04-15")).unwrap().strict,
        date("2026-05-25")
    );
    let deadline = due(&kz, ClockRule::RegistrySubmission, "2026-02-28");
    assert_eq!(
        (deadline.due_strict, deadline.due),
        (date("2026-03-25"), date("2026-03-26"))
    );
    // December 2027 is due in 2028, which is not covered: an error, never a guess.
    assert!(registry_due(&kz, date("2027-12-31")).is_err());
}

#[test]
fn d02_a04_registry_due_every_month_2024_to_2027_is_the_25th_or_next_working_day() {
    for jurisdiction in Jurisdiction::ALL {
        let calendar = latest(jurisdiction);
        for year in 2024..=2027 {
            for month in 1..=12 {
                let period_end = end_of_month(NaiveDate::from_ymd_opt(year, month, 1).unwrap());
                if period_end == date("2027-12-31") {
                    continue;
                }
                let due = registry_due(&calendar, period_end).unwrap();
                assert_eq!(due.strict.day(), 25);
                assert!(due.strict > period_end);
                assert!(calendar.is_working(due.rolled).unwrap());
                let mut day = due.strict;
                while day < due.rolled {
                    assert!(!calendar.is_working(day).unwrap(), "{jurisdiction} {day}");
                    day = day + Days::new(1);
                }
            }
        }
    }
}

#[test]
fn d05_a07_act_submission_has_no_deadline_by_default() {
    let calendar = latest(KZ);
    let none = deadline(
        &calendar,
        ClockRule::ActSubmission,
        date("2026-02-02"),
        &ClockPolicy::default(),
    )
    .unwrap();
    assert_eq!(none, None);
    let policy = ClockPolicy {
        act_submission: Some(ClockTerm::WorkingDays(WorkingDays(10))),
        ..ClockPolicy::default()
    };
    let some = deadline(
        &calendar,
        ClockRule::ActSubmission,
        date("2026-02-02"),
        &policy,
    )
    .unwrap();
    assert_eq!(some.unwrap().due, date("2026-02-16"));
}

#[test]
fn d10_a23_kg_refusal_three_calendar_days_rolled() {
    let deadline = due(&latest(KG), ClockRule::KgRefusal, "2026-03-17");
    assert_eq!(
        (deadline.due_strict, deadline.due),
        (date("2026-03-20"), date("2026-03-23"))
    );
}

#[test]
fn d11_kg_prescription_valid_thirty_calendar_days() {
    let deadline = due(&latest(KG), ClockRule::KgPrescriptionValidity, "2026-01-10");
    assert_eq!(
        (deadline.due_strict, deadline.due),
        (date("2026-02-09"), date("2026-02-09"))
    );
}

#[test]
fn d12_a27_kg_dispute_window_is_the_dispensing_month_until_the_report() {
    let deadline = due(&latest(KG), ClockRule::KgDisputeWindow, "2026-02-10");
    assert_eq!(
        (deadline.due_strict, deadline.due),
        (date("2026-02-28"), date("2026-02-28"))
    );
    let dispensed = date("2026-02-10");
    assert!(kg_dispute_claim_accepted(
        dispensed,
        None,
        at("2026-02-28T17:59:59Z")
    ));
    assert!(!kg_dispute_claim_accepted(
        dispensed,
        None,
        at("2026-02-28T18:00:00Z")
    ));
    let report = Some(at("2026-02-20T06:00:00Z"));
    assert!(kg_dispute_claim_accepted(
        dispensed,
        report,
        at("2026-02-20T05:59:59Z")
    ));
    assert!(!kg_dispute_claim_accepted(
        dispensed,
        report,
        at("2026-02-21T05:00:00Z")
    ));
}

#[test]
fn d15_d16_a03a_after_hours_deeming_is_optional_and_off_by_default() {
    let calendar = latest(KZ);
    let friday_evening = at("2026-03-20T15:30:00Z"); // 20:30 in Almaty, before Nauryz days off
    let deeming = ClockPolicy {
        after_hours: AfterHours::DeemNextWorkingDay,
        ..ClockPolicy::default()
    };
    assert_eq!(
        receipt_date(&calendar, friday_evening, &ClockPolicy::default()).unwrap(),
        date("2026-03-20")
    );
    assert_eq!(
        receipt_date(&calendar, friday_evening, &deeming).unwrap(),
        date("2026-03-26")
    );
    let friday_afternoon = at("2026-03-20T14:59:59Z"); // 19:59:59 local
    assert_eq!(
        receipt_date(&calendar, friday_afternoon, &deeming).unwrap(),
        date("2026-03-20")
    );
    let sunday = at("2026-02-01T05:00:00Z");
    assert_eq!(
        receipt_date(&calendar, sunday, &deeming).unwrap(),
        date("2026-02-02")
    );
}

#[test]
fn deadline_ends_at_235959_local_time() {
    let deadline = due(&latest(KZ), ClockRule::Payment, "2026-03-16");
    assert_eq!(deadline.ends_at(KZ), at("2026-03-26T18:59:59Z"));
}

fn working_clock(calendar: &Calendar) -> Clock {
    let deadline = due(calendar, ClockRule::RegistryReview, "2026-02-02");
    assert_eq!(deadline.due, date("2026-02-16"));
    Clock::start(
        KZ,
        deadline,
        ClockTerm::WorkingDays(WorkingDays(10)),
        noon(KZ, date("2026-02-02")),
    )
}

#[test]
fn status_running_overdue_met_in_working_days() {
    let calendar = latest(KZ);
    let clock = working_clock(&calendar);
    assert_eq!(
        clock
            .status(&calendar, noon(KZ, date("2026-02-06")))
            .unwrap(),
        ClockStatus::Running {
            due: date("2026-02-16"),
            remaining: DayCount::Working(WorkingDays(6))
        }
    );
    assert_eq!(
        clock.status(&calendar, at("2026-02-16T18:59:59Z")).unwrap(),
        ClockStatus::Running {
            due: date("2026-02-16"),
            remaining: DayCount::Working(WorkingDays(0))
        }
    );
    assert_eq!(
        clock.status(&calendar, at("2026-02-16T19:00:00Z")).unwrap(),
        ClockStatus::Overdue {
            due: date("2026-02-16"),
            overdue_by: DayCount::Working(WorkingDays(1))
        }
    );
    let mut on_time = clock.clone();
    on_time.stop(at("2026-02-16T18:59:59Z")).unwrap();
    let later = noon(KZ, date("2026-03-02"));
    assert_eq!(
        on_time.status(&calendar, later).unwrap(),
        ClockStatus::MetOnTime {
            stopped_on: date("2026-02-16"),
            due: date("2026-02-16")
        }
    );
    let mut late = clock.clone();
    late.stop(noon(KZ, date("2026-02-20"))).unwrap();
    assert_eq!(
        late.status(&calendar, later).unwrap(),
        ClockStatus::MetLate {
            stopped_on: date("2026-02-20"),
            due: date("2026-02-16"),
            late_by: DayCount::Working(WorkingDays(4))
        }
    );
    // As of an instant before the stop, the stop is not yet known.
    assert!(matches!(
        late.status(&calendar, noon(KZ, date("2026-02-18")))
            .unwrap(),
        ClockStatus::Overdue { .. }
    ));
}

#[test]
fn d08_only_the_payment_clock_is_suspendable() {
    let calendar = latest(KZ);
    let mut clock = working_clock(&calendar);
    assert_eq!(
        clock.suspend(noon(KZ, date("2026-02-03"))),
        Err(ClockError::NotSuspendable {
            rule: ClockRule::RegistryReview
        })
    );
}

fn payment_clock(calendar: &Calendar, signed: &str) -> Clock {
    let deadline = due(calendar, ClockRule::Payment, signed);
    let term = ClockRule::Payment.term(&ClockPolicy::default()).unwrap();
    Clock::start(KZ, deadline, term, noon(KZ, date(signed)))
}

#[test]
fn a08_suspended_payment_resumes_with_the_days_it_had_left() {
    let calendar = latest(KZ);
    let mut clock = payment_clock(&calendar, "2026-06-01");
    assert_eq!(
        (clock.deadline().due_strict, clock.deadline().due),
        (date("2026-06-06"), date("2026-06-08"))
    );
    clock.suspend(noon(KZ, date("2026-06-03"))).unwrap();
    assert_eq!(
        clock
            .status(&calendar, noon(KZ, date("2026-06-09")))
            .unwrap(),
        ClockStatus::Suspended {
            since: date("2026-06-03"),
            remaining: DayCount::Calendar(CalendarDays(3))
        }
    );
    assert!(matches!(
        clock.suspend(noon(KZ, date("2026-06-04"))),
        Err(ClockError::AlreadySuspended { .. })
    ));
    clock.resume(noon(KZ, date("2026-06-10"))).unwrap();
    let due = clock
        .due_as_of(&calendar, noon(KZ, date("2026-06-10")))
        .unwrap();
    assert_eq!(
        (due.strict, due.rolled),
        (date("2026-06-13"), date("2026-06-15"))
    );
    assert_eq!(
        clock
            .status(&calendar, noon(KZ, date("2026-06-11")))
            .unwrap(),
        ClockStatus::Running {
            due: date("2026-06-15"),
            remaining: DayCount::Calendar(CalendarDays(4))
        }
    );
    // Before the resume is known, the original due date stands.
    let before = clock
        .due_as_of(&calendar, noon(KZ, date("2026-06-02")))
        .unwrap();
    assert_eq!(before.rolled, date("2026-06-08"));
    clock.stop(noon(KZ, date("2026-06-15"))).unwrap();
    assert!(matches!(
        clock
            .status(&calendar, noon(KZ, date("2026-07-01")))
            .unwrap(),
        ClockStatus::MetOnTime { .. }
    ));
    assert!(matches!(
        clock.resume(noon(KZ, date("2026-07-01"))),
        Err(ClockError::Stopped { .. })
    ));
}

#[test]
fn a08_suspension_after_the_due_date_does_not_rescue_a_late_payment() {
    let calendar = latest(KZ);
    let mut clock = payment_clock(&calendar, "2026-06-01");
    clock.suspend(noon(KZ, date("2026-06-09"))).unwrap();
    assert_eq!(
        clock
            .status(&calendar, noon(KZ, date("2026-06-10")))
            .unwrap(),
        ClockStatus::Overdue {
            due: date("2026-06-08"),
            overdue_by: DayCount::Calendar(CalendarDays(2))
        }
    );
    assert!(matches!(
        clock.resume(noon(KZ, date("2026-06-08"))),
        Err(ClockError::OutOfOrder { .. })
    ));
}

proptest! {
    /// whatever the suspensions, the active calendar days (start, first suspension] +
    /// (resume, next suspension] + … + (last resume, strict due] add up to exactly the 5 days of D-07.
    #[test]
    fn a08_suspension_never_gains_or_loses_days(
        start in 0_u64..1_200,
        steps in proptest::collection::vec((0_u64..6, 0_u64..20), 0..4),
    ) {
        let calendar = latest(KZ);
        let signed = date("2024-03-01") + Days::new(start);
        let deadline = deadline(&calendar, ClockRule::Payment, signed, &ClockPolicy::default()).unwrap().unwrap();
        let mut clock = Clock::start(KZ, deadline, ClockTerm::CalendarDays(CalendarDays(5)), noon(KZ, signed));
        let mut strict = deadline.due_strict;
        let mut cursor = signed;
        let mut active = 0_i64;
        for (offset, length) in steps {
            let left = u64::try_from((strict - cursor).num_days()).unwrap();
            let suspended_on = cursor + Days::new(offset.min(left));
            let resumed_on = suspended_on + Days::new(length);
            clock.suspend(noon(KZ, suspended_on)).unwrap();
            clock.resume(noon(KZ, resumed_on)).unwrap();
            active += (suspended_on - cursor).num_days();
            let due = clock.due_as_of(&calendar, noon(KZ, resumed_on)).unwrap();
            strict = due.strict;
            cursor = resumed_on;
            prop_assert!(calendar.is_working(due.rolled).unwrap());
        }
        active += (strict - cursor).num_days();
        prop_assert_eq!(active, 5);
    }
}

#[test]
fn local_dates_follow_the_jurisdiction() {
    assert_eq!(
        local_date(KZ, at("2026-03-20T19:00:00Z")),
        date("2026-03-21")
    );
    assert_eq!(
        local_date(KG, at("2026-03-20T18:00:00Z")),
        date("2026-03-21")
    );
}

#[test]
fn clock_state_round_trips_through_the_codec() {
    let calendar = latest(KZ);
    let mut clock = payment_clock(&calendar, "2026-06-01");
    clock.suspend(noon(KZ, date("2026-06-03"))).unwrap();
    clock.resume(noon(KZ, date("2026-06-10"))).unwrap();
    let bytes = crate::codec::encode(&clock).unwrap();
    assert_eq!(crate::codec::decode::<Clock>(&bytes).unwrap(), clock);
    let status = clock
        .status(&calendar, noon(KZ, date("2026-06-11")))
        .unwrap();
    let bytes = crate::codec::encode(&status).unwrap();
    assert_eq!(crate::codec::decode::<ClockStatus>(&bytes).unwrap(), status);
    let schema = serde_json::to_string(&schemars::schema_for!(Clock)).unwrap();
    assert!(schema.contains("suspensions"));
}

#[test]
fn a01_every_clock_has_its_own_unit() {
    let policy = ClockPolicy::default();
    let term = |rule: ClockRule| rule.term(&policy);
    assert_eq!(
        term(ClockRule::ContractReview),
        Some(ClockTerm::WorkingDays(WorkingDays(5)))
    );
    assert_eq!(
        term(ClockRule::RegistryReview),
        Some(ClockTerm::WorkingDays(WorkingDays(10)))
    );
    assert_eq!(
        term(ClockRule::ActSigning),
        Some(ClockTerm::WorkingDays(WorkingDays(5)))
    );
    assert_eq!(
        term(ClockRule::Payment),
        Some(ClockTerm::CalendarDays(CalendarDays(5)))
    );
    assert_eq!(
        term(ClockRule::RegistrySubmission),
        Some(ClockTerm::RegistryDay)
    );
    assert_eq!(term(ClockRule::ActSubmission), None);
    assert_eq!(
        term(ClockRule::KgRefusal),
        Some(ClockTerm::CalendarDays(CalendarDays(3)))
    );
    assert_eq!(
        term(ClockRule::KgPrescriptionValidity),
        Some(ClockTerm::CalendarDays(CalendarDays(30)))
    );
    assert_eq!(
        term(ClockRule::KgDisputeWindow),
        Some(ClockTerm::EndOfMonth)
    );
    let suspendable: Vec<ClockRule> = ClockRule::ALL
        .into_iter()
        .filter(|rule| rule.is_suspendable())
        .collect();
    assert_eq!(suspendable, vec![ClockRule::Payment]);
}
