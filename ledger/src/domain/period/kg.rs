//! The Kyrgyz settlement aggregate, beside the Kazakh period aggregate: stream
//! `period/<contract-id>/<period>` of a KG contract. It records dispensings on preferential
//! prescriptions priced by the KG policy (`domain::kg::kg_reimbursement`, S002 §33–§47).
//!
//! Why a separate aggregate and not a policy inside [`super::PeriodState`] (docs/decisions.md): the
//! Kazakh period is built around App. 1 and App. 2 (BIN, IIN, fiscal receipt, marking code, limit
//! price, BIN signatures, working-day clocks D-02…D-07), none of which exists in S002; the Kyrgyz
//! settlement has a reference book, a course dose, a retail cap, recovery offsets and report
//! deadlines set by the contract (D-13). What is truly shared is reused: the stream shape and
//! partition, [`ReportingPeriod`], the A-02 step order, `money::line_amount` (inside the KG policy)
//! and [`DomainError`].

pub mod dispensing;
pub mod events;
pub mod example;
pub mod report;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::super::breach::{self, Breaches, ClockSubject, RecordDeadlineBreach, RunningClock};
use super::super::clock::{ClockRule, Deadline, day_of_next_month_due};
use super::super::context::DecisionContext;
use super::super::contract::kg::KgContractState;
use super::super::error::DomainError;
use super::super::event::Event;
use super::super::jurisdiction::Jurisdiction;
use super::super::kg::recovery::Recoveries;
use super::super::kg::{DrugId, KgPolicy, PatientLimitSchedule, ReferenceBooks};
use super::super::money::{Currency, Money, Quantity};
use super::super::order::{self, When};
use super::super::time::Timestamp;
use super::super::values::{ContractId, DispensingId, ReportingPeriod};

pub use dispensing::{RecordKgDispensing, ReverseKgDispensing};
pub use events::{
    KgDispensingRecorded, KgDispensingReversed, KgPaymentReportApproved, KgPaymentReportRejected,
    KgPaymentReportSubmitted, KgSettlementPaid,
};
pub use report::{
    ApproveKgPaymentReport, PayKgSettlement, RejectKgPaymentReport, SubmitKgPaymentReport,
};

/// The writer's view of a patient's dispensings in *other* periods of the partition (DESIGN §3):
/// a prescription may span two months (D-11: 30 days) and the A-19 limit runs over a year. Within a
/// period the state itself answers.
pub trait KgDispensingHistory {
    /// Units already dispensed on prescription `number` of patient `pin`.
    fn dispensed_units(&self, pin: &str, number: &str) -> Option<Quantity>;
    /// Reimbursement already recorded for patient `pin` in calendar year `year`.
    fn compensated(&self, pin: &str, year: i32) -> Option<Money>;
    /// The drug prescription `number` of patient `pin` was recorded for (V-03).
    fn prescribed_drug(&self, pin: &str, number: &str) -> Option<DrugId>;
}

/// A history that knows no other period (tests, a first period).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOtherKgPeriods;

impl KgDispensingHistory for NoOtherKgPeriods {
    fn dispensed_units(&self, _pin: &str, _number: &str) -> Option<Quantity> {
        None
    }

    fn compensated(&self, _pin: &str, _year: i32) -> Option<Money> {
        None
    }

    fn prescribed_drug(&self, _pin: &str, _number: &str) -> Option<DrugId> {
        None
    }
}

/// The dispensings of the partition's *other* KG periods, as the writer keeps them: add each
/// period's folded state once (and again after it changes; a later add of the same period replaces
/// nothing, so the writer adds the periods it is not deciding in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KgPeriodHistory {
    prescriptions: BTreeMap<(String, String), Quantity>,
    compensated: BTreeMap<(String, i32), Money>,
    prescribed: BTreeMap<(String, String), DrugId>,
}

impl KgPeriodHistory {
    /// Folds another period's dispensings in.
    pub fn add(&mut self, state: &KgPeriodState) {
        for (key, drug_id) in &state.prescribed {
            self.prescribed
                .entry(key.clone())
                .or_insert_with(|| drug_id.clone());
        }
        for (key, units) in &state.prescriptions {
            self.prescriptions
                .entry(key.clone())
                .and_modify(|sum| {
                    *sum = Quantity::new(sum.value() + units.value())
                        .expect("a sum of positive quantities is positive");
                })
                .or_insert(*units);
        }
        for (key, amount) in &state.compensated {
            self.compensated
                .entry(key.clone())
                .and_modify(|sum| {
                    *sum = sum
                        .checked_add(*amount)
                        .expect("a patient's yearly compensation fits i64");
                })
                .or_insert(*amount);
        }
    }
}

impl KgPeriodHistory {
    /// Adds one recorded dispensing: what a writer that keeps the history per append (rather than per
    /// period fold) does after each append, at a cost of one dispensing (no quadratic path).
    pub fn record(&mut self, recorded: &KgDispensingRecorded) {
        let pin = recorded.prescription.patient_pin.to_string();
        let key = (pin.clone(), recorded.prescription.number.clone());
        self.prescribed
            .entry(key.clone())
            .or_insert_with(|| recorded.prescription.drug_id.clone());
        let units = recorded.reimbursement.dispensed_units;
        self.prescriptions
            .entry(key)
            .and_modify(|sum| {
                *sum = Quantity::new(sum.value() + units.value())
                    .expect("a sum of positive quantities is positive");
            })
            .or_insert(units);
        let year = chrono::Datelike::year(&recorded.dispensing.dispensed_on);
        let amount = recorded.reimbursement.reimbursement;
        self.compensated
            .entry((pin, year))
            .and_modify(|sum| {
                *sum = sum
                    .checked_add(amount)
                    .expect("a patient's yearly compensation fits i64");
            })
            .or_insert(amount);
    }

    /// Withdraws one recorded dispensing (its reversal); the prescription keeps its drug (V-03).
    pub fn withdraw(&mut self, recorded: &KgDispensingRecorded) {
        let pin = recorded.prescription.patient_pin.to_string();
        let key = (pin.clone(), recorded.prescription.number.clone());
        let units = recorded.reimbursement.dispensed_units.value();
        let left = self.prescriptions.get(&key).map(|sum| sum.value() - units);
        match left.and_then(|left| Quantity::new(left).ok()) {
            Some(left) => self.prescriptions.insert(key, left),
            None => self.prescriptions.remove(&key),
        };
        let year = chrono::Datelike::year(&recorded.dispensing.dispensed_on);
        if let Some(sum) = self.compensated.get_mut(&(pin, year)) {
            *sum = sum
                .checked_sub(recorded.reimbursement.reimbursement)
                .expect("a patient's yearly compensation fits i64");
        }
    }
}

impl KgDispensingHistory for KgPeriodHistory {
    fn dispensed_units(&self, pin: &str, number: &str) -> Option<Quantity> {
        self.prescriptions
            .get(&(pin.to_owned(), number.to_owned()))
            .copied()
    }

    fn compensated(&self, pin: &str, year: i32) -> Option<Money> {
        self.compensated.get(&(pin.to_owned(), year)).copied()
    }

    fn prescribed_drug(&self, pin: &str, number: &str) -> Option<DrugId> {
        self.prescribed
            .get(&(pin.to_owned(), number.to_owned()))
            .cloned()
    }
}

/// What a KG settlement decision needs beyond the common context.
pub struct KgPeriodContext<'a> {
    pub decision: &'a DecisionContext<'a>,
    /// The KG contract of the stream (same partition).
    pub contract: &'a KgContractState,
    /// M-10, A-28: every Reference Book published so far.
    pub books: &'a ReferenceBooks,
    /// A-19, B-05: the indicative-limit parameters by effective date.
    pub patient_limits: &'a PatientLimitSchedule,
    /// D-11, A-18, A-19: the configurable parts of the KG policy.
    pub policy: &'a KgPolicy,
    pub period: ReportingPeriod,
    pub history: &'a dyn KgDispensingHistory,
    /// the programme's recoveries (assessments and the offsets of earlier settlements),
    /// as the writer folds them; the pharmacy's are offset when its report is approved.
    pub recoveries: &'a Recoveries,
}

/// Where the period's payment report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum KgReportStage {
    #[default]
    Open,
    Submitted,
    Rejected,
    Approved,
}

/// The folded KG settlement stream. Serialisable for the writer's snapshots of long streams (issue
/// #16 §1): a change of its fields or of [`evolve`] must bump the KG period aggregate's fold version
/// (`commands::writer::KgPeriodAggregate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KgPeriodState {
    pub contract_id: Option<ContractId>,
    pub period: Option<ReportingPeriod>,
    /// The live dispensings (the report's lines).
    pub dispensings: BTreeMap<DispensingId, KgDispensingRecorded>,
    /// Dispensings withdrawn by a reversal (their ids stay taken).
    pub reversed: BTreeMap<DispensingId, KgDispensingRecorded>,
    /// (patient PIN, prescription number) → units dispensed on it in this period.
    pub prescriptions: BTreeMap<(String, String), Quantity>,
    /// (patient PIN, calendar year) → reimbursement recorded in this period.
    pub compensated: BTreeMap<(String, i32), Money>,
    /// (patient PIN, prescription number) → the drug the prescription was recorded for (V-03).
    pub prescribed: BTreeMap<(String, String), DrugId>,
    pub stage: KgReportStage,
    pub submissions: u32,
    pub report: Option<KgPaymentReportSubmitted>,
    pub approved: Option<KgPaymentReportApproved>,
    /// Σ payments so far (KGS).
    pub paid: Money,
    /// The period's clocks recorded as breached (KG_PAYMENT_REPORT, issue #17).
    pub breaches: Breaches,
    /// The instant of the latest report, review or payment step (A-02: steps come in order). The
    /// dispute window of A-27 closes at the report's submission (`report`).
    pub last_step_at: Option<Timestamp>,
}

impl Default for KgPeriodState {
    fn default() -> KgPeriodState {
        KgPeriodState {
            contract_id: None,
            period: None,
            dispensings: BTreeMap::new(),
            reversed: BTreeMap::new(),
            prescriptions: BTreeMap::new(),
            compensated: BTreeMap::new(),
            prescribed: BTreeMap::new(),
            stage: KgReportStage::Open,
            submissions: 0,
            report: None,
            approved: None,
            paid: Money::zero(Currency::KGS),
            breaches: Breaches::new(),
            last_step_at: None,
        }
    }
}

impl KgPeriodState {
    /// The dispensings in line order (dispensing time, then id).
    pub fn lines(&self) -> Vec<&KgDispensingRecorded> {
        let mut lines: Vec<&KgDispensingRecorded> = self.dispensings.values().collect();
        lines.sort_by(|a, b| {
            (a.dispensed_at, &a.dispensing_id).cmp(&(b.dispensed_at, &b.dispensing_id))
        });
        lines
    }

    pub(crate) fn wrong_stage(
        &self,
        object: String,
        action: &'static str,
        expected: &'static str,
    ) -> DomainError {
        DomainError::WrongStage {
            rule: "P-09",
            object,
            action,
            expected,
            actual: format!("at stage \"report {:?}\"", self.stage).to_lowercase(),
        }
    }
}

/// Every command of a KG settlement stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KgPeriodCommand {
    RecordDispensing(Box<RecordKgDispensing>),
    ReverseDispensing(ReverseKgDispensing),
    SubmitPaymentReport(SubmitKgPaymentReport),
    ApprovePaymentReport(ApproveKgPaymentReport),
    RejectPaymentReport(RejectKgPaymentReport),
    PaySettlement(PayKgSettlement),
    /// D-13: the payment report passed the due date the contract set.
    RecordDeadlineBreach(RecordDeadlineBreach),
}

impl KgPeriodCommand {
    /// The business time of the command (the sale, or the report, review or payment step): what
    /// the writer stamps on its events.
    pub fn at(&self) -> Timestamp {
        match self {
            KgPeriodCommand::RecordDispensing(command) => command.dispensed_at,
            KgPeriodCommand::ReverseDispensing(command) => command.reversed_at,
            KgPeriodCommand::RecordDeadlineBreach(command) => command.observed_at,
            other => other.step_at().expect("every other command is a step").0,
        }
    }

    /// The instant of a report, review or payment step; `None` for a dispensing or a reversal.
    fn step_at(&self) -> Option<(Timestamp, &'static str)> {
        match self {
            KgPeriodCommand::RecordDispensing(_)
            | KgPeriodCommand::ReverseDispensing(_)
            | KgPeriodCommand::RecordDeadlineBreach(_) => None,
            KgPeriodCommand::SubmitPaymentReport(command) => {
                Some((command.submitted_at, "submitting the report"))
            }
            KgPeriodCommand::ApprovePaymentReport(command) => {
                Some((command.approved_at, "approving the report"))
            }
            KgPeriodCommand::RejectPaymentReport(command) => {
                Some((command.rejected_at, "rejecting the report"))
            }
            KgPeriodCommand::PaySettlement(command) => Some((command.paid_at, "paying")),
        }
    }
}

/// Implements O-01, O-07, O-08 for the KG settlement: a prescription is not written after its sale,
/// a report is not reviewed before it was submitted, a settlement is not paid before the report's
/// approval. A command whose fact is missing is left to the stage checks.
fn check_facts_order(
    state: &KgPeriodState,
    command: &KgPeriodCommand,
    period: ReportingPeriod,
) -> Result<(), DomainError> {
    let report = || match &state.report {
        Some(report) => format!(
            "payment report \"{}\" of KG period {period}",
            report.report_no
        ),
        None => format!("KG period {period}"),
    };
    let (rule, object, earlier, later) = match command {
        KgPeriodCommand::RecordDispensing(command) => (
            order::PRESCRIPTION_BEFORE_DISPENSING,
            format!("dispensing \"{}\"", command.dispensing_id),
            Some(When::On(command.prescription.written_on)),
            When::At(command.dispensed_at),
        ),
        KgPeriodCommand::ApprovePaymentReport(ApproveKgPaymentReport {
            approved_at: at, ..
        })
        | KgPeriodCommand::RejectPaymentReport(RejectKgPaymentReport {
            rejected_at: at, ..
        }) => (
            order::KG_REPORT_SUBMITTED_BEFORE_REVIEWED,
            report(),
            state
                .report
                .as_ref()
                .map(|report| When::At(report.submitted_at)),
            When::At(*at),
        ),
        KgPeriodCommand::PaySettlement(command) => (
            order::KG_REPORT_APPROVED_BEFORE_PAID,
            report(),
            state
                .approved
                .as_ref()
                .map(|approved| When::At(approved.approved_at)),
            When::At(command.paid_at),
        ),
        _ => return Ok(()),
    };
    let Some(earlier) = earlier else {
        return Ok(());
    };
    order::check(&rule, Jurisdiction::KG, || object, earlier, later)
}

/// Decides a KG settlement command. A refusal appends nothing.
pub fn decide(
    state: &KgPeriodState,
    command: KgPeriodCommand,
    ctx: &KgPeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    if let Some(period) = state.period {
        assert_eq!(
            period, ctx.period,
            "the context's period is the stream's period"
        );
    }
    check_facts_order(state, &command, ctx.period)?;
    super::check_step_order(
        command.step_at(),
        state.last_step_at,
        format!("KG period {}", ctx.period),
    )?;
    match command {
        KgPeriodCommand::RecordDispensing(command) => dispensing::record(state, *command, ctx),
        KgPeriodCommand::ReverseDispensing(command) => dispensing::reverse(state, command, ctx),
        KgPeriodCommand::SubmitPaymentReport(command) => report::submit(state, command, ctx),
        KgPeriodCommand::ApprovePaymentReport(command) => report::approve(state, command, ctx),
        KgPeriodCommand::RejectPaymentReport(command) => report::reject(state, command, ctx),
        KgPeriodCommand::PaySettlement(command) => report::pay(state, command, ctx),
        KgPeriodCommand::RecordDeadlineBreach(command) => record_breach(state, &command, ctx),
    }
}

/// Implements D-13 with issue #17's breach: the KG_PAYMENT_REPORT clock of a month the contract was
/// in force in runs from the day the month ends until the first report, on the due day the contract
/// was concluded with (a contract recorded before it carried one has no such clock).
fn record_breach(
    state: &KgPeriodState,
    command: &RecordDeadlineBreach,
    ctx: &KgPeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let period = ctx.period;
    let in_force = ctx.contract.terms.iter().any(|term| {
        term.starts_on <= period.last_day()
            && term
                .ends_on
                .is_none_or(|ends_on| ends_on >= period.first_day())
    });
    let owed = command.rule == ClockRule::KgPaymentReport && state.submissions == 0 && in_force;
    let running = match ctx.contract.report_due.filter(|_| owed) {
        Some(due) => {
            let calendar = ctx.decision.calendar;
            let dates = day_of_next_month_due(calendar, period.last_day(), due.due_day).map_err(
                |source| DomainError::Calendar {
                    rule: "D-13",
                    clock: ClockRule::KgPaymentReport.name(),
                    source,
                },
            )?;
            Some(RunningClock {
                deadline: Deadline {
                    rule: ClockRule::KgPaymentReport,
                    calendar_version: calendar.version(),
                    started_on: period.last_day(),
                    due_strict: dates.strict,
                    due: dates.rolled,
                },
                suspended: false,
            })
        }
        None => None,
    };
    let contract_id = ctx.contract.contract_id.clone().ok_or_else(|| {
        state.wrong_stage(
            format!("KG period {period}"),
            "recording a breach",
            "under a KG contract",
        )
    })?;
    let subject = ClockSubject {
        jurisdiction: Jurisdiction::KG,
        contract_id,
        period: Some(period),
    };
    let breach = breach::decide(running, &state.breaches, &subject, command)?;
    Ok(breach::events(breach))
}

/// Folds one KG settlement event; other events leave the state unchanged.
pub fn evolve(mut state: KgPeriodState, event: &Event) -> KgPeriodState {
    if let Event::DeadlineBreached(breached) = event {
        breach::apply(&mut state.breaches, &mut state.last_step_at, breached);
        return state;
    }
    match event {
        Event::KgDispensingRecorded(recorded) => {
            dispensing::apply_recorded(&mut state, recorded);
            return state;
        }
        Event::KgDispensingReversed(reversed) => {
            dispensing::apply_reversed(&mut state, reversed);
            return state;
        }
        Event::KgPaymentReportSubmitted(_)
        | Event::KgPaymentReportApproved(_)
        | Event::KgPaymentReportRejected(_)
        | Event::KgSettlementPaid(_) => report::apply(&mut state, event),
        _ => return state,
    }
    if let Some(at) = event.occurred_at() {
        state.last_step_at = Some(at);
    }
    state
}

#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod tests;
