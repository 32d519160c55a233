//! Measurement code shared by the criterion benchmarks (`benches/benches/`) and the user-facing
//! `ledger bench` command, so both measure exactly the same thing.

pub mod append;
