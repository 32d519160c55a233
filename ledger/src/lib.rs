//! The pharmacy co-payment reimbursement ledger: the pure domain (`domain`) and the append-only event
//! log (`log`) with its wire codec (`codec`).
//!
//! Dependency direction inside this crate: `domain` knows nothing of `log`; `log` knows nothing of the
//! domain's events (it stores typed, versioned payload bytes). `codec` is the only place that calls
//! bincode. I/O happens only in `log::file`.
#![deny(clippy::float_arithmetic)]

pub mod codec;
pub mod domain;
pub mod log;
