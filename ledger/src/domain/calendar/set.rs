//! [`CalendarSet`]: every published version of every year, keyed by jurisdiction; the registry that
//! calendars are taken from, as of a version or as of a date.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::data;
use super::model::Calendar;
use super::published::CalendarPublished;
use super::{CalendarDataError, CalendarVersion};
use crate::domain::jurisdiction::Jurisdiction;

/// All published calendar years, by jurisdiction, year and version. Built from the embedded data
/// ([`CalendarSet::embedded`]) or by folding `CalendarPublished` events ([`CalendarSet::publish`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalendarSet {
    published: BTreeMap<(Jurisdiction, i32, CalendarVersion), CalendarPublished>,
}

impl CalendarSet {
    /// The calendars compiled into this binary from `ledger/data/calendars`.
    pub fn embedded() -> Result<CalendarSet, CalendarDataError> {
        let mut set = CalendarSet::default();
        for (label, text) in data::EMBEDDED {
            for event in data::parse(label, text)? {
                set.publish(event)?;
            }
        }
        Ok(set)
    }

    /// Folds one published year in. Publishing the same (jurisdiction, year, version) again is
    /// idempotent when identical and a conflict otherwise: a correction is a new version, never an edit.
    /// A version's publication date must agree across years and grow with the version number.
    pub fn publish(&mut self, event: CalendarPublished) -> Result<(), CalendarDataError> {
        event.validate()?;
        let key = (event.jurisdiction, event.year, event.version);
        if let Some(existing) = self.published.get(&key) {
            if *existing == event {
                return Ok(());
            }
            return Err(conflict(
                &event,
                "it differs from the version already published",
            ));
        }
        for other in self.of(event.jurisdiction) {
            let out_of_order = (other.version < event.version
                && other.published_on > event.published_on)
                || (other.version > event.version && other.published_on < event.published_on)
                || (other.version == event.version && other.published_on != event.published_on);
            if out_of_order {
                return Err(conflict(
                    &event,
                    &format!(
                        "published {} but version {} of {} was published {}",
                        event.published_on, other.version, other.year, other.published_on
                    ),
                ));
            }
        }
        self.published.insert(key, event);
        Ok(())
    }

    /// Every published year, in (jurisdiction, year, version) order: the events that seed the log.
    pub fn events(&self) -> impl Iterator<Item = &CalendarPublished> {
        self.published.values()
    }

    /// The published versions of a jurisdiction with their publication dates, oldest first.
    pub fn versions(&self, jurisdiction: Jurisdiction) -> Vec<(CalendarVersion, NaiveDate)> {
        let mut versions: Vec<(CalendarVersion, NaiveDate)> = self
            .of(jurisdiction)
            .map(|event| (event.version, event.published_on))
            .collect();
        versions.sort();
        versions.dedup();
        versions
    }

    /// The calendar at `version`: each year at its highest published version ≤ `version`.
    pub fn calendar(
        &self,
        jurisdiction: Jurisdiction,
        version: CalendarVersion,
    ) -> Result<Calendar, CalendarDataError> {
        if !self
            .versions(jurisdiction)
            .iter()
            .any(|(known, _)| *known == version)
        {
            return Err(CalendarDataError::UnknownVersion {
                jurisdiction,
                version,
            });
        }
        Calendar::from_published(jurisdiction, version, self.of(jurisdiction))
    }

    /// The newest calendar of a jurisdiction.
    pub fn latest(&self, jurisdiction: Jurisdiction) -> Result<Calendar, CalendarDataError> {
        let (version, _) =
            self.versions(jurisdiction)
                .last()
                .copied()
                .ok_or(CalendarDataError::NoData {
                    jurisdiction,
                    version: CalendarVersion(0),
                })?;
        self.calendar(jurisdiction, version)
    }

    /// The calendar in force on `date`: the newest version published on or before it.
    pub fn in_force(
        &self,
        jurisdiction: Jurisdiction,
        date: NaiveDate,
    ) -> Result<Calendar, CalendarDataError> {
        let version = self
            .versions(jurisdiction)
            .into_iter()
            .filter(|(_, published_on)| *published_on <= date)
            .map(|(version, _)| version)
            .next_back()
            .ok_or(CalendarDataError::NotYetPublished { jurisdiction, date })?;
        self.calendar(jurisdiction, version)
    }

    fn of(&self, jurisdiction: Jurisdiction) -> impl Iterator<Item = &CalendarPublished> {
        self.published
            .values()
            .filter(move |event| event.jurisdiction == jurisdiction)
    }
}

fn conflict(event: &CalendarPublished, detail: &str) -> CalendarDataError {
    CalendarDataError::Conflict {
        jurisdiction: event.jurisdiction,
        year: event.year,
        version: event.version,
        detail: detail.to_owned(),
    }
}
