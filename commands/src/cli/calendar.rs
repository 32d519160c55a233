//! `ledger calendar …`: working-day calendars and deadlines. A stable contract other tools depend on:
//! plain one-value output by default, `--format json` for structure, exit code 2 with a one-line message
//! on bad input. Needs no data directory and no network: the calendars are compiled into the binary.

mod show;

use std::process::ExitCode;

use chrono::{Datelike, NaiveDate};
use ledger::domain::calendar::{
    Calendar, CalendarDays, CalendarError, CalendarSet, CalendarVersion, WorkingCalendar,
    WorkingDays,
};
use ledger::domain::clock::{self, end_of_month};
use ledger::domain::jurisdiction::Jurisdiction;
use serde_json::json;

use super::{Format, UsageError};

#[derive(Debug, clap::Subcommand)]
pub enum CalendarCommand {
    /// Prints `true` if the date is a working day, else `false`.
    IsWorking {
        #[command(flatten)]
        calendar: CalendarArgs,
        /// The date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
    },
    /// Prints the n-th working day strictly after --from (the start day never counts).
    AddWorkingDays {
        #[command(flatten)]
        calendar: CalendarArgs,
        #[command(flatten)]
        span: SpanArgs,
    },
    /// Prints --from plus N calendar days, rolled forward to a working day (JSON: strict and rolled).
    AddDays {
        #[command(flatten)]
        calendar: CalendarArgs,
        #[command(flatten)]
        span: SpanArgs,
    },
    /// Prints the registry due date of a monthly period: the 25th of the next month, rolled forward.
    RegistryDue {
        #[command(flatten)]
        calendar: CalendarArgs,
        /// The reporting month, YYYY-MM.
        #[arg(long)]
        period: String,
    },
    /// Prints a year as a month grid with the non-working days marked, and its holidays.
    Show {
        #[command(flatten)]
        calendar: CalendarArgs,
        /// The year, YYYY.
        #[arg(long)]
        year: String,
    },
}

/// Which calendar to use and how to print.
#[derive(Debug, clap::Args)]
pub struct CalendarArgs {
    /// KZ or KG.
    #[arg(long)]
    country: String,
    /// A published calendar version (default: the newest), e.g. 1 to see KZ 2026 as first published.
    #[arg(long)]
    calendar_version: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// A start date and a day count.
#[derive(Debug, clap::Args)]
pub struct SpanArgs {
    /// The start date, YYYY-MM-DD (never counted).
    #[arg(long)]
    from: String,
    /// The number of days, a whole number ≥ 0.
    #[arg(long, allow_hyphen_values = true)]
    days: String,
}

pub fn run(command: CalendarCommand) -> anyhow::Result<ExitCode> {
    let output = match command {
        CalendarCommand::IsWorking { calendar, date } => is_working(&calendar, &date)?,
        CalendarCommand::AddWorkingDays { calendar, span } => add_working_days(&calendar, &span)?,
        CalendarCommand::AddDays { calendar, span } => add_days(&calendar, &span)?,
        CalendarCommand::RegistryDue { calendar, period } => registry_due(&calendar, &period)?,
        CalendarCommand::Show { calendar, year } => show(&calendar, &year)?,
    };
    print(&output)?;
    Ok(ExitCode::SUCCESS)
}

fn is_working(args: &CalendarArgs, date: &str) -> anyhow::Result<String> {
    let calendar = load(args)?;
    let date = parse_date("--date", date)?;
    let working = calendar.is_working(date).map_err(usage)?;
    Ok(match args.format {
        Format::Text => working.to_string(),
        Format::Json => json_line(json!({
            "country": calendar.jurisdiction().code(),
            "calendar_version": calendar.version().0,
            "date": date,
            "working": working,
        })),
    })
}

fn add_working_days(args: &CalendarArgs, span: &SpanArgs) -> anyhow::Result<String> {
    let calendar = load(args)?;
    let from = parse_date("--from", &span.from)?;
    let days = parse_days(&span.days)?;
    let due = clock::add_working_days(&calendar, from, WorkingDays(days)).map_err(usage)?;
    Ok(match args.format {
        Format::Text => due.to_string(),
        Format::Json => json_line(json!({
            "country": calendar.jurisdiction().code(),
            "calendar_version": calendar.version().0,
            "from": from,
            "working_days": days,
            "due": due,
        })),
    })
}

fn add_days(args: &CalendarArgs, span: &SpanArgs) -> anyhow::Result<String> {
    let calendar = load(args)?;
    let from = parse_date("--from", &span.from)?;
    let days = parse_days(&span.days)?;
    let due = clock::calendar_days_due(&calendar, from, CalendarDays(days)).map_err(usage)?;
    Ok(match args.format {
        Format::Text => due.rolled.to_string(),
        Format::Json => json_line(json!({
            "country": calendar.jurisdiction().code(),
            "calendar_version": calendar.version().0,
            "from": from,
            "calendar_days": days,
            "strict": due.strict,
            "rolled": due.rolled,
        })),
    })
}

fn registry_due(args: &CalendarArgs, period: &str) -> anyhow::Result<String> {
    let calendar = load(args)?;
    let first = NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d")
        .ok()
        .filter(|_| period.len() == 7)
        .ok_or_else(|| {
            UsageError(format!(
                "invalid --period \"{period}\": expected a month as YYYY-MM"
            ))
        })?;
    let due = clock::registry_due(&calendar, end_of_month(first)).map_err(usage)?;
    Ok(match args.format {
        Format::Text => due.rolled.to_string(),
        Format::Json => json_line(json!({
            "country": calendar.jurisdiction().code(),
            "calendar_version": calendar.version().0,
            "period": period,
            "strict": due.strict,
            "rolled": due.rolled,
        })),
    })
}

fn show(args: &CalendarArgs, year: &str) -> anyhow::Result<String> {
    let calendar = load(args)?;
    let year = year
        .parse::<i32>()
        .ok()
        .filter(|year| (1..=9999).contains(year))
        .ok_or_else(|| {
            UsageError(format!(
                "invalid --year \"{year}\": expected a year as YYYY"
            ))
        })?;
    let (first_year, last_year) = calendar.years();
    if !(first_year..=last_year).contains(&year) {
        return Err(UsageError(format!(
            "{} calendar {} does not cover {year}: covered years are {first_year}–{last_year}",
            calendar.jurisdiction(),
            calendar.version()
        ))
        .into());
    }
    Ok(match args.format {
        Format::Text => show::render(&calendar, year)?,
        Format::Json => json_line(show::to_json(&calendar, year)?),
    })
}

/// The calendar the command asked for: the newest, or `--calendar-version N`.
fn load(args: &CalendarArgs) -> anyhow::Result<Calendar> {
    let jurisdiction = args
        .country
        .parse::<Jurisdiction>()
        .map_err(|error| UsageError(error.to_string()))?;
    let set = CalendarSet::embedded()?;
    let Some(text) = &args.calendar_version else {
        return Ok(set.latest(jurisdiction)?);
    };
    let version = text.parse::<u32>().map(CalendarVersion).map_err(|_| {
        UsageError(format!(
            "invalid --calendar-version \"{text}\": expected a whole number"
        ))
    })?;
    set.calendar(jurisdiction, version)
        .map_err(|error| UsageError(error.to_string()).into())
}

fn parse_date(flag: &str, text: &str) -> Result<NaiveDate, UsageError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|date| text.len() == 10 && date.year() > 0)
        .ok_or_else(|| {
            UsageError(format!(
                "invalid {flag} \"{text}\": expected a date as YYYY-MM-DD"
            ))
        })
}

/// The largest `--days` accepted: a century, far beyond any statutory term and any covered calendar.
const DAYS_MAX: u32 = 36_600;

fn parse_days(text: &str) -> Result<u32, UsageError> {
    text.parse::<u32>()
        .ok()
        .filter(|days| *days <= DAYS_MAX)
        .ok_or_else(|| {
            UsageError(format!(
                "invalid --days \"{text}\": expected a whole number of days from 0 to {DAYS_MAX}"
            ))
        })
}

/// A date outside the covered years is bad input: the user asked about a year we have no data for.
fn usage(error: CalendarError) -> UsageError {
    UsageError(error.to_string())
}

fn json_line(value: serde_json::Value) -> String {
    value.to_string()
}

fn print(output: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{output}")?;
    stdout.flush()?;
    Ok(())
}
