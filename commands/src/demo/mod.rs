//! `ledger demo`: a national reporting period end to end on the embedded log.

pub mod dispense;
pub mod engine;
pub mod setup;
pub mod signing;
pub mod world;
