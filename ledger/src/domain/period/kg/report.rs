//! The Kyrgyz settlement of a period (S002 §45, §47, §51–§52): the pharmacy's monthly payment report
//! is submitted after the period (D-13), reviewed by the MHIF (approved, or rejected with reasons for
//! a corrected resubmission), approved with the recovery offsets of R-04 deducted, and paid up
//! to the net payable (P-09).

use serde::{Deserialize, Serialize};

use super::events::{
    KgPaymentReportApproved, KgPaymentReportRejected, KgPaymentReportSubmitted, KgSettlementPaid,
};
use super::{KgPeriodContext, KgPeriodState, KgReportStage};
use crate::domain::context::local_date;
use crate::domain::error::DomainError;
use crate::domain::event::Event;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::kg::recovery::{self, RecoveryEvent};
use crate::domain::money::{Currency, Money};
use crate::domain::time::Timestamp;
use crate::domain::values::{DocumentHash, DocumentNumber};

/// P-09, D-13: the pharmacy submits its monthly payment report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitKgPaymentReport {
    pub report_no: DocumentNumber,
    pub submitted_at: Timestamp,
}

/// P-09, R-04: the MHIF approves the report it reviewed (named by its content hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveKgPaymentReport {
    pub content_hash: DocumentHash,
    pub approved_at: Timestamp,
}

/// The MHIF sends the report back with its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectKgPaymentReport {
    pub rejected_at: Timestamp,
    pub reasons: Vec<String>,
}

/// P-09: a transfer against the approved net payable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayKgSettlement {
    pub payment_order: DocumentNumber,
    pub paid_at: Timestamp,
    pub amount: Money,
}

fn object(ctx: &KgPeriodContext<'_>) -> String {
    format!("KG period {}", ctx.period)
}

fn money_error(subject: &str) -> impl Fn(crate::domain::money::MoneyError) -> DomainError + '_ {
    move |error| DomainError::money("P-09", subject, error)
}

/// The report's totals: Σ reimbursement, Σ retail, Σ patient paid (KGS).
fn totals(state: &KgPeriodState) -> Result<[Money; 3], DomainError> {
    let lines = state.lines();
    let sum = |pick: fn(&super::KgDispensingRecorded) -> Money| {
        let amounts: Vec<Money> = lines.iter().map(|line| pick(line)).collect();
        Money::sum(Currency::KGS, &amounts).map_err(money_error("report total"))
    };
    Ok([
        sum(|line| line.reimbursement.reimbursement)?,
        sum(|line| line.reimbursement.retail_total)?,
        sum(|line| line.reimbursement.patient_paid)?,
    ])
}

/// The hash that fixes the report's content: the codec bytes of its lines in line order.
pub fn content_hash(state: &KgPeriodState) -> DocumentHash {
    DocumentHash::of(&state.lines())
}

/// Implements P-09 and D-13: a report covers a finished period (reports are submitted after the
/// period ends; the deadline itself is set by the contract, D-13, and is not modelled here), from an
/// open or rejected stage; its content is then fixed by hash.
pub fn submit(
    state: &KgPeriodState,
    command: SubmitKgPaymentReport,
    ctx: &KgPeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    if !matches!(state.stage, KgReportStage::Open | KgReportStage::Rejected) {
        return Err(state.wrong_stage(object(ctx), "submitting the report", "open or rejected"));
    }
    let contract_id = ctx.contract.contract_id.clone().ok_or_else(|| {
        state.wrong_stage(
            object(ctx),
            "submitting the report",
            "under a concluded KG contract",
        )
    })?;
    let submitted_on = local_date(Jurisdiction::KG, command.submitted_at);
    if submitted_on <= ctx.period.last_day() {
        return Err(DomainError::WrongStage {
            rule: "D-13",
            object: object(ctx),
            action: "submitting the payment report",
            expected: "after the period ends",
            actual: format!(
                "running on {submitted_on}, through {}",
                ctx.period.last_day()
            ),
        });
    }
    let [total_reimbursement, total_retail, total_patient_paid] = totals(state)?;
    let line_count = u32::try_from(state.dispensings.len()).expect("a report has < 2^32 lines");
    Ok(vec![Event::KgPaymentReportSubmitted(
        KgPaymentReportSubmitted {
            contract_id,
            period: ctx.period,
            report_no: command.report_no,
            submitted_at: command.submitted_at,
            submission: state.submissions + 1,
            line_count,
            content_hash: content_hash(state),
            total_reimbursement,
            total_retail,
            total_patient_paid,
        },
    )])
}

fn submitted<'a>(
    state: &'a KgPeriodState,
    ctx: &KgPeriodContext<'_>,
    action: &'static str,
) -> Result<&'a KgPaymentReportSubmitted, DomainError> {
    match (&state.report, state.stage) {
        (Some(report), KgReportStage::Submitted) => Ok(report),
        _ => Err(state.wrong_stage(object(ctx), action, "submitted")),
    }
}

/// Implements P-09, R-04 and A-26: approval of the reviewed report; the pharmacy's outstanding
/// recoveries are offset against its gross (oldest first, never below zero), each `RecoveryOffset`
/// citing its inspection act; R-01 debts (owed by the prescriber) are never offset here.
pub fn approve(
    state: &KgPeriodState,
    command: ApproveKgPaymentReport,
    ctx: &KgPeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let report = submitted(state, ctx, "approving the report")?;
    if command.content_hash != report.content_hash {
        return Err(DomainError::AmountMismatch {
            rule: "P-09",
            subject: format!("payment report \"{}\"", report.report_no),
            detail: format!(
                "approval names content {} but the submitted report is {}",
                command.content_hash, report.content_hash
            ),
        });
    }
    let pharmacy = ctx
        .contract
        .applicant
        .as_ref()
        .expect("a contract with a report has an applicant")
        .to_string();
    let settlement_ref = format!("{}/{}", report.contract_id, ctx.period.key());
    let approved_on = local_date(Jurisdiction::KG, command.approved_at);
    let offsets = recovery::plan_offsets(
        ctx.recoveries,
        &pharmacy,
        &settlement_ref,
        report.total_reimbursement,
        approved_on,
    )
    .map_err(|error| DomainError::WrongStage {
        rule: error.rule(),
        object: format!("settlement \"{settlement_ref}\""),
        action: "offsetting recoveries",
        expected: "not yet offset, with a valid KGS gross",
        actual: error.to_string(),
    })?;
    let offset_amounts: Vec<Money> = offsets
        .iter()
        .filter_map(|event| match event {
            RecoveryEvent::RecoveryOffset(offset) => Some(offset.amount),
            RecoveryEvent::RecoveryAssessed(_) => None,
        })
        .collect();
    let offset_total =
        Money::sum(Currency::KGS, &offset_amounts).map_err(money_error("offsets"))?;
    let net_payable = report
        .total_reimbursement
        .checked_sub(offset_total)
        .map_err(money_error("net payable"))?;
    assert!(
        !net_payable.is_negative(),
        "R-04: offsets never exceed the gross"
    );
    let mut events = vec![Event::KgPaymentReportApproved(KgPaymentReportApproved {
        contract_id: report.contract_id.clone(),
        period: ctx.period,
        report_no: report.report_no.clone(),
        content_hash: report.content_hash,
        approved_at: command.approved_at,
        gross: report.total_reimbursement,
        offset_total,
        net_payable,
    })];
    events.extend(offsets.into_iter().map(Event::from));
    Ok(events)
}

/// The MHIF's review found faults: the report goes back with reasons and the stream reopens for
/// corrections (new dispensings) and a resubmission.
pub fn reject(
    state: &KgPeriodState,
    command: RejectKgPaymentReport,
    ctx: &KgPeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let report = submitted(state, ctx, "rejecting the report")?;
    if command
        .reasons
        .iter()
        .all(|reason| reason.trim().is_empty())
    {
        return Err(state.wrong_stage(
            object(ctx),
            "rejecting the report without reasons",
            "rejected with reasons",
        ));
    }
    Ok(vec![Event::KgPaymentReportRejected(
        KgPaymentReportRejected {
            contract_id: report.contract_id.clone(),
            period: ctx.period,
            report_no: report.report_no.clone(),
            rejected_at: command.rejected_at,
            reasons: command.reasons,
        },
    )])
}

/// Implements P-09: payments in KGS, each positive, never above the approved net payable in total.
pub fn pay(
    state: &KgPeriodState,
    command: PayKgSettlement,
    ctx: &KgPeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let Some(approved) = state
        .approved
        .as_ref()
        .filter(|_| state.stage == KgReportStage::Approved)
    else {
        return Err(state.wrong_stage(object(ctx), "paying", "approved"));
    };
    if command.amount.currency != Currency::KGS || command.amount.minor <= 0 {
        return Err(DomainError::AmountMismatch {
            rule: "P-09",
            subject: format!("payment order \"{}\"", command.payment_order),
            detail: format!("amount {} must be a positive KGS amount", command.amount),
        });
    }
    let paid_after = state
        .paid
        .checked_add(command.amount)
        .map_err(money_error("paid total"))?;
    if paid_after.minor > approved.net_payable.minor {
        return Err(DomainError::Overpayment {
            rule: "P-09",
            scope: object(ctx),
            attempted: command.amount.to_string(),
            paid: state.paid.to_string(),
            total: approved.net_payable.to_string(),
        });
    }
    Ok(vec![Event::KgSettlementPaid(KgSettlementPaid {
        contract_id: approved.contract_id.clone(),
        period: ctx.period,
        payment_order: command.payment_order,
        paid_at: command.paid_at,
        amount: command.amount,
    })])
}

/// Folds the report, review and payment facts.
pub(super) fn apply(state: &mut KgPeriodState, event: &Event) {
    match event {
        Event::KgPaymentReportSubmitted(submitted) => {
            state.stage = KgReportStage::Submitted;
            state.submissions = submitted.submission;
            state.report = Some(submitted.clone());
        }
        Event::KgPaymentReportApproved(approved) => {
            state.stage = KgReportStage::Approved;
            state.approved = Some(approved.clone());
        }
        Event::KgPaymentReportRejected(_) => state.stage = KgReportStage::Rejected,
        Event::KgSettlementPaid(paid) => {
            state.paid = state
                .paid
                .checked_add(paid.amount)
                .expect("payments never exceed the net payable");
        }
        _ => {}
    }
}
