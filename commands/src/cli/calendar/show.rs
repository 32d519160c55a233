//! `ledger calendar show`: a year as people read a calendar, twelve Monday-first month grids in rows of
//! three, the non-working days marked, then the listed holidays and moved days with their names.

use chrono::{Datelike, NaiveDate, Weekday};
use ledger::domain::calendar::{Calendar, DayKind, WorkingCalendar};
use serde_json::json;

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A month block is 7 cells of 3 characters.
const MONTH_WIDTH: usize = 21;
/// Title, weekday header and at most 6 week rows.
const MONTH_LINES: usize = 8;
const MONTHS_PER_ROW: usize = 3;
const GAP: &str = "   ";

/// The text grid, legend and holiday list of `year` (checked to be covered by the caller).
pub fn render(calendar: &Calendar, year: i32) -> anyhow::Result<String> {
    let mut out = String::new();
    out.push_str(&format!(
        "{} working-day calendar {year} (calendar version {}, year published as version {})\n\n",
        calendar.jurisdiction(),
        calendar.version().0,
        calendar.year_version(year).map_or(0, |version| version.0),
    ));
    let months = (1..=12)
        .map(|month| month_block(calendar, year, month))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for row in months.chunks(MONTHS_PER_ROW) {
        for line in 0..MONTH_LINES {
            let joined: Vec<&str> = row.iter().map(|block| block[line].as_str()).collect();
            let joined = joined.join(GAP);
            if !joined.trim().is_empty() {
                out.push_str(joined.trim_end());
                out.push('\n');
            }
        }
        out.push('\n');
    }
    out.push_str("Legend: * day off (weekend, public holiday or moved day off); + weekend day worked by decree\n\n");
    out.push_str("Listed days\n");
    for day in calendar.listed_days(year)? {
        out.push_str(&format!(
            "  {} {}  {:<17}  {}\n",
            day.date,
            short_weekday(day.date.weekday()),
            kind_label(day.kind),
            day.name
        ));
    }
    Ok(out)
}

/// The JSON form: every listed day with its source, and every non-working date of the year.
pub fn to_json(calendar: &Calendar, year: i32) -> anyhow::Result<serde_json::Value> {
    let mut non_working = Vec::new();
    let mut date = NaiveDate::from_ymd_opt(year, 1, 1).expect("the year was range-checked");
    while date.year() == year {
        if !calendar.is_working(date)? {
            non_working.push(date);
        }
        date = date
            .succ_opt()
            .expect("a covered year is far from NaiveDate::MAX");
    }
    Ok(json!({
        "country": calendar.jurisdiction().code(),
        "calendar_version": calendar.version().0,
        "year": year,
        "year_version": calendar.year_version(year).map(|version| version.0),
        "days": calendar.listed_days(year)?,
        "non_working": non_working,
    }))
}

fn month_block(calendar: &Calendar, year: i32, month: u32) -> anyhow::Result<Vec<String>> {
    let first = NaiveDate::from_ymd_opt(year, month, 1).expect("month 1..=12 of a checked year");
    let title = format!("{} {year}", MONTH_NAMES[usize::try_from(month - 1)?]);
    let mut lines = vec![
        format!("{title:^MONTH_WIDTH$}"),
        format!("{:<MONTH_WIDTH$}", "Mo Tu We Th Fr Sa Su"),
    ];
    let mut row = "   ".repeat(usize::try_from(first.weekday().num_days_from_monday())?);
    let mut date = first;
    while date.month() == month {
        row.push_str(&format!("{:>2}{}", date.day(), marker(calendar, date)?));
        if date.weekday() == Weekday::Sun {
            lines.push(std::mem::take(&mut row));
        }
        date = date
            .succ_opt()
            .expect("a covered year is far from NaiveDate::MAX");
    }
    if !row.is_empty() {
        lines.push(row);
    }
    lines.resize(MONTH_LINES, String::new());
    Ok(lines
        .into_iter()
        .map(|line| format!("{line:<MONTH_WIDTH$}"))
        .collect())
}

fn marker(calendar: &Calendar, date: NaiveDate) -> anyhow::Result<char> {
    let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    Ok(match (calendar.is_working(date)?, weekend) {
        (false, _) => '*',
        (true, true) => '+',
        (true, false) => ' ',
    })
}

fn kind_label(kind: DayKind) -> &'static str {
    match kind {
        DayKind::Holiday => "holiday",
        DayKind::ReligiousHoliday => "religious holiday",
        DayKind::MovedDayOff => "moved day off",
        DayKind::WorkingDay => "working day",
    }
}

fn short_weekday(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    }
}
