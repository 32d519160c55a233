//! Breached deadlines (DESIGN §4, issue #17): a statutory clock whose due date passed while it still
//! ran is recorded once as a [`DeadlineBreached`] fact, so that subscribers downstream learn of it
//! without computing clocks themselves.
//!
//! Who records it: a watcher (`ledger watch`) that reads the deadline view as of an instant it takes
//! from the log or from its operator, never from a projector's wall clock, and submits
//! [`RecordDeadlineBreach`] through the writer like any other command. The aggregate that owns the
//! clock decides: the clock must be running (started, not stopped, not suspended) with its binding
//! due date before the observed instant, and not breached before. A clock is identified by its rule
//! and start date (`(rule, started_on)`), so a restarted REGISTRY_REVIEW can be breached again
//! while the same clock never is.
//!
//! What a breach means is the clock's own law: a D-02 breach (no registry by the 25th) is a §22
//! termination ground exactly like a late submission (C-04, A-06), an A-07 breach a §24 ground; the
//! others are facts for review. Nothing terminates by itself (C-04, A-07).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::calendar::deadline_end;
use super::clock::{ClockRule, Deadline};
use super::contract::events::{Party, RuleFinding, TerminationGround, TerminationGroundDetected};
use super::error::DomainError;
use super::event::Event;
use super::jurisdiction::Jurisdiction;
use super::time::Timestamp;
use super::values::{ContractId, ReportingPeriod};

/// Record that a running clock passed its due date (issue #17). The clock is the stream's running
/// clock of `rule`; `observed_at` is the instant the watcher judged it at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordDeadlineBreach {
    pub rule: ClockRule,
    pub observed_at: Timestamp,
}

/// A running statutory clock passed its binding due date (D-01…D-13, A-07): recorded once per clock,
/// with the deadline it was decided with (DESIGN §2: the calendar version and both due dates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeadlineBreached {
    pub contract_id: ContractId,
    /// The reporting period of a period clock; `None` for a contract clock.
    pub period: Option<ReportingPeriod>,
    pub deadline: Deadline,
    /// Who had to act: the Fund (or the MHIF), or the contract holder.
    pub obliged: Party,
    /// The first instant past the deadline: 00:00:00 local time of the day after `deadline.due`.
    pub breached_at: Timestamp,
    /// The instant the breach was observed at (the watcher's as-of); never before `breached_at`.
    pub observed_at: Timestamp,
}

/// The clocks of a stream already recorded as breached, by (rule, start date).
pub type Breaches = BTreeSet<(ClockRule, NaiveDate)>;

/// A clock as the aggregate that owns it sees it when a breach is to be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunningClock {
    pub deadline: Deadline,
    /// D-08, A-08: a suspended payment clock does not run, so it cannot pass its due date.
    pub suspended: bool,
}

/// What the breached clock belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockSubject {
    pub jurisdiction: Jurisdiction,
    pub contract_id: ContractId,
    pub period: Option<ReportingPeriod>,
}

impl ClockSubject {
    fn label(&self, rule: ClockRule) -> String {
        match self.period {
            Some(period) => format!(
                "{rule} clock of period {} of contract \"{}\"",
                period.key(),
                self.contract_id
            ),
            None => format!("{rule} clock of contract \"{}\"", self.contract_id),
        }
    }
}

/// The party a clock obliges: the holder submits registries and acts (and KG reports), the Fund or
/// the MHIF does the rest.
pub fn obliged(rule: ClockRule) -> Party {
    match rule {
        ClockRule::RegistrySubmission | ClockRule::ActSubmission | ClockRule::KgPaymentReport => {
            Party::ContractHolder
        }
        _ => Party::Fund,
    }
}

/// The first instant past `deadline`, which ends at 23:59:59 local time of its due date.
pub fn breached_at(deadline: &Deadline, jurisdiction: Jurisdiction) -> Timestamp {
    let end = deadline_end(jurisdiction, deadline.due);
    Timestamp::from_micros(end.micros() + 1_000_000)
}

/// Decides a breach of the stream's `running` clock of `command.rule`: it must run, be past its
/// binding due date at `observed_at`, and not be recorded as breached already. `running` is what
/// the owning aggregate says runs now (`None`: not started, or stopped).
pub fn decide(
    running: Option<RunningClock>,
    breaches: &Breaches,
    subject: &ClockSubject,
    command: &RecordDeadlineBreach,
) -> Result<DeadlineBreached, DomainError> {
    let rule = command.rule;
    let refuse = |expected: &'static str, actual: String| DomainError::WrongStage {
        rule: rule.rule_id(),
        object: subject.label(rule),
        action: "recording a breach",
        expected,
        actual,
    };
    if !rule.is_obligation() {
        return Err(refuse(
            "an obligation to act by a date",
            "a window that only closes; nobody breaches it".to_owned(),
        ));
    }
    let Some(clock) = running else {
        return Err(refuse(
            "running",
            "not running (not started on this stream, or already stopped)".to_owned(),
        ));
    };
    assert_eq!(clock.deadline.rule, rule, "the running clock of the rule");
    if clock.suspended {
        return Err(refuse("running", "suspended (D-08)".to_owned()));
    }
    let deadline = clock.deadline;
    if breaches.contains(&(rule, deadline.started_on)) {
        return Err(refuse(
            "not yet recorded as breached",
            format!(
                "recorded as breached already (started {}, due {})",
                deadline.started_on, deadline.due
            ),
        ));
    }
    let breached_at = breached_at(&deadline, subject.jurisdiction);
    if command.observed_at < breached_at {
        return Err(refuse(
            "past its due date",
            format!(
                "due {} (until {}), observed at {}",
                deadline.due,
                deadline_end(subject.jurisdiction, deadline.due),
                command.observed_at
            ),
        ));
    }
    Ok(DeadlineBreached {
        contract_id: subject.contract_id.clone(),
        period: subject.period,
        deadline,
        obliged: obliged(rule),
        breached_at,
        observed_at: command.observed_at,
    })
}

/// Implements C-04 with D-02 and A-07: a registry not submitted by its due date is a §22 ground, an
/// act not sent within the configured grace a §24 ground, raised with the breach exactly as a late
/// submission raises it (for human review, never a termination by itself).
pub fn ground(breach: &DeadlineBreached) -> Option<TerminationGroundDetected> {
    let (ground, rule, document) = match breach.deadline.rule {
        ClockRule::RegistrySubmission => {
            (TerminationGround::RegistrySubmission, "D-02", "registry")
        }
        ClockRule::ActSubmission => (TerminationGround::ActSubmission, "A-07", "payment act"),
        _ => return None,
    };
    let period = breach
        .period
        .map(|period| period.key())
        .unwrap_or_else(|| "-".to_owned());
    Some(TerminationGroundDetected {
        contract_id: breach.contract_id.clone(),
        detected_at: breach.breached_at,
        ground,
        finding: RuleFinding {
            rule: rule.to_owned(),
            detail: format!(
                "no {document} of period {period} was submitted by {}; {rule} allowed until then",
                breach.deadline.due
            ),
        },
    })
}

/// The breach and, for D-02 and A-07, its termination ground: the events of one decision.
pub fn events(breach: DeadlineBreached) -> Vec<Event> {
    let ground = ground(&breach).map(Event::TerminationGroundDetected);
    std::iter::once(Event::DeadlineBreached(breach))
        .chain(ground)
        .collect()
}

/// Folds a breach into a stream's breaches and its latest step instant: later steps are dated at
/// or after the breach, but a breach recorded late never moves the step order back.
pub fn apply(
    breaches: &mut Breaches,
    last_step_at: &mut Option<Timestamp>,
    breach: &DeadlineBreached,
) {
    breaches.insert((breach.deadline.rule, breach.deadline.started_on));
    *last_step_at =
        Some(last_step_at.map_or(breach.breached_at, |last| last.max(breach.breached_at)));
}

#[cfg(test)]
mod tests;
