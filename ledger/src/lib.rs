//! The pharmacy co-payment reimbursement ledger: the pure domain (`domain`) and the append-only event
//! log (`log`) with its wire codec (`codec`).
//!
//! Dependency direction inside this crate: `domain` knows nothing of `log`; `log` knows nothing of the
//! domain's events (it stores typed, versioned payload bytes). `codec` is the only place that calls
//! bincode. I/O happens only in `log::file`. `public` renders events in their one public form
//! (CloudEvents JSON): it decodes payloads, so it sits beside `log`, which reaches it only through the
//! injected `log::PublicForm`.
#![deny(clippy::float_arithmetic)]

pub mod codec;
pub mod domain;
pub mod log;
pub mod public;
