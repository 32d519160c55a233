//! `ledger demo`: a national reporting period end to end on the embedded log.

pub mod world;
