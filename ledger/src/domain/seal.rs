//! Period seals (issue #15 §1): the Fund's signed statement of what a closed reporting month holds,
//! appended as [`PeriodSealed`] on `seal/<jurisdiction>/<YYYY-MM>`. Project rules (docs/domain.md,
//! "Period seals"): SEAL-01 a sealed month refuses every period command (the writers check it, since
//! it concerns other streams), SEAL-02 a month is sealed once per jurisdiction, SEAL-03 only a month
//! that has ended, SEAL-04 the seal states exactly what the log holds. The Fund's signature is checked
//! like every document signature (S-01…S-04).
//!
//! What the log holds is I/O, so the writer computes it ([`SealContext::observed`]) and the decision
//! compares it with what the Fund signed; nothing here reads the log.

use serde::{Deserialize, Serialize};

use super::context::{DecisionContext, local_date};
use super::error::DomainError;
use super::event::Event;
use super::jurisdiction::Jurisdiction;
use super::signature::{self, Signature, SignedBy};
use super::time::Timestamp;
use super::values::{DocumentHash, ReportingPeriod};

/// The name of the canonical export form whose SHA-256 a seal carries (docs/record-format.md).
pub const EXPORT_FORMAT: &str = "canonical-json-v1";

/// The stream of the seal of `period` in `jurisdiction`.
pub fn stream_id(jurisdiction: Jurisdiction, period: ReportingPeriod) -> String {
    format!("seal/{jurisdiction}/{}", period.key())
}

/// The prefix of one partition's hash chain that covers the period's events: from the partition's
/// first record through its last record holding an event of the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PartitionHead {
    pub partition: u32,
    /// Records in the prefix (all streams), which the head commits to.
    pub records: u64,
    /// The offset of the head record.
    pub head_offset: u64,
    /// The head record's chain hash (DESIGN §6).
    pub chain_head: DocumentHash,
    /// The period's events on the partition.
    pub events: u64,
}

/// Everything a seal states, and the Fund signs (its codec bytes' SHA-256 is the document hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SealContent {
    pub jurisdiction: Jurisdiction,
    pub period: ReportingPeriod,
    pub sealed_at: Timestamp,
    /// The period's events: every event on a `period/<contract-id>/<YYYY-MM>` stream of the month
    /// recorded under this jurisdiction.
    pub events: u64,
    /// One entry per partition holding events of the period, by partition number.
    pub partitions: Vec<PartitionHead>,
    /// The RFC 6962 root over the events' chain hashes in canonical order.
    pub merkle_root: DocumentHash,
    /// The form of the canonical export (`canonical-json-v1`).
    pub export_format: String,
    /// SHA-256 of the canonical export of the period's events.
    pub export_sha256: DocumentHash,
    /// The rule set in force on the period's last day.
    pub rule_set_version: u32,
    /// The jurisdiction's calendar version the writer decides on.
    pub calendar_version: u32,
    /// KZ: the limit-price list version in force on the period's last day; KG: the Reference
    /// Book version (M-10). None when none was published.
    pub price_list_version: Option<u32>,
}

impl SealContent {
    /// The hash the Fund signs.
    pub fn document_hash(&self) -> DocumentHash {
        DocumentHash::of(self)
    }
}

/// The command: seal a month with the Fund's signature over the content.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SealPeriod {
    pub seal: SealContent,
    pub signature: SignedBy,
}

/// The month is sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PeriodSealed {
    pub seal: SealContent,
    /// The Fund's signature over `seal.document_hash()`.
    pub signature: Signature,
}

/// A seal stream's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealState {
    pub sealed: Option<PeriodSealed>,
}

/// What a seal is decided against: the decision context and what the log holds for the month
/// (every field of [`SealContent`] but `sealed_at`, which is the command's).
pub struct SealContext<'a> {
    pub decision: &'a DecisionContext<'a>,
    pub observed: &'a SealContent,
}

/// Decides a seal: SEAL-02 (once), SEAL-03 (a month that has ended, in the jurisdiction's local
/// time), SEAL-04 (the content is what the log holds) and the Fund's signature (S-01…S-04).
pub fn decide(
    state: &SealState,
    command: SealPeriod,
    context: &SealContext<'_>,
) -> Result<Vec<Event>, DomainError> {
    let seal = &command.seal;
    let object = format!("period {} of {}", seal.period.key(), seal.jurisdiction);
    if let Some(sealed) = &state.sealed {
        return Err(DomainError::WrongStage {
            rule: "SEAL-02",
            object,
            action: "sealing",
            expected: "not yet sealed",
            actual: format!("sealed at {}", sealed.seal.sealed_at),
        });
    }
    let sealed_on = local_date(seal.jurisdiction, seal.sealed_at);
    if sealed_on <= seal.period.last_day() {
        return Err(DomainError::WrongStage {
            rule: "SEAL-03",
            object,
            action: "sealing",
            expected: "over",
            actual: format!(
                "still running on {sealed_on}, the local date of the seal (it ends on {})",
                seal.period.last_day()
            ),
        });
    }
    if let Some(detail) = first_difference(seal, context.observed) {
        return Err(DomainError::AmountMismatch {
            rule: "SEAL-04",
            subject: format!("the seal of {object}"),
            detail,
        });
    }
    let signature = signature::verify(
        context.decision.signatures,
        "period seal",
        &command.signature,
        context.decision.fund_bin,
        seal.document_hash(),
        seal.sealed_at,
    )?;
    Ok(vec![Event::PeriodSealed(PeriodSealed {
        seal: command.seal,
        signature,
    })])
}

/// The first field where the Fund's seal and the log disagree, named with both values.
fn first_difference(seal: &SealContent, observed: &SealContent) -> Option<String> {
    let pairs: [(&str, String, String); 10] = [
        (
            "jurisdiction",
            seal.jurisdiction.to_string(),
            observed.jurisdiction.to_string(),
        ),
        ("period", seal.period.key(), observed.period.key()),
        (
            "events",
            seal.events.to_string(),
            observed.events.to_string(),
        ),
        (
            "partitions",
            format!("{:?}", seal.partitions),
            format!("{:?}", observed.partitions),
        ),
        (
            "merkle_root",
            seal.merkle_root.to_hex(),
            observed.merkle_root.to_hex(),
        ),
        (
            "export_format",
            seal.export_format.clone(),
            observed.export_format.clone(),
        ),
        (
            "export_sha256",
            seal.export_sha256.to_hex(),
            observed.export_sha256.to_hex(),
        ),
        (
            "rule_set_version",
            seal.rule_set_version.to_string(),
            observed.rule_set_version.to_string(),
        ),
        (
            "calendar_version",
            seal.calendar_version.to_string(),
            observed.calendar_version.to_string(),
        ),
        (
            "price_list_version",
            format!("{:?}", seal.price_list_version),
            format!("{:?}", observed.price_list_version),
        ),
    ];
    pairs
        .into_iter()
        .find(|(_, stated, held)| stated != held)
        .map(|(field, stated, held)| {
            format!("{field} is {stated} in the seal but {held} in the log")
        })
}

/// Folds a seal stream.
pub fn evolve(mut state: SealState, event: &Event) -> SealState {
    if let Event::PeriodSealed(sealed) = event {
        state.sealed = Some(sealed.clone());
    }
    state
}

#[cfg(test)]
mod tests;
