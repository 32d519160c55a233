//! The reporting-period aggregate, stream `period/<contract-id>/<period>`: the dispensings of one
//! contract and period, its summary registry (App. 1), payment act (App. 2) and payments
//! (S001 §18–§28).
//!
//! Stages: dispensings are recorded while the registry is open (or after a rejection, for
//! corrections); submission fixes the content by hash; receipt, approval or rejection; then the act,
//! its receipt and signature; then payments up to the act total.

pub mod act;
pub mod dispensing;
pub mod events;
pub mod kg;
pub mod payment;
pub mod registry;

use std::collections::BTreeMap;

use super::breach::{self, Breaches, ClockSubject, RecordDeadlineBreach, RunningClock};
use super::clock::{ClockRule, Deadline};
use super::context::DecisionContext;
use super::contract::ContractState;
use super::deadline::registry_submission_clock;
use super::error::DomainError;
use super::event::Event;
use super::jurisdiction::Jurisdiction;
use super::money::Money;
use super::order::{self, When};
use super::prices::PriceListState;
use super::region::Programme;
use super::time::Timestamp;
use super::values::{ContractId, DispensingId, ReportingPeriod};

use events::{
    DispensingRecorded, PaymentActSigned, PaymentActSubmitted, PaymentClockSuspended,
    RegistryApproved, RegistrySubmitted,
};

pub use act::{ReceivePaymentAct, SignPaymentAct, SubmitPaymentAct};
pub use dispensing::{RecordDispensing, ReverseDispensing};
pub use payment::{MakePayment, ResumePaymentClock, SuspendPaymentClock};
pub use registry::{ApproveRegistry, ReceiveRegistry, RejectRegistry, SubmitRegistry};

/// The most lines one registry may hold (assumes < 1M dispensings per contract and period).
pub const REGISTRY_LINES_MAX: usize = 1_000_000;

/// The writer's cross-stream uniqueness index (DESIGN §3): has a marking code or receipt key been
/// reimbursed in *another* period of the partition? Within a period the state itself answers.
pub trait ReimbursedIndex {
    /// The dispensing (as `<period>/<dispensing id>`) that holds `key`, if any.
    fn reimbursed_by(&self, key: &str) -> Option<String>;
}

/// An index that knows no other period (tests, single-period replays).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOtherPeriods;

impl ReimbursedIndex for NoOtherPeriods {
    fn reimbursed_by(&self, _key: &str) -> Option<String> {
        None
    }
}

/// What a period decision needs beyond the common context: the contract (same partition), the price
/// list, the period of the stream and the cross-period uniqueness index.
pub struct PeriodContext<'a> {
    pub decision: &'a DecisionContext<'a>,
    pub contract: &'a ContractState,
    pub prices: &'a PriceListState,
    pub period: ReportingPeriod,
    pub index: &'a dyn ReimbursedIndex,
}

/// Where the registry of the period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum RegistryStage {
    #[default]
    Open,
    Submitted,
    Received,
    Rejected,
    Approved,
}

impl RegistryStage {
    pub fn name(self) -> &'static str {
        match self {
            RegistryStage::Open => "open",
            RegistryStage::Submitted => "submitted",
            RegistryStage::Received => "received",
            RegistryStage::Rejected => "rejected",
            RegistryStage::Approved => "approved",
        }
    }
}

/// Where the payment act is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ActStage {
    #[default]
    None,
    Submitted,
    Received,
    Signed,
}

impl ActStage {
    pub fn name(self) -> &'static str {
        match self {
            ActStage::None => "not sent",
            ActStage::Submitted => "submitted",
            ActStage::Received => "received",
            ActStage::Signed => "signed",
        }
    }
}

/// One dispensing and whether it was reversed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DispensingEntry {
    pub recorded: DispensingRecorded,
    pub reversed: bool,
}

/// The folded period stream. Serialisable for the writer's snapshots of long streams (issue #16 §1):
/// a change of its fields or of [`evolve`] must bump the period aggregate's fold version
/// (`commands::writer::PeriodAggregate`), so that old snapshots are re-folded, not misread.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PeriodState {
    pub contract_id: Option<ContractId>,
    pub period: Option<ReportingPeriod>,
    pub dispensings: BTreeMap<DispensingId, DispensingEntry>,
    /// Marking-code and receipt keys of the live (not reversed) dispensings. Exposed so the writer can
    /// keep its cross-period index ([`ReimbursedIndex`]).
    pub reimbursed: BTreeMap<String, DispensingId>,
    pub registry_stage: RegistryStage,
    pub submissions: u32,
    /// lateness is judged on the first submission.
    pub first_submission_late: Option<bool>,
    pub registry: Option<RegistrySubmitted>,
    pub review: Option<Deadline>,
    pub approved: Option<RegistryApproved>,
    pub act_stage: ActStage,
    pub act: Option<PaymentActSubmitted>,
    pub signing: Option<Deadline>,
    /// When the Fund received the act (O-05: it signs at or after it).
    pub act_received_at: Option<Timestamp>,
    pub signed: Option<PaymentActSigned>,
    pub payment_deadline: Option<Deadline>,
    pub suspended: Option<PaymentClockSuspended>,
    pub paid_total: Option<Money>,
    /// A-34, F-03: paid per programme (budget line).
    pub paid_by_programme: BTreeMap<Programme, Money>,
    /// The period's clocks recorded as breached (issue #17).
    pub breaches: Breaches,
    /// The instant of the latest registry, act or payment step (A-02: steps come in order).
    pub last_step_at: Option<Timestamp>,
}

impl PeriodState {
    /// The live dispensings, in line order (dispensing time, then id).
    pub fn live_dispensings(&self) -> Vec<&DispensingRecorded> {
        let mut live: Vec<&DispensingRecorded> = self
            .dispensings
            .values()
            .filter(|entry| !entry.reversed)
            .map(|entry| &entry.recorded)
            .collect();
        live.sort_by(|a, b| {
            (a.dispensed_at, &a.dispensing_id).cmp(&(b.dispensed_at, &b.dispensing_id))
        });
        live
    }

    /// The uniqueness keys held by live dispensings (for the writer's cross-period index).
    pub fn reimbursed_keys(&self) -> impl Iterator<Item = (&String, &DispensingId)> {
        self.reimbursed.iter()
    }

    pub(crate) fn wrong_stage(
        &self,
        rule: &'static str,
        object: String,
        action: &'static str,
        expected: &'static str,
    ) -> DomainError {
        DomainError::WrongStage {
            rule,
            object,
            action,
            expected,
            actual: format!(
                "at stage \"registry {}, act {}\"",
                self.registry_stage.name(),
                self.act_stage.name()
            ),
        }
    }
}

/// Every command of a period stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeriodCommand {
    RecordDispensing(Box<RecordDispensing>),
    ReverseDispensing(ReverseDispensing),
    SubmitRegistry(SubmitRegistry),
    ReceiveRegistry(ReceiveRegistry),
    ApproveRegistry(ApproveRegistry),
    RejectRegistry(RejectRegistry),
    SubmitPaymentAct(SubmitPaymentAct),
    ReceivePaymentAct(ReceivePaymentAct),
    SignPaymentAct(SignPaymentAct),
    SuspendPaymentClock(SuspendPaymentClock),
    ResumePaymentClock(ResumePaymentClock),
    MakePayment(MakePayment),
    /// A running clock of the period passed its due date (D-02, D-04, A-07, D-06, D-07).
    RecordDeadlineBreach(RecordDeadlineBreach),
}

impl PeriodCommand {
    /// The instant of a registry, act or payment step; `None` for dispensings, reversals and
    /// breaches (a breach is dated at the end of its deadline, before whatever stops the clock).
    fn step_at(&self) -> Option<(Timestamp, &'static str)> {
        match self {
            PeriodCommand::RecordDispensing(_)
            | PeriodCommand::ReverseDispensing(_)
            | PeriodCommand::RecordDeadlineBreach(_) => None,
            PeriodCommand::SubmitRegistry(command) => {
                Some((command.submitted_at, "submitting the registry"))
            }
            PeriodCommand::ReceiveRegistry(command) => {
                Some((command.received_at, "receiving the registry"))
            }
            PeriodCommand::ApproveRegistry(command) => {
                Some((command.approved_at, "approving the registry"))
            }
            PeriodCommand::RejectRegistry(command) => {
                Some((command.rejected_at, "rejecting the registry"))
            }
            PeriodCommand::SubmitPaymentAct(command) => {
                Some((command.submitted_at, "submitting the act"))
            }
            PeriodCommand::ReceivePaymentAct(command) => {
                Some((command.received_at, "receiving the act"))
            }
            PeriodCommand::SignPaymentAct(command) => Some((command.signed_at, "signing the act")),
            PeriodCommand::SuspendPaymentClock(command) => {
                Some((command.suspended_at, "suspending the payment clock"))
            }
            PeriodCommand::ResumePaymentClock(command) => {
                Some((command.resumed_at, "resuming the payment clock"))
            }
            PeriodCommand::MakePayment(command) => Some((command.paid_at, "paying")),
        }
    }
}

/// Implements A-02: a registry, report, act or payment step is not dated before the step it follows.
/// Shared by the KZ period and the KG settlement (`kg`).
pub(crate) fn check_step_order(
    step: Option<(Timestamp, &'static str)>,
    last_step_at: Option<Timestamp>,
    object: String,
) -> Result<(), DomainError> {
    let out_of_order = step
        .zip(last_step_at)
        .filter(|((at, _), previous)| at < previous);
    match out_of_order {
        Some(((at, action), previous)) => Err(DomainError::OutOfOrder {
            rule: "A-02",
            object,
            action,
            at,
            previous,
        }),
        None => Ok(()),
    }
}

/// Implements O-03…O-06: a receipt, signature or payment is not dated before the fact it answers
/// (the registry's or act's submission, the act's receipt, the act's signature). A command whose
/// fact is missing is left to the stage checks.
fn check_facts_order(
    state: &PeriodState,
    command: &PeriodCommand,
    period: ReportingPeriod,
) -> Result<(), DomainError> {
    let act = || {
        state
            .act
            .as_ref()
            .map(|act| format!("act \"{}\" of period {period}", act.act_no))
            .unwrap_or_else(|| format!("period {period}"))
    };
    let (rule, object, earlier, later) = match command {
        PeriodCommand::ReceiveRegistry(command) => {
            let Some(registry) = &state.registry else {
                return Ok(());
            };
            let object = format!("registry \"{}\" of period {period}", registry.registry_no);
            (
                order::REGISTRY_SUBMITTED_BEFORE_RECEIVED,
                object,
                Some(registry.submitted_at),
                command.received_at,
            )
        }
        PeriodCommand::ReceivePaymentAct(command) => (
            order::ACT_SUBMITTED_BEFORE_RECEIVED,
            act(),
            state.act.as_ref().map(|act| act.submitted_at),
            command.received_at,
        ),
        PeriodCommand::SignPaymentAct(command) => (
            order::ACT_RECEIVED_BEFORE_SIGNED,
            act(),
            state.act_received_at,
            command.signed_at,
        ),
        PeriodCommand::MakePayment(command) => (
            order::ACT_SIGNED_BEFORE_PAID,
            act(),
            state.signed.as_ref().map(|signed| signed.signed_at),
            command.paid_at,
        ),
        _ => return Ok(()),
    };
    let Some(earlier) = earlier else {
        return Ok(());
    };
    order::check(
        &rule,
        Jurisdiction::KZ,
        || object,
        When::At(earlier),
        When::At(later),
    )
}

/// Decides a period command. A refusal appends nothing.
pub fn decide(
    state: &PeriodState,
    command: PeriodCommand,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    if let Some(period) = state.period {
        assert_eq!(
            period, ctx.period,
            "the context's period is the stream's period"
        );
    }
    check_facts_order(state, &command, ctx.period)?;
    check_step_order(
        command.step_at(),
        state.last_step_at,
        format!("period {}", ctx.period),
    )?;
    match command {
        PeriodCommand::RecordDispensing(command) => dispensing::record(state, *command, ctx),
        PeriodCommand::ReverseDispensing(command) => dispensing::reverse(state, command, ctx),
        PeriodCommand::SubmitRegistry(command) => registry::submit(state, command, ctx),
        PeriodCommand::ReceiveRegistry(command) => registry::receive(state, command, ctx),
        PeriodCommand::ApproveRegistry(command) => registry::approve(state, command, ctx),
        PeriodCommand::RejectRegistry(command) => registry::reject(state, command, ctx),
        PeriodCommand::SubmitPaymentAct(command) => act::submit(state, command, ctx),
        PeriodCommand::ReceivePaymentAct(command) => act::receive(state, command, ctx),
        PeriodCommand::SignPaymentAct(command) => act::sign(state, command, ctx),
        PeriodCommand::SuspendPaymentClock(command) => payment::suspend(state, command, ctx),
        PeriodCommand::ResumePaymentClock(command) => payment::resume(state, command, ctx),
        PeriodCommand::MakePayment(command) => payment::pay(state, command, ctx),
        PeriodCommand::RecordDeadlineBreach(command) => record_breach(state, &command, ctx),
    }
}

/// The period's running clock of `rule`, as a breach would be judged against it.
fn running_clock(
    state: &PeriodState,
    command: &RecordDeadlineBreach,
    ctx: &PeriodContext<'_>,
) -> Result<Option<RunningClock>, DomainError> {
    let running = |deadline: Option<Deadline>| {
        deadline.map(|deadline| RunningClock {
            deadline,
            suspended: false,
        })
    };
    Ok(match command.rule {
        ClockRule::RegistrySubmission => {
            let period = ctx.period;
            let owed = state.submissions == 0
                && ctx
                    .contract
                    .in_force_during(period.first_day(), period.last_day());
            if !owed {
                return Ok(None);
            }
            let rule_set = ctx
                .decision
                .rule_set(Jurisdiction::KZ, command.observed_at)?;
            running(Some(registry_submission_clock(
                ctx.decision.calendar,
                period.last_day(),
                rule_set.parameters.registry_due_day,
            )?))
        }
        ClockRule::RegistryReview => running(
            state
                .review
                .filter(|_| state.registry_stage == RegistryStage::Received),
        ),
        ClockRule::ActSubmission => running(
            state
                .approved
                .as_ref()
                .filter(|_| state.act_stage == ActStage::None)
                .and_then(|approved| approved.act_submission),
        ),
        ClockRule::ActSigning => running(
            state
                .signing
                .filter(|_| state.act_stage == ActStage::Received),
        ),
        ClockRule::Payment => {
            let unpaid = state.signed.as_ref().is_some_and(|signed| {
                state
                    .paid_total
                    .is_none_or(|paid| paid.minor < signed.total.minor)
            });
            state
                .payment_deadline
                .filter(|_| unpaid)
                .map(|deadline| RunningClock {
                    deadline,
                    suspended: state.suspended.is_some(),
                })
        }
        _ => None,
    })
}

/// Implements issue #17's breach for the period clocks: D-02 (the registry, from the day the period
/// ends, whether or not anything was dispensed), D-04, A-07, D-06 and D-07. A D-02 or A-07 breach
/// raises its §29 ground with it (`breach::ground`), so a later late submission does not raise it
/// again.
fn record_breach(
    state: &PeriodState,
    command: &RecordDeadlineBreach,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let running = running_clock(state, command, ctx)?;
    let contract_id = ctx.contract.contract_id.clone().ok_or_else(|| {
        state.wrong_stage(
            command.rule.rule_id(),
            format!("period {}", ctx.period),
            "recording a breach",
            "under a contract",
        )
    })?;
    let subject = ClockSubject {
        jurisdiction: Jurisdiction::KZ,
        contract_id,
        period: Some(ctx.period),
    };
    let breach = breach::decide(running, &state.breaches, &subject, command)?;
    Ok(breach::events(breach))
}

/// Folds one period event; other events leave the state unchanged.
pub fn evolve(mut state: PeriodState, event: &Event) -> PeriodState {
    if let Event::DeadlineBreached(breached) = event {
        breach::apply(&mut state.breaches, &mut state.last_step_at, breached);
        return state;
    }
    match event {
        Event::DispensingRecorded(recorded) => dispensing::apply_recorded(&mut state, recorded),
        Event::DispensingReversed(reversed) => dispensing::apply_reversed(&mut state, reversed),
        Event::RegistrySubmitted(_)
        | Event::RegistryReceived(_)
        | Event::RegistryApproved(_)
        | Event::RegistryRejected(_) => {
            registry::apply(&mut state, event);
        }
        Event::PaymentActSubmitted(_)
        | Event::PaymentActReceived(_)
        | Event::PaymentActSigned(_) => act::apply(&mut state, event),
        Event::PaymentClockSuspended(_) | Event::PaymentClockResumed(_) | Event::PaymentMade(_) => {
            payment::apply(&mut state, event)
        }
        _ => return state,
    }
    if !matches!(
        event,
        Event::DispensingRecorded(_) | Event::DispensingReversed(_)
    ) && let Some(at) = event.occurred_at()
    {
        state.last_step_at = Some(at);
    }
    state
}

#[cfg(test)]
mod tests;
