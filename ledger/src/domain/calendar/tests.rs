//! Every KZ and KG holiday rule of 2024–2027 checked against the embedded data, plus the day-counting
//! properties (RULES "Day counting").

use chrono::{Datelike, Days, NaiveDate, Weekday};
use proptest::prelude::*;

use super::*;
use crate::domain::jurisdiction::Jurisdiction::{self, KG, KZ};

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn set() -> CalendarSet {
    CalendarSet::embedded().unwrap()
}

fn latest(jurisdiction: Jurisdiction) -> Calendar {
    set().latest(jurisdiction).unwrap()
}

fn assert_days_off(calendar: &Calendar, dates: &[&str]) {
    for text in dates {
        assert!(
            !calendar.is_working(date(text)).unwrap(),
            "{} {text} should be a day off",
            calendar.jurisdiction()
        );
    }
}

fn assert_working(calendar: &Calendar, dates: &[&str]) {
    for text in dates {
        assert!(
            calendar.is_working(date(text)).unwrap(),
            "{} {text} should be a working day",
            calendar.jurisdiction()
        );
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

#[test]
fn embedded_versions_and_coverage() {
    let set = set();
    assert_eq!(
        set.versions(KZ),
        vec![
            (CalendarVersion(1), date("2024-01-01")),
            (CalendarVersion(2), date("2026-07-01"))
        ]
    );
    assert_eq!(
        set.versions(KG),
        vec![(CalendarVersion(1), date("2024-01-01"))]
    );
    assert_eq!(latest(KZ).years(), (2024, 2027));
    assert_eq!(latest(KG).years(), (2024, 2027));
    assert_eq!(
        set.calendar(KZ, CalendarVersion(1)).unwrap().years(),
        (2024, 2026)
    );
}

#[test]
fn kz_labour_code_holidays_every_year() {
    let calendar = latest(KZ);
    for year in 2024..=2027 {
        for (month, day) in [
            (1, 1),
            (1, 2),
            (1, 7),
            (3, 8),
            (3, 21),
            (3, 22),
            (3, 23),
            (5, 1),
            (5, 7),
            (5, 9),
            (7, 6),
            (10, 25),
            (12, 16),
        ] {
            let holiday = NaiveDate::from_ymd_opt(year, month, day).unwrap();
            let entry = calendar
                .day(holiday)
                .unwrap()
                .unwrap_or_else(|| panic!("KZ {holiday} missing"));
            assert!(entry.kind.is_holiday(), "KZ {holiday} is {:?}", entry.kind);
            assert!(!calendar.is_working(holiday).unwrap());
        }
    }
}

#[test]
fn kz_nauryz_21_to_23_march() {
    let calendar = latest(KZ);
    for year in 2024..=2027 {
        for day in 21..=23 {
            let nauryz = NaiveDate::from_ymd_opt(year, 3, day).unwrap();
            assert_eq!(
                calendar.day(nauryz).unwrap().unwrap().name,
                "Nauryz meyramy"
            );
        }
    }
    assert_days_off(
        &calendar,
        &[
            "2024-03-25",
            "2025-03-24",
            "2025-03-25",
            "2026-03-24",
            "2026-03-25",
            "2027-03-24",
        ],
    );
    assert_working(
        &calendar,
        &["2024-03-26", "2025-03-26", "2026-03-26", "2027-03-25"],
    );
}

/// KZ Labour Code Art. 85: a holiday on a day off moves the day off to the next working day, except the
/// religious holidays; the transfers chain (Nauryz on Saturday and Sunday gives two days).
#[test]
fn kz_weekend_holiday_moves_to_next_working_day_except_religious() {
    let set = set();
    let calendars = [
        set.calendar(KZ, CalendarVersion(1)).unwrap(),
        set.latest(KZ).unwrap(),
    ];
    for calendar in &calendars {
        let (first, last) = calendar.years();
        for year in first..=last {
            let days = calendar.listed_days(year).unwrap();
            let mut expected = Vec::new();
            for day in days
                .iter()
                .filter(|day| day.kind == DayKind::Holiday && is_weekend(day.date))
            {
                let mut candidate = day.date + Days::new(1);
                while is_weekend(candidate)
                    || calendar
                        .day(candidate)
                        .unwrap()
                        .is_some_and(|d| d.kind.is_holiday())
                    || expected.contains(&candidate)
                {
                    candidate = candidate + Days::new(1);
                }
                expected.push(candidate);
            }
            for moved in &expected {
                let entry = calendar.day(*moved).unwrap();
                assert_eq!(
                    entry.map(|d| d.kind),
                    Some(DayKind::MovedDayOff),
                    "KZ {} {moved}",
                    calendar.version()
                );
            }
            for day in days.iter().filter(|day| day.kind == DayKind::MovedDayOff) {
                assert!(
                    expected.contains(&day.date) || day.source.contains("Decree"),
                    "KZ {} has an unexplained day off",
                    day.date
                );
            }
        }
    }
    // Religious holidays on a Sunday give no extra day.
    assert_working(&latest(KZ), &["2024-01-08", "2024-06-17", "2027-05-17"]);
}

#[test]
fn kz_kurban_ait_first_day() {
    let calendar = latest(KZ);
    for text in ["2024-06-16", "2025-06-06", "2026-05-27", "2027-05-16"] {
        let entry = calendar.day(date(text)).unwrap().unwrap();
        assert_eq!(entry.kind, DayKind::ReligiousHoliday, "{text}");
        assert!(entry.name.starts_with("Kurban Ait"));
    }
    assert_days_off(&calendar, &["2025-06-06", "2026-05-27"]);
}

#[test]
fn kz_decree_transfers() {
    let calendar = latest(KZ);
    assert_working(&calendar, &["2024-05-04", "2025-01-05"]);
    assert_days_off(&calendar, &["2024-05-08", "2025-01-03"]);
}

#[test]
fn kz_republic_day_and_independence_day() {
    let calendar = latest(KZ);
    assert_days_off(
        &calendar,
        &["2024-10-25", "2025-10-27", "2026-10-26", "2027-10-25"],
    );
    assert_days_off(
        &calendar,
        &["2024-12-16", "2025-12-16", "2026-12-16", "2027-12-16"],
    );
    assert_working(&calendar, &["2024-12-17", "2025-12-17"]);
}

/// RULES "Day counting": the new Constitution moves Constitution Day to 15 March from 2027, so
/// 2026-08-31 is a day off in version 1 and a working day in version 2.
#[test]
fn kz_constitution_day_2026_v1_vs_v2() {
    let set = set();
    let v1 = set.calendar(KZ, CalendarVersion(1)).unwrap();
    let v2 = set.calendar(KZ, CalendarVersion(2)).unwrap();
    assert!(!v1.is_working(date("2026-08-31")).unwrap());
    assert!(v2.is_working(date("2026-08-31")).unwrap());
    assert!(v2.day(date("2026-08-30")).unwrap().is_none());
    assert_eq!(
        v2.add_working_days(date("2026-08-28"), WorkingDays(1))
            .unwrap(),
        date("2026-08-31")
    );
    assert_eq!(
        v1.add_working_days(date("2026-08-28"), WorkingDays(1))
            .unwrap(),
        date("2026-09-01")
    );
    assert_eq!(v2.year_version(2025), Some(CalendarVersion(1)));
    assert_eq!(v2.year_version(2026), Some(CalendarVersion(2)));
    assert_days_off(&v2, &["2027-03-15"]);
    assert_working(&v2, &["2027-08-30"]);
    assert!(matches!(
        v1.is_working(date("2027-03-15")),
        Err(CalendarError::NotCovered { .. })
    ));
    assert_eq!(
        set.in_force(KZ, date("2026-06-30")).unwrap().version(),
        CalendarVersion(1)
    );
    assert_eq!(
        set.in_force(KZ, date("2026-07-01")).unwrap().version(),
        CalendarVersion(2)
    );
}

#[test]
fn kg_holidays_2024_under_the_2004_labour_code() {
    let calendar = latest(KG);
    assert_days_off(
        &calendar,
        &[
            "2024-01-01",
            "2024-01-02",
            "2024-01-03",
            "2024-01-04",
            "2024-01-05",
            "2024-02-23",
            "2024-03-08",
            "2024-03-21",
            "2024-03-22",
            "2024-04-10",
            "2024-05-01",
            "2024-05-02",
            "2024-05-03",
            "2024-05-09",
            "2024-06-17",
            "2024-11-07",
            "2024-11-08",
        ],
    );
    // Saturdays worked by decree, and the observed days the decree moved to January, March and May.
    assert_working(
        &calendar,
        &[
            "2024-01-27",
            "2024-03-02",
            "2024-05-11",
            "2024-01-08",
            "2024-04-08",
            "2024-05-06",
            "2024-09-02",
        ],
    );
}

#[test]
fn kg_holidays_from_the_2025_labour_code() {
    let calendar = latest(KG);
    for year in 2025..=2027 {
        for day in 1..=9 {
            let may = NaiveDate::from_ymd_opt(year, 5, day).unwrap();
            assert!(!calendar.is_working(may).unwrap(), "KG {may}");
        }
        for (month, day) in [(1, 1), (1, 7), (3, 8), (3, 21), (8, 31)] {
            let holiday = NaiveDate::from_ymd_opt(year, month, day).unwrap();
            assert!(
                calendar.day(holiday).unwrap().unwrap().kind.is_holiday(),
                "KG {holiday}"
            );
        }
    }
    for year in 2026..=2027 {
        for day in 1..=7 {
            let january = NaiveDate::from_ymd_opt(year, 1, day).unwrap();
            assert!(!calendar.is_working(january).unwrap(), "KG {january}");
        }
    }
    // Memorial days that became working days, and no transfer for a holiday on a weekend.
    assert_working(
        &calendar,
        &[
            "2025-04-07",
            "2025-11-07",
            "2026-02-23",
            "2026-04-07",
            "2026-11-09",
            "2025-03-10",
            "2025-09-01",
            "2026-03-09",
            "2026-03-23",
        ],
    );
    assert_days_off(&calendar, &["2025-01-02", "2025-01-03", "2025-01-06"]);
    assert_working(&calendar, &["2025-01-11"]);
}

#[test]
fn kg_nooruz_orozo_ait_and_kurman_ait() {
    let calendar = latest(KG);
    for year in 2024..=2027 {
        let nooruz = NaiveDate::from_ymd_opt(year, 3, 21).unwrap();
        assert_eq!(calendar.day(nooruz).unwrap().unwrap().name, "Nooruz");
    }
    for text in ["2024-04-10", "2025-03-30", "2026-03-20", "2027-03-09"] {
        let entry = calendar.day(date(text)).unwrap().unwrap();
        assert!(entry.name.starts_with("Orozo Ait"), "{text}");
    }
    for text in ["2024-06-17", "2025-06-06", "2026-05-27", "2027-05-16"] {
        let entry = calendar.day(date(text)).unwrap().unwrap();
        assert!(entry.name.starts_with("Kurman Ait"), "{text}");
    }
    assert_days_off(
        &calendar,
        &[
            "2024-04-10",
            "2026-03-20",
            "2027-03-09",
            "2025-06-06",
            "2026-05-27",
        ],
    );
}

#[test]
fn year_boundaries_and_coverage() {
    let kz = latest(KZ);
    let kg = latest(KG);
    assert_eq!(
        kz.add_working_days(date("2025-12-31"), WorkingDays(1))
            .unwrap(),
        date("2026-01-05")
    );
    assert_eq!(
        kz.add_working_days(date("2026-12-31"), WorkingDays(1))
            .unwrap(),
        date("2027-01-05")
    );
    // Sunday 5 January 2025 was worked by decree.
    assert_eq!(
        kz.add_working_days(date("2024-12-31"), WorkingDays(1))
            .unwrap(),
        date("2025-01-05")
    );
    assert_eq!(
        kg.add_working_days(date("2025-12-31"), WorkingDays(1))
            .unwrap(),
        date("2026-01-08")
    );
    // The start date never counts, so a start just before the covered years works.
    assert_eq!(
        kz.add_working_days(date("2023-12-31"), WorkingDays(1))
            .unwrap(),
        date("2024-01-03")
    );
    let not_covered = kz.is_working(date("2028-01-01")).unwrap_err();
    assert_eq!(
        not_covered,
        CalendarError::NotCovered {
            jurisdiction: KZ,
            date: date("2028-01-01"),
            first_year: 2024,
            last_year: 2027
        }
    );
    assert!(kz.is_working(date("2023-12-31")).is_err());
    assert!(
        kz.add_working_days(date("2027-12-30"), WorkingDays(2))
            .is_err()
    );
    assert_eq!(
        kz.roll_forward(date("2026-03-21")).unwrap(),
        date("2026-03-26")
    );
}

#[test]
fn published_events_rebuild_the_same_calendar() {
    let set = set();
    let events: Vec<CalendarPublished> = set.events().cloned().collect();
    for event in &events {
        let bytes = crate::codec::encode(event).unwrap();
        assert_eq!(
            &crate::codec::decode::<CalendarPublished>(&bytes).unwrap(),
            event
        );
        let json = serde_json::to_string(event).unwrap();
        assert_eq!(
            &serde_json::from_str::<CalendarPublished>(&json).unwrap(),
            event
        );
    }
    for version in [CalendarVersion(1), CalendarVersion(2)] {
        let replayed = Calendar::from_published(KZ, version, &events).unwrap();
        assert_eq!(replayed, set.calendar(KZ, version).unwrap());
    }
    let mut folded = CalendarSet::default();
    for event in events {
        folded.publish(event).unwrap();
    }
    assert_eq!(folded, set);
}

#[test]
fn a_correction_is_a_new_version_not_an_edit() {
    let mut set = set();
    let mut edited = set
        .events()
        .find(|e| e.jurisdiction == KG && e.year == 2026)
        .unwrap()
        .clone();
    set.publish(edited.clone()).unwrap();
    edited.days.pop();
    assert!(matches!(
        set.publish(edited.clone()),
        Err(CalendarDataError::Conflict { .. })
    ));
    edited.version = CalendarVersion(2);
    edited.published_on = date("2026-11-01");
    set.publish(edited).unwrap();
    assert_eq!(set.latest(KG).unwrap().version(), CalendarVersion(2));
    assert_eq!(
        set.latest(KG).unwrap().year_version(2025),
        Some(CalendarVersion(1))
    );
}

fn covered_date() -> impl Strategy<Value = NaiveDate> {
    (0_u64..1_370).prop_map(|offset| date("2024-01-01") + Days::new(offset))
}

proptest! {
    /// RULES "Day counting": add_working_days(d, n) is the n-th working day strictly after d.
    #[test]
    fn add_working_days_lands_on_working_day_with_n_working_days(start in covered_date(), n in 1_u32..60, kz in any::<bool>()) {
        let calendar = latest(if kz { KZ } else { KG });
        let due = calendar.add_working_days(start, WorkingDays(n)).unwrap();
        prop_assert!(calendar.is_working(due).unwrap());
        prop_assert!(due > start);
        prop_assert_eq!(calendar.working_days_between(start, due).unwrap(), WorkingDays(n));
        let before = due.pred_opt().unwrap();
        prop_assert_eq!(calendar.working_days_between(start, before).unwrap(), WorkingDays(n - 1));
    }

    #[test]
    fn add_working_days_is_monotone(start in covered_date(), shift in 0_u64..30, n in 1_u32..40, more in 0_u32..20) {
        let calendar = latest(KZ);
        let due = calendar.add_working_days(start, WorkingDays(n)).unwrap();
        let later = calendar.add_working_days(start + Days::new(shift), WorkingDays(n)).unwrap();
        let longer = calendar.add_working_days(start, WorkingDays(n + more)).unwrap();
        prop_assert!(later >= due);
        prop_assert!(longer >= due);
    }
}

#[test]
fn calendar_published_has_a_json_schema() {
    let schema = schemars::schema_for!(CalendarPublished);
    let text = serde_json::to_string(&schema).unwrap();
    for field in [
        "jurisdiction",
        "year",
        "version",
        "published_on",
        "days",
        "moved_day_off",
    ] {
        assert!(text.contains(field), "schema lacks {field}");
    }
}
