//! Working-day calendars: the data that legal deadlines are counted on (RULES, "Day counting").
//!
//! A calendar is data per jurisdiction and year (public holidays, days off moved by decree, weekend days
//! declared working), published as versioned reference events; it is a value passed in, never a global.
//!
//! Layout: `data` parses the embedded data files, `published` is the `CalendarPublished` event, `model`
//! is the [`Calendar`] type and its day arithmetic, `set` the registry of versions, `zone` local dates.

mod data;
mod model;
mod published;
mod set;
mod zone;

#[cfg(test)]
mod tests;

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::jurisdiction::Jurisdiction;

pub use data::{EMBEDDED, FILE_LINES_MAX, parse as parse_data_file};
pub use model::Calendar;
pub use published::{CalendarDay, CalendarPublished, DAYS_PER_YEAR_MAX, DayKind};
pub use set::CalendarSet;
pub use zone::{deadline_end, local_date, local_datetime, utc_offset};

/// A count of working days (never a plain integer, STYLE §2.3).
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
pub struct WorkingDays(pub u32);

/// A count of calendar days.
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
pub struct CalendarDays(pub u32);

/// The version of a jurisdiction's published calendar; a correction (a new decree) is a new version.
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
pub struct CalendarVersion(pub u32);

impl fmt::Display for CalendarVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A date outside the years the calendar covers: an explicit error, never a silent guess.
    #[error(
        "{jurisdiction} calendar does not cover {date}: covered years are {first_year}–{last_year}"
    )]
    NotCovered {
        jurisdiction: Jurisdiction,
        date: NaiveDate,
        first_year: i32,
        last_year: i32,
    },
}

/// Calendar data that cannot be used: a malformed data file or an inconsistent published year. The
/// embedded files are checked by tests, so at runtime these come only from foreign events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarDataError {
    #[error("calendar file {file} line {line}: {detail}")]
    Syntax {
        file: String,
        line: u32,
        detail: String,
    },
    #[error("{jurisdiction} calendar {year} {version} is invalid: {detail}")]
    InvalidYear {
        jurisdiction: Jurisdiction,
        year: i32,
        version: CalendarVersion,
        detail: String,
    },
    #[error("{jurisdiction} calendar {year} {version} conflicts: {detail}")]
    Conflict {
        jurisdiction: Jurisdiction,
        year: i32,
        version: CalendarVersion,
        detail: String,
    },
    #[error("{jurisdiction} calendar {version} is not published")]
    UnknownVersion {
        jurisdiction: Jurisdiction,
        version: CalendarVersion,
    },
    #[error("{jurisdiction} calendar {version} covers no year")]
    NoData {
        jurisdiction: Jurisdiction,
        version: CalendarVersion,
    },
    #[error(
        "{jurisdiction} calendar {version} has no data for {missing_year} between covered years"
    )]
    Gap {
        jurisdiction: Jurisdiction,
        version: CalendarVersion,
        missing_year: i32,
    },
    #[error("no {jurisdiction} calendar was published on or before {date}")]
    NotYetPublished {
        jurisdiction: Jurisdiction,
        date: NaiveDate,
    },
}

/// What deadline arithmetic needs from a calendar. Implemented by the published calendar data.
pub trait WorkingCalendar {
    fn jurisdiction(&self) -> Jurisdiction;

    fn version(&self) -> CalendarVersion;

    /// Whether `date` is a working day: Mon–Fri minus public holidays and decree-moved days off, plus
    /// weekend days declared working by decree.
    fn is_working(&self, date: NaiveDate) -> Result<bool, CalendarError>;

    /// The n-th working day strictly after `from`; `from` itself never counts (RULES "Day counting").
    fn add_working_days(
        &self,
        from: NaiveDate,
        days: WorkingDays,
    ) -> Result<NaiveDate, CalendarError>;

    /// `date` if it is a working day, else the next working day after it.
    fn roll_forward(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError>;

    /// The number of working days in `(after, through]`; zero when `through <= after`. The inverse of
    /// `add_working_days`: `working_days_between(d, add_working_days(d, n)) == n`.
    fn working_days_between(
        &self,
        after: NaiveDate,
        through: NaiveDate,
    ) -> Result<WorkingDays, CalendarError> {
        let mut count = 0_u32;
        let mut date = after;
        while date < through {
            date = date
                .succ_opt()
                .expect("dates before `through` have a successor");
            if self.is_working(date)? {
                count += 1;
            }
        }
        Ok(WorkingDays(count))
    }
}
