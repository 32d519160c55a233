//! Local dates of a jurisdiction (RULES "Day counting"): instants are UTC, legal dates are local.
//!
//! Fixed offsets per date range instead of a time-zone database, so the domain needs no tz data:
//! * KZ, Asia/Almaty: UTC+6 until 2024-02-29 18:00:00 UTC (local midnight of 1 March 2024), UTC+5 from
//!   then on (single zone since 2024-03-01). Before that the western regions ran on UTC+5; the ledger
//!   counts every KZ date on the Asia/Almaty offset (documented simplification, docs/calendars.md).
//! * KG, Asia/Bishkek: UTC+6 throughout.

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::time::Timestamp;

const HOUR_SECONDS: i32 = 3_600;

/// The instant Kazakhstan moved to a single zone, UTC+5: 2024-03-01 00:00 local = 2024-02-29 18:00 UTC.
const KZ_SINGLE_ZONE_FROM_MICROS: i64 = 1_709_229_600_000_000;

/// The first local date on UTC+5 in Kazakhstan.
fn kz_single_zone_from_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, 1).expect("2024-03-01 is a valid date")
}

/// The UTC offset of the jurisdiction's legal time at `instant`.
pub fn utc_offset(jurisdiction: Jurisdiction, instant: Timestamp) -> FixedOffset {
    match jurisdiction {
        Jurisdiction::KZ if instant.micros() < KZ_SINGLE_ZONE_FROM_MICROS => hours(6),
        Jurisdiction::KZ => hours(5),
        Jurisdiction::KG => hours(6),
    }
}

/// The local date-time of `instant` in the jurisdiction.
pub fn local_datetime(jurisdiction: Jurisdiction, instant: Timestamp) -> NaiveDateTime {
    let offset = utc_offset(jurisdiction, instant);
    instant.to_datetime().with_timezone(&offset).naive_local()
}

/// The local date of `instant` in the jurisdiction: the date legal days are counted on.
pub fn local_date(jurisdiction: Jurisdiction, instant: Timestamp) -> NaiveDate {
    local_datetime(jurisdiction, instant).date()
}

/// The instant (UTC) at which a deadline due on `date` ends: 23:59:59 local time of that date.
pub fn deadline_end(jurisdiction: Jurisdiction, date: NaiveDate) -> Timestamp {
    let offset = match jurisdiction {
        Jurisdiction::KZ if date < kz_single_zone_from_date() => hours(6),
        Jurisdiction::KZ => hours(5),
        Jurisdiction::KG => hours(6),
    };
    let last_second = NaiveTime::from_hms_opt(23, 59, 59).expect("23:59:59 is a valid time");
    let local = offset
        .from_local_datetime(&date.and_time(last_second))
        .single()
        .expect("a fixed offset maps every local time to exactly one instant");
    Timestamp::from_datetime(local.to_utc())
}

fn hours(count: i32) -> FixedOffset {
    FixedOffset::east_opt(count * HOUR_SECONDS).expect("offsets of ±6 hours are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn kz_switches_from_utc6_to_utc5_on_2024_03_01() {
        assert_eq!(
            local_date(Jurisdiction::KZ, at("2024-02-29T17:59:59Z")),
            date("2024-02-29")
        );
        // 18:00 UTC was midnight of 1 March on the new single UTC+5 zone.
        assert_eq!(
            local_date(Jurisdiction::KZ, at("2024-02-29T18:00:00Z")),
            date("2024-02-29")
        );
        assert_eq!(
            local_datetime(Jurisdiction::KZ, at("2024-02-29T19:00:00Z")).to_string(),
            "2024-03-01 00:00:00"
        );
        assert_eq!(
            local_date(Jurisdiction::KZ, at("2026-01-31T19:00:00Z")),
            date("2026-02-01")
        );
        assert_eq!(
            local_date(Jurisdiction::KZ, at("2023-12-31T18:00:00Z")),
            date("2024-01-01")
        );
    }

    #[test]
    fn kg_is_utc6() {
        assert_eq!(
            local_date(Jurisdiction::KG, at("2026-01-31T17:59:59Z")),
            date("2026-01-31")
        );
        assert_eq!(
            local_date(Jurisdiction::KG, at("2026-01-31T18:00:00Z")),
            date("2026-02-01")
        );
    }

    #[test]
    fn deadline_ends_at_235959_local() {
        assert_eq!(
            deadline_end(Jurisdiction::KZ, date("2026-03-26")),
            at("2026-03-26T18:59:59Z")
        );
        assert_eq!(
            deadline_end(Jurisdiction::KZ, date("2024-02-28")),
            at("2024-02-28T17:59:59Z")
        );
        assert_eq!(
            deadline_end(Jurisdiction::KG, date("2026-03-26")),
            at("2026-03-26T17:59:59Z")
        );
        let end = deadline_end(Jurisdiction::KZ, date("2026-03-26"));
        assert_eq!(local_date(Jurisdiction::KZ, end), date("2026-03-26"));
        let next = Timestamp::from_micros(end.micros() + 1_000_000);
        assert_eq!(local_date(Jurisdiction::KZ, next), date("2026-03-27"));
    }
}
