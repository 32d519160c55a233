//! The Kyrgyz additional-programme policy (S002): the Reference Book, the dispensing reimbursement,
//! the per-patient limit, disputes and recovery. The KG contract lifecycle is the engine's
//! `contract::kg` aggregate; the KG settlement of a period is `period::kg`.
//!
//! **Invariant :** nothing here is called for Kazakhstan. The KZ co-payment formula has no
//! course dose, retail cap, reference book, disputes or recovery; the engine dispatches on the
//! jurisdiction and only KG reaches this module.

pub mod dispute;
#[cfg(test)]
mod dispute_tests;
mod error;
mod patient_limit;
pub mod recovery;
mod reference_book;
mod reimbursement;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use error::KgError;
pub use patient_limit::{
    LimitEnforcement, MULTIPLIER_DEFAULT, PatientLimitParameters, PatientLimitSchedule,
};
pub use reference_book::{
    DrugId, PUBLICATIONS_PER_YEAR_MIN, PriceBasis, REFERENCE_BOOK_ENTRIES_MAX, ReferenceBookEntry,
    ReferenceBookPublished, ReferenceBooks, decide_publish, evolve_books,
};
pub use reimbursement::{
    KgDispensing, KgPolicy, KgPrescription, KgReimbursement, KgReimbursementInput, KgWarning,
    PRESCRIPTION_VALIDITY, PartialDispensing, PatientEligibility, kg_reimbursement,
};

/// The Kyrgyz policy events (externally tagged, as the codec requires).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum KgEvent {
    ReferenceBookPublished(ReferenceBookPublished),
}

impl KgEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            KgEvent::ReferenceBookPublished(_) => "ReferenceBookPublished",
        }
    }
}
