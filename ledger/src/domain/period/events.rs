//! Facts of a reporting-period stream `period/<contract-id>/<period>` (S001 §18–§28, App. 1, App. 2).

use serde::{Deserialize, Serialize};

use crate::domain::calendar::CalendarDays;
use crate::domain::clock::Deadline;
use crate::domain::ident::{Bin, Iin};
use crate::domain::money::{Money, Quantity, UnitPrice};
use crate::domain::prices::ProductKey;
use crate::domain::region::{Programme, Region};
use crate::domain::rules::{LineAmounts, PriceType};
use crate::domain::signature::Signature;
use crate::domain::time::Timestamp;
use crate::domain::values::{
    ContractId, DispensingId, DocumentHash, DocumentNumber, FiscalReceipt, Icd10, MarkingCode,
    OrganisationName, PrescriptionRef, ReportingPeriod, TradeName, UnitOfMeasure,
};

/// M-01…M-08, A-10, A-13, A-14, A-33, A-37: one reimbursable dispensing, with every fact it was priced
/// on (DESIGN §2). Column numbers refer to App. 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DispensingRecorded {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub dispensing_id: DispensingId,
    pub dispensed_at: Timestamp,
    /// Col 2, col 3: the entity that actually dispensed.
    pub dispenser_name: OrganisationName,
    pub dispenser_bin: Bin,
    /// Col 4: the dispensing pharmacy's region.
    pub region: Region,
    /// The patient's own region, kept as an extra attribute.
    pub patient_region: Option<Region>,
    /// Col 5.
    pub icd10: Icd10,
    /// Col 6.
    pub patient_iin: Iin,
    /// Col 7.
    pub prescription: PrescriptionRef,
    /// the prescriber recorded the patient's consent to co-payment.
    pub copayment_consent: bool,
    ///
    pub programme: Programme,
    /// Col 8 and col 10 (or the device characteristic, A-13).
    pub product: ProductKey,
    /// Col 9.
    pub trade_name: TradeName,
    /// Col 11.
    pub unit: UnitOfMeasure,
    /// internal, not printed.
    pub quantity: Quantity,
    /// Col 12.
    pub limit_unit_price: UnitPrice,
    pub trade_name_unit_price: UnitPrice,
    pub price_type: PriceType,
    pub price_list_version: u32,
    /// Col 13.
    pub fiscal_receipt: FiscalReceipt,
    /// Col 14.
    pub marking_code: MarkingCode,
    /// Col 15, 16, 17.
    pub amounts: LineAmounts,
    pub rule_set_version: u32,
}

/// A correction: the dispensing is no longer claimed (corrections are reversals, never edits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DispensingReversed {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub dispensing_id: DispensingId,
    pub reversed_at: Timestamp,
    pub reason: String,
    /// The amounts withdrawn (as recorded).
    pub amounts: LineAmounts,
}

/// One line of the summary registry (App. 1), copied from its dispensing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistryLine {
    /// Col 1.
    pub line_no: u32,
    pub dispensing_id: DispensingId,
    pub dispenser_name: OrganisationName,
    pub dispenser_bin: Bin,
    pub region: Region,
    /// Not printed on App. 1; kept so budgets can be charged per programme (A-34, F-03).
    pub programme: Programme,
    pub icd10: Icd10,
    pub patient_iin: Iin,
    pub prescription: PrescriptionRef,
    pub product: ProductKey,
    pub trade_name: TradeName,
    pub unit: UnitOfMeasure,
    pub limit_unit_price: UnitPrice,
    pub fiscal_receipt: FiscalReceipt,
    pub marking_code: MarkingCode,
    /// Col 15 (Fund), col 16 (patient), col 17 (total).
    pub fund_amount: Money,
    pub patient_amount: Money,
    pub total_amount: Money,
}

/// D-02, D-03, P-06: the registry was submitted; its content is fixed by `content_hash` (SHA-256 of
/// the canonical line list). `late` is judged against the REGISTRY_SUBMISSION deadline (A-06: it
/// counts for the first submission).
///
/// The lines themselves are not copied into the event: they are the live dispensings of the same
/// stream folded before it, in line order (`registry::registry_lines`), which no command can change
/// until a rejection reopens the registry. A national registry has ~10⁵ lines; copying them would make
/// one event tens of megabytes. `line_count` and `content_hash` let any reader check its fold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistrySubmitted {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub registry_no: DocumentNumber,
    pub submitted_at: Timestamp,
    /// 1 for the first submission, 2… for resubmissions after a rejection.
    pub submission: u32,
    /// Number of lines (App. 1 col 1 runs 1…line_count).
    pub line_count: u32,
    pub content_hash: DocumentHash,
    /// Σ col 15 (the payable total, A-11), Σ col 16, Σ col 17.
    pub total_fund: Money,
    pub total_patient: Money,
    pub total: Money,
    pub due: Deadline,
    pub late: bool,
    pub signature: Signature,
}

/// D-04, A-02: the Fund received the registry; starts REGISTRY_REVIEW (10 WD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistryReceived {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub registry_no: DocumentNumber,
    pub content_hash: DocumentHash,
    pub received_at: Timestamp,
    pub review: Deadline,
}

/// D-04, P-07: the Fund approved the registry as submitted (no partial approval, A-06).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistryApproved {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub registry_no: DocumentNumber,
    pub content_hash: DocumentHash,
    pub approved_at: Timestamp,
    pub total_fund: Money,
    /// the ACT_SUBMISSION deadline, when the rule set configures a grace period.
    pub act_submission: Option<Deadline>,
    pub signature: Signature,
}

/// Why one registry line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LineRejection {
    pub line_no: u32,
    pub code: String,
    pub reason: String,
}

/// A-06, P-07: the Fund rejected the whole registry, with per-line reason codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistryRejected {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub registry_no: DocumentNumber,
    pub content_hash: DocumentHash,
    pub rejected_at: Timestamp,
    pub reason: String,
    pub lines: Vec<LineRejection>,
}

/// The Fund amount of one programme (A-34, F-03): an act's share per funding source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProgrammeAmount {
    pub programme: Programme,
    pub amount: Money,
}

/// One row of the payment act (App. 2): per region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActRow {
    /// Col 1.
    pub row_no: u32,
    /// Col 2.
    pub region: Region,
    /// Col 3: the contract holder.
    pub supplier: OrganisationName,
    /// Col 4: distinct (prescription no., date) of the region.
    pub prescriptions: u32,
    /// Col 5: Σ col 15 of the region.
    pub fund_amount: Money,
}

/// D-05, P-05: the act was sent after approval; total = approved registry Σ col 15.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentActSubmitted {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub act_no: DocumentNumber,
    pub submitted_at: Timestamp,
    pub registry_hash: DocumentHash,
    pub rows: Vec<ActRow>,
    pub total: Money,
    /// Σ col 15 per programme; sums to `total` (not printed, A-34).
    pub by_programme: Vec<ProgrammeAmount>,
    pub content_hash: DocumentHash,
    pub signature: Signature,
}

/// D-06, A-02: the Fund received the act; starts ACT_SIGNING (5 WD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentActReceived {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub act_no: DocumentNumber,
    pub received_at: Timestamp,
    pub signing: Deadline,
}

/// D-06, D-07, B-07: the Fund signed the act; starts PAYMENT (5 CD). December service is charged to
/// the next fiscal year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentActSigned {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub act_no: DocumentNumber,
    pub signed_at: Timestamp,
    pub total: Money,
    pub by_programme: Vec<ProgrammeAmount>,
    pub payment: Deadline,
    pub fiscal_year: i32,
    pub signature: Signature,
}

/// Why a payment clock is suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SuspensionReason {
    /// D-08: budget funds reached the Fund late.
    BudgetTransferLate,
}

/// D-08, A-08: the PAYMENT clock stopped; `remaining` calendar days continue on resumption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentClockSuspended {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub act_no: DocumentNumber,
    pub suspended_at: Timestamp,
    pub reason: SuspensionReason,
    pub remaining: CalendarDays,
}

/// D-08, A-08: the PAYMENT clock runs again with the remaining days (no restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentClockResumed {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub act_no: DocumentNumber,
    pub resumed_at: Timestamp,
    pub payment: Deadline,
}

/// D-07, B-07: the Fund paid (part of) the act; `fiscal_year` is the budget year charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentMade {
    pub contract_id: ContractId,
    pub period: ReportingPeriod,
    pub act_no: DocumentNumber,
    pub payment_ref: DocumentNumber,
    pub paid_at: Timestamp,
    pub amount: Money,
    /// The programme (budget line) the amount pays (A-34, F-03).
    pub programme: Programme,
    /// Σ of all payments on the act for this programme after this one.
    pub paid_programme_total: Money,
    /// Σ of all payments on the act after this one.
    pub paid_total: Money,
    pub fiscal_year: i32,
    /// The payer's BIN (the Fund).
    pub payer: Bin,
}
