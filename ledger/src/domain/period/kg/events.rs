//! Facts of a Kyrgyz settlement stream `period/<contract-id>/<period>` (S002 §33–§53).
//!
//! Beside, never instead of, the Kazakh period facts: a KG contract's period stream holds only
//! these events, a KZ contract's period stream never holds them.

use serde::{Deserialize, Serialize};

use crate::domain::kg::{KgDispensing, KgPrescription, KgReimbursement};
use crate::domain::money::Money;
use crate::domain::time::Timestamp;
use crate::domain::values::{
    ContractId, DispensingId, DocumentHash, DocumentNumber, ReportingPeriod,
};

/// E-11, D-11, M-10…M-19, R-03, A-16…A-19: one reimbursed dispensing on a preferential prescription,
/// with the prescription and the sale it was decided on and the decided reimbursement (DESIGN §2:
/// events carry their facts, so views and audits never re-run the policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgDispensingRecorded {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub dispensing_id: DispensingId,
    pub dispensed_at: Timestamp,
    /// E-11: found by the patient's PIN and the prescription number, whatever the region.
    pub prescription: KgPrescription,
    pub dispensing: KgDispensing,
    /// Book version, units, compensation, cap, reimbursement and any A-19 warning.
    pub reimbursement: KgReimbursement,
    pub rule_set_version: u32,
}

/// P-09: a correction while the report is open or rejected: the dispensing is no longer claimed
/// (corrections are reversals, never edits). `reimbursement` is the amount withdrawn, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgDispensingReversed {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub dispensing_id: DispensingId,
    pub reversed_at: Timestamp,
    pub reason: String,
    pub reimbursement: Money,
}

/// P-09, D-13: the pharmacy's monthly payment report, fixed by the hash of its lines (the live
/// dispensings of the stream, in line order). Like the KZ registry, the lines are not copied into the
/// event; `line_count` and `content_hash` let any reader check its fold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgPaymentReportSubmitted {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub report_no: DocumentNumber,
    pub submitted_at: Timestamp,
    /// 1 for the first submission, 2… after a rejection.
    pub submission: u32,
    pub line_count: u32,
    pub content_hash: DocumentHash,
    /// Σ reimbursement: what the MHIF owes before recovery offsets (KGS).
    pub total_reimbursement: Money,
    /// Σ retail totals and Σ what the patients paid, for the report's reader.
    pub total_retail: Money,
    pub total_patient_paid: Money,
}

/// P-09, R-04, A-26: the MHIF reviewed and approved the report; `offsets` (the `RecoveryOffset`
/// events decided with it) reduce the gross to the net payable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgPaymentReportApproved {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub report_no: DocumentNumber,
    pub content_hash: DocumentHash,
    pub approved_at: Timestamp,
    pub gross: Money,
    /// Σ of the recovery offsets of this settlement.
    pub offset_total: Money,
    /// gross − offsets, never negative.
    pub net_payable: Money,
}

/// The MHIF reviewed the report and sent it back with reasons; the pharmacy corrects and resubmits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgPaymentReportRejected {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub report_no: DocumentNumber,
    pub rejected_at: Timestamp,
    pub reasons: Vec<String>,
}

/// P-09: a transfer to the pharmacy against the approved net payable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KgSettlementPaid {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub payment_order: DocumentNumber,
    pub paid_at: Timestamp,
    pub amount: Money,
}
