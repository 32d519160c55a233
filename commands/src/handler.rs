//! The command handler: loads an aggregate's state from the log, decides, appends with the expected
//! stream version, and retries on conflict (DESIGN §3). Domain-agnostic: an [`Aggregate`] says how to
//! decode, fold and decide.
//!
//! The handler is the writer-side cache of DESIGN §3: it keeps each stream's folded state and version in
//! memory and reads only the events appended since, so a period stream with a million dispensings is
//! not re-read for every command.

use std::collections::HashMap;
use std::sync::Mutex;

use ledger::domain::time::Timestamp;
use ledger::log::{
    AppendOutcome, AppendRequest, CommandId, EventEnvelope, EventLog, LogError, NewEvent,
};
use ledger::log::{StreamId, StreamVersion};

/// How many times a command is re-decided after a version conflict before giving up.
pub const CONFLICT_RETRIES_MAX: u32 = 8;

/// An aggregate as the handler sees it.
pub trait Aggregate: Send + Sync {
    type State: Clone + Default + Send;
    type Command: Sync;
    type Context: Sync;
    type Rejection: std::error::Error + Send + Sync + 'static;

    /// Folds one recorded event into the state. Errors are technical (an undecodable payload).
    fn evolve(state: Self::State, envelope: &EventEnvelope) -> Result<Self::State, HandlerError>;

    /// Decides the events of `command` against `state`; a rejection appends nothing.
    fn decide(
        state: &Self::State,
        command: &Self::Command,
        context: &Self::Context,
    ) -> Result<Vec<NewEvent>, Self::Rejection>;
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("stream \"{stream}\" kept changing: gave up after {attempts} conflicting attempts")]
    Contended { stream: StreamId, attempts: u32 },
    #[error("cannot fold {stream}@{version}: {detail}")]
    Fold {
        stream: StreamId,
        version: StreamVersion,
        detail: String,
    },
}

/// The result of handling one command.
#[derive(Debug)]
pub enum Handled<R> {
    Appended(AppendOutcome),
    Rejected(R),
}

struct Cached<S> {
    state: S,
    version: StreamVersion,
}

/// Handles commands for one aggregate type, caching folded states per stream.
pub struct Handler<A: Aggregate> {
    cache: Mutex<HashMap<StreamId, Cached<A::State>>>,
}

impl<A: Aggregate> Default for Handler<A> {
    fn default() -> Self {
        Handler {
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl<A: Aggregate> Handler<A> {
    /// The current state of `stream`, folding only the events appended since the cached version.
    pub async fn load(
        &self,
        log: &dyn EventLog,
        stream: &StreamId,
    ) -> Result<(A::State, StreamVersion), HandlerError> {
        let (mut state, mut version) = self.cached(stream);
        for envelope in log.read_stream(stream, version.next()).await? {
            assert_eq!(
                envelope.body.stream_version,
                version.next(),
                "read_stream returns a gapless suffix"
            );
            state = A::evolve(state, &envelope)?;
            version = envelope.body.stream_version;
        }
        self.store(stream, &state, version);
        Ok((state, version))
    }

    fn cached(&self, stream: &StreamId) -> (A::State, StreamVersion) {
        let cache = self.cache.lock().expect("handler cache lock");
        cache.get(stream).map_or_else(
            || (A::State::default(), StreamVersion::NONE),
            |cached| (cached.state.clone(), cached.version),
        )
    }

    fn store(&self, stream: &StreamId, state: &A::State, version: StreamVersion) {
        let mut cache = self.cache.lock().expect("handler cache lock");
        let newer = cache
            .get(stream)
            .is_none_or(|cached| cached.version <= version);
        if newer {
            cache.insert(
                stream.clone(),
                Cached {
                    state: state.clone(),
                    version,
                },
            );
        }
    }

    /// Loads, decides and appends one command; re-decides on a version conflict.
    pub async fn execute(
        &self,
        log: &dyn EventLog,
        stream: &StreamId,
        command_id: CommandId,
        command: &A::Command,
        context: &A::Context,
    ) -> Result<Handled<A::Rejection>, HandlerError> {
        for _attempt in 0..=CONFLICT_RETRIES_MAX {
            let (state, version) = self.load(log, stream).await?;
            let events = match A::decide(&state, command, context) {
                Ok(events) => events,
                Err(rejection) => return Ok(Handled::Rejected(rejection)),
            };
            let request = AppendRequest {
                stream: stream.clone(),
                expected: version,
                command_id,
                events,
            };
            match log.append(request).await {
                Ok(outcome) => return Ok(Handled::Appended(outcome)),
                Err(error) if error.is_conflict() => {
                    tracing::debug!(%stream, %command_id, "version conflict; re-deciding");
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(HandlerError::Contended {
            stream: stream.clone(),
            attempts: CONFLICT_RETRIES_MAX + 1,
        })
    }
}

/// The writer's clock: the only place the command side reads wall time (recorded into events as
/// business time only when the command does not carry its own).
pub fn now() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
}
