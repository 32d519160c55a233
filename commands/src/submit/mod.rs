//! Commands as JSON (issue #8, docs/commands.md): the wire form of every domain command
//! ([`wire::CommandEnvelope`]), its routing to the aggregate its stream names ([`route`]), and the
//! writer that decides and appends it ([`dispatch::Dispatcher`]), shared by `ledger submit FILE.jsonl`
//! and `ledger serve`.
//!
//! Idempotency: the client's command id is the log's idempotency key, so a re-run of a file, or a
//! retried HTTP request, appends nothing twice and answers with the original positions.

pub mod dispatch;
pub mod dispute;
pub mod kg;
pub mod route;
pub mod wire;

use serde::Serialize;

/// A command refused before or by a domain rule: the rule, the field when one is to blame, and the
/// message. The error body of `ledger serve` and a line of the rejects file of `ledger submit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Refusal {
    pub rule: String,
    pub field: Option<String>,
    pub message: String,
}

impl Refusal {
    /// A JSON command without the documented shape (rule `JSON`).
    pub fn shape(error: wire::ShapeError) -> Refusal {
        Refusal {
            rule: "JSON".into(),
            field: Some(error.field),
            message: error.message,
        }
    }
}
