//! Speculative decisions for a batch of commands (issue #16 §2): several commands on one stream are
//! decided one after another against the state the earlier ones leave, before any of them is
//! appended, and then committed together in one `append_many`. The states live in [`Drafts`], out
//! of the handler's cache and under their stream locks, until the batch is settled: a stream whose
//! commands were all appended goes back into the cache at its new version; a stream with any failure
//! is dropped and re-folded from the log by its next command, so no speculative state outlives a
//! failed commit.

use std::collections::{HashMap, HashSet};

use ledger::log::{EventLog, NewEvent, StreamId, StreamVersion};

use super::{Aggregate, Cached, Handler, HandlerError, LockGuards};

/// The speculative states of the streams one batch decides on.
pub struct Drafts<'h, A: Aggregate> {
    handler: &'h Handler<A>,
    streams: HashMap<StreamId, Draft<'h, A::State>>,
}

struct Draft<'h, S> {
    /// The state, its version (the committed version plus this batch's decided events) and the
    /// id of the event at that version.
    cached: Cached<S>,
    /// The handler's stream lock, held until the batch is settled.
    _lock: LockGuards<'h, StreamId>,
}

/// One speculative decision.
#[derive(Debug)]
pub enum Speculated<R> {
    /// Decided: append `events` expecting `expected` (the version the batch's earlier commands on
    /// the stream leave).
    Decided {
        expected: StreamVersion,
        events: Vec<NewEvent>,
    },
    /// Refused by the aggregate; the draft is unchanged.
    Rejected(R),
}

impl<A: Aggregate> Handler<A> {
    /// An empty set of drafts for one batch.
    pub fn drafts(&self) -> Drafts<'_, A> {
        Drafts {
            handler: self,
            streams: HashMap::new(),
        }
    }
}

impl<'h, A: Aggregate> Drafts<'h, A> {
    /// The version `stream` stands at with this batch's decisions, if the batch decided on it.
    pub fn version(&self, stream: &StreamId) -> Option<StreamVersion> {
        self.streams.get(stream).map(|draft| draft.cached.version)
    }

    /// Decides `command` on `stream` against the state the batch's earlier decisions left (the
    /// first decision on a stream takes its lock and brings its cached state up to date with the
    /// log). Only commands whose refusal leaves the state unchanged may be speculated
    /// ([`Aggregate::refusal_leaves_state`]): a refusal halfway through would leave a state that
    /// neither the log nor the batch describes.
    pub async fn decide(
        &mut self,
        log: &dyn EventLog,
        stream: &StreamId,
        command: &A::Command,
        context: &A::Context<'_>,
    ) -> Result<Speculated<A::Rejection>, HandlerError> {
        assert!(
            A::refusal_leaves_state(command),
            "only commands refused before anything is folded are decided speculatively"
        );
        if !self.streams.contains_key(stream) {
            let lock = self.handler.locks.lock(stream.clone()).await;
            let cached = self.handler.current(log, stream).await?;
            let draft = Draft {
                cached,
                _lock: lock,
            };
            self.streams.insert(stream.clone(), draft);
        }
        let draft = self.streams.get_mut(stream).expect("drafted above");
        Ok(match A::decide(&mut draft.cached.state, command, context) {
            Ok(events) => {
                let expected = draft.cached.version;
                let count = u64::try_from(events.len()).expect("event count fits in u64");
                draft.cached.version = StreamVersion(expected.0 + count);
                if let Some(last) = events.last() {
                    draft.cached.last_event = Some(last.event_id);
                }
                Speculated::Decided { expected, events }
            }
            Err(rejection) => Speculated::Rejected(rejection),
        })
    }

    /// Ends the batch: every stream not in `failed` had all its decided commands appended and goes
    /// back into the cache at its new version; the states of `failed` streams are dropped (their
    /// next command re-folds them from the log). The stream locks are released.
    pub fn settle(self, failed: &HashSet<StreamId>) {
        for (stream, draft) in self.streams {
            if failed.contains(&stream) {
                tracing::debug!(%stream, "dropping a speculative state after a failed append");
                continue;
            }
            self.handler.put_back(&stream, draft.cached);
        }
    }
}
