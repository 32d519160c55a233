//! Recording and reversing dispensings (M-01…M-08, A-10, A-13, A-14, A-25, A-33, A-34, A-37).

use crate::domain::context::local_date;
use crate::domain::contract::{ContractStage, ContractState};
use crate::domain::error::DomainError;
use crate::domain::event::Event;
use crate::domain::ident::{Bin, Iin};
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::money::{Currency, Quantity, UnitPrice, line_amount};
use crate::domain::order::{self, When};
use crate::domain::prices::{PriceInForce, ProductKey};
use crate::domain::region::{Programme, Region};
use crate::domain::rules::{LineAmounts, PricingInput, policy_for};
use crate::domain::time::Timestamp;
use crate::domain::values::{
    DispensingId, FiscalReceipt, Icd10, MarkingCode, OrganisationName, PrescriptionRef, TradeName,
    UnitOfMeasure,
};

use super::events::{DispensingRecorded, DispensingReversed};
use super::{PeriodContext, PeriodState, RegistryStage};

/// P-08: a dispensing as the pharmacy's ISS reports it.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct RecordDispensing {
    pub dispensing_id: DispensingId,
    pub dispensed_at: Timestamp,
    pub dispenser_name: OrganisationName,
    pub dispenser_bin: Bin,
    pub region: Region,
    pub patient_region: Option<Region>,
    pub icd10: Icd10,
    pub patient_iin: Iin,
    pub prescription: PrescriptionRef,
    pub copayment_consent: bool,
    pub programme: Programme,
    pub product: ProductKey,
    pub trade_name: TradeName,
    pub unit: UnitOfMeasure,
    pub quantity: Quantity,
    pub trade_name_unit_price: UnitPrice,
    pub fiscal_receipt: FiscalReceipt,
    pub marking_code: MarkingCode,
}

/// A correction: withdraw a dispensing from the claim (never an edit).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ReverseDispensing {
    pub dispensing_id: DispensingId,
    pub reversed_at: Timestamp,
    pub reason: String,
}

fn refuse(command: &RecordDispensing, rule: &'static str, reason: String) -> DomainError {
    DomainError::NotReimbursable {
        rule,
        dispensing: command.dispensing_id.to_string(),
        reason,
    }
}

/// Implements M-06, A-25, A-33 and the contract term (A-22 KZ): the contract was in force at the
/// dispensing instant and the dispenser was the holder or a consortium member then.
fn check_contract(contract: &ContractState, command: &RecordDispensing) -> Result<(), DomainError> {
    let at = command.dispensed_at;
    let (Some(concluded_at), Some(term)) = (contract.concluded_at, contract.term) else {
        return Err(refuse(
            command,
            "M-06",
            "no co-payment contract is concluded".to_owned(),
        ));
    };
    if let Some(terminated_at) = contract
        .terminated_at
        .filter(|terminated_at| at >= *terminated_at)
    {
        return Err(refuse(
            command,
            "A-25",
            format!(
                "dispensed at {at}, at or after the contract ended on receipt of the termination notice at {terminated_at}"
            ),
        ));
    }
    debug_assert!(contract.stage != ContractStage::Terminated || contract.terminated_at.is_some());
    let date = local_date(Jurisdiction::KZ, at);
    if at < concluded_at
        || date < term.starts_on
        || term.ends_on.is_some_and(|ends_on| date > ends_on)
    {
        return Err(refuse(
            command,
            "M-06",
            format!("dispensed on {date}, outside the contract term"),
        ));
    }
    if !contract.may_dispense(command.dispenser_bin, at) {
        return Err(refuse(
            command,
            "A-33",
            format!(
                "BIN {} is neither the contract holder nor a consortium member on {date}",
                command.dispenser_bin
            ),
        ));
    }
    Ok(())
}

/// Implements, P-01: the programme allows co-payment, the patient consented, and the
/// dispensing falls in this period.
fn check_prescription(
    command: &RecordDispensing,
    ctx: &PeriodContext<'_>,
) -> Result<(), DomainError> {
    if !command.programme.allows_copayment() {
        return Err(refuse(
            command,
            "A-34",
            format!(
                "programme {} does not allow co-payment (only GOBMP and OSMS)",
                command.programme
            ),
        ));
    }
    if !command.copayment_consent {
        return Err(refuse(
            command,
            "A-37",
            format!(
                "prescription \"{}\" of {} carries no patient consent to co-payment",
                command.prescription.number, command.prescription.written_on
            ),
        ));
    }
    let date = local_date(Jurisdiction::KZ, command.dispensed_at);
    if !ctx.period.contains(date) {
        return Err(refuse(
            command,
            "P-01",
            format!(
                "dispensed on {date}, outside reporting period {}",
                ctx.period
            ),
        ));
    }
    if command.region.jurisdiction() != Jurisdiction::KZ {
        return Err(refuse(
            command,
            "A-31",
            format!("region {} is not a KZ region", command.region),
        ));
    }
    Ok(())
}

/// Implements O-01, O-02: the prescription was written on or before the day of the sale, and the
/// fiscal receipt is of the sale's day (checked after uniqueness, so that a reused receipt is named
/// as the M-06 duplicate it is).
fn check_order(command: &RecordDispensing) -> Result<(), DomainError> {
    let dispensing = || format!("dispensing \"{}\"", command.dispensing_id);
    order::check(
        &order::PRESCRIPTION_BEFORE_DISPENSING,
        Jurisdiction::KZ,
        dispensing,
        When::On(command.prescription.written_on),
        When::At(command.dispensed_at),
    )?;
    order::check_receipt_day(
        dispensing,
        command.fiscal_receipt.issued_at(),
        command.dispensed_at,
    )
}

/// Implements M-06 / P-08 uniqueness: the same marked pack or fiscal receipt is reimbursed once.
fn check_unique(
    state: &PeriodState,
    command: &RecordDispensing,
    ctx: &PeriodContext<'_>,
) -> Result<(), DomainError> {
    if state.dispensings.contains_key(&command.dispensing_id) {
        return Err(refuse(
            command,
            "P-08",
            "a dispensing with this id is already recorded".to_owned(),
        ));
    }
    let keys = [
        (
            "marking code",
            command.marking_code.uniqueness_key(),
            command.marking_code.to_string(),
        ),
        (
            "fiscal receipt",
            command.fiscal_receipt.uniqueness_key(),
            format!(
                "{}/{}",
                command.fiscal_receipt.rnm(),
                command.fiscal_receipt.fiscal_sign()
            ),
        ),
    ];
    for (kind, key, value) in keys {
        let first = state
            .reimbursed
            .get(&key)
            .map(ToString::to_string)
            .or_else(|| ctx.index.reimbursed_by(&key));
        if let Some(first) = first {
            return Err(DomainError::AlreadyReimbursed {
                rule: "M-06",
                kind,
                value,
                first,
            });
        }
    }
    Ok(())
}

/// Implements M-03, M-04, M-07, A-10, A-14: prices the line at the limit price in force on the
/// dispensing date and checks the receipt equals the total (col 17).
fn price(command: &RecordDispensing, found: &PriceInForce) -> Result<LineAmounts, DomainError> {
    if found.entry.unit != command.unit {
        return Err(refuse(
            command,
            "A-10",
            format!(
                "dispensed in \"{}\" but the limit price of {} is per \"{}\"",
                command.unit, command.product, found.entry.unit
            ),
        ));
    }
    let input = PricingInput {
        quantity: command.quantity,
        limit_unit_price: found.entry.limit_unit_price,
        trade_name_unit_price: command.trade_name_unit_price,
        currency: Currency::KZT,
    };
    let amounts = policy_for(Jurisdiction::KZ).line_amounts(&input)?;
    let limit_total = line_amount(
        command.quantity,
        found.entry.limit_unit_price,
        Currency::KZT,
    )
    .map_err(|error| DomainError::money("M-03", "limit amount", error))?;
    assert!(
        amounts.fund.minor <= limit_total.minor,
        "M-03: the Fund never pays above qty × limit"
    );
    if command.fiscal_receipt.amount() != amounts.total {
        return Err(DomainError::AmountMismatch {
            rule: "M-07",
            subject: format!("dispensing \"{}\"", command.dispensing_id),
            detail: format!(
                "fiscal receipt amount {} differs from the total {} (qty {} × trade-name price {})",
                command.fiscal_receipt.amount(),
                amounts.total,
                command.quantity,
                command.trade_name_unit_price
            ),
        });
    }
    Ok(amounts)
}

/// Implements M-08 (S001 §5, §8(1)): before dispensing, the patient is shown the price and the
/// co-payment of a trade name. The same computation as [`record`], without recording anything.
pub fn quote(
    prices: &crate::domain::prices::PriceListState,
    price_type: crate::domain::rules::PriceType,
    product: &ProductKey,
    quantity: Quantity,
    trade_name_unit_price: UnitPrice,
    date: chrono::NaiveDate,
) -> Result<LineAmounts, DomainError> {
    let found = prices.price_on(product, price_type, date)?;
    let input = PricingInput {
        quantity,
        limit_unit_price: found.entry.limit_unit_price,
        trade_name_unit_price,
        currency: Currency::KZT,
    };
    policy_for(Jurisdiction::KZ).line_amounts(&input)
}

/// Decides a dispensing: every check, then one `DispensingRecorded` carrying its pricing facts.
pub fn record(
    state: &PeriodState,
    command: RecordDispensing,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    if !matches!(
        state.registry_stage,
        RegistryStage::Open | RegistryStage::Rejected
    ) {
        return Err(state.wrong_stage(
            "A-06",
            format!("period {}", ctx.period),
            "recording a dispensing",
            "open or rejected (submitted content is fixed)",
        ));
    }
    let contract_id = ctx
        .contract
        .contract_id
        .clone()
        .ok_or_else(|| refuse(&command, "M-06", "no co-payment contract exists".to_owned()))?;
    check_contract(ctx.contract, &command)?;
    check_prescription(&command, ctx)?;
    check_unique(state, &command, ctx)?;
    check_order(&command)?;
    let rule_set = ctx
        .decision
        .rule_set(Jurisdiction::KZ, command.dispensed_at)?;
    let date = local_date(Jurisdiction::KZ, command.dispensed_at);
    let found =
        ctx.prices
            .price_on(&command.product, rule_set.parameters.limit_price_type, date)?;
    let amounts = price(&command, &found)?;
    Ok(vec![Event::DispensingRecorded(DispensingRecorded {
        contract_id,
        period: ctx.period,
        dispensing_id: command.dispensing_id,
        dispensed_at: command.dispensed_at,
        dispenser_name: command.dispenser_name,
        dispenser_bin: command.dispenser_bin,
        region: command.region,
        patient_region: command.patient_region,
        icd10: command.icd10,
        patient_iin: command.patient_iin,
        prescription: command.prescription,
        copayment_consent: command.copayment_consent,
        programme: command.programme,
        product: command.product,
        trade_name: command.trade_name,
        unit: command.unit,
        quantity: command.quantity,
        limit_unit_price: found.entry.limit_unit_price,
        trade_name_unit_price: command.trade_name_unit_price,
        price_type: found.entry.price_type,
        price_list_version: found.version,
        fiscal_receipt: command.fiscal_receipt,
        marking_code: command.marking_code,
        amounts,
        rule_set_version: rule_set.version,
    })])
}

/// Decides a reversal: only a live dispensing, only while the registry is open or rejected.
pub fn reverse(
    state: &PeriodState,
    command: ReverseDispensing,
    ctx: &PeriodContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    if !matches!(
        state.registry_stage,
        RegistryStage::Open | RegistryStage::Rejected
    ) {
        return Err(state.wrong_stage(
            "A-06",
            format!("period {}", ctx.period),
            "reversing a dispensing",
            "open or rejected (submitted content is fixed)",
        ));
    }
    let entry = state
        .dispensings
        .get(&command.dispensing_id)
        .filter(|entry| !entry.reversed)
        .ok_or_else(|| DomainError::WrongStage {
            rule: "A-06",
            object: format!("dispensing \"{}\"", command.dispensing_id),
            action: "reversing",
            expected: "recorded and not reversed",
            actual: "unknown or already reversed".to_owned(),
        })?;
    Ok(vec![Event::DispensingReversed(DispensingReversed {
        contract_id: entry.recorded.contract_id.clone(),
        period: ctx.period,
        dispensing_id: command.dispensing_id,
        reversed_at: command.reversed_at,
        reason: command.reason,
        amounts: entry.recorded.amounts,
    })])
}

pub(super) fn apply_recorded(state: &mut PeriodState, recorded: &DispensingRecorded) {
    state
        .contract_id
        .get_or_insert_with(|| recorded.contract_id.clone());
    state.period.get_or_insert(recorded.period);
    state.reimbursed.insert(
        recorded.marking_code.uniqueness_key(),
        recorded.dispensing_id.clone(),
    );
    state.reimbursed.insert(
        recorded.fiscal_receipt.uniqueness_key(),
        recorded.dispensing_id.clone(),
    );
    state.dispensings.insert(
        recorded.dispensing_id.clone(),
        super::DispensingEntry {
            recorded: recorded.clone(),
            reversed: false,
        },
    );
}

pub(super) fn apply_reversed(state: &mut PeriodState, reversed: &DispensingReversed) {
    if let Some(entry) = state.dispensings.get_mut(&reversed.dispensing_id) {
        entry.reversed = true;
        state
            .reimbursed
            .remove(&entry.recorded.marking_code.uniqueness_key());
        state
            .reimbursed
            .remove(&entry.recorded.fiscal_receipt.uniqueness_key());
    }
}
