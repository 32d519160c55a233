//! Payment of a signed act: within 5 CD (D-07), suspended for late budget transfer keeping the
//! remaining days (D-08, A-08), payments summing to the act total with overpayment refused.

use crate::domain::clock::ClockRule;
use crate::domain::context::local_date;
use crate::domain::deadline::{calendar_day_clock, remaining_days};
use crate::domain::error::DomainError;
use crate::domain::event::Event;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::money::Money;
use crate::domain::region::Programme;
use crate::domain::time::Timestamp;
use crate::domain::values::DocumentNumber;

use super::events::{
    PaymentActSigned, PaymentClockResumed, PaymentClockSuspended, PaymentMade, SuspensionReason,
};
use super::{PeriodContext, PeriodState};

/// D-08: the Fund records that budget funds arrived late.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SuspendPaymentClock {
    pub suspended_at: Timestamp,
    pub reason: SuspensionReason,
}

/// the budget funds arrived; the clock runs on.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ResumePaymentClock {
    pub resumed_at: Timestamp,
}

/// D-07: the Fund paid an amount on the act.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct MakePayment {
    pub payment_ref: DocumentNumber,
    pub paid_at: Timestamp,
    /// The programme (budget line) paid from (A-34, F-03).
    pub programme: Programme,
    pub amount: Money,
}

fn signed<'a>(
    state: &'a PeriodState,
    ctx: &PeriodContext<'_>,
    action: &'static str,
) -> Result<&'a PaymentActSigned, DomainError> {
    state.signed.as_ref().ok_or_else(|| {
        state.wrong_stage(
            "D-07",
            format!("period {}", ctx.period),
            action,
            "act signed",
        )
    })
}

fn fully_paid(state: &PeriodState, signed: &PaymentActSigned) -> bool {
    state
        .paid_total
        .is_some_and(|paid| paid.minor >= signed.total.minor)
}

/// Implements D-08, A-08: suspends the PAYMENT clock (the only suspendable clock) with the remaining
/// calendar days.
pub fn suspend(
    state: &PeriodState,
    command: SuspendPaymentClock,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let signed = signed(state, ctx, "suspending the payment clock")?;
    if state.suspended.is_some() || fully_paid(state, signed) {
        return Err(state.wrong_stage(
            "D-08",
            format!("payment clock of act \"{}\"", signed.act_no),
            "suspending",
            "running and not fully paid",
        ));
    }
    let deadline = state
        .payment_deadline
        .expect("a signed act has a payment deadline");
    let remaining = remaining_days(
        &deadline,
        local_date(Jurisdiction::KZ, command.suspended_at),
    );
    Ok(vec![Event::PaymentClockSuspended(PaymentClockSuspended {
        contract_id: signed.contract_id.clone(),
        period: ctx.period,
        act_no: signed.act_no.clone(),
        suspended_at: command.suspended_at,
        reason: command.reason,
        remaining,
    })])
}

/// Implements A-08: the remaining days run from the resumption date (no restart).
pub fn resume(
    state: &PeriodState,
    command: ResumePaymentClock,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let signed = signed(state, ctx, "resuming the payment clock")?;
    let Some(suspended) = &state.suspended else {
        return Err(state.wrong_stage(
            "A-08",
            format!("payment clock of act \"{}\"", signed.act_no),
            "resuming",
            "suspended",
        ));
    };
    let resumed_on = local_date(Jurisdiction::KZ, command.resumed_at);
    let payment = calendar_day_clock(
        ctx.decision.calendar,
        ClockRule::Payment,
        "D-08",
        resumed_on,
        suspended.remaining,
    )?;
    Ok(vec![Event::PaymentClockResumed(PaymentClockResumed {
        contract_id: signed.contract_id.clone(),
        period: ctx.period,
        act_no: signed.act_no.clone(),
        resumed_at: command.resumed_at,
        payment,
    })])
}

/// The act's share of `programme` and what is already paid on it.
fn programme_position(
    state: &PeriodState,
    signed: &PaymentActSigned,
    programme: Programme,
) -> (Money, Money) {
    let zero = Money::zero(signed.total.currency);
    let share = signed
        .by_programme
        .iter()
        .find(|share| share.programme == programme)
        .map_or(zero, |share| share.amount);
    let paid = state
        .paid_by_programme
        .get(&programme)
        .copied()
        .unwrap_or(zero);
    (share, paid)
}

/// Implements D-07, B-07, A-34: a positive payment in the act's currency from one programme, never
/// above that programme's unpaid share (so never above the act total either).
pub fn pay(
    state: &PeriodState,
    command: MakePayment,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let signed = signed(state, ctx, "paying the act")?;
    let paid = state.paid_total.expect("a signed act has a paid total");
    if command.amount.minor <= 0 || command.amount.currency != signed.total.currency {
        return Err(DomainError::AmountMismatch {
            rule: "D-07",
            subject: format!("payment \"{}\"", command.payment_ref),
            detail: format!(
                "amount {} must be positive and in {}",
                command.amount, signed.total.currency
            ),
        });
    }
    let (share, paid_programme) = programme_position(state, signed, command.programme);
    let overflow = |error| DomainError::money("D-07", "paid total", error);
    let paid_programme_total = paid_programme
        .checked_add(command.amount)
        .map_err(overflow)?;
    if paid_programme_total.minor > share.minor {
        return Err(DomainError::Overpayment {
            rule: "D-07",
            scope: format!(
                "the {} share of act \"{}\"",
                command.programme, signed.act_no
            ),
            attempted: command.amount.to_string(),
            paid: paid_programme.to_string(),
            total: share.to_string(),
        });
    }
    let paid_total = paid.checked_add(command.amount).map_err(overflow)?;
    assert!(
        paid_total.minor <= signed.total.minor,
        "programme shares sum to the act total"
    );
    Ok(vec![Event::PaymentMade(PaymentMade {
        contract_id: signed.contract_id.clone(),
        period: ctx.period,
        act_no: signed.act_no.clone(),
        payment_ref: command.payment_ref,
        paid_at: command.paid_at,
        amount: command.amount,
        programme: command.programme,
        paid_programme_total,
        paid_total,
        fiscal_year: signed.fiscal_year,
        payer: ctx.decision.fund_bin,
    })])
}

pub(super) fn apply(state: &mut PeriodState, event: &Event) {
    match event {
        Event::PaymentClockSuspended(suspended) => state.suspended = Some(suspended.clone()),
        Event::PaymentClockResumed(resumed) => {
            state.suspended = None;
            state.payment_deadline = Some(resumed.payment);
        }
        Event::PaymentMade(made) => {
            state.paid_total = Some(made.paid_total);
            state
                .paid_by_programme
                .insert(made.programme, made.paid_programme_total);
        }
        _ => {}
    }
}
