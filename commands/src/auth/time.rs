//! Time sanity at the edge (issue #13 §5, docs/domain.md "Time sanity"): a fact cannot have happened
//! after the writer records it.
//!
//! - **TIME-01**: every business instant of a command (`occurred_at` and each `…_at` field of the
//!   command) is at most the writer's clock plus the allowed skew; every business date (`…_on`) is at
//!   most the jurisdiction's local date of that instant. Dates that look ahead by nature (a term's
//!   `starts_on`/`ends_on`, a `due_on`, a window's `window_closes_on`) and validity starts
//!   (`valid_from`, `effective_from`) are not facts and are not checked.
//! - **TIME-02**: a period stream whose month has not begun (in the jurisdiction's local time) takes no
//!   command.
//!
//! The check walks the command's JSON form, so a new command type is covered by its field names.

use std::time::Duration;

use chrono::NaiveDate;
use ledger::domain::context::local_date;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;

use crate::submit::Refusal;
use crate::submit::route::Target;
use crate::submit::wire::CommandEnvelope;

/// The rule of an instant or date in the writer's future.
pub const FUTURE_RULE: &str = "TIME-01";
/// The rule of a period that has not begun.
pub const PERIOD_RULE: &str = "TIME-02";
/// How far a client's clock may run ahead of the writer's by default.
pub const SKEW_DEFAULT: Duration = Duration::from_secs(5 * 60);

/// `…_on` fields that name a date ahead by nature, not the date of a fact.
const PROSPECTIVE_DATES: &[&str] = &["starts_on", "ends_on", "due_on", "window_closes_on"];

/// Refuses `envelope` (routed to `target`) when it states a fact in the writer's future.
pub fn check(
    envelope: &CommandEnvelope,
    target: &Target,
    now: Timestamp,
    skew: Duration,
) -> Result<(), Refusal> {
    let skew = chrono::Duration::from_std(skew).expect("the skew fits in chrono's range");
    let latest = Timestamp::from_datetime(now.to_datetime() + skew);
    let today = local_date(envelope.jurisdiction, latest);
    if let Some(at) = envelope.occurred_at {
        check_instant("occurred_at", at, now, latest)?;
    }
    let command = serde_json::to_value(&envelope.command).expect("a command serialises to JSON");
    walk("command", &command, &mut |field, text| {
        check_field(field, text, envelope.jurisdiction, now, latest, today)
    })?;
    let period = match target {
        Target::Period { period, .. } | Target::KgPeriod { period, .. } => Some(*period),
        _ => None,
    };
    match period {
        Some(period) if period.first_day() > today => Err(Refusal {
            rule: PERIOD_RULE.into(),
            field: Some("stream".into()),
            message: format!(
                "the period {period} of \"{}\" has not begun: it starts on {}, and today is {today} in {}",
                envelope.stream,
                period.first_day(),
                envelope.jurisdiction
            ),
        }),
        _ => Ok(()),
    }
}

/// Calls `check` on every string field under `value`, with its dotted path.
fn walk(
    path: &str,
    value: &serde_json::Value,
    check: &mut impl FnMut(&str, &str) -> Result<(), Refusal>,
) -> Result<(), Refusal> {
    match value {
        serde_json::Value::Object(fields) => {
            for (name, field) in fields {
                walk(&format!("{path}.{name}"), field, check)?;
            }
            Ok(())
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                walk(&format!("{path}[{index}]"), item, check)?;
            }
            Ok(())
        }
        serde_json::Value::String(text) => check(path, text),
        _ => Ok(()),
    }
}

fn check_field(
    path: &str,
    text: &str,
    jurisdiction: Jurisdiction,
    now: Timestamp,
    latest: Timestamp,
    today: NaiveDate,
) -> Result<(), Refusal> {
    let name = path.rsplit('.').next().unwrap_or(path);
    let name = name.split('[').next().unwrap_or(name);
    if name.ends_with("_at")
        && let Ok(at) = Timestamp::parse_rfc3339(text)
    {
        return check_instant(path, at, now, latest);
    }
    if name.ends_with("_on")
        && !PROSPECTIVE_DATES.contains(&name)
        && let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && date > today
    {
        return Err(Refusal {
            rule: FUTURE_RULE.into(),
            field: Some(path.to_owned()),
            message: format!(
                "{date} is after today ({today} in {jurisdiction}); a fact cannot be recorded before it happens"
            ),
        });
    }
    Ok(())
}

fn check_instant(
    path: &str,
    at: Timestamp,
    now: Timestamp,
    latest: Timestamp,
) -> Result<(), Refusal> {
    if at > latest {
        return Err(Refusal {
            rule: FUTURE_RULE.into(),
            field: Some(path.to_owned()),
            message: format!(
                "{} is after the writer's clock ({}) plus the allowed skew; a fact cannot be recorded before it happens",
                at.to_datetime().to_rfc3339(),
                now.to_datetime().to_rfc3339()
            ),
        });
    }
    Ok(())
}
