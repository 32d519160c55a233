//! Facts of a Kyrgyz settlement stream `period/<contract-id>/<period>` (S002 §33–§53).
//!
//! Beside, never instead of, the Kazakh period facts: a KG contract's period stream holds only
//! these events, a KZ contract's period stream never holds them.

use serde::{Deserialize, Serialize};

use crate::domain::kg::{KgDispensing, KgPrescription, KgReimbursement};
use crate::domain::time::Timestamp;
use crate::domain::values::{ContractId, DispensingId, ReportingPeriod};

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
