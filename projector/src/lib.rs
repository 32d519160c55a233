//! Projections: folds the event log into sled views (registries, acts, deadlines, budgets, contracts),
//! writing each view change and its checkpoint in one atomic transaction.
//!
//! **Invariant:** the projector never writes to the event log.
