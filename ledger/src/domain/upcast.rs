//! Upcasters: older schema versions of events, frozen, and how each becomes the current version
//! (STYLE §2.8, `docs/schema-evolution.md`). Upcasting happens only when reading; stored bytes and
//! their hash-chain links are never rewritten.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::clock::Deadline;
use super::contract::events::{ContractConcluded, ContractTerm};
use super::contract::kg::{KgContractConcluded, TaxDebtCheck};
use super::event::Event;
use super::ident::Bin;
use super::kg::{DrugId, KgDispensing, KgPrescription, KgReimbursement};
use super::money::Money;
use super::money::Quantity;
use super::period::events::{RegistryLine, RegistrySubmitted};
use super::period::kg::KgDispensingRecorded;
use super::region::Region;
use super::signature::Signature;
use super::time::Timestamp;
use super::values::{
    ContractId, DispensingId, DocumentHash, DocumentNumber, KgPin, ReportingPeriod,
};
use crate::codec::{self, CodecError};
use crate::log::Payload;

/// `RegistrySubmitted` v1 (frozen): it copied every registry line into the event. A national
/// registry of ~10⁵ lines made one event tens of megabytes, so v2 keeps only `line_count`; the lines
/// are the live dispensings folded before the event in the same stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistrySubmittedV1 {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub registry_no: DocumentNumber,
    pub submitted_at: Timestamp,
    pub submission: u32,
    pub lines: Vec<RegistryLine>,
    pub content_hash: DocumentHash,
    pub total_fund: Money,
    pub total_patient: Money,
    pub total: Money,
    pub due: Deadline,
    pub late: bool,
    pub signature: Signature,
}

impl From<RegistrySubmittedV1> for RegistrySubmitted {
    /// v1 → v2: the lines are dropped (they are still on the log as dispensings) and counted.
    fn from(v1: RegistrySubmittedV1) -> RegistrySubmitted {
        RegistrySubmitted {
            contract_id: v1.contract_id,
            period: v1.period,
            registry_no: v1.registry_no,
            submitted_at: v1.submitted_at,
            submission: v1.submission,
            line_count: u32::try_from(v1.lines.len())
                .expect("a registry has at most REGISTRY_LINES_MAX lines"),
            content_hash: v1.content_hash,
            total_fund: v1.total_fund,
            total_patient: v1.total_patient,
            total: v1.total,
            due: v1.due,
            late: v1.late,
            signature: v1.signature,
        }
    }
}

/// `ContractConcluded` v1 (frozen): before the conclusion carried the registry's due terms (issue
/// #17), a REGISTRY_SUBMISSION clock appeared only once a registry arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContractConcludedV1 {
    pub contract_id: ContractId,
    pub concluded_at: Timestamp,
    pub holder: Bin,
    pub term: ContractTerm,
    /// E-01/E-03 counts the decision was made on (A-32: unique licences; A-31: pharmacy regions).
    pub pharmacies: u32,
    pub regions: u32,
    pub rule_set_version: u32,
    /// The Fund's signature over the contract document.
    pub signature: Signature,
}

impl From<ContractConcludedV1> for ContractConcluded {
    /// v1 → v2: the due terms were not recorded, so they stay unknown (`None`); the law's 25th
    /// (D-02) is what the deadline view applies to such a contract.
    fn from(v1: ContractConcludedV1) -> ContractConcluded {
        ContractConcluded {
            contract_id: v1.contract_id,
            concluded_at: v1.concluded_at,
            holder: v1.holder,
            term: v1.term,
            pharmacies: v1.pharmacies,
            regions: v1.regions,
            rule_set_version: v1.rule_set_version,
            signature: v1.signature,
            registry_due: None,
        }
    }
}

/// `KgContractConcluded` v1 (frozen): before the contract recorded its report deadline (D-13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgContractConcludedV1 {
    pub contract_id: ContractId,
    pub concluded_at: Timestamp,
    pub term: ContractTerm,
    pub tax_check: TaxDebtCheck,
    pub rule_set_version: u32,
}

impl From<KgContractConcludedV1> for KgContractConcluded {
    /// v1 → v2: S002 leaves the report deadline to the contract and a v1 contract recorded none, so
    /// it stays unknown (`None`): no KG_PAYMENT_REPORT clock is derived for it.
    fn from(v1: KgContractConcludedV1) -> KgContractConcluded {
        KgContractConcluded {
            contract_id: v1.contract_id,
            concluded_at: v1.concluded_at,
            term: v1.term,
            tax_check: v1.tax_check,
            rule_set_version: v1.rule_set_version,
            report_due: None,
        }
    }
}

/// The prescription of `KgDispensingRecorded` v1 (frozen): before it carried the patient's
/// eligibility (E-08, V-06).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgPrescriptionV1 {
    pub number: String,
    pub patient_pin: KgPin,
    pub written_on: NaiveDate,
    pub prescriber_region: Region,
    pub drug_id: DrugId,
    pub generic_group: String,
    pub course_dose_units: Quantity,
}

/// `KgDispensingRecorded` v1 (frozen): its prescription carried no patient eligibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgDispensingRecordedV1 {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub dispensing_id: DispensingId,
    pub dispensed_at: Timestamp,
    pub prescription: KgPrescriptionV1,
    pub dispensing: KgDispensing,
    pub reimbursement: KgReimbursement,
    pub rule_set_version: u32,
}

impl From<KgDispensingRecordedV1> for KgDispensingRecorded {
    /// v1 → v2: the eligibility the information system confirmed was not recorded: unknown (`None`).
    fn from(v1: KgDispensingRecordedV1) -> KgDispensingRecorded {
        let prescription = v1.prescription;
        KgDispensingRecorded {
            contract_id: v1.contract_id,
            period: v1.period,
            dispensing_id: v1.dispensing_id,
            dispensed_at: v1.dispensed_at,
            prescription: KgPrescription {
                number: prescription.number,
                patient_pin: prescription.patient_pin,
                written_on: prescription.written_on,
                prescriber_region: prescription.prescriber_region,
                drug_id: prescription.drug_id,
                generic_group: prescription.generic_group,
                course_dose_units: prescription.course_dose_units,
                eligibility: None,
            },
            dispensing: v1.dispensing,
            reimbursement: v1.reimbursement,
            rule_set_version: v1.rule_set_version,
        }
    }
}

/// The current event for a payload of an older schema version, or `None` when the payload is not of
/// an upcast version (the caller then decodes it directly).
pub fn upcast(payload: &Payload) -> Option<Result<Event, CodecError>> {
    let data = &payload.data;
    match (payload.event_type.as_str(), payload.schema_version) {
        ("RegistrySubmitted", 1) => Some(
            codec::decode::<RegistrySubmittedV1>(data)
                .map(|v1| Event::RegistrySubmitted(RegistrySubmitted::from(v1))),
        ),
        ("ContractConcluded", 1) => Some(
            codec::decode::<ContractConcludedV1>(data)
                .map(|v1| Event::ContractConcluded(ContractConcluded::from(v1))),
        ),
        ("KgContractConcluded", 1) => Some(
            codec::decode::<KgContractConcludedV1>(data)
                .map(|v1| Event::KgContractConcluded(KgContractConcluded::from(v1))),
        ),
        ("KgDispensingRecorded", 1) => Some(
            codec::decode::<KgDispensingRecordedV1>(data)
                .map(|v1| Event::KgDispensingRecorded(KgDispensingRecorded::from(v1))),
        ),
        _ => None,
    }
}

/// The JSON Schemas of the frozen older versions, for `schemas/` (`(event type, version, schema)`).
pub fn old_json_schemas() -> Vec<(&'static str, u16, schemars::Schema)> {
    vec![
        (
            "RegistrySubmitted",
            1,
            schemars::schema_for!(RegistrySubmittedV1),
        ),
        (
            "ContractConcluded",
            1,
            schemars::schema_for!(ContractConcludedV1),
        ),
        (
            "KgContractConcluded",
            1,
            schemars::schema_for!(KgContractConcludedV1),
        ),
        (
            "KgDispensingRecorded",
            1,
            schemars::schema_for!(KgDispensingRecordedV1),
        ),
    ]
}
