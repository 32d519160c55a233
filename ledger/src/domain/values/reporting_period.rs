//! The reporting period (P-01, P-02, A-05).

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::ValueError;

/// A reporting period (source term: «отчетный период», S001 §20): a calendar month (P-01) or, by
/// agreement, a shorter span inside one month (P-02). A-05: each period gets its own registry.
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
#[serde(try_from = "ReportingPeriodParts", into = "ReportingPeriodParts")]
pub struct ReportingPeriod {
    first_day: NaiveDate,
    last_day: NaiveDate,
}

/// The wire form of [`ReportingPeriod`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportingPeriodParts {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

impl ReportingPeriod {
    /// Implements P-01: the calendar month `year`-`month`.
    ///
    /// ```
    /// use ledger::domain::values::ReportingPeriod;
    ///
    /// let january = ReportingPeriod::month(2026, 1).unwrap();
    /// assert_eq!(january.key(), "2026-01"); // the stream segment: period/<contract-id>/2026-01
    /// assert_eq!(january.last_day().to_string(), "2026-01-31");
    /// assert!(ReportingPeriod::month(2026, 13).is_err());
    /// ```
    pub fn month(year: i32, month: u32) -> Result<Self, ValueError> {
        let value = format!("{year}-{month:02}");
        let first_day = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(|| {
            ValueError::new("reporting period", &value, "P-01", "not a calendar month")
        })?;
        let last_day = last_day_of_month(first_day);
        Ok(ReportingPeriod {
            first_day,
            last_day,
        })
    }

    /// Implements P-02: a span shorter than a month, agreed with the Fund; it may not cross a month.
    pub fn span(first_day: NaiveDate, last_day: NaiveDate) -> Result<Self, ValueError> {
        let value = format!("{first_day}..{last_day}");
        if last_day < first_day {
            return Err(ValueError::new(
                "reporting period",
                &value,
                "P-02",
                "ends before it starts",
            ));
        }
        if (first_day.year(), first_day.month()) != (last_day.year(), last_day.month()) {
            return Err(ValueError::new(
                "reporting period",
                &value,
                "P-02",
                "crosses a month boundary",
            ));
        }
        Ok(ReportingPeriod {
            first_day,
            last_day,
        })
    }

    pub fn first_day(self) -> NaiveDate {
        self.first_day
    }

    pub fn last_day(self) -> NaiveDate {
        self.last_day
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        (self.first_day..=self.last_day).contains(&date)
    }

    pub fn is_whole_month(self) -> bool {
        self.first_day.day() == 1 && self.last_day == last_day_of_month(self.first_day)
    }

    /// The stream segment: `2026-01` for a month, `2026-01-01..2026-01-15` for a shorter span.
    pub fn key(self) -> String {
        if self.is_whole_month() {
            self.first_day.format("%Y-%m").to_string()
        } else {
            format!("{}..{}", self.first_day, self.last_day)
        }
    }
}

impl fmt::Display for ReportingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

impl TryFrom<ReportingPeriodParts> for ReportingPeriod {
    type Error = ValueError;
    fn try_from(parts: ReportingPeriodParts) -> Result<Self, ValueError> {
        ReportingPeriod::span(parts.first_day, parts.last_day)
    }
}

impl From<ReportingPeriod> for ReportingPeriodParts {
    fn from(period: ReportingPeriod) -> Self {
        ReportingPeriodParts {
            first_day: period.first_day,
            last_day: period.last_day,
        }
    }
}

/// The last day of the month of `date`.
pub fn last_day_of_month(date: NaiveDate) -> NaiveDate {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|next| next.pred_opt())
        .expect("the first of a month after a valid date exists")
}
