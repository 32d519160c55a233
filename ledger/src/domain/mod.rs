//! The law as pure, synchronous code: value types, events, commands, aggregates and rule sets.
//!
//! **Invariant:** nothing under `domain` does I/O, reads the clock, reads the environment or draws
//! random numbers; time and ids come in as arguments (enforced by `tests/tests/tidy.rs`).

pub mod breach;
pub mod budget;
pub mod calendar;
pub mod clock;
pub mod context;
pub mod contract;
pub mod deadline;
pub mod error;
pub mod event;
pub mod ident;
pub mod jurisdiction;
pub mod keys;
pub mod kg;
pub mod money;
pub mod order;
pub mod period;
pub mod prices;
pub mod region;
pub mod rules;
pub mod seal;
pub mod signature;
pub mod testkit;
pub mod time;
pub mod upcast;
pub mod values;
