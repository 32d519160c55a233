//! The payment act (App. 2): sent after approval (D-05, A-07), one row per region, received and
//! signed within 5 WD (D-06), signature starting the 5 CD PAYMENT clock (D-07, B-07).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Datelike;

use crate::domain::clock::ClockRule;
use crate::domain::context::local_date;
use crate::domain::contract::events::{RuleFinding, TerminationGround, TerminationGroundDetected};
use crate::domain::deadline::{calendar_day_clock, is_late, working_day_clock};
use crate::domain::error::DomainError;
use crate::domain::event::Event;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::money::{Currency, Money};
use crate::domain::region::{Programme, Region};
use crate::domain::signature::{SignedBy, verify};
use crate::domain::time::Timestamp;
use crate::domain::values::{DocumentHash, DocumentNumber, OrganisationName, ReportingPeriod};

use super::events::{
    ActRow, PaymentActReceived, PaymentActSigned, PaymentActSubmitted, ProgrammeAmount,
    RegistryApproved, RegistryLine,
};
use super::{ActStage, PeriodContext, PeriodState, RegistryStage};

/// D-05: the holder sends the act for the approved registry, signed.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SubmitPaymentAct {
    pub act_no: DocumentNumber,
    pub submitted_at: Timestamp,
    /// App. 2 col 3: the contract holder's name as printed.
    pub supplier: OrganisationName,
    pub signature: SignedBy,
}

/// D-06: the Fund received the act.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ReceivePaymentAct {
    pub received_at: Timestamp,
}

/// D-06, D-07: the Fund signs the act.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SignPaymentAct {
    pub signed_at: Timestamp,
    pub signature: SignedBy,
}

/// Implements A-12: one row per region; col 4 = distinct (prescription no., date), col 5 = Σ col 15.
pub fn act_rows(
    lines: &[RegistryLine],
    supplier: &OrganisationName,
) -> Result<Vec<ActRow>, DomainError> {
    let mut by_region: BTreeMap<Region, (BTreeSet<_>, Money)> = BTreeMap::new();
    for line in lines {
        let (prescriptions, amount) = by_region
            .entry(line.region)
            .or_insert_with(|| (BTreeSet::new(), Money::zero(Currency::KZT)));
        prescriptions.insert(&line.prescription);
        *amount = amount
            .checked_add(line.fund_amount)
            .map_err(|error| DomainError::money("A-12", "act row", error))?;
    }
    Ok(by_region
        .into_iter()
        .zip(1u32..)
        .map(|((region, (prescriptions, fund_amount)), row_no)| ActRow {
            row_no,
            region,
            supplier: supplier.clone(),
            prescriptions: u32::try_from(prescriptions.len()).expect("lines ≤ REGISTRY_LINES_MAX"),
            fund_amount,
        })
        .collect())
}

/// Implements B-07 (S001 §20): December service is paid in, and charged to, the next fiscal year.
pub fn fiscal_year_charged(period: ReportingPeriod) -> i32 {
    let last_day = period.last_day();
    if last_day.month() == 12 {
        last_day.year() + 1
    } else {
        last_day.year()
    }
}

/// Implements A-34, F-03: the act's Fund amount per programme, in programme order.
pub fn by_programme(lines: &[RegistryLine]) -> Result<Vec<ProgrammeAmount>, DomainError> {
    let mut shares: BTreeMap<Programme, Money> = BTreeMap::new();
    for line in lines {
        let share = shares
            .entry(line.programme)
            .or_insert_with(|| Money::zero(Currency::KZT));
        *share = share
            .checked_add(line.fund_amount)
            .map_err(|error| DomainError::money("A-34", "programme share", error))?;
    }
    Ok(shares
        .into_iter()
        .map(|(programme, amount)| ProgrammeAmount { programme, amount })
        .collect())
}

/// A-07, C-04 (§24): an act sent after the configured grace is a ground for human review.
fn late_act_ground(approved: &RegistryApproved, command: &SubmitPaymentAct) -> Option<Event> {
    let deadline = approved
        .act_submission
        .filter(|deadline| is_late(deadline, Jurisdiction::KZ, command.submitted_at))?;
    Some(Event::TerminationGroundDetected(
        TerminationGroundDetected {
            contract_id: approved.contract_id.clone(),
            detected_at: command.submitted_at,
            ground: TerminationGround::ActSubmission,
            finding: RuleFinding {
                rule: "A-07".to_owned(),
                detail: format!(
                    "act \"{}\" was sent on {}; the configured grace allowed until {}",
                    command.act_no,
                    local_date(Jurisdiction::KZ, command.submitted_at),
                    deadline.due
                ),
            },
        },
    ))
}

/// Implements D-05, A-07, A-11, A-12, P-05: the act of the approved registry; its total equals the
/// approved Σ col 15. A send after the configured grace is flagged as a §24 ground.
pub fn submit(
    state: &PeriodState,
    command: SubmitPaymentAct,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let (Some(approved), Some(registry), ActStage::None) =
        (&state.approved, &state.registry, state.act_stage)
    else {
        return Err(state.wrong_stage(
            "D-05",
            format!("act \"{}\"", command.act_no),
            "submitting the act",
            "after registry approval, before any act",
        ));
    };
    assert_eq!(
        state.registry_stage,
        RegistryStage::Approved,
        "an approved registry"
    );
    // The approved registry's lines: no command changes the live dispensings after submission.
    let lines = super::registry::registry_lines(state);
    assert_eq!(
        lines.len(),
        usize::try_from(registry.line_count).expect("u32 fits usize"),
        "lines as submitted"
    );
    let rows = act_rows(&lines, &command.supplier)?;
    let total = Money::sum(Currency::KZT, rows.iter().map(|row| &row.fund_amount))
        .map_err(|error| DomainError::money("A-11", "act total", error))?;
    assert_eq!(
        total, approved.total_fund,
        "act total = approved registry Σ col 15"
    );
    let by_programme = by_programme(&lines)?;
    assert_eq!(
        by_programme
            .iter()
            .map(|share| share.amount.minor)
            .sum::<i64>(),
        total.minor,
        "programme shares sum to the act total"
    );
    let holder = ctx
        .contract
        .holder()
        .expect("an approved registry has a contract holder");
    let content_hash = DocumentHash::of(&(&command.act_no, &rows, total, approved.content_hash));
    let document = format!("act \"{}\"", command.act_no);
    let signature = verify(
        ctx.decision.signatures,
        &document,
        &command.signature,
        holder,
        content_hash,
        command.submitted_at,
    )?;
    // An A-07 breach recorded while no act was sent already raised the §24 ground.
    let breach_raised = state
        .breaches
        .iter()
        .any(|(rule, _)| *rule == ClockRule::ActSubmission);
    let ground = late_act_ground(approved, &command).filter(|_| !breach_raised);
    let submitted = Event::PaymentActSubmitted(PaymentActSubmitted {
        contract_id: approved.contract_id.clone(),
        period: ctx.period,
        act_no: command.act_no,
        submitted_at: command.submitted_at,
        registry_hash: approved.content_hash,
        rows,
        total,
        by_programme,
        content_hash,
        signature,
    });
    Ok(std::iter::once(submitted).chain(ground).collect())
}

/// Implements D-06, A-02: receipt starts ACT_SIGNING (5 WD).
pub fn receive(
    state: &PeriodState,
    command: ReceivePaymentAct,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let (Some(act), ActStage::Submitted) = (&state.act, state.act_stage) else {
        return Err(state.wrong_stage(
            "D-06",
            format!("period {}", ctx.period),
            "receiving the act",
            "act submitted",
        ));
    };
    let rule_set = ctx
        .decision
        .rule_set(Jurisdiction::KZ, command.received_at)?;
    let signing = working_day_clock(
        ctx.decision.calendar,
        &rule_set.parameters,
        ClockRule::ActSigning,
        "D-06",
        command.received_at,
        rule_set.parameters.act_signing,
    )?;
    Ok(vec![Event::PaymentActReceived(PaymentActReceived {
        contract_id: act.contract_id.clone(),
        period: ctx.period,
        act_no: act.act_no.clone(),
        received_at: command.received_at,
        signing,
    })])
}

/// Implements D-06, D-07, B-07: the Fund's signature; PAYMENT (5 CD) runs from the signing date.
pub fn sign(
    state: &PeriodState,
    command: SignPaymentAct,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let (Some(act), ActStage::Received) = (&state.act, state.act_stage) else {
        return Err(state.wrong_stage(
            "D-06",
            format!("period {}", ctx.period),
            "signing the act",
            "act received",
        ));
    };
    let document = format!("act \"{}\"", act.act_no);
    let signature = verify(
        ctx.decision.signatures,
        &document,
        &command.signature,
        ctx.decision.fund_bin,
        act.content_hash,
        command.signed_at,
    )?;
    let rule_set = ctx.decision.rule_set(Jurisdiction::KZ, command.signed_at)?;
    let signed_on = local_date(Jurisdiction::KZ, command.signed_at);
    let payment = calendar_day_clock(
        ctx.decision.calendar,
        ClockRule::Payment,
        "D-07",
        signed_on,
        rule_set.parameters.payment,
    )?;
    Ok(vec![Event::PaymentActSigned(PaymentActSigned {
        contract_id: act.contract_id.clone(),
        period: ctx.period,
        act_no: act.act_no.clone(),
        signed_at: command.signed_at,
        total: act.total,
        by_programme: act.by_programme.clone(),
        payment,
        fiscal_year: fiscal_year_charged(ctx.period),
        signature,
    })])
}

pub(super) fn apply(state: &mut PeriodState, event: &Event) {
    match event {
        Event::PaymentActSubmitted(submitted) => {
            state.act_stage = ActStage::Submitted;
            state.act = Some(submitted.clone());
        }
        Event::PaymentActReceived(received) => {
            state.act_stage = ActStage::Received;
            state.signing = Some(received.signing);
            state.act_received_at = Some(received.received_at);
        }
        Event::PaymentActSigned(signed) => {
            state.act_stage = ActStage::Signed;
            state.payment_deadline = Some(signed.payment);
            state.paid_total = Some(Money::zero(signed.total.currency));
            state.signed = Some(signed.clone());
        }
        _ => {}
    }
}
