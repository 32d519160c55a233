//! Projections: folds the event log into disposable, versioned views, writing each batch's view changes,
//! per-stream versions and the partition checkpoint in one atomic store batch (DESIGN §4). See
//! `docs/projector.md` for the runtime, the checkpoint rule and the consistency model.
//!
//! Layout: [`store`] hides the storage engine behind [`ViewStore`] (sled only in `store::sled`, an
//! in-memory [`SimStore`] with crash points for simulation); [`view`] is the contract a view
//! implements; [`projector`] is the synchronous step function; [`driver`] feeds it from an
//! [`ledger::log::EventLog`].
//!
//! **Invariant:** the projector never writes to the event log.

#[macro_use]
mod assert;
pub mod driver;
pub mod follow;
pub mod projector;
pub mod store;
pub mod view;
pub mod views;

pub use driver::{
    CatchUpOptions, CatchUpReport, PROJECT_BATCH_MAX, Progress, catch_up, catch_up_with, follow,
    run_partition,
};
pub use follow::{Feed, FeedOptions, FeedPoll, follow_feed};
pub use projector::{
    COLLECT_BATCH_MAX, OpenReport, Projector, ProjectorError, ProjectorReader, STEP_EVENTS_MAX,
    StepOutcome, StreamGap, ViewFailure, ViewState, ViewStatus,
};
pub use store::sim::{CrashPoint, SimConfig, SimReader, SimStore};
pub use store::sled::{FlushPolicy, SledReader, SledStore};
pub use store::{Entry, KeyValues, Keyspace, StoreError, ViewRead, ViewStore, WriteBatch, WriteOp};
pub use view::{View, ViewError, ViewTxn};

#[doc(hidden)]
pub mod __private {
    pub use tracing;

    /// Whether `soft_assert!` panics: always in debug builds (tests, CI), and in release builds with
    /// the `strict-asserts` feature. Evaluated here, not in the caller's crate, so the feature is
    /// this crate's.
    pub const fn soft_asserts_panic() -> bool {
        cfg!(any(debug_assertions, feature = "strict-asserts"))
    }
}
