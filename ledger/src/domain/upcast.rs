//! Upcasters: older schema versions of events, frozen, and how each becomes the current version
//! (STYLE §2.8, `docs/schema-evolution.md`). Upcasting happens only when reading; stored bytes and
//! their hash-chain links are never rewritten.

use serde::{Deserialize, Serialize};

use super::clock::Deadline;
use super::contract::events::{ContractConcluded, ContractTerm};
use super::contract::kg::{KgContractConcluded, TaxDebtCheck};
use super::event::Event;
use super::ident::Bin;
use super::money::Money;
use super::period::events::{RegistryLine, RegistrySubmitted};
use super::signature::Signature;
use super::time::Timestamp;
use super::values::{ContractId, DocumentHash, DocumentNumber, ReportingPeriod};
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
    ]
}
