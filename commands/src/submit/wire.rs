//! The JSON form of a command (docs/commands.md): an envelope carrying the idempotency key, the stream,
//! the actor and the jurisdiction, around one domain command tagged by `type`.
//!
//! The shape is a wire contract like the event schemas: `schemas/commands/command.schema.json` is
//! generated from these types and a test compares it with the checked-in file. Command types keep the
//! domain's names (`RecordDispensing`, `SubmitRegistry`); the budget's and the keys' short names get a
//! noun (`AllocateBudget`, `RegisterSigningKey`) so that every type name is unique across aggregates;
//! the Kyrgyz commands carry `Kg` (`RecordKgDispensing`, `ConcludeKgContract`, issue #8).

use ledger::domain::breach::RecordDeadlineBreach;
use ledger::domain::budget::{
    Allocate, ChargeCarriedOverrun, CloseYear, Commit, Pay, Redistribute, TransferToFund,
};
use ledger::domain::contract::{
    ChangeIssCertification, ChangePharmacyNetwork, ReceiveApplication, ReceiveTerminationNotice,
    ReviewApplication, SendTerminationNotice,
};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys::{RegisterSigningKey, RevokeSigningKey};
use ledger::domain::kg::ReferenceBookPublished;
use ledger::domain::kg::recovery::RecoveryAssessed;
use ledger::domain::period::kg::{
    ApproveKgPaymentReport, PayKgSettlement, RecordKgDispensing, RejectKgPaymentReport,
    ReverseKgDispensing, SubmitKgPaymentReport,
};
use ledger::domain::period::{
    ApproveRegistry, MakePayment, ReceivePaymentAct, ReceiveRegistry, RecordDispensing,
    RejectRegistry, ResumePaymentClock, ReverseDispensing, SignPaymentAct, SubmitPaymentAct,
    SubmitRegistry, SuspendPaymentClock,
};
use ledger::domain::prices::PublishPriceList;
use ledger::domain::seal::SealPeriod;
use ledger::domain::time::Timestamp;
use ledger::log::{Actor, CommandId, StreamId, StreamVersion};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::dispute::{FileKgDisputeClaim, ResolveKgDispute};
use super::kg::{
    ConcludeKgContract, DecideKgContractRenewal, FileKgContractObjection,
    ReceiveKgContractApplication, RefuseKgContract,
};

/// The longest JSON command accepted, in bytes (a price list or a network change is the largest).
pub const COMMAND_BYTES_MAX: usize = 16 * 1024 * 1024;

/// One command as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandEnvelope {
    /// The idempotency key, chosen by the client (128 bits, e.g. a UUID v4 or v7): a repeated id
    /// appends nothing and returns the original result.
    pub command_id: CommandId,
    /// The stream the command is decided against, e.g. `period/KZ-001/2026-02`.
    pub stream: StreamId,
    /// Who issues the command. Optional: the actor recorded on the events is the authenticated
    /// principal (issue #13); a body actor that disagrees with it is refused (`ACTOR-MISMATCH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The jurisdiction whose calendar and rules decide the command.
    pub jurisdiction: Jurisdiction,
    /// Business time of the command; the writer's clock when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<Timestamp>,
    /// The conversation the command belongs to; the command id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// Optimistic concurrency: the stream version the client decided against. A stream that moved on
    /// is a conflict (HTTP 409) and nothing is appended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<StreamVersion>,
    pub command: WireCommand,
}

/// The envelope as read, before its command is dispatched on `type` (so that a bad field inside the
/// command is named by its path).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvelope {
    pub command_id: CommandId,
    pub stream: StreamId,
    #[serde(default)]
    pub actor: Option<Actor>,
    pub jurisdiction: Jurisdiction,
    #[serde(default)]
    pub occurred_at: Option<Timestamp>,
    #[serde(default)]
    pub correlation_id: Option<Uuid>,
    #[serde(default)]
    pub expected_version: Option<StreamVersion>,
    pub command: serde_json::Value,
}

/// A JSON command that does not have the documented shape: the field (a dotted path) and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field \"{field}\": {message}")]
pub struct ShapeError {
    pub field: String,
    pub message: String,
}

/// Deserialises `value` and names the path of the first field that fails, under `prefix`.
pub(super) fn tracked<T: serde::de::DeserializeOwned>(
    prefix: &str,
    value: serde_json::Value,
) -> Result<T, ShapeError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = match path.as_str() {
            "." | "" => prefix.to_owned(),
            _ if prefix.is_empty() => path,
            _ => format!("{prefix}.{path}"),
        };
        ShapeError {
            field,
            message: error.into_inner().to_string(),
        }
    })
}

macro_rules! wire_commands {
    ($($variant:ident($ty:ty) => $name:literal,)*) => {
        /// Every command the writer accepts, tagged by `type`.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
        #[serde(tag = "type")]
        pub enum WireCommand {
            $(#[serde(rename = $name)] $variant($ty),)*
        }

        impl WireCommand {
            /// Every `type`, in schema order.
            pub const TYPES: &[&str] = &[$($name),*];

            pub fn type_name(&self) -> &'static str {
                match self {
                    $(WireCommand::$variant(_) => $name,)*
                }
            }

            /// Reads the command of `type` `tag` from the object's other fields.
            fn from_tagged(tag: &str, body: serde_json::Value) -> Result<Self, ShapeError> {
                match tag {
                    $($name => Ok(WireCommand::$variant(tracked("command", body)?)),)*
                    other => Err(ShapeError {
                        field: "command.type".into(),
                        message: format!(
                            "unknown command type \"{other}\"; expected one of {}",
                            Self::TYPES.join(", ")
                        ),
                    }),
                }
            }
        }
    };
}

wire_commands! {
    ReceiveApplication(ReceiveApplication) => "ReceiveApplication",
    ReviewApplication(ReviewApplication) => "ReviewApplication",
    ChangePharmacyNetwork(ChangePharmacyNetwork) => "ChangePharmacyNetwork",
    ChangeIssCertification(ChangeIssCertification) => "ChangeIssCertification",
    SendTerminationNotice(SendTerminationNotice) => "SendTerminationNotice",
    ReceiveTerminationNotice(ReceiveTerminationNotice) => "ReceiveTerminationNotice",
    RecordDispensing(Box<RecordDispensing>) => "RecordDispensing",
    ReverseDispensing(ReverseDispensing) => "ReverseDispensing",
    SubmitRegistry(SubmitRegistry) => "SubmitRegistry",
    ReceiveRegistry(ReceiveRegistry) => "ReceiveRegistry",
    ApproveRegistry(ApproveRegistry) => "ApproveRegistry",
    RejectRegistry(RejectRegistry) => "RejectRegistry",
    SubmitPaymentAct(SubmitPaymentAct) => "SubmitPaymentAct",
    ReceivePaymentAct(ReceivePaymentAct) => "ReceivePaymentAct",
    SignPaymentAct(SignPaymentAct) => "SignPaymentAct",
    SuspendPaymentClock(SuspendPaymentClock) => "SuspendPaymentClock",
    ResumePaymentClock(ResumePaymentClock) => "ResumePaymentClock",
    MakePayment(MakePayment) => "MakePayment",
    PublishPriceList(PublishPriceList) => "PublishPriceList",
    RegisterSigningKey(RegisterSigningKey) => "RegisterSigningKey",
    RevokeSigningKey(RevokeSigningKey) => "RevokeSigningKey",
    AllocateBudget(Allocate) => "AllocateBudget",
    TransferBudgetToFund(TransferToFund) => "TransferBudgetToFund",
    CommitBudget(Commit) => "CommitBudget",
    PayFromBudget(Pay) => "PayFromBudget",
    RedistributeBudget(Redistribute) => "RedistributeBudget",
    CloseBudgetYear(CloseYear) => "CloseBudgetYear",
    ChargeCarriedOverrun(ChargeCarriedOverrun) => "ChargeCarriedOverrun",
    ReceiveKgContractApplication(ReceiveKgContractApplication) => "ReceiveKgContractApplication",
    ConcludeKgContract(ConcludeKgContract) => "ConcludeKgContract",
    RefuseKgContract(RefuseKgContract) => "RefuseKgContract",
    FileKgContractObjection(FileKgContractObjection) => "FileKgContractObjection",
    DecideKgContractRenewal(DecideKgContractRenewal) => "DecideKgContractRenewal",
    RecordKgDispensing(Box<RecordKgDispensing>) => "RecordKgDispensing",
    ReverseKgDispensing(ReverseKgDispensing) => "ReverseKgDispensing",
    SubmitKgPaymentReport(SubmitKgPaymentReport) => "SubmitKgPaymentReport",
    ApproveKgPaymentReport(ApproveKgPaymentReport) => "ApproveKgPaymentReport",
    RejectKgPaymentReport(RejectKgPaymentReport) => "RejectKgPaymentReport",
    PayKgSettlement(PayKgSettlement) => "PayKgSettlement",
    PublishReferenceBook(ReferenceBookPublished) => "PublishReferenceBook",
    AssessRecovery(RecoveryAssessed) => "AssessRecovery",
    FileKgDisputeClaim(FileKgDisputeClaim) => "FileKgDisputeClaim",
    ResolveKgDispute(ResolveKgDispute) => "ResolveKgDispute",
    RecordDeadlineBreach(RecordDeadlineBreach) => "RecordDeadlineBreach",
    SealPeriod(SealPeriod) => "SealPeriod",
}

impl CommandEnvelope {
    /// Parses one JSON command; a shape error names the field by its path.
    pub fn parse(text: &[u8]) -> Result<CommandEnvelope, ShapeError> {
        if text.len() > COMMAND_BYTES_MAX {
            return Err(ShapeError {
                field: "(command)".into(),
                message: format!(
                    "is {} bytes; the most accepted is {COMMAND_BYTES_MAX}",
                    text.len()
                ),
            });
        }
        let value: serde_json::Value =
            serde_json::from_slice(text).map_err(|error| ShapeError {
                field: "(json)".into(),
                message: error.to_string(),
            })?;
        CommandEnvelope::from_value(value)
    }

    /// Reads a command from parsed JSON (an element of a batch), with the checks of
    /// [`CommandEnvelope::parse`] after the size.
    pub fn from_value(value: serde_json::Value) -> Result<CommandEnvelope, ShapeError> {
        let raw: RawEnvelope = tracked("", value)?;
        let serde_json::Value::Object(mut body) = raw.command else {
            return Err(ShapeError {
                field: "command".into(),
                message: "expected an object with a \"type\"".into(),
            });
        };
        let tag = match body.remove("type") {
            Some(serde_json::Value::String(tag)) => tag,
            _ => {
                return Err(ShapeError {
                    field: "command.type".into(),
                    message: "missing or not a string".into(),
                });
            }
        };
        let command = WireCommand::from_tagged(&tag, serde_json::Value::Object(body))?;
        Ok(CommandEnvelope {
            command_id: raw.command_id,
            stream: raw.stream,
            actor: raw.actor,
            jurisdiction: raw.jurisdiction,
            occurred_at: raw.occurred_at,
            correlation_id: raw.correlation_id,
            expected_version: raw.expected_version,
            command,
        })
    }
}
