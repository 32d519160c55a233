//! The deadline view (D-01…D-13, A-01, A-02, A-07, A-08): every clock instance a starting event
//! carried a [`Deadline`] for, with its suspensions, its stop and a recorded breach, plus the monthly
//! clocks that run from the calendar (`monthly`: REGISTRY_SUBMISSION and KG_PAYMENT_REPORT of every
//! month a contract is in force, from the day the month ends). The status is computed when asked, as
//! of a date, with the domain's [`Clock`] and the calendar version the due date was computed with, so
//! the view never goes stale as days pass.
//!
//! Keys: `d\0<stream>\0<rule>\0<start version>` → [`ClockInstance`]; `o\0<stream>\0<rule>` → the start
//! version of the rule's open instance on that stream (a REGISTRY_REVIEW restarts after a rejection);
//! the monthly clocks' keys are in `monthly`.
//!
//! Of the KG clocks, KG_REFUSAL is carried by `KgContractApplicationReceived` and KG_PAYMENT_REPORT
//! comes from the contract (D-13); prescription validity and the dispute window are checked when a
//! dispensing or claim is decided and carry no deadline.

mod facts;
pub mod monthly;

use ledger::domain::calendar::{CalendarSet, WorkingDays};
use ledger::domain::clock::{Clock, ClockRule, ClockStatus, ClockTerm, Deadline};
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::Money;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{ContractId, ReportingPeriod};
use ledger::log::{EventEnvelope, EventId};
use serde::{Deserialize, Serialize};

use super::{Key, QueryError, decode_event, scan_values};
use crate::projector::ProjectorReader;
use crate::store::ViewRead;
use crate::view::{View, ViewError, ViewTxn};

pub const NAME: &str = "deadlines";
pub const VERSION: u32 = 3;

const FOLDED: [&str; 19] = [
    "ContractApplicationReceived",
    "KgContractApplicationReceived",
    "KgContractConcluded",
    "ContractConcluded",
    "ContractRefused",
    "ContractRenewed",
    "TerminationNoticeReceived",
    "RegistrySubmitted",
    "RegistryReceived",
    "RegistryApproved",
    "RegistryRejected",
    "PaymentActReceived",
    "PaymentActSigned",
    "PaymentClockSuspended",
    "PaymentClockResumed",
    "PaymentMade",
    "PaymentActSubmitted",
    "KgPaymentReportSubmitted",
    "DeadlineBreached",
];

/// Every clock instance.
pub struct DeadlineView;

/// Who must act before the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Fund,
    Pharmacy,
}

impl Party {
    /// The party a rule obliges: the holder submits registries and acts, the Fund does the rest.
    pub fn of(rule: ClockRule) -> Party {
        match rule {
            ClockRule::RegistrySubmission
            | ClockRule::ActSubmission
            | ClockRule::KgPaymentReport => Party::Pharmacy,
            _ => Party::Fund,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Party::Fund => "fund",
            Party::Pharmacy => "pharmacy",
        }
    }
}

/// One clock instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockInstance {
    pub rule: ClockRule,
    pub party: Party,
    pub jurisdiction: Jurisdiction,
    pub contract_id: ContractId,
    pub period: Option<ReportingPeriod>,
    pub stream: String,
    /// The event that started it.
    pub started_by: EventId,
    /// The event type that stopped it, once stopped.
    pub stopped_by: Option<String>,
    /// PAYMENT: the act total; the clock stops when payments reach it.
    pub amount_due: Option<Money>,
    /// The `DeadlineBreached` fact recorded for this clock, if any (issue #17).
    pub breach: Option<Breach>,
    pub clock: Clock,
}

/// A breach recorded on the log for a clock (`DeadlineBreached`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub breached_at: Timestamp,
    pub observed_at: Timestamp,
    pub event_id: EventId,
}

impl ClockInstance {
    pub fn deadline(&self) -> &Deadline {
        self.clock.deadline()
    }

    /// The status as of `as_of`, with the calendar version the deadline was computed with.
    pub fn status(&self, calendars: &CalendarSet, as_of: Timestamp) -> Result<ClockStatus, String> {
        let deadline = self.clock.deadline();
        let calendar = calendars
            .calendar(self.jurisdiction, deadline.calendar_version)
            .map_err(|error| error.to_string())?;
        self.clock
            .status(&calendar, as_of)
            .map_err(|error| error.to_string())
    }
}

/// What one event does to the clocks of its stream.
struct Effect {
    stop: Vec<ClockRule>,
    start: Option<(Deadline, Timestamp)>,
}

impl View for DeadlineView {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn apply(&self, envelope: &EventEnvelope, txn: &mut ViewTxn<'_>) -> Result<(), ViewError> {
        if !FOLDED.contains(&envelope.body.payload.event_type.as_str()) {
            return Ok(());
        }
        let event = decode_event(envelope)?;
        let stream = envelope.body.stream.as_str();
        if facts::fold(txn, envelope, &event)? {
            return Ok(());
        }
        match &event {
            Event::PaymentClockSuspended(suspended) => {
                return change_open(txn, stream, ClockRule::Payment, |instance| {
                    instance.clock.suspend(suspended.suspended_at)
                });
            }
            Event::PaymentClockResumed(resumed) => {
                return change_open(txn, stream, ClockRule::Payment, |instance| {
                    instance.clock.resume(resumed.resumed_at)
                });
            }
            Event::PaymentMade(paid) => {
                let paid_up = |instance: &ClockInstance| {
                    instance
                        .amount_due
                        .is_none_or(|due| paid.paid_total.minor >= due.minor)
                };
                return stop_open(
                    txn,
                    stream,
                    ClockRule::Payment,
                    paid.paid_at,
                    "PaymentMade",
                    paid_up,
                );
            }
            _ => {}
        }
        let Some((at, effect)) = effect_of(&event) else {
            return Ok(());
        };
        for rule in effect.stop {
            stop_open(txn, stream, rule, at, event.event_type(), |_| true)?;
        }
        if let Some((deadline, started_at)) = effect.start {
            start(txn, envelope, &event, deadline, started_at)?;
        }
        Ok(())
    }
}

/// The instant of the event and the clocks it stops and starts (the clock table of docs/calendars.md).
fn effect_of(event: &Event) -> Option<(Timestamp, Effect)> {
    let effect = |at: Timestamp, stop: Vec<ClockRule>, start: Option<Deadline>| {
        Some((
            at,
            Effect {
                stop,
                start: start.map(|deadline| (deadline, at)),
            },
        ))
    };
    match event {
        Event::ContractApplicationReceived(e) => effect(e.received_at, vec![], Some(e.review)),
        Event::ContractConcluded(e) => {
            effect(e.concluded_at, vec![ClockRule::ContractReview], None)
        }
        // D-10, A-23: a KG application starts KG_REFUSAL; a refusal or a conclusion stops it.
        Event::KgContractApplicationReceived(e) => effect(e.received_at, vec![], Some(e.refusal)),
        Event::KgContractConcluded(e) => effect(e.concluded_at, vec![ClockRule::KgRefusal], None),
        Event::ContractRefused(e) => effect(
            e.refused_at,
            vec![ClockRule::ContractReview, ClockRule::KgRefusal],
            None,
        ),
        Event::RegistryReceived(e) => effect(e.received_at, vec![], Some(e.review)),
        Event::RegistryApproved(e) => effect(
            e.approved_at,
            vec![ClockRule::RegistryReview],
            e.act_submission,
        ),
        Event::RegistryRejected(e) => effect(e.rejected_at, vec![ClockRule::RegistryReview], None),
        Event::PaymentActReceived(e) => effect(
            e.received_at,
            vec![ClockRule::ActSubmission],
            Some(e.signing),
        ),
        Event::PaymentActSigned(e) => {
            effect(e.signed_at, vec![ClockRule::ActSigning], Some(e.payment))
        }
        _ => None,
    }
}

/// The term that fixes the clock's day unit. A-07 configures ACT_SUBMISSION without a default; the
/// view counts its days in working days (the due date itself comes from the event).
pub(super) fn term_of(rule: ClockRule) -> ClockTerm {
    rule.term(&ledger::domain::clock::ClockPolicy::default())
        .unwrap_or(ClockTerm::WorkingDays(WorkingDays(0)))
}

pub(super) fn start(
    txn: &mut ViewTxn<'_>,
    envelope: &EventEnvelope,
    event: &Event,
    deadline: Deadline,
    started_at: Timestamp,
) -> Result<(), ViewError> {
    let (contract_id, period) = subject(event).ok_or_else(|| ViewError::Event {
        detail: format!(
            "{} starts a clock but names no contract",
            event.event_type()
        ),
    })?;
    let stream = envelope.body.stream.as_str();
    let version = envelope.body.stream_version.0;
    let amount_due = match event {
        Event::PaymentActSigned(signed) => Some(signed.total),
        _ => None,
    };
    let instance = ClockInstance {
        rule: deadline.rule,
        party: Party::of(deadline.rule),
        jurisdiction: envelope.body.jurisdiction,
        contract_id,
        period,
        stream: stream.to_owned(),
        started_by: envelope.body.event_id,
        stopped_by: None,
        amount_due,
        breach: None,
        clock: Clock::start(
            envelope.body.jurisdiction,
            deadline,
            term_of(deadline.rule),
            started_at,
        ),
    };
    txn.put_encoded(instance_key(stream, deadline.rule, version), &instance)?;
    txn.put(
        open_key(stream, deadline.rule),
        version.to_be_bytes().to_vec(),
    );
    Ok(())
}

fn subject(event: &Event) -> Option<(ContractId, Option<ReportingPeriod>)> {
    match event {
        Event::ContractApplicationReceived(e) => Some((e.contract_id.clone(), None)),
        Event::KgContractApplicationReceived(e) => Some((e.contract_id.clone(), None)),
        Event::RegistrySubmitted(e) => Some((e.contract_id.clone(), Some(e.period))),
        Event::RegistryReceived(e) => Some((e.contract_id.clone(), Some(e.period))),
        Event::RegistryApproved(e) => Some((e.contract_id.clone(), Some(e.period))),
        Event::PaymentActReceived(e) => Some((e.contract_id.clone(), Some(e.period))),
        Event::PaymentActSigned(e) => Some((e.contract_id.clone(), Some(e.period))),
        Event::DeadlineBreached(e) => Some((e.contract_id.clone(), e.period)),
        _ => None,
    }
}

/// Stops the open instance of `rule` on `stream` when `done` says so; no open instance is no change.
pub(super) fn stop_open(
    txn: &mut ViewTxn<'_>,
    stream: &str,
    rule: ClockRule,
    at: Timestamp,
    stopped_by: &str,
    done: impl Fn(&ClockInstance) -> bool,
) -> Result<(), ViewError> {
    let Some(key) = open_instance(txn, stream, rule)? else {
        return Ok(());
    };
    let mut instance: ClockInstance = txn
        .get_decoded(&key)?
        .expect("an open pointer names a stored clock");
    if !done(&instance) {
        return Ok(());
    }
    instance.clock.stop(at).map_err(clock_error)?;
    instance.stopped_by = Some(stopped_by.to_owned());
    txn.put_encoded(key, &instance)?;
    txn.delete(open_key(stream, rule));
    Ok(())
}

pub(super) fn change_open(
    txn: &mut ViewTxn<'_>,
    stream: &str,
    rule: ClockRule,
    change: impl FnOnce(&mut ClockInstance) -> Result<(), ledger::domain::clock::ClockError>,
) -> Result<(), ViewError> {
    let key = open_instance(txn, stream, rule)?.ok_or_else(|| ViewError::Event {
        detail: format!("no open {rule} clock on stream \"{stream}\""),
    })?;
    let mut instance: ClockInstance = txn
        .get_decoded(&key)?
        .expect("an open pointer names a stored clock");
    change(&mut instance).map_err(clock_error)?;
    txn.put_encoded(key, &instance)
}

pub(super) fn open_instance(
    txn: &ViewTxn<'_>,
    stream: &str,
    rule: ClockRule,
) -> Result<Option<Vec<u8>>, ViewError> {
    let Some(bytes) = txn.get(&open_key(stream, rule))? else {
        return Ok(None);
    };
    let version: [u8; 8] = bytes.as_slice().try_into().map_err(|_| ViewError::Decode {
        key: format!("o/{stream}/{rule}"),
        detail: format!("{} bytes, expected 8", bytes.len()),
    })?;
    Ok(Some(instance_key(
        stream,
        rule,
        u64::from_be_bytes(version),
    )))
}

fn clock_error(error: ledger::domain::clock::ClockError) -> ViewError {
    ViewError::Event {
        detail: error.to_string(),
    }
}

fn instance_key(stream: &str, rule: ClockRule, version: u64) -> Vec<u8> {
    Key::new(b'd')
        .push(stream)
        .push(rule.name())
        .push_u64(version)
        .into_bytes()
}

fn open_key(stream: &str, rule: ClockRule) -> Vec<u8> {
    Key::new(b'o').push(stream).push(rule.name()).into_bytes()
}

/// Every clock instance the log fixed: the stored clocks in (stream, rule, start) order, then the
/// monthly clocks a submission or a breach fixed. Needs no calendar; the monthly clocks still
/// running from the calendar alone are listed by [`as_of`].
pub fn all<R: ViewRead>(reader: &ProjectorReader<R>) -> Result<Vec<ClockInstance>, QueryError> {
    let mut instances: Vec<ClockInstance> = scan_values(reader, NAME, &[b'd', 0])?;
    instances.extend(monthly::recorded(reader)?);
    Ok(instances)
}

/// Every clock instance that exists on `as_of` (D-02, D-13: a month's clock from the day the month
/// ends, whether or not a document arrived): [`all`] plus the monthly clocks derived from each
/// contract's conclusion terms, computed on the calendar versions the contracts name.
pub fn as_of<R: ViewRead>(
    reader: &ProjectorReader<R>,
    calendars: &CalendarSet,
    as_of: chrono::NaiveDate,
) -> Result<Vec<ClockInstance>, QueryError> {
    let mut instances: Vec<ClockInstance> = scan_values(reader, NAME, &[b'd', 0])?;
    instances.extend(monthly::as_of(reader, calendars, as_of)?);
    Ok(instances)
}
