//! Recording a Kyrgyz dispensing (E-11, D-11, M-10…M-19, R-03, A-16…A-19, C-10): the engine's side
//! of `kg::kg_reimbursement`, which holds the pricing law.

use chrono::Datelike;
use serde::{Deserialize, Serialize};

use super::events::{KgDispensingRecorded, KgDispensingReversed};
use super::{KgPeriodContext, KgPeriodState, KgReportStage};
use crate::domain::context::local_date;
use crate::domain::error::DomainError;
use crate::domain::event::Event;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::kg::{
    KgDispensing, KgError, KgPrescription, KgReimbursementInput, kg_reimbursement,
};
use crate::domain::money::{Currency, Money, Quantity};
use crate::domain::time::Timestamp;
use crate::domain::values::DispensingId;

/// E-11, P-10: a sale on a preferential prescription as the KG information system reports it, keyed
/// by the patient's PIN and the prescription number (any region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordKgDispensing {
    pub dispensing_id: DispensingId,
    pub dispensed_at: Timestamp,
    pub prescription: KgPrescription,
    pub dispensing: KgDispensing,
}

/// P-09: withdraw a dispensing from the claim before the report is fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseKgDispensing {
    pub dispensing_id: DispensingId,
    pub reversed_at: Timestamp,
    pub reason: String,
}

fn refuse(dispensing_id: &DispensingId, rule: &'static str, reason: String) -> DomainError {
    DomainError::NotReimbursable {
        rule,
        dispensing: dispensing_id.to_string(),
        reason,
    }
}

/// A KG policy refusal as the engine's typed refusal, keeping the policy's rule ID and message.
fn policy_refusal(dispensing_id: &DispensingId, error: &KgError) -> DomainError {
    let rule = error.rule();
    let message = error.to_string();
    let reason = message
        .strip_suffix(&format!(" ({rule})"))
        .unwrap_or(&message)
        .to_owned();
    refuse(dispensing_id, rule, reason)
}

/// Implements P-09: the lines change only while the report is open or rejected (a submitted report
/// is fixed by its hash).
fn check_open(
    state: &KgPeriodState,
    ctx: &KgPeriodContext<'_>,
    action: &'static str,
) -> Result<(), DomainError> {
    if matches!(state.stage, KgReportStage::Open | KgReportStage::Rejected) {
        Ok(())
    } else {
        Err(state.wrong_stage(
            format!("KG period {}", ctx.period),
            action,
            "open or rejected (a submitted report is fixed)",
        ))
    }
}

/// Implements P-09, P-10: the sale belongs to this monthly period, its date is the local date of the
/// instant reported, and it is recorded once.
fn check_sale(
    state: &KgPeriodState,
    command: &RecordKgDispensing,
    ctx: &KgPeriodContext<'_>,
) -> Result<(), DomainError> {
    let id = &command.dispensing_id;
    if state.dispensings.contains_key(id) || state.reversed.contains_key(id) {
        return Err(refuse(
            id,
            "P-10",
            "a dispensing with this id is already recorded".to_owned(),
        ));
    }
    let date = local_date(Jurisdiction::KG, command.dispensed_at);
    if command.dispensing.dispensed_on != date {
        return Err(refuse(
            id,
            "P-10",
            format!(
                "the sale is dated {} but was reported at {} (local date {date})",
                command.dispensing.dispensed_on, command.dispensed_at
            ),
        ));
    }
    if !ctx.period.contains(date) {
        return Err(refuse(
            id,
            "P-09",
            format!(
                "dispensed on {date}, outside reporting period {}",
                ctx.period
            ),
        ));
    }
    Ok(())
}

/// Implements V-03 (S002 §18): one preferential prescription is written per drug name of the
/// Reference Book, so a prescription stands for one drug. The text is ambiguous about what the ledger
/// can check: it sees prescriptions only through dispensings, so it enforces the consequence it can
/// see: a patient's prescription number is never cited for two different prescribed drugs (in this
/// period or, through the writer's history, another).
fn check_one_drug(
    state: &KgPeriodState,
    command: &RecordKgDispensing,
    ctx: &KgPeriodContext<'_>,
) -> Result<(), DomainError> {
    let prescription = &command.prescription;
    let pin = prescription.patient_pin.as_str();
    let key = (pin.to_owned(), prescription.number.clone());
    let earlier = state
        .prescribed
        .get(&key)
        .cloned()
        .or_else(|| ctx.history.prescribed_drug(pin, &prescription.number));
    match earlier {
        Some(drug_id) if drug_id != prescription.drug_id => Err(refuse(
            &command.dispensing_id,
            "V-03",
            format!(
                "prescription \"{}\" of patient {pin} was recorded for drug \"{drug_id}\"; one preferential prescription names one drug, not also \"{}\"",
                prescription.number, prescription.drug_id
            ),
        )),
        _ => Ok(()),
    }
}

/// Units already dispensed on the prescription, in this period and in others.
fn prior_units(
    state: &KgPeriodState,
    prescription: &KgPrescription,
    ctx: &KgPeriodContext<'_>,
) -> Option<Quantity> {
    let key = (
        prescription.patient_pin.to_string(),
        prescription.number.clone(),
    );
    let here = state.prescriptions.get(&key).copied();
    let elsewhere = ctx
        .history
        .dispensed_units(prescription.patient_pin.as_str(), &prescription.number);
    match (here, elsewhere) {
        (Some(here), Some(elsewhere)) => Some(
            Quantity::new(here.value() + elsewhere.value())
                .expect("a sum of positive quantities is positive"),
        ),
        (here, elsewhere) => here.or(elsewhere),
    }
}

/// Reimbursement already recorded for the patient in the dispensing's calendar year.
fn compensated_this_year(
    state: &KgPeriodState,
    command: &RecordKgDispensing,
    ctx: &KgPeriodContext<'_>,
) -> Result<Money, DomainError> {
    let pin = command.prescription.patient_pin.as_str();
    let year = command.dispensing.dispensed_on.year();
    let zero = Money::zero(Currency::KGS);
    let here = state
        .compensated
        .get(&(pin.to_owned(), year))
        .copied()
        .unwrap_or(zero);
    let elsewhere = ctx.history.compensated(pin, year).unwrap_or(zero);
    here.checked_add(elsewhere)
        .map_err(|error| DomainError::money("A-19", format!("patient {pin} compensation"), error))
}

/// Decides a KG dispensing: the sale's own checks, then the KG policy, then one
/// `KgDispensingRecorded` carrying every fact it was decided on.
pub fn record(
    state: &KgPeriodState,
    command: RecordKgDispensing,
    ctx: &KgPeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    check_open(state, ctx, "recording a dispensing")?;
    let id = &command.dispensing_id;
    let contract_id = ctx.contract.contract_id.clone().ok_or_else(|| {
        refuse(
            id,
            "E-09",
            "dispensing happens only in a pharmacy with an MHIF contract, and none exists"
                .to_owned(),
        )
    })?;
    check_sale(state, &command, ctx)?;
    check_one_drug(state, &command, ctx)?;
    let rule_set = ctx
        .decision
        .rule_set(Jurisdiction::KG, command.dispensed_at)?;
    let input = KgReimbursementInput {
        books: ctx.books,
        contract_terms: &ctx.contract.terms,
        prescription: &command.prescription,
        dispensing: &command.dispensing,
        prior_dispensed_units: prior_units(state, &command.prescription, ctx),
        patient_limits: ctx.patient_limits,
        patient_compensated_this_year: compensated_this_year(state, &command, ctx)?,
        policy: ctx.policy,
    };
    let reimbursement = kg_reimbursement(input).map_err(|error| policy_refusal(id, &error))?;
    assert_eq!(
        reimbursement.reimbursement.currency,
        Currency::KGS,
        "KG money is KGS"
    );
    Ok(vec![Event::KgDispensingRecorded(KgDispensingRecorded {
        contract_id,
        period: ctx.period,
        dispensing_id: command.dispensing_id,
        dispensed_at: command.dispensed_at,
        prescription: command.prescription,
        dispensing: command.dispensing,
        reimbursement,
        rule_set_version: rule_set.version,
    })])
}

/// Implements P-09: a live dispensing is withdrawn while the report is open or rejected; its units
/// and compensation leave the prescription's and the patient's counts.
pub fn reverse(
    state: &KgPeriodState,
    command: ReverseKgDispensing,
    ctx: &KgPeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    check_open(state, ctx, "reversing a dispensing")?;
    let recorded = state
        .dispensings
        .get(&command.dispensing_id)
        .ok_or_else(|| DomainError::WrongStage {
            rule: "P-09",
            object: format!("dispensing \"{}\"", command.dispensing_id),
            action: "reversing",
            expected: "recorded and not reversed",
            actual: "unknown or already reversed".to_owned(),
        })?;
    Ok(vec![Event::KgDispensingReversed(KgDispensingReversed {
        contract_id: recorded.contract_id.clone(),
        period: ctx.period,
        dispensing_id: command.dispensing_id,
        reversed_at: command.reversed_at,
        reason: command.reason,
        reimbursement: recorded.reimbursement.reimbursement,
    })])
}

pub(super) fn apply_reversed(state: &mut KgPeriodState, reversed: &KgDispensingReversed) {
    let Some(recorded) = state.dispensings.remove(&reversed.dispensing_id) else {
        return;
    };
    let pin = recorded.prescription.patient_pin.to_string();
    let key = (pin.clone(), recorded.prescription.number.clone());
    let units = recorded.reimbursement.dispensed_units.value();
    let left = state.prescriptions.get(&key).map(|sum| sum.value() - units);
    match left.and_then(|left| Quantity::new(left).ok()) {
        Some(left) => state.prescriptions.insert(key, left),
        None => state.prescriptions.remove(&key),
    };
    let year = recorded.dispensing.dispensed_on.year();
    if let Some(sum) = state.compensated.get_mut(&(pin, year)) {
        *sum = sum
            .checked_sub(recorded.reimbursement.reimbursement)
            .expect("a patient's yearly compensation fits i64");
    }
    state
        .reversed
        .insert(reversed.dispensing_id.clone(), recorded);
}

pub(super) fn apply_recorded(state: &mut KgPeriodState, recorded: &KgDispensingRecorded) {
    state
        .contract_id
        .get_or_insert_with(|| recorded.contract_id.clone());
    state.period.get_or_insert(recorded.period);
    let pin = recorded.prescription.patient_pin.to_string();
    let units = recorded.reimbursement.dispensed_units;
    state
        .prescriptions
        .entry((pin.clone(), recorded.prescription.number.clone()))
        .and_modify(|sum| {
            *sum = Quantity::new(sum.value() + units.value())
                .expect("a sum of positive quantities is positive");
        })
        .or_insert(units);
    let year = recorded.dispensing.dispensed_on.year();
    let reimbursed = recorded.reimbursement.reimbursement;
    state
        .compensated
        .entry((pin, year))
        .and_modify(|sum| {
            *sum = sum
                .checked_add(reimbursed)
                .expect("a patient's yearly compensation fits i64");
        })
        .or_insert(reimbursed);
    state
        .prescribed
        .entry((
            recorded.prescription.patient_pin.to_string(),
            recorded.prescription.number.clone(),
        ))
        .or_insert_with(|| recorded.prescription.drug_id.clone());
    state
        .dispensings
        .insert(recorded.dispensing_id.clone(), recorded.clone());
}
