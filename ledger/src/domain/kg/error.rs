//! Why a Kyrgyz reimbursement, reference-book or contract step was refused. Every variant names the
//! rule and the input at fault.

use chrono::NaiveDate;

use super::reference_book::DrugId;
use crate::domain::money::{Money, MoneyError, Quantity, UnitPrice};
use crate::domain::region::Region;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KgError {
    #[error("drug id \"{value}\" must be 1 to 64 printable characters without spaces ({rule})")]
    InvalidDrugId { rule: &'static str, value: String },
    #[error(
        "reference book version {version} cannot be published: the next version is {expected} ({rule})"
    )]
    BookVersionNotNext {
        rule: &'static str,
        version: u32,
        expected: u32,
    },
    #[error(
        "reference book version {version} takes effect {effective_from}, before the previous version's {previous}; publish a correction with a later date ({rule})"
    )]
    BookEffectiveBeforePrevious {
        rule: &'static str,
        version: u32,
        effective_from: NaiveDate,
        previous: NaiveDate,
    },
    #[error(
        "reference book version {version} has {count} entries: it must have 1 to 20000 ({rule})"
    )]
    BookSize {
        rule: &'static str,
        version: u32,
        count: usize,
    },
    #[error("reference book version {version}, drug \"{drug_id}\": {field} {problem} ({rule})")]
    InvalidBookEntry {
        rule: &'static str,
        version: u32,
        drug_id: DrugId,
        field: &'static str,
        problem: &'static str,
    },
    #[error(
        "region {region:?} is not Kyrgyz: the Kyrgyz reimbursement rules never apply to it ({rule})"
    )]
    NotKyrgyz { rule: &'static str, region: Region },
    #[error(
        "dispensing on {dispensed_on} is outside the contract's validity: no compensation ({rule})"
    )]
    OutsideContract {
        rule: &'static str,
        dispensed_on: NaiveDate,
    },
    #[error(
        "prescription \"{number}\" written {written_on} is valid through {valid_until}, not on {dispensed_on} ({rule})"
    )]
    PrescriptionNotValid {
        rule: &'static str,
        number: String,
        written_on: NaiveDate,
        valid_until: NaiveDate,
        dispensed_on: NaiveDate,
    },
    #[error("no reference book is in force on {date} ({rule})")]
    NoReferenceBookInForce { rule: &'static str, date: NaiveDate },
    #[error(
        "drug \"{drug_id}\" is not in reference book version {version}: only listed drugs are dispensed on preferential prescriptions ({rule})"
    )]
    NotInReferenceBook {
        rule: &'static str,
        drug_id: DrugId,
        version: u32,
    },
    #[error(
        "prescription \"{number}\": dispensed drug \"{dispensed}\" is not the prescribed \"{prescribed}\" nor of its group \"{prescribed_group}\", so nothing is reimbursed ({rule})"
    )]
    DispensedNotPrescribed {
        rule: &'static str,
        number: String,
        prescribed: DrugId,
        prescribed_group: String,
        dispensed: DrugId,
    },
    #[error("retail unit price {charged} differs from or exceeds {which} {limit} ({rule})")]
    RetailPrice {
        rule: &'static str,
        charged: UnitPrice,
        limit: UnitPrice,
        which: &'static str,
    },
    #[error("patient paid {paid}: the receipt amount must be a non-negative KGS amount ({rule})")]
    PatientPaidInvalid { rule: &'static str, paid: Money },
    #[error("prescription \"{number}\" was closed by an earlier dispensing ({rule})")]
    PrescriptionClosed { rule: &'static str, number: String },
    #[error(
        "prescription \"{number}\": the course dose of {course_dose_units} units is already dispensed ({rule})"
    )]
    CourseDoseExhausted {
        rule: &'static str,
        number: String,
        course_dose_units: Quantity,
    },
    #[error(
        "patient paid {patient_paid}, more than the retail total {retail_total}: the line is refused ({rule})"
    )]
    PatientPaidExceedsRetail {
        rule: &'static str,
        retail_total: Money,
        patient_paid: Money,
    },
    #[error(
        "patient {patient_pin}: compensation this year would reach {compensated_after}, above the limit {limit} ({rule})"
    )]
    PatientLimitExceeded {
        rule: &'static str,
        patient_pin: String,
        limit: Money,
        compensated_after: Money,
    },
    #[error(
        "patient {patient_pin} on prescription \"{number}\" is not eligible: {detail} ({rule})"
    )]
    PatientNotEligible {
        rule: &'static str,
        patient_pin: String,
        number: String,
        detail: String,
    },
    #[error("amount arithmetic failed: {source} ({rule})")]
    Money {
        rule: &'static str,
        #[source]
        source: MoneyError,
    },
}

impl KgError {
    /// The ID of the rule that refused the input (RULES.md).
    pub fn rule(&self) -> &'static str {
        match self {
            KgError::InvalidDrugId { rule, .. } => rule,
            KgError::BookVersionNotNext { rule, .. } => rule,
            KgError::BookEffectiveBeforePrevious { rule, .. } => rule,
            KgError::BookSize { rule, .. } => rule,
            KgError::InvalidBookEntry { rule, .. } => rule,
            KgError::NotKyrgyz { rule, .. } => rule,
            KgError::OutsideContract { rule, .. } => rule,
            KgError::PrescriptionNotValid { rule, .. } => rule,
            KgError::NoReferenceBookInForce { rule, .. } => rule,
            KgError::NotInReferenceBook { rule, .. } => rule,
            KgError::DispensedNotPrescribed { rule, .. } => rule,
            KgError::RetailPrice { rule, .. } => rule,
            KgError::PatientPaidInvalid { rule, .. } => rule,
            KgError::PrescriptionClosed { rule, .. } => rule,
            KgError::PatientNotEligible { rule, .. } => rule,
            KgError::CourseDoseExhausted { rule, .. } => rule,
            KgError::PatientPaidExceedsRetail { rule, .. } => rule,
            KgError::PatientLimitExceeded { rule, .. } => rule,
            KgError::Money { rule, .. } => rule,
        }
    }
}
