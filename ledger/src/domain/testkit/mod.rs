//! Test doubles and fixtures for domain tests and scenario files: a Mon–Fri calendar with holidays,
//! accept-all / reject-all signature checks, identifier builders and a given/when/then harness
//! (STYLE §2.6). Pure like the rest of the domain; not used by production code paths.

mod world;

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, Weekday};

use super::calendar::{CalendarError, CalendarVersion, WorkingCalendar, WorkingDays};
use super::error::DomainError;
use super::event::Event;
use super::ident::{Bin, Iin, check_digit};
use super::jurisdiction::Jurisdiction;
use super::signature::{SignatureCheck, SignedBy};
use super::time::Timestamp;

pub use world::*;

/// A calendar of Mon–Fri working days minus `holidays`, covering `first_year..=last_year`.
#[derive(Debug, Clone)]
pub struct WeekdayCalendar {
    pub jurisdiction: Jurisdiction,
    pub version: CalendarVersion,
    pub holidays: BTreeSet<NaiveDate>,
    pub first_year: i32,
    pub last_year: i32,
}

/// The longest stretch of days the test calendar walks before giving up (a year of holidays is bug).
const WALK_DAYS_MAX: u32 = 400;

impl WeekdayCalendar {
    /// KZ 2025–2027 with a few real-looking holidays (New Year, 8 March, Nauryz, 1 May).
    pub fn kz() -> Self {
        let holidays = [
            "2026-01-01",
            "2026-01-02",
            "2026-01-07",
            "2026-03-09",
            "2026-03-23",
            "2026-05-01",
            "2027-01-01",
        ];
        WeekdayCalendar {
            jurisdiction: Jurisdiction::KZ,
            version: CalendarVersion(1),
            holidays: holidays
                .iter()
                .map(|day| day.parse().expect("valid date"))
                .collect(),
            first_year: 2025,
            last_year: 2027,
        }
    }

    /// KG 2025–2027, Mon–Fri with a few holidays (New Year, 7 January, 8 March, 1 May).
    pub fn kg() -> Self {
        let holidays = [
            "2026-01-01",
            "2026-01-07",
            "2026-03-09",
            "2026-05-01",
            "2027-01-01",
        ];
        WeekdayCalendar {
            jurisdiction: Jurisdiction::KG,
            version: CalendarVersion(1),
            holidays: holidays
                .iter()
                .map(|day| day.parse().expect("valid date"))
                .collect(),
            first_year: 2025,
            last_year: 2027,
        }
    }

    fn covered(&self, date: NaiveDate) -> Result<(), CalendarError> {
        if (self.first_year..=self.last_year).contains(&date.year()) {
            Ok(())
        } else {
            Err(CalendarError::NotCovered {
                jurisdiction: self.jurisdiction,
                date,
                first_year: self.first_year,
                last_year: self.last_year,
            })
        }
    }
}

impl WorkingCalendar for WeekdayCalendar {
    fn jurisdiction(&self) -> Jurisdiction {
        self.jurisdiction
    }

    fn version(&self) -> CalendarVersion {
        self.version
    }

    fn is_working(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        self.covered(date)?;
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        Ok(!weekend && !self.holidays.contains(&date))
    }

    fn add_working_days(
        &self,
        from: NaiveDate,
        days: WorkingDays,
    ) -> Result<NaiveDate, CalendarError> {
        let mut date = from;
        let mut counted = 0;
        for _ in 0..WALK_DAYS_MAX {
            if counted == days.0 {
                return Ok(date);
            }
            date = date.succ_opt().expect("dates in range");
            if self.is_working(date)? {
                counted += 1;
            }
        }
        panic!(
            "test calendar walked {WALK_DAYS_MAX} days without finding {} working days",
            days.0
        );
    }

    fn roll_forward(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        let mut day = date;
        for _ in 0..WALK_DAYS_MAX {
            if self.is_working(day)? {
                return Ok(day);
            }
            day = day.succ_opt().expect("dates in range");
        }
        panic!("test calendar has no working day within {WALK_DAYS_MAX} days of {date}");
    }
}

/// Accepts every signature.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAllSignatures;

impl SignatureCheck for AcceptAllSignatures {
    fn check(&self, _: Bin, _: &str, _: &[u8; 32], _: &[u8], _: Timestamp) -> Result<(), String> {
        Ok(())
    }
}

/// Refuses every signature with a fixed reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectAllSignatures;

impl SignatureCheck for RejectAllSignatures {
    fn check(
        &self,
        signer: Bin,
        key_id: &str,
        _: &[u8; 32],
        _: &[u8],
        _: Timestamp,
    ) -> Result<(), String> {
        Err(format!(
            "key \"{key_id}\" of BIN {signer} was revoked before signing"
        ))
    }
}

/// A signature by `signer` as a command presents it (bytes are a placeholder; checks are stubbed).
pub fn signed_by(signer: Bin) -> SignedBy {
    SignedBy {
        key_id: format!("key-{signer}"),
        signer,
        signature_hex: "ab".repeat(64),
    }
}

/// The 12-digit number made of `first_eleven` and its check digit. Panics if never issuable.
fn twelve(first_eleven: &str) -> String {
    let digits: Vec<u8> = first_eleven.bytes().map(|byte| byte - b'0').collect();
    let array: [u8; 11] = digits.try_into().expect("exactly 11 digits");
    let check = check_digit(&array).expect("an issuable prefix");
    format!("{first_eleven}{check}")
}

/// A BIN from its first 11 digits (the check digit is computed).
pub fn bin(first_eleven: &str) -> Bin {
    twelve(first_eleven).parse().expect("valid BIN")
}

/// An IIN from its first 11 digits.
pub fn iin(first_eleven: &str) -> Iin {
    twelve(first_eleven).parse().expect("valid IIN")
}

/// Parses RFC 3339 (`2026-01-15T10:00:00+05:00`).
pub fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("valid RFC 3339 instant")
}

/// Parses `2026-01-15`.
pub fn day(text: &str) -> NaiveDate {
    text.parse().expect("valid date")
}

/// given/when/then over one aggregate (STYLE §2.6, cqrs-es): fold `given` events, decide, compare.
pub struct Given<S> {
    pub state: S,
}

impl<S> Given<S> {
    pub fn new(initial: S, evolve: impl Fn(S, &Event) -> S, events: &[Event]) -> Self {
        Given {
            state: events.iter().fold(initial, evolve),
        }
    }

    pub fn when(&self, decide: impl FnOnce(&S) -> Result<Vec<Event>, DomainError>) -> Then {
        Then(decide(&self.state))
    }
}

/// The outcome of a `when`.
#[derive(Debug)]
pub struct Then(pub Result<Vec<Event>, DomainError>);

impl Then {
    /// Asserts exactly these events.
    pub fn then_expect(self, expected: &[Event]) {
        assert_eq!(self.0.expect("command accepted"), expected);
    }

    /// Asserts success and returns the events for field checks.
    pub fn events(self) -> Vec<Event> {
        match self.0 {
            Ok(events) => events,
            Err(error) => panic!("command refused: {error}"),
        }
    }

    /// Asserts these event types, in order.
    pub fn then_expect_types(self, expected: &[&str]) -> Vec<Event> {
        let events = self.events();
        let types: Vec<&str> = events.iter().map(Event::event_type).collect();
        assert_eq!(types, expected);
        events
    }

    /// Asserts a refusal under `rule` and returns it.
    pub fn then_expect_error(self, rule: &str) -> DomainError {
        match self.0 {
            Ok(events) => panic!("expected refusal under {rule}, got {events:?}"),
            Err(error) => {
                assert_eq!(error.rule(), rule, "refused under another rule: {error}");
                error
            }
        }
    }
}
