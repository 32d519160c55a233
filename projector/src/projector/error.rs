//! Errors of the projector runtime. Large details are boxed so that `Result<_, ProjectorError>` stays
//! small on the hot path.

use ledger::log::{LogError, Position, StreamId, StreamVersion};

use crate::store::StoreError;
use crate::view::ViewError;

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the event log failed")]
    Log(#[source] Box<LogError>),
    #[error(transparent)]
    View(Box<ViewFailure>),
    #[error(transparent)]
    StreamGap(Box<StreamGap>),
    #[error("no view named \"{0}\" is registered with this projector")]
    UnknownView(String),
}

impl From<LogError> for ProjectorError {
    fn from(error: LogError) -> Self {
        ProjectorError::Log(Box::new(error))
    }
}

/// A view refused an event. Nothing of the batch was written; fix the view or the event and restart:
/// the projector resumes at the same event.
#[derive(Debug, thiserror::Error)]
#[error(
    "view \"{view}\" failed to apply event \"{event_type}\" at position {position} \
     (stream \"{stream}\" version {version})"
)]
pub struct ViewFailure {
    pub view: String,
    pub position: Position,
    pub stream: StreamId,
    pub version: StreamVersion,
    pub event_type: String,
    #[source]
    pub source: ViewError,
}

/// A stream skipped versions: events are missing or were delivered out of order. Projecting past it
/// would silently fold a wrong history, so the projector stops.
#[derive(Debug, thiserror::Error)]
#[error(
    "stream \"{stream}\" has a gap at position {position}: view \"{view}\" expected version {expected}, \
     found {found}; events are missing or out of order: run `ledger audit verify` on the log, then \
     restart the projector"
)]
pub struct StreamGap {
    pub view: String,
    pub stream: StreamId,
    pub expected: StreamVersion,
    pub found: StreamVersion,
    pub position: Position,
}
