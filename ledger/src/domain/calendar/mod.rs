//! Working-day calendars: the data that legal deadlines are counted on (RULES, "Day counting").
//!
//! A calendar is data per jurisdiction and year (public holidays, days off moved by decree, weekend days
//! declared working), published as versioned reference events; it is a value passed in, never a global.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::jurisdiction::Jurisdiction;

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
}
