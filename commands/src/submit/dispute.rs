//! The JSON form of the KG prescription disputes (X-01…X-03, D-12, A-27; S002 §48–50): a written
//! claim, and the commission's resolution. The domain's [`FileDisputeClaim`] also holds what the
//! writer derives rather than trusts from the client: the local date of filing (Asia/Bishkek) and
//! when the pharmacy's payment report for the dispensing month was submitted, which the writer reads
//! from the KG period stream (`kg_context`).

use chrono::{Datelike, NaiveDate};
use ledger::domain::calendar::local_date;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::kg::dispute::{
    DisputeDecision, DisputeError, FileDisputeClaim, ResolveDispute,
};
use ledger::domain::time::Timestamp;
use ledger::domain::values::{ContractId, ReportingPeriod};
use serde::{Deserialize, Serialize};

use super::Refusal;

/// X-01, D-12, A-27: a written claim about a prescription dispensed under a KG contract, filed on
/// `contract/<contract_id>/dispute/<dispute_id>`. Accepted in the dispensing month, before the
/// pharmacy's payment report for that month is submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileKgDisputeClaim {
    pub dispute_id: String,
    pub contract_id: ContractId,
    pub prescription_number: String,
    pub dispensed_on: NaiveDate,
    /// When the written claim was received; its Asia/Bishkek date is the filing date.
    pub filed_at: Timestamp,
    pub claimant: String,
    /// The claim's text (X-01: a claim is written).
    pub claim: String,
}

/// the commission (at least three members) resolves the dispute in a protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveKgDispute {
    pub protocol_id: String,
    pub commission_members: Vec<String>,
    pub decision: DisputeDecision,
    pub resolved_on: NaiveDate,
}

/// A dispute command as routed, before the writer adds the context it reads.
#[derive(Debug, Clone)]
pub enum KgDisputeCommand {
    File(FileKgDisputeClaim),
    Resolve(ResolveKgDispute),
}

/// The stream of one dispute: under its contract's id, so that it lands on the contract's partition
/// (`StreamId::partition_key`, docs/decisions.md #11).
pub fn dispute_stream(contract_id: &str, dispute_id: &str) -> String {
    format!("contract/{contract_id}/dispute/{dispute_id}")
}

impl FileKgDisputeClaim {
    /// The reporting month whose payment report closes the claim's window (A-27: the dispensing
    /// month, not the month the dispute arises).
    pub fn dispensing_month(&self) -> ReportingPeriod {
        ReportingPeriod::month(self.dispensed_on.year(), self.dispensed_on.month())
            .expect("a calendar date's month is a valid reporting month")
    }

    /// The domain command: `filed_on` is the KG local date of `filed_at` (RULES "Day counting"), and
    /// `report_submitted_at` the first submission of the dispensing month's payment report, if any.
    pub fn into_domain(self, report_submitted_at: Option<Timestamp>) -> FileDisputeClaim {
        FileDisputeClaim {
            dispute_id: self.dispute_id,
            contract_id: self.contract_id.as_str().to_owned(),
            prescription_number: self.prescription_number,
            dispensed_on: self.dispensed_on,
            filed_at: self.filed_at,
            filed_on: local_date(Jurisdiction::KG, self.filed_at),
            claimant: self.claimant,
            claim: self.claim,
            report_submitted_at,
        }
    }
}

impl From<ResolveKgDispute> for ResolveDispute {
    fn from(command: ResolveKgDispute) -> ResolveDispute {
        ResolveDispute {
            protocol_id: command.protocol_id,
            commission_members: command.commission_members,
            decision: command.decision,
            resolved_on: command.resolved_on,
        }
    }
}

/// A dispute refusal, naming the field of the command that the rule refused.
pub fn refusal(error: &DisputeError) -> Refusal {
    let field = match error {
        DisputeError::ClaimOutsideWindow { .. } | DisputeError::ClaimAfterReport { .. } => {
            Some("command.filed_at")
        }
        DisputeError::ClaimNotWritten { .. } => Some("command.claim"),
        DisputeError::CommissionTooSmall { .. } => Some("command.commission_members"),
        DisputeError::MissingProtocol { .. } => Some("command.protocol_id"),
        DisputeError::WrongState { .. }
        | DisputeError::Unresolved { .. }
        | DisputeError::ProtocolNotCited { .. } => None,
    };
    Refusal {
        rule: error.rule().to_owned(),
        field: field.map(str::to_owned),
        message: error.to_string(),
    }
}
