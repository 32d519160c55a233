//! The reference event that publishes one version of one year's calendar (DESIGN §2: events carry the
//! facts they were decided on, and a correction of reference data is a new version, never an edit).

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use super::{CalendarDataError, CalendarVersion};
use crate::domain::jurisdiction::Jurisdiction;

/// The most entries one published year may hold: one per day of a leap year.
pub const DAYS_PER_YEAR_MAX: usize = 366;

/// What a listed date is. Dates not listed follow the week: Monday–Friday work, Saturday and Sunday rest.
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
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A public holiday (non-working whatever the weekday).
    Holiday,
    /// A religious public holiday: non-working, and in Kazakhstan exempt from the rule that moves a
    /// holiday falling on a day off to the next working day (Labour Code Art. 85).
    ReligiousHoliday,
    /// A weekday made a day off, by the weekend-transfer rule or by a government decree.
    MovedDayOff,
    /// A Saturday or Sunday declared a working day by decree.
    WorkingDay,
}

impl DayKind {
    /// The keyword used in the data files (`holiday`, `religious-holiday`, `moved-day-off`, `working-day`).
    pub fn keyword(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::ReligiousHoliday => "religious-holiday",
            DayKind::MovedDayOff => "moved-day-off",
            DayKind::WorkingDay => "working-day",
        }
    }

    pub fn is_working(self) -> bool {
        matches!(self, DayKind::WorkingDay)
    }

    pub fn is_holiday(self) -> bool {
        matches!(self, DayKind::Holiday | DayKind::ReligiousHoliday)
    }
}

/// One listed date with its name and the legal source it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CalendarDay {
    pub date: NaiveDate,
    pub kind: DayKind,
    /// A readable name, e.g. `Nauryz meyramy` or `Day off moved from Saturday 4 May`.
    pub name: String,
    /// The law or decree with its date, or `[K] general knowledge — verify`.
    pub source: String,
}

/// Event payload: version `version` of the `year` calendar of `jurisdiction`, as published on
/// `published_on`. `days` is the complete list for that version (not a difference to the previous one).
///
/// Versions number the publications of one jurisdiction: a calendar "at version N" uses, for every year,
/// the highest published version ≤ N (see `CalendarSet::calendar`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CalendarPublished {
    pub jurisdiction: Jurisdiction,
    pub year: i32,
    pub version: CalendarVersion,
    /// The date this version came into force (the decree's or the publication's date).
    pub published_on: NaiveDate,
    pub days: Vec<CalendarDay>,
}

impl CalendarPublished {
    pub const EVENT_TYPE: &'static str = "CalendarPublished";
    pub const EVENT_VERSION: u32 = 1;

    /// The reference stream the calendars of a jurisdiction are published on (DESIGN §1).
    pub fn stream_name(jurisdiction: Jurisdiction) -> String {
        format!("reference/calendar/{}", jurisdiction.code())
    }

    /// Checks what a calendar year must satisfy before anything counts days on it: every date lies in
    /// `year`, no date is listed twice, a declared working day is a weekend day, a moved day off is a
    /// weekday, and the list is bounded.
    pub fn validate(&self) -> Result<(), CalendarDataError> {
        if self.days.len() > DAYS_PER_YEAR_MAX {
            return Err(self.invalid(format!(
                "{} entries exceed the maximum of {DAYS_PER_YEAR_MAX}",
                self.days.len()
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for day in &self.days {
            if day.date.year() != self.year {
                return Err(self.invalid(format!("{} lies outside the year", day.date)));
            }
            if !seen.insert(day.date) {
                return Err(self.invalid(format!("{} is listed twice", day.date)));
            }
            let weekend = matches!(day.date.weekday(), Weekday::Sat | Weekday::Sun);
            if day.kind == DayKind::WorkingDay && !weekend {
                return Err(self.invalid(format!(
                    "{} is declared a working day but is already a weekday",
                    day.date
                )));
            }
            if day.kind == DayKind::MovedDayOff && weekend {
                return Err(self.invalid(format!(
                    "{} is a moved day off but is already a weekend day",
                    day.date
                )));
            }
        }
        Ok(())
    }

    fn invalid(&self, detail: String) -> CalendarDataError {
        CalendarDataError::InvalidYear {
            jurisdiction: self.jurisdiction,
            year: self.year,
            version: self.version,
            detail,
        }
    }
}
