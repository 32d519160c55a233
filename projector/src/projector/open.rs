//! Opening a projector: view versioning, rebuild on a version change, and collection of the
//! generations a rebuild left behind.
//!
//! A view whose code version differs from the stored one is rebuilt: its marker moves to a fresh,
//! empty generation in one atomic write, and the driver then replays the log into it from offset 0.
//! Crash safety follows from that single write: before it the old generation is live (and the next
//! open tries again), after it the new one is (and a crash mid-rebuild resumes from the new
//! generation's own checkpoints). The old generation is deleted in bounded batches afterwards; a crash
//! there only leaves garbage that the next open deletes.

use std::collections::{BTreeMap, BTreeSet};

use ledger::log::{Offset, PartitionId, StreamId, StreamVersion};
use tracing::{info, instrument, warn};

use super::layout::{self, META_KEYSPACE, ViewKeyspaces, ViewMarker};
use super::{Projector, ProjectorError, Registered};
use crate::store::{Keyspace, StoreError, ViewRead, ViewStore, WriteBatch};
use crate::view::{self, View};

/// Keys deleted per store batch while collecting an old generation.
pub const COLLECT_BATCH_MAX: usize = 10_000;

/// How a view was found when the projector opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewState {
    /// First time this store sees the view.
    Created,
    /// Same version as stored: projection resumes from the view's checkpoints.
    Resumed,
    /// The code version differs from the stored one: the view was cleared and is rebuilt from the log.
    Rebuilding { stored_version: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewStatus {
    pub name: String,
    pub version: u32,
    pub generation: u64,
    pub state: ViewState,
}

/// What [`Projector::open`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    pub views: Vec<ViewStatus>,
    /// Keys of old generations deleted.
    pub garbage_deleted: u64,
}

impl OpenReport {
    /// The views that will be rebuilt from the log.
    pub fn rebuilding(&self) -> impl Iterator<Item = &ViewStatus> {
        self.views
            .iter()
            .filter(|status| matches!(status.state, ViewState::Rebuilding { .. }))
    }
}

impl<S: ViewStore> Projector<S> {
    /// Opens the views over `store`: records new views, schedules a rebuild of every view whose
    /// version changed, deletes leftovers of earlier rebuilds and loads the checkpoints.
    ///
    /// Views present in the store but not registered here are left untouched, so that a tool that
    /// opens a subset of the views destroys nothing.
    #[instrument(skip_all, fields(views = views.len()))]
    pub fn open(
        mut store: S,
        views: Vec<Box<dyn View>>,
    ) -> Result<(Projector<S>, OpenReport), ProjectorError> {
        let mut names = BTreeSet::new();
        for view in &views {
            view::assert_valid_name(view.name());
            assert!(
                names.insert(view.name().to_owned()),
                "view \"{}\" is registered twice",
                view.name()
            );
        }
        let mut report = OpenReport::default();
        let mut registered = Vec::with_capacity(views.len());
        for view in views {
            let (marker, state) = settle_marker(&mut store, view.as_ref())?;
            report.garbage_deleted += collect_garbage(&mut store, view.name(), marker)?;
            let keyspaces = ViewKeyspaces::of(view.name(), marker.generation);
            let checkpoints = load_checkpoints(&store, &keyspaces)?;
            info!(
                view = view.name(),
                version = view.version(),
                generation = marker.generation,
                ?state,
                "opened view"
            );
            report.views.push(ViewStatus {
                name: view.name().to_owned(),
                version: view.version(),
                generation: marker.generation,
                state,
            });
            registered.push(Registered {
                view,
                keyspaces,
                checkpoints,
            });
        }
        Ok((
            Projector {
                store,
                views: registered,
                stale: false,
            },
            report,
        ))
    }
}

/// Reads the view's marker and, when the view is new or its version changed, writes the new one.
fn settle_marker<S: ViewStore>(
    store: &mut S,
    view: &dyn View,
) -> Result<(ViewMarker, ViewState), ProjectorError> {
    let meta = Keyspace::new(META_KEYSPACE);
    let key = ViewMarker::key(view.name());
    let stored = store
        .get(&meta, &key)?
        .map(|bytes| ViewMarker::decode(view.name(), &bytes))
        .transpose()?;
    let (marker, state) = match stored {
        None => (
            ViewMarker {
                version: view.version(),
                generation: 0,
                collected_below: 0,
            },
            ViewState::Created,
        ),
        Some(stored) if stored.version == view.version() => {
            return Ok((stored, ViewState::Resumed));
        }
        Some(stored) => {
            warn!(
                view = view.name(),
                stored_version = stored.version,
                code_version = view.version(),
                "view version changed; rebuilding the view from the log"
            );
            let generation = stored
                .generation
                .checked_add(1)
                .expect("view generation overflow");
            let marker = ViewMarker {
                version: view.version(),
                generation,
                collected_below: stored.collected_below,
            };
            (
                marker,
                ViewState::Rebuilding {
                    stored_version: stored.version,
                },
            )
        }
    };
    let mut batch = WriteBatch::new();
    batch.put(&meta, key, marker.encode());
    store.apply(batch)?;
    Ok((marker, state))
}

/// Deletes every generation of `view` below the live one, in bounded batches, then records that in
/// the marker. Returns the number of keys deleted.
fn collect_garbage<S: ViewStore>(
    store: &mut S,
    view: &str,
    marker: ViewMarker,
) -> Result<u64, ProjectorError> {
    if marker.collected_below == marker.generation {
        return Ok(0);
    }
    let mut deleted = 0u64;
    for generation in marker.collected_below..marker.generation {
        for keyspace in ViewKeyspaces::of(view, generation).all() {
            // Bounded: each round deletes up to COLLECT_BATCH_MAX keys of a finite keyspace.
            loop {
                let entries = store.scan_prefix(keyspace, b"", COLLECT_BATCH_MAX)?;
                if entries.is_empty() {
                    break;
                }
                let mut batch = WriteBatch::new();
                for (key, _) in entries {
                    batch.delete(keyspace, key);
                    deleted += 1;
                }
                store.apply(batch)?;
            }
        }
    }
    let collected = ViewMarker {
        collected_below: marker.generation,
        ..marker
    };
    let mut batch = WriteBatch::new();
    batch.put(
        &Keyspace::new(META_KEYSPACE),
        ViewMarker::key(view),
        collected.encode(),
    );
    store.apply(batch)?;
    info!(view, deleted, "deleted old view generations");
    Ok(deleted)
}

/// The committed checkpoints of one view generation.
pub(super) fn load_checkpoints(
    store: &dyn ViewRead,
    keyspaces: &ViewKeyspaces,
) -> Result<BTreeMap<PartitionId, Offset>, StoreError> {
    let keyspace = &keyspaces.checkpoints;
    let mut checkpoints = BTreeMap::new();
    for (key, value) in store.scan_prefix(keyspace, b"", usize::MAX)? {
        let partition = layout::decode_partition(keyspace, &key)?;
        checkpoints.insert(partition, layout::decode_offset(keyspace, &key, &value)?);
    }
    Ok(checkpoints)
}

/// The last version of `stream` that the view generation applied.
pub(super) fn stream_version(
    store: &dyn ViewRead,
    keyspaces: &ViewKeyspaces,
    stream: &StreamId,
) -> Result<StreamVersion, StoreError> {
    let key = stream.as_str().as_bytes();
    match store.get(&keyspaces.streams, key)? {
        Some(value) => layout::decode_version(&keyspaces.streams, key, &value),
        None => Ok(StreamVersion::NONE),
    }
}
