//! Upcasters: older schema versions of events, frozen, and how each becomes the current version
//! (STYLE §2.8, `docs/schema-evolution.md`). Upcasting happens only when reading; stored bytes and
//! their hash-chain links are never rewritten.

use serde::{Deserialize, Serialize};

use super::clock::Deadline;
use super::event::Event;
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

/// The current event for a payload of an older schema version, or `None` when the payload is not of
/// an upcast version (the caller then decodes it directly).
pub fn upcast(payload: &Payload) -> Option<Result<Event, CodecError>> {
    match (payload.event_type.as_str(), payload.schema_version) {
        ("RegistrySubmitted", 1) => Some(
            codec::decode::<RegistrySubmittedV1>(&payload.data)
                .map(|v1| Event::RegistrySubmitted(RegistrySubmitted::from(v1))),
        ),
        _ => None,
    }
}

/// The JSON Schemas of the frozen older versions, for `schemas/` (`(event type, version, schema)`).
pub fn old_json_schemas() -> Vec<(&'static str, u16, schemars::Schema)> {
    vec![(
        "RegistrySubmitted",
        1,
        schemars::schema_for!(RegistrySubmittedV1),
    )]
}
