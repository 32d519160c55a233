//! The summary registry (App. 1): submission by the 25th (D-02, D-03, A-04, A-05), receipt and review
//! within 10 WD (D-04), approval or rejection with per-line reasons (A-06, P-07).

use chrono::NaiveDate;

use crate::domain::clock::ClockRule;
use crate::domain::context::local_date;
use crate::domain::contract::events::{RuleFinding, TerminationGround, TerminationGroundDetected};
use crate::domain::deadline::{is_late, registry_submission_clock, working_day_clock};
use crate::domain::error::DomainError;
use crate::domain::event::Event;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::money::{Currency, Money};
use crate::domain::signature::{Signature, SignedBy, verify};
use crate::domain::time::Timestamp;
use crate::domain::values::{DocumentHash, DocumentNumber};

use super::events::{
    LineRejection, RegistryApproved, RegistryLine, RegistryReceived, RegistryRejected,
    RegistrySubmitted,
};
use super::{PeriodContext, PeriodState, REGISTRY_LINES_MAX, RegistryStage};

/// D-02: the holder submits the registry of the period, signed.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SubmitRegistry {
    pub registry_no: DocumentNumber,
    pub submitted_at: Timestamp,
    pub signature: SignedBy,
}

/// D-04: the Fund received the submitted registry.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ReceiveRegistry {
    pub received_at: Timestamp,
}

/// D-04: the Fund approves the registry as submitted, signed.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ApproveRegistry {
    pub approved_at: Timestamp,
    pub signature: SignedBy,
}

/// the Fund rejects the whole registry with per-line reasons.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct RejectRegistry {
    pub rejected_at: Timestamp,
    pub reason: String,
    pub lines: Vec<LineRejection>,
}

/// Builds the App. 1 lines from the live dispensings, numbered from 1.
pub fn registry_lines(state: &PeriodState) -> Vec<RegistryLine> {
    state
        .live_dispensings()
        .into_iter()
        .zip(1u32..)
        .map(|(recorded, line_no)| RegistryLine {
            line_no,
            dispensing_id: recorded.dispensing_id.clone(),
            dispenser_name: recorded.dispenser_name.clone(),
            dispenser_bin: recorded.dispenser_bin,
            region: recorded.region,
            programme: recorded.programme,
            icd10: recorded.icd10.clone(),
            patient_iin: recorded.patient_iin,
            prescription: recorded.prescription.clone(),
            product: recorded.product.clone(),
            trade_name: recorded.trade_name.clone(),
            unit: recorded.unit.clone(),
            limit_unit_price: recorded.limit_unit_price,
            fiscal_receipt: recorded.fiscal_receipt.clone(),
            marking_code: recorded.marking_code.clone(),
            fund_amount: recorded.amounts.fund,
            patient_amount: recorded.amounts.patient,
            total_amount: recorded.amounts.total,
        })
        .collect()
}

fn column_sum(
    lines: &[RegistryLine],
    column: impl Fn(&RegistryLine) -> &Money,
) -> Result<Money, DomainError> {
    Money::sum(Currency::KZT, lines.iter().map(column))
        .map_err(|error| DomainError::money("A-11", "registry total", error))
}

/// D-02, C-04 (§22), A-06: a late registry is a termination ground for human review.
fn late_ground(
    ctx: &PeriodContext<'_>,
    command: &SubmitRegistry,
    submission: u32,
    due: NaiveDate,
) -> Event {
    let submitted_on = local_date(Jurisdiction::KZ, command.submitted_at);
    let detail = format!(
        "registry \"{}\" (submission {submission}) was submitted on {submitted_on}; D-02 allows until {due}",
        command.registry_no
    );
    Event::TerminationGroundDetected(TerminationGroundDetected {
        contract_id: ctx
            .contract
            .contract_id
            .clone()
            .expect("a period belongs to a contract"),
        detected_at: command.submitted_at,
        ground: TerminationGround::RegistrySubmission,
        finding: RuleFinding {
            rule: "D-02".to_owned(),
            detail,
        },
    })
}

/// The registry content as submitted: lines, their hash, and the holder's signature over it (S-03).
fn signed_content(
    state: &PeriodState,
    command: &SubmitRegistry,
    ctx: &PeriodContext<'_>,
) -> Result<(Vec<RegistryLine>, DocumentHash, Signature), DomainError> {
    if !matches!(
        state.registry_stage,
        RegistryStage::Open | RegistryStage::Rejected
    ) {
        return Err(state.wrong_stage(
            "A-06",
            format!("registry \"{}\"", command.registry_no),
            "submitting",
            "open or rejected",
        ));
    }
    let concluded = ctx.contract.concluded_at.and(ctx.contract.holder());
    let holder = concluded.ok_or_else(|| {
        state.wrong_stage(
            "C-02",
            "period".to_owned(),
            "submitting a registry",
            "under a concluded contract",
        )
    })?;
    let lines = registry_lines(state);
    assert!(
        lines.len() <= REGISTRY_LINES_MAX,
        "registry exceeds REGISTRY_LINES_MAX"
    );
    let content_hash = DocumentHash::of(&lines);
    let document = format!("registry \"{}\"", command.registry_no);
    let signature = verify(
        ctx.decision.signatures,
        &document,
        &command.signature,
        holder,
        content_hash,
        command.submitted_at,
    )?;
    Ok((lines, content_hash, signature))
}

/// Implements D-02, D-03, A-04, A-05, A-06, A-11, M-07: fixes the content by hash, judges lateness on
/// the first submission and flags a late one as a §22 ground (never an automatic termination), unless
/// the D-02 breach already raised it.
pub fn submit(
    state: &PeriodState,
    command: SubmitRegistry,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let (lines, content_hash, signature) = signed_content(state, &command, ctx)?;
    let contract_id = ctx
        .contract
        .contract_id
        .clone()
        .expect("a contract with a holder has an id");
    let rule_set = ctx
        .decision
        .rule_set(Jurisdiction::KZ, command.submitted_at)?;
    let due = registry_submission_clock(
        ctx.decision.calendar,
        ctx.period.last_day(),
        rule_set.parameters.registry_due_day,
    )?;
    let late_now = is_late(&due, Jurisdiction::KZ, command.submitted_at);
    let submission = state.submissions + 1;
    let late = state.first_submission_late.unwrap_or(late_now);
    let (total_fund, total_patient, total) = (
        column_sum(&lines, |line| &line.fund_amount)?,
        column_sum(&lines, |line| &line.patient_amount)?,
        column_sum(&lines, |line| &line.total_amount)?,
    );
    assert_eq!(
        total_fund.minor + total_patient.minor,
        total.minor,
        "M-07 holds for the sums"
    );
    // A D-02 breach recorded while nothing was submitted already raised the §22 ground for the
    // first submission's lateness (C-04, A-06): it is raised once.
    let breach_raised = state
        .breaches
        .iter()
        .any(|(rule, _)| *rule == ClockRule::RegistrySubmission);
    let flag = late_now
        && if submission == 1 {
            !breach_raised
        } else {
            rule_set.parameters.flag_late_resubmission
        };
    let ground = flag.then(|| late_ground(ctx, &command, submission, due.due));
    let submitted = Event::RegistrySubmitted(RegistrySubmitted {
        contract_id,
        period: ctx.period,
        registry_no: command.registry_no,
        submitted_at: command.submitted_at,
        submission,
        line_count: u32::try_from(lines.len()).expect("lines ≤ REGISTRY_LINES_MAX"),
        content_hash,
        total_fund,
        total_patient,
        total,
        due,
        late,
        signature,
    });
    Ok(std::iter::once(submitted).chain(ground).collect())
}

/// Implements D-04, A-02, A-06: receipt starts a fresh REGISTRY_REVIEW clock (10 WD).
pub fn receive(
    state: &PeriodState,
    command: ReceiveRegistry,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let registry = match (&state.registry, state.registry_stage) {
        (Some(registry), RegistryStage::Submitted) => registry,
        _ => {
            return Err(state.wrong_stage(
                "D-04",
                format!("period {}", ctx.period),
                "receiving the registry",
                "submitted",
            ));
        }
    };
    // a receipt dated before the submission is refused by `period::decide` (OutOfOrder).
    let rule_set = ctx
        .decision
        .rule_set(Jurisdiction::KZ, command.received_at)?;
    let review = working_day_clock(
        ctx.decision.calendar,
        &rule_set.parameters,
        ClockRule::RegistryReview,
        "D-04",
        command.received_at,
        rule_set.parameters.registry_review,
    )?;
    Ok(vec![Event::RegistryReceived(RegistryReceived {
        contract_id: registry.contract_id.clone(),
        period: ctx.period,
        registry_no: registry.registry_no.clone(),
        content_hash: registry.content_hash,
        received_at: command.received_at,
        review,
    })])
}

fn received(
    state: &PeriodState,
    ctx: &PeriodContext<'_>,
    action: &'static str,
) -> Result<RegistrySubmitted, DomainError> {
    match (&state.registry, state.registry_stage) {
        (Some(registry), RegistryStage::Received) => Ok(registry.clone()),
        _ => Err(state.wrong_stage("D-04", format!("period {}", ctx.period), action, "received")),
    }
}

/// Implements D-04, D-05, A-06, A-07: approval of the content as submitted, signed by the Fund; starts
/// the optional ACT_SUBMISSION clock.
pub fn approve(
    state: &PeriodState,
    command: ApproveRegistry,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let registry = received(state, ctx, "approving the registry")?;
    let document = format!("approval of registry \"{}\"", registry.registry_no);
    let signature = verify(
        ctx.decision.signatures,
        &document,
        &command.signature,
        ctx.decision.fund_bin,
        registry.content_hash,
        command.approved_at,
    )?;
    let rule_set = ctx
        .decision
        .rule_set(Jurisdiction::KZ, command.approved_at)?;
    let act_submission = match rule_set.parameters.act_submission_grace {
        Some(grace) => Some(working_day_clock(
            ctx.decision.calendar,
            &rule_set.parameters,
            ClockRule::ActSubmission,
            "A-07",
            command.approved_at,
            grace,
        )?),
        None => None,
    };
    Ok(vec![Event::RegistryApproved(RegistryApproved {
        contract_id: registry.contract_id,
        period: ctx.period,
        registry_no: registry.registry_no,
        content_hash: registry.content_hash,
        approved_at: command.approved_at,
        total_fund: registry.total_fund,
        act_submission,
        signature,
    })])
}

/// Implements A-06, P-07: a whole-document rejection with a reason and per-line codes.
pub fn reject(
    state: &PeriodState,
    command: RejectRegistry,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let registry = received(state, ctx, "rejecting the registry")?;
    if command.reason.trim().is_empty() {
        return Err(state.wrong_stage(
            "A-06",
            format!("rejection of registry \"{}\"", registry.registry_no),
            "rejecting",
            "with a reason",
        ));
    }
    let line_count = registry.line_count;
    if let Some(bad) = command
        .lines
        .iter()
        .find(|line| line.line_no == 0 || line.line_no > line_count)
    {
        return Err(DomainError::Line {
            rule: "A-06",
            document: "registry",
            line: bad.line_no,
            detail: format!(
                "a rejection reason names a line the registry does not have (it has {line_count})"
            ),
        });
    }
    Ok(vec![Event::RegistryRejected(RegistryRejected {
        contract_id: registry.contract_id,
        period: ctx.period,
        registry_no: registry.registry_no,
        content_hash: registry.content_hash,
        rejected_at: command.rejected_at,
        reason: command.reason,
        lines: command.lines,
    })])
}

pub(super) fn apply(state: &mut PeriodState, event: &Event) {
    match event {
        Event::RegistrySubmitted(submitted) => {
            state
                .contract_id
                .get_or_insert_with(|| submitted.contract_id.clone());
            state.period.get_or_insert(submitted.period);
            state.registry_stage = RegistryStage::Submitted;
            state.submissions = submitted.submission;
            state.first_submission_late.get_or_insert(submitted.late);
            state.registry = Some(submitted.clone());
        }
        Event::RegistryReceived(received) => {
            state.registry_stage = RegistryStage::Received;
            state.review = Some(received.review);
        }
        Event::RegistryApproved(approved) => {
            state.registry_stage = RegistryStage::Approved;
            state.approved = Some(approved.clone());
        }
        Event::RegistryRejected(_) => state.registry_stage = RegistryStage::Rejected,
        _ => {}
    }
}
