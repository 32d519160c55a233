//! The Kyrgyz dispensing computation (S002 §33–47): what the MHIF reimburses the pharmacy for one
//! dispensing on a preferential prescription. Pure: everything it needs comes in with the input, and
//! its result carries every fact it was decided on (DESIGN §2).
//!
//! Never called for Kazakhstan: KZ dispensings follow min(INN limit, trade-name price) and have
//! no course dose, cap or reference book.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::error::KgError;
use super::patient_limit::{LimitEnforcement, PatientLimitSchedule};
use super::reference_book::{DrugId, ReferenceBookEntry, ReferenceBooks};
use crate::domain::calendar::CalendarDays;
use crate::domain::contract::events::ContractTerm;
use crate::domain::contract::kg::term_contains;
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::money::{Currency, Money, MoneyError, Quantity, UnitPrice, line_amount};
use crate::domain::region::Region;
use crate::domain::values::KgPin;

/// D-11: a prescription is valid 30 calendar days from the day it was written.
pub const PRESCRIPTION_VALIDITY: CalendarDays = CalendarDays(30);

/// what happens to the rest of the course dose after a dispensing of fewer units.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum PartialDispensing {
    /// The default: one dispensing closes the prescription.
    #[default]
    ClosesPrescription,
    /// The remainder may be dispensed later, until the prescription expires (D-11).
    RemainderUntilExpiry,
}

/// The parameters of the Kyrgyz policy that are configuration, not law.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KgPolicy {
    /// D-11; psychotropic and narcotic drugs follow the Cabinet's rules and may use another value.
    pub prescription_validity: CalendarDays,
    pub partial_dispensing: PartialDispensing,
    pub limit_enforcement: LimitEnforcement,
}

impl Default for KgPolicy {
    fn default() -> KgPolicy {
        KgPolicy {
            prescription_validity: PRESCRIPTION_VALIDITY,
            partial_dispensing: PartialDispensing::ClosesPrescription,
            limit_enforcement: LimitEnforcement::Warn,
        }
    }
}

/// A preferential prescription as the KG information system holds it. E-11: it is found by the
/// patient's PIN and its number, whatever the region of the prescriber or the pharmacy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgPrescription {
    pub number: String,
    /// A-35, E-11: the patient's 14-digit PIN (format checked by the type).
    pub patient_pin: KgPin,
    pub written_on: NaiveDate,
    pub prescriber_region: Region,
    pub drug_id: DrugId,
    pub generic_group: String,
    /// M-11: the course dose the information system derived, in units of the drug.
    pub course_dose_units: Quantity,
    /// E-08, V-06: the patient's standing the information system confirmed when prescribing. `None`
    /// on dispensings recorded before it was carried (schema v1 of `KgDispensingRecorded`); a new
    /// dispensing without it is refused (E-08).
    pub eligibility: Option<PatientEligibility>,
}

/// Implements E-08 (S002 §5) and V-06 (S002 §21(3)): who may have a preferential prescription: a
/// citizen insured under CHI (per the State Guarantees Programme) *and* registered with a PHC
/// organisation, both confirmed before the prescription is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PatientEligibility {
    /// Insured under compulsory health insurance on `checked_on`.
    pub insured: bool,
    /// Registered with a primary health care organisation on `checked_on`.
    pub phc_registered: bool,
    /// The day the information system checked the patient's status.
    pub checked_on: NaiveDate,
}

/// One dispensing on a prescription, as the pharmacy reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgDispensing {
    pub drug_id: DrugId,
    pub units: Quantity,
    pub dispensed_on: NaiveDate,
    /// The dispensing pharmacy's region; no restriction applies to it (E-11).
    pub pharmacy_region: Region,
    pub retail_unit_price: UnitPrice,
    /// M-16: the price on the shelf, if recorded; the charged price must match it.
    pub shelf_unit_price: Option<UnitPrice>,
    /// M-16: the approved retail price under price regulation, if any; never exceeded.
    pub approved_retail_unit_price: Option<UnitPrice>,
    /// M-17: what the patient paid, per the sales receipt.
    pub patient_paid: Money,
}

/// Everything the computation needs.
#[derive(Debug, Clone, Copy)]
pub struct KgReimbursementInput<'a> {
    pub books: &'a ReferenceBooks,
    /// C-10: the contract's validity periods (the first year and each renewal).
    pub contract_terms: &'a [ContractTerm],
    pub prescription: &'a KgPrescription,
    pub dispensing: &'a KgDispensing,
    /// Units already dispensed on this prescription.
    pub prior_dispensed_units: Option<Quantity>,
    pub patient_limits: &'a PatientLimitSchedule,
    /// Compensation already paid for this patient in the calendar year of the dispensing.
    pub patient_compensated_this_year: Money,
    pub policy: &'a KgPolicy,
}

/// A non-blocking finding attached to a reimbursement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum KgWarning {
    /// A-19, B-05: the patient's compensation this year passes the indicative limit.
    PatientLimitExceeded {
        limit: Money,
        compensated_after: Money,
    },
}

/// The decided reimbursement and the facts it was decided on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgReimbursement {
    pub book_version: u32,
    pub drug_id: DrugId,
    /// M-18: another drug of the prescribed generic group was dispensed.
    pub substituted: bool,
    pub dispensed_units: Quantity,
    /// M-14: units within the course dose (reimbursed).
    pub eligible_units: Quantity,
    /// M-14: units above the course dose (paid by the patient, not reimbursed).
    pub excess_units: Option<Quantity>,
    pub compensation_per_unit: UnitPrice,
    /// eligible units × compensation per unit (A-36 rounding).
    pub compensation: Money,
    /// dispensed units × retail unit price.
    pub retail_total: Money,
    pub patient_paid: Money,
    /// M-15: retail total − patient paid.
    pub cap: Money,
    /// min(compensation, cap): what the MHIF pays.
    pub reimbursement: Money,
    /// M-12: what the patient owes for this dispensing, retail total − reimbursement (≥ the receipt
    /// amount the cap was computed from, since reimbursement ≤ retail − patient paid).
    pub patient_due: Money,
    pub prescription_closed: bool,
    pub warnings: Vec<KgWarning>,
}

/// Computes the reimbursement of one dispensing, or refuses it with the rule that forbids it.
///
/// Implements M-12 (the compensation and the patient's share are computed automatically for the units
/// sold) from the course dose the information system derived (M-11, carried by the prescription).
pub fn kg_reimbursement(input: KgReimbursementInput<'_>) -> Result<KgReimbursement, KgError> {
    let dispensing = input.dispensing;
    check_kyrgyz(input.prescription, dispensing)?;
    check_patient(input.prescription)?;
    check_contract(input.contract_terms, dispensing.dispensed_on)?;
    check_prescription_valid(input.prescription, dispensing.dispensed_on, input.policy)?;
    let book = input.books.in_force_on(dispensing.dispensed_on).ok_or(
        KgError::NoReferenceBookInForce {
            rule: "A-28",
            date: dispensing.dispensed_on,
        },
    )?;
    let entry = book
        .entry(&dispensing.drug_id)
        .ok_or_else(|| KgError::NotInReferenceBook {
            rule: "M-19",
            drug_id: dispensing.drug_id.clone(),
            version: book.version,
        })?;
    let substituted = check_substitution(input.prescription, entry)?;
    check_retail_price(dispensing)?;
    let units = split_units(&input)?;
    let amounts = compute_amounts(dispensing, entry, units.eligible)?;
    let warnings = check_patient_limit(&input, amounts.reimbursement)?;
    Ok(KgReimbursement {
        book_version: book.version,
        drug_id: entry.drug_id.clone(),
        substituted,
        dispensed_units: dispensing.units,
        eligible_units: units.eligible,
        excess_units: units.excess,
        compensation_per_unit: entry.compensation_per_unit,
        compensation: amounts.compensation,
        retail_total: amounts.retail_total,
        patient_paid: dispensing.patient_paid,
        cap: amounts.cap,
        reimbursement: amounts.reimbursement,
        patient_due: amounts.patient_due,
        prescription_closed: units.closes,
        warnings,
    })
}

/// Implements A-15: the Kyrgyz computation is never applied to a Kazakh dispensing. (A-35, the
/// 14-digit PIN, is checked when the [`KgPin`] is made.)
fn check_kyrgyz(prescription: &KgPrescription, dispensing: &KgDispensing) -> Result<(), KgError> {
    for region in [prescription.prescriber_region, dispensing.pharmacy_region] {
        if region.jurisdiction() != Jurisdiction::KG {
            return Err(KgError::NotKyrgyz {
                rule: "A-15",
                region,
            });
        }
    }
    Ok(())
}

/// Implements E-08 and V-06: the prescription carries the patient's confirmed standing, the patient
/// is insured and registered with a PHC organisation, and the status was checked on or before the
/// day the prescription was written.
fn check_patient(prescription: &KgPrescription) -> Result<(), KgError> {
    let refuse = |rule: &'static str, detail: String| KgError::PatientNotEligible {
        rule,
        patient_pin: prescription.patient_pin.to_string(),
        number: prescription.number.clone(),
        detail,
    };
    let Some(eligibility) = prescription.eligibility else {
        return Err(refuse(
            "E-08",
            "the prescription carries no confirmation of CHI insurance and PHC registration"
                .to_owned(),
        ));
    };
    if !eligibility.insured {
        return Err(refuse(
            "E-08",
            format!("not insured under CHI on {}", eligibility.checked_on),
        ));
    }
    if !eligibility.phc_registered {
        return Err(refuse(
            "E-08",
            format!(
                "not registered with a PHC organisation on {}",
                eligibility.checked_on
            ),
        ));
    }
    if eligibility.checked_on > prescription.written_on {
        return Err(refuse(
            "V-06",
            format!(
                "the insured status was checked on {}, after the prescription was written on {}",
                eligibility.checked_on, prescription.written_on
            ),
        ));
    }
    Ok(())
}

/// Implements C-10: no compensation for a dispensing outside the contract's validity.
fn check_contract(terms: &[ContractTerm], dispensed_on: NaiveDate) -> Result<(), KgError> {
    if terms.iter().any(|term| term_contains(term, dispensed_on)) {
        Ok(())
    } else {
        Err(KgError::OutsideContract {
            rule: "C-10",
            dispensed_on,
        })
    }
}

/// Implements D-11: valid from the day written through written + 30 calendar days.
fn check_prescription_valid(
    prescription: &KgPrescription,
    dispensed_on: NaiveDate,
    policy: &KgPolicy,
) -> Result<(), KgError> {
    let valid_until = prescription
        .written_on
        .checked_add_days(chrono::Days::new(u64::from(policy.prescription_validity.0)))
        .expect("a prescription date plus a month stays within chrono's range");
    if dispensed_on < prescription.written_on || dispensed_on > valid_until {
        return Err(KgError::PrescriptionNotValid {
            rule: "D-11",
            number: prescription.number.clone(),
            written_on: prescription.written_on,
            valid_until,
            dispensed_on,
        });
    }
    Ok(())
}

/// Implements M-18 (substitution within the generic group) and R-03 (another drug: nothing paid).
fn check_substitution(
    prescription: &KgPrescription,
    entry: &ReferenceBookEntry,
) -> Result<bool, KgError> {
    if entry.drug_id == prescription.drug_id {
        return Ok(false);
    }
    if entry.generic_group == prescription.generic_group {
        return Ok(true);
    }
    Err(KgError::DispensedNotPrescribed {
        rule: "R-03",
        number: prescription.number.clone(),
        prescribed: prescription.drug_id.clone(),
        prescribed_group: prescription.generic_group.clone(),
        dispensed: entry.drug_id.clone(),
    })
}

/// Implements M-16: the charged price matches the shelf price and stays within the approved price;
/// and A-36/M-17: the receipt is in som and not negative.
fn check_retail_price(dispensing: &KgDispensing) -> Result<(), KgError> {
    let charged = dispensing.retail_unit_price;
    if let Some(shelf) = dispensing.shelf_unit_price
        && shelf != charged
    {
        return Err(KgError::RetailPrice {
            rule: "M-16",
            charged,
            limit: shelf,
            which: "the shelf price",
        });
    }
    if let Some(approved) = dispensing.approved_retail_unit_price
        && charged > approved
    {
        return Err(KgError::RetailPrice {
            rule: "M-16",
            charged,
            limit: approved,
            which: "the approved retail price",
        });
    }
    let paid = dispensing.patient_paid;
    if paid.currency != Currency::KGS || paid.is_negative() {
        return Err(KgError::PatientPaidInvalid { rule: "M-17", paid });
    }
    Ok(())
}

struct UnitSplit {
    eligible: Quantity,
    excess: Option<Quantity>,
    closes: bool,
}

/// Implements M-14 and A-18: units within the remaining course dose are eligible; units above it are
/// the patient's. By default a prescription closes after one dispensing.
fn split_units(input: &KgReimbursementInput<'_>) -> Result<UnitSplit, KgError> {
    let prescription = input.prescription;
    let prior = input
        .prior_dispensed_units
        .map_or(Decimal::ZERO, Quantity::value);
    if prior > Decimal::ZERO
        && input.policy.partial_dispensing == PartialDispensing::ClosesPrescription
    {
        return Err(KgError::PrescriptionClosed {
            rule: "A-18",
            number: prescription.number.clone(),
        });
    }
    let remaining = prescription.course_dose_units.value() - prior;
    let Ok(remaining) = Quantity::new(remaining) else {
        return Err(KgError::CourseDoseExhausted {
            rule: "M-14",
            number: prescription.number.clone(),
            course_dose_units: prescription.course_dose_units,
        });
    };
    let dispensed = input.dispensing.units;
    let eligible = dispensed.min(remaining);
    let excess = Quantity::new(dispensed.value() - eligible.value()).ok();
    let closes = input.policy.partial_dispensing == PartialDispensing::ClosesPrescription
        || eligible == remaining;
    Ok(UnitSplit {
        eligible,
        excess,
        closes,
    })
}

struct Amounts {
    compensation: Money,
    retail_total: Money,
    cap: Money,
    reimbursement: Money,
    patient_due: Money,
}

/// Implements M-09 (the MHIF pays part of the cost, the patient part), M-13, M-14 (pro rata per
/// unit), M-15 and A-17: reimbursement = min(eligible units × compensation per unit, retail total −
/// patient paid); a negative cap refuses the line.
fn compute_amounts(
    dispensing: &KgDispensing,
    entry: &ReferenceBookEntry,
    eligible: Quantity,
) -> Result<Amounts, KgError> {
    let money = |source: MoneyError| KgError::Money {
        rule: "A-36",
        source,
    };
    let compensation =
        line_amount(eligible, entry.compensation_per_unit, Currency::KGS).map_err(money)?;
    let retail_total = line_amount(
        dispensing.units,
        dispensing.retail_unit_price,
        Currency::KGS,
    )
    .map_err(money)?;
    let cap = retail_total
        .checked_sub(dispensing.patient_paid)
        .map_err(money)?;
    if cap.is_negative() {
        return Err(KgError::PatientPaidExceedsRetail {
            rule: "M-15",
            retail_total,
            patient_paid: dispensing.patient_paid,
        });
    }
    let reimbursement = if compensation.minor <= cap.minor {
        compensation
    } else {
        cap
    };
    assert!(
        reimbursement.minor >= 0,
        "M-15: reimbursement is never negative"
    );
    assert!(
        reimbursement.minor <= cap.minor,
        "M-15: reimbursement ≤ retail − patient paid"
    );
    let patient_due = retail_total.checked_sub(reimbursement).map_err(money)?;
    assert!(
        patient_due.minor >= dispensing.patient_paid.minor,
        "M-12: the patient owes at least what the receipt shows"
    );
    Ok(Amounts {
        compensation,
        retail_total,
        cap,
        reimbursement,
        patient_due,
    })
}

/// Implements A-19 and B-05: passing the indicative limit warns (or refuses, when configured).
fn check_patient_limit(
    input: &KgReimbursementInput<'_>,
    reimbursement: Money,
) -> Result<Vec<KgWarning>, KgError> {
    let Some(parameters) = input
        .patient_limits
        .in_force_on(input.dispensing.dispensed_on)
    else {
        return Ok(Vec::new());
    };
    let money = |source: MoneyError| KgError::Money {
        rule: "A-36",
        source,
    };
    let limit = parameters.limit().map_err(money)?;
    let compensated_after = input
        .patient_compensated_this_year
        .checked_add(reimbursement)
        .map_err(money)?;
    if compensated_after.minor <= limit.minor {
        return Ok(Vec::new());
    }
    match input.policy.limit_enforcement {
        LimitEnforcement::Warn => Ok(vec![KgWarning::PatientLimitExceeded {
            limit,
            compensated_after,
        }]),
        LimitEnforcement::Block => Err(KgError::PatientLimitExceeded {
            rule: "A-19",
            patient_pin: input.prescription.patient_pin.to_string(),
            limit,
            compensated_after,
        }),
    }
}
