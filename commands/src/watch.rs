//! The deadline watcher (issue #17, DESIGN §4): records every statutory clock that passed its due
//! date while still running as one `DeadlineBreached` fact, through the writer like any other
//! command, so that subscribers downstream see the breach without computing clocks.
//!
//! Deciding on time: the watcher judges the clocks as of an *observed instant* that comes from the
//! log (the latest record's time, the writer's clock) or from its operator (`--as-of`, taken at the
//! end of that local day and never past the log's time), never from a projector's wall clock. The
//! domain decides each breach again against the stream's state (the clock runs, is past due, was not
//! breached before), so a stale view can only lead to a refusal, never to a wrong fact.
//!
//! Idempotency: a clock is identified by its stream, rule and start date; the command id is a UUID
//! v5 of that identity, so a restarted or repeated watcher appends each breach once (a clock whose
//! command is on the log is not submitted again), and the domain refuses a second breach of one
//! clock under any id.
//!
//! Who acts: the principal the watcher runs as (`ledger watch --as`, by default the policy's local
//! operator: the Fund's BIN), decided by the policy like any other command (issue #13).

use chrono::NaiveDate;
use ledger::domain::breach::RecordDeadlineBreach;
use ledger::domain::calendar::{CalendarSet, deadline_end};
use ledger::domain::clock::{ClockRule, ClockStatus};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::{CommandId, EventLog, LogError, Offset, PartitionId, StreamId};
use projector::views::deadlines::ClockInstance;

use crate::auth::Principal;
use crate::submit::Refusal;
use crate::submit::dispatch::{Dispatcher, Outcome, SubmitError};
use crate::submit::wire::{CommandEnvelope, WireCommand};

/// The watcher's name: the namespace of its command ids.
pub const WATCHER: &str = "deadline-watcher";

/// The log's time: the latest `recorded_at` of any partition's last record (`None` for an empty log).
pub async fn log_time(log: &dyn EventLog) -> Result<Option<Timestamp>, LogError> {
    let mut latest: Option<Timestamp> = None;
    for partition in (0..log.partitions()).map(PartitionId) {
        let end = log.end_offset(partition).await?;
        let Some(last) = end.0.checked_sub(1) else {
            continue;
        };
        for record in log.read_batch(partition, Offset(last), 1).await? {
            let at = record.body.recorded_at;
            latest = Some(latest.map_or(at, |latest| latest.max(at)));
        }
    }
    Ok(latest)
}

/// The instant a clock of `jurisdiction` is judged at: the end of `as_of` there, or the log's time
/// when that comes first (a breach is never observed past what the log has seen).
pub fn observed_at(
    jurisdiction: Jurisdiction,
    as_of: Option<NaiveDate>,
    log_time: Timestamp,
) -> Timestamp {
    as_of.map_or(log_time, |as_of| {
        deadline_end(jurisdiction, as_of).min(log_time)
    })
}

/// A clock the watcher will record as breached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub clock: ClockInstance,
    pub observed_at: Timestamp,
}

impl Overdue {
    /// `<stream>/<RULE>/<start date>`: the clock's identity.
    pub fn identity(&self) -> String {
        format!(
            "{}/{}/{}",
            self.clock.stream,
            self.clock.rule,
            self.clock.deadline().started_on
        )
    }

    /// The command id of the clock's breach: the same for every run of every watcher.
    pub fn command_id(&self) -> CommandId {
        CommandId::derived(WATCHER, &self.identity())
    }

    /// The breach as a JSON command, as the writer receives any other.
    pub fn envelope(&self) -> Result<CommandEnvelope, String> {
        let stream = StreamId::new(self.clock.stream.clone()).map_err(|error| error.to_string())?;
        Ok(CommandEnvelope {
            command_id: self.command_id(),
            stream,
            // The actor is the principal the watcher runs as (`ledger watch --as`, issue #13).
            actor: None,
            jurisdiction: self.clock.jurisdiction,
            occurred_at: Some(self.observed_at),
            correlation_id: None,
            expected_version: None,
            command: WireCommand::RecordDeadlineBreach(RecordDeadlineBreach {
                rule: self.clock.rule,
                observed_at: self.observed_at,
            }),
        })
    }
}

/// The clocks to record: obligations (not a window that only closes), not stopped, not breached
/// yet, overdue at their observed instant.
pub fn overdue(
    clocks: Vec<ClockInstance>,
    calendars: &CalendarSet,
    as_of: Option<NaiveDate>,
    log_time: Timestamp,
) -> Result<Vec<Overdue>, String> {
    let mut overdue = Vec::new();
    for clock in clocks {
        if !clock.rule.is_obligation() || clock.breach.is_some() || clock.stopped_by.is_some() {
            continue;
        }
        let observed_at = observed_at(clock.jurisdiction, as_of, log_time);
        if clock.deadline().started_on
            > ledger::domain::calendar::local_date(clock.jurisdiction, observed_at)
        {
            continue;
        }
        let status = clock.status(calendars, observed_at).map_err(|error| {
            format!(
                "clock {} of contract \"{}\": {error}",
                clock.rule, clock.contract_id
            )
        })?;
        if matches!(status, ClockStatus::Overdue { .. }) {
            overdue.push(Overdue { clock, observed_at });
        }
    }
    Ok(overdue)
}

/// What a run of the watcher did.
#[derive(Debug, Default)]
pub struct WatchReport {
    /// Breaches appended now.
    pub recorded: Vec<Overdue>,
    /// Breaches already on the log under the same command id (an earlier run).
    pub already: u64,
    /// Breaches the domain refused (the view and the stream disagree, e.g. a submission the view
    /// had not caught up with): the clock and the reason.
    pub refused: Vec<(Overdue, Refusal)>,
}

/// Submits one breach per clock through `dispatcher`, as `principal`. A clock whose breach command is
/// already on the log counts as already recorded without being submitted again: its command id is
/// the clock's, but its content (the instant it was observed) is not, so a repeat would be refused
/// as a reused idempotency key (issue #13).
pub async fn record(
    dispatcher: &Dispatcher,
    principal: &Principal,
    overdue: Vec<Overdue>,
) -> Result<WatchReport, SubmitError> {
    let mut report = WatchReport::default();
    for clock in overdue {
        if dispatcher
            .log()
            .command_outcome(clock.command_id())
            .await?
            .is_some()
        {
            report.already += 1;
            continue;
        }
        let envelope = match clock.envelope() {
            Ok(envelope) => envelope,
            Err(message) => {
                let refusal = Refusal {
                    rule: "DESIGN §1".into(),
                    field: Some("stream".into()),
                    message,
                };
                report.refused.push((clock, refusal));
                continue;
            }
        };
        tracing::debug!(clock = %clock.identity(), "recording a breach");
        match dispatcher.submit(principal, &envelope).await? {
            Outcome::Appended(appended) if appended.duplicate => report.already += 1,
            Outcome::Appended(_) => report.recorded.push(clock),
            Outcome::Refused(refusal) | Outcome::Denied(refusal) | Outcome::Reused(refusal) => {
                report.refused.push((clock, refusal));
            }
        }
    }
    Ok(report)
}

/// The rules whose breach raises a §29 termination ground with it (D-02, A-07).
pub fn raises_ground(rule: ClockRule) -> bool {
    matches!(
        rule,
        ClockRule::RegistrySubmission | ClockRule::ActSubmission
    )
}
