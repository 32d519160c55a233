//! [`Calendar`]: one jurisdiction's working days over a run of consecutive years, at one version.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};

use super::published::{CalendarDay, CalendarPublished};
use super::{CalendarDataError, CalendarError, CalendarVersion, WorkingCalendar, WorkingDays};
use crate::domain::jurisdiction::Jurisdiction;

/// A jurisdiction's calendar at one version: for each covered year, the list of that year's published
/// version in force at `version`. Working day = Monday–Friday minus holidays and moved days off, plus
/// weekend days declared working (RULES "Day counting").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    jurisdiction: Jurisdiction,
    version: CalendarVersion,
    /// Year → (the year's own published version, its listed days).
    years: BTreeMap<i32, (CalendarVersion, BTreeMap<NaiveDate, CalendarDay>)>,
}

impl Calendar {
    /// Builds the calendar at `version` from published events (replay): for every year, the event with
    /// the highest version ≤ `version` wins. The covered years must be consecutive.
    pub fn from_published<'a>(
        jurisdiction: Jurisdiction,
        version: CalendarVersion,
        events: impl IntoIterator<Item = &'a CalendarPublished>,
    ) -> Result<Calendar, CalendarDataError> {
        let mut chosen: BTreeMap<i32, &CalendarPublished> = BTreeMap::new();
        for event in events {
            if event.jurisdiction != jurisdiction || event.version > version {
                continue;
            }
            event.validate()?;
            let newer = chosen
                .get(&event.year)
                .is_none_or(|current| current.version < event.version);
            if newer {
                chosen.insert(event.year, event);
            }
        }
        let calendar = Calendar {
            jurisdiction,
            version,
            years: chosen
                .into_iter()
                .map(|(year, event)| (year, (event.version, index_days(&event.days))))
                .collect(),
        };
        calendar.check_consecutive()?;
        Ok(calendar)
    }

    /// The covered years, first and last.
    pub fn years(&self) -> (i32, i32) {
        let first = self.years.keys().next().copied();
        let last = self.years.keys().next_back().copied();
        match (first, last) {
            (Some(first), Some(last)) => (first, last),
            _ => unreachable!("a calendar covers at least one year (checked at construction)"),
        }
    }

    /// The published version of `year` used by this calendar.
    pub fn year_version(&self, year: i32) -> Option<CalendarVersion> {
        self.years.get(&year).map(|(version, _)| *version)
    }

    /// The listed days of `year` (holidays, moved days off, declared working days), in date order.
    pub fn listed_days(&self, year: i32) -> Result<Vec<&CalendarDay>, CalendarError> {
        let first_of_year = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(if year < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        });
        let (_, days) = self.year_of(first_of_year)?;
        Ok(days.values().collect())
    }

    /// The listed entry for `date`, if any.
    pub fn day(&self, date: NaiveDate) -> Result<Option<&CalendarDay>, CalendarError> {
        Ok(self.year_of(date)?.1.get(&date))
    }

    fn year_of(
        &self,
        date: NaiveDate,
    ) -> Result<&(CalendarVersion, BTreeMap<NaiveDate, CalendarDay>), CalendarError> {
        self.years.get(&date.year()).ok_or_else(|| {
            let (first_year, last_year) = self.years();
            CalendarError::NotCovered {
                jurisdiction: self.jurisdiction,
                date,
                first_year,
                last_year,
            }
        })
    }

    fn check_consecutive(&self) -> Result<(), CalendarDataError> {
        let mut years = self.years.keys().copied();
        let Some(mut previous) = years.next() else {
            return Err(CalendarDataError::NoData {
                jurisdiction: self.jurisdiction,
                version: self.version,
            });
        };
        for year in years {
            if year != previous + 1 {
                return Err(CalendarDataError::Gap {
                    jurisdiction: self.jurisdiction,
                    version: self.version,
                    missing_year: previous + 1,
                });
            }
            previous = year;
        }
        Ok(())
    }
}

impl WorkingCalendar for Calendar {
    fn jurisdiction(&self) -> Jurisdiction {
        self.jurisdiction
    }

    fn version(&self) -> CalendarVersion {
        self.version
    }

    fn is_working(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        let (_, days) = self.year_of(date)?;
        Ok(match days.get(&date) {
            Some(day) => day.kind.is_working(),
            None => !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
        })
    }

    /// The n-th working day strictly after `from` (`from` never counts); `n = 0` returns `from`.
    fn add_working_days(
        &self,
        from: NaiveDate,
        days: WorkingDays,
    ) -> Result<NaiveDate, CalendarError> {
        // Bounded: every step moves one day forward, and `is_working` fails past the covered years.
        let mut remaining = days.0;
        let mut date = from;
        while remaining > 0 {
            date = next_day(date);
            if self.is_working(date)? {
                remaining -= 1;
            }
        }
        assert!(days.0 == 0 || date > from, "a positive count moves forward");
        Ok(date)
    }

    fn roll_forward(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        let mut date = date;
        while !self.is_working(date)? {
            date = next_day(date);
        }
        Ok(date)
    }
}

fn index_days(days: &[CalendarDay]) -> BTreeMap<NaiveDate, CalendarDay> {
    days.iter().map(|day| (day.date, day.clone())).collect()
}

/// The next date; the covered years are far from `NaiveDate::MAX`, so running past it is a bug.
fn next_day(date: NaiveDate) -> NaiveDate {
    date.succ_opt()
        .expect("dates near NaiveDate::MAX are never inside a calendar")
}
