//! The calendar data files, embedded in the binary and parsed at runtime (no file I/O in the domain).
//!
//! Format (documented with examples in `docs/calendars.md`), one statement per line, `#` starts a comment:
//!
//! ```text
//! calendar KZ 2026
//! source law = Law No. 267-II "On holidays …" of 13 Dec 2001
//! version 1 2024-01-01 | what this publication is
//! holiday           2026-03-21  Nauryz meyramy                       | @law
//! moved-day-off     2026-03-24  Day off for Nauryz (21 Mar Saturday)  | @transfer
//! version 2 2026-07-01 | correction
//! remove            2026-08-31  31 August stays a working day        | @constitution
//! ```
//!
//! A `version` section after the first starts from the previous section's list and changes it: an entry
//! for a listed date replaces it, `remove` deletes it. `@name` in a source note expands to the text of
//! `source name = …`.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::published::{CalendarDay, CalendarPublished, DayKind};
use super::{CalendarDataError, CalendarVersion};
use crate::domain::jurisdiction::Jurisdiction;

/// The embedded data files: (label, text). One per jurisdiction and year.
pub const EMBEDDED: [(&str, &str); 8] = [
    (
        "KZ/2024.cal",
        include_str!("../../../data/calendars/KZ/2024.cal"),
    ),
    (
        "KZ/2025.cal",
        include_str!("../../../data/calendars/KZ/2025.cal"),
    ),
    (
        "KZ/2026.cal",
        include_str!("../../../data/calendars/KZ/2026.cal"),
    ),
    (
        "KZ/2027.cal",
        include_str!("../../../data/calendars/KZ/2027.cal"),
    ),
    (
        "KG/2024.cal",
        include_str!("../../../data/calendars/KG/2024.cal"),
    ),
    (
        "KG/2025.cal",
        include_str!("../../../data/calendars/KG/2025.cal"),
    ),
    (
        "KG/2026.cal",
        include_str!("../../../data/calendars/KG/2026.cal"),
    ),
    (
        "KG/2027.cal",
        include_str!("../../../data/calendars/KG/2027.cal"),
    ),
];

/// The longest data file accepted, in lines (a year has at most 366 entries plus headers and comments).
pub const FILE_LINES_MAX: usize = 2_000;

/// Parses one data file into one `CalendarPublished` per version section, in file order.
pub fn parse(label: &str, text: &str) -> Result<Vec<CalendarPublished>, CalendarDataError> {
    let mut parser = Parser {
        label,
        line: 0,
        header: None,
        sources: BTreeMap::new(),
        sections: Vec::new(),
    };
    for (index, raw) in text.lines().enumerate() {
        if index >= FILE_LINES_MAX {
            return Err(parser.error(format!("more than {FILE_LINES_MAX} lines")));
        }
        parser.line = index + 1;
        let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
        if !content.is_empty() {
            parser.statement(content)?;
        }
    }
    parser.finish()
}

struct Section {
    version: CalendarVersion,
    published_on: NaiveDate,
    days: BTreeMap<NaiveDate, CalendarDay>,
    /// Dates touched in this section, to reject a date listed twice in one section.
    touched: Vec<NaiveDate>,
}

struct Parser<'a> {
    label: &'a str,
    line: usize,
    header: Option<(Jurisdiction, i32)>,
    sources: BTreeMap<String, String>,
    sections: Vec<Section>,
}

impl Parser<'_> {
    fn statement(&mut self, content: &str) -> Result<(), CalendarDataError> {
        let (keyword, rest) = content
            .split_once(char::is_whitespace)
            .map_or((content, ""), |(keyword, rest)| (keyword, rest.trim()));
        match keyword {
            "calendar" => self.header(rest),
            "source" => self.source(rest),
            "version" => self.version(rest),
            "remove" => self.remove(rest),
            _ => {
                let kind = parse_kind(keyword).ok_or_else(|| {
                    self.error(format!(
                        "unknown statement \"{keyword}\": expected calendar, source, version, remove, \
                         holiday, religious-holiday, moved-day-off or working-day"
                    ))
                })?;
                self.entry(kind, rest)
            }
        }
    }

    fn header(&mut self, rest: &str) -> Result<(), CalendarDataError> {
        if self.header.is_some() {
            return Err(self.error("a second \"calendar\" line".to_owned()));
        }
        let mut words = rest.split_whitespace();
        let (Some(code), Some(year), None) = (words.next(), words.next(), words.next()) else {
            return Err(self.error(format!("expected \"calendar KZ|KG YYYY\", got \"{rest}\"")));
        };
        let jurisdiction = code
            .parse::<Jurisdiction>()
            .map_err(|error| self.error(error.to_string()))?;
        let year = year
            .parse::<i32>()
            .map_err(|_| self.error(format!("year \"{year}\" is not a number")))?;
        self.header = Some((jurisdiction, year));
        Ok(())
    }

    fn source(&mut self, rest: &str) -> Result<(), CalendarDataError> {
        let Some((name, text)) = rest.split_once('=') else {
            return Err(self.error(format!("expected \"source NAME = text\", got \"{rest}\"")));
        };
        let (name, text) = (name.trim(), text.trim());
        if name.is_empty() || text.is_empty() {
            return Err(self.error("a source needs a name and a text".to_owned()));
        }
        if self
            .sources
            .insert(name.to_owned(), text.to_owned())
            .is_some()
        {
            return Err(self.error(format!("source \"{name}\" is defined twice")));
        }
        Ok(())
    }

    fn version(&mut self, rest: &str) -> Result<(), CalendarDataError> {
        let (words, _note) = self.split_note(rest)?;
        let mut words = words.split_whitespace();
        let (Some(number), Some(date), None) = (words.next(), words.next(), words.next()) else {
            return Err(self.error(format!(
                "expected \"version N YYYY-MM-DD | note\", got \"{rest}\""
            )));
        };
        let number = number
            .parse::<u32>()
            .map_err(|_| self.error(format!("version \"{number}\" is not a number")))?;
        let published_on = self.date(date)?;
        if let Some(previous) = self.sections.last()
            && (number <= previous.version.0 || published_on < previous.published_on)
        {
            return Err(self.error(format!(
                "version {number} of {published_on} does not follow version {} of {}",
                previous.version.0, previous.published_on
            )));
        }
        let days = self
            .sections
            .last()
            .map(|s| s.days.clone())
            .unwrap_or_default();
        self.sections.push(Section {
            version: CalendarVersion(number),
            published_on,
            days,
            touched: Vec::new(),
        });
        Ok(())
    }

    fn entry(&mut self, kind: DayKind, rest: &str) -> Result<(), CalendarDataError> {
        let (date, name, source) = self.dated_line(rest)?;
        let day = CalendarDay {
            date,
            kind,
            name,
            source,
        };
        self.current_section()?.days.insert(date, day);
        Ok(())
    }

    fn remove(&mut self, rest: &str) -> Result<(), CalendarDataError> {
        let (date, _reason, _source) = self.dated_line(rest)?;
        if self.current_section()?.days.remove(&date).is_none() {
            return Err(self.error(format!("remove {date}: the date is not listed")));
        }
        Ok(())
    }

    /// Parses `DATE name | source` and records the date as touched in the current section.
    fn dated_line(&mut self, rest: &str) -> Result<(NaiveDate, String, String), CalendarDataError> {
        let (words, note) = self.split_note(rest)?;
        let (date, name) = words
            .split_once(char::is_whitespace)
            .map_or((words, ""), |(date, name)| (date, name.trim()));
        let date = self.date(date)?;
        if name.is_empty() {
            return Err(self.error(format!("{date} has no name")));
        }
        let source = self.expand(note)?;
        self.check_year(date)?;
        let section = self.current_section()?;
        if section.touched.contains(&date) {
            let version = section.version.0;
            return Err(self.error(format!("{date} appears twice in version {version}")));
        }
        section.touched.push(date);
        Ok((date, name.to_owned(), source))
    }

    fn split_note<'t>(&self, rest: &'t str) -> Result<(&'t str, &'t str), CalendarDataError> {
        match rest.split_once('|') {
            Some((words, note)) if !note.trim().is_empty() => Ok((words.trim(), note.trim())),
            _ => Err(self.error(format!("\"{rest}\" has no source note after \"|\""))),
        }
    }

    /// Expands `@name` references to the `source` texts defined above.
    fn expand(&self, note: &str) -> Result<String, CalendarDataError> {
        let Some(reference) = note.strip_prefix('@') else {
            return Ok(note.to_owned());
        };
        let (name, tail) = reference
            .split_once(';')
            .map_or((reference.trim(), ""), |(name, tail)| {
                (name.trim(), tail.trim())
            });
        let text = self
            .sources
            .get(name)
            .ok_or_else(|| self.error(format!("source \"@{name}\" is not defined")))?;
        Ok(if tail.is_empty() {
            text.clone()
        } else {
            format!("{text}; {tail}")
        })
    }

    fn check_year(&self, date: NaiveDate) -> Result<(), CalendarDataError> {
        let (_, year) = self.header.ok_or_else(|| self.no_header())?;
        if chrono::Datelike::year(&date) != year {
            return Err(self.error(format!("{date} is not in {year}")));
        }
        Ok(())
    }

    fn current_section(&mut self) -> Result<&mut Section, CalendarDataError> {
        let error = self.error("an entry before the first \"version\" line".to_owned());
        self.sections.last_mut().ok_or(error)
    }

    fn date(&self, text: &str) -> Result<NaiveDate, CalendarDataError> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| self.error(format!("\"{text}\" is not a date (YYYY-MM-DD)")))
    }

    fn finish(self) -> Result<Vec<CalendarPublished>, CalendarDataError> {
        let (jurisdiction, year) = self.header.ok_or_else(|| self.no_header())?;
        if self.sections.is_empty() {
            return Err(self.error("no \"version\" section".to_owned()));
        }
        let published = self.sections.into_iter().map(|section| CalendarPublished {
            jurisdiction,
            year,
            version: section.version,
            published_on: section.published_on,
            days: section.days.into_values().collect(),
        });
        let published: Vec<CalendarPublished> = published.collect();
        for event in &published {
            event.validate()?;
        }
        Ok(published)
    }

    fn no_header(&self) -> CalendarDataError {
        self.error("missing the \"calendar KZ|KG YYYY\" line".to_owned())
    }

    fn error(&self, detail: String) -> CalendarDataError {
        CalendarDataError::Syntax {
            file: self.label.to_owned(),
            line: u32::try_from(self.line).unwrap_or(u32::MAX),
            detail,
        }
    }
}

fn parse_kind(keyword: &str) -> Option<DayKind> {
    [
        DayKind::Holiday,
        DayKind::ReligiousHoliday,
        DayKind::MovedDayOff,
        DayKind::WorkingDay,
    ]
    .into_iter()
    .find(|kind| kind.keyword() == keyword)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_error(text: &str, expected: &str) {
        let error = parse("test.cal", text).unwrap_err().to_string();
        assert!(error.contains(expected), "{error:?} lacks {expected:?}");
    }

    #[test]
    fn every_embedded_file_parses() {
        for (label, text) in EMBEDDED {
            let published = parse(label, text).unwrap();
            assert!(!published.is_empty(), "{label}");
        }
    }

    #[test]
    fn later_version_replaces_and_removes() {
        let text = "calendar KZ 2026\nversion 1 2025-01-01 | a\n\
                    holiday 2026-08-30 Constitution Day | law\n\
                    moved-day-off 2026-08-31 Day off | law\n\
                    version 2 2026-07-01 | b\nremove 2026-08-31 stays working | decree\n";
        let published = parse("test.cal", text).unwrap();
        assert_eq!(published.len(), 2);
        assert_eq!(published[0].days.len(), 2);
        assert_eq!(published[1].days.len(), 1);
        assert_eq!(published[1].version, CalendarVersion(2));
    }

    #[test]
    fn source_references_expand() {
        let text = "calendar KG 2026\nsource law = Labour Code\nversion 1 2025-01-01 | a\n\
                    holiday 2026-01-01 New Year | @law; extra\n";
        let published = parse("test.cal", text).unwrap();
        assert_eq!(published[0].days[0].source, "Labour Code; extra");
    }

    #[test]
    fn malformed_lines_name_file_line_and_problem() {
        check_error("holiday 2026-01-01 X | y", "missing the \"calendar");
        check_error(
            "calendar KZ 2026\nversion 1 2025-01-01 | a\nholiday 2026-13-01 X | y",
            "line 3",
        );
        check_error(
            "calendar KZ 2026\nversion 1 2025-01-01 | a\nholiday 2026-01-01 X",
            "no source note",
        );
        check_error(
            "calendar KZ 2026\nversion 1 2025-01-01 | a\nholiday 2025-01-01 X | y",
            "not in 2026",
        );
        check_error("calendar XX 2026", "unknown country");
        check_error(
            "calendar KZ 2026\nversion 1 2025-01-01 | a\nfeast 2026-01-01 X | y",
            "unknown statement",
        );
        check_error(
            "calendar KZ 2026\nversion 1 2025-01-01 | a\nholiday 2026-01-01 X | @nope",
            "not defined",
        );
        check_error(
            "calendar KZ 2026\nversion 1 2025-01-01 | a\nholiday 2026-01-01 X | y\nholiday 2026-01-01 Y | y",
            "twice",
        );
        check_error(
            "calendar KZ 2026\nversion 1 2025-01-01 | a\nworking-day 2026-01-05 Monday | y",
            "already a weekday",
        );
        check_error(
            "calendar KZ 2026\nversion 2 2025-01-01 | a\nversion 1 2026-01-01 | b",
            "does not follow",
        );
        check_error(
            "calendar KZ 2026\nversion 1 2025-01-01 | a\nremove 2026-01-01 X | y",
            "not listed",
        );
    }
}
