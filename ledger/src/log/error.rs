//! Errors of the event log, split by audience: `Conflict` is retryable, `Fenced` and `Locked` are
//! operational, `Corrupt` and `Io` are technical and reported with their position or path.

use std::path::PathBuf;

use super::ids::{PartitionId, Position, StreamId, StreamVersion};
use crate::codec::CodecError;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Optimistic concurrency: the stream moved on since the command was decided. Reload and retry.
    #[error(
        "stream \"{stream}\" is at version {actual}, but the command expected version {expected}"
    )]
    Conflict {
        stream: StreamId,
        expected: StreamVersion,
        actual: StreamVersion,
    },
    /// Another writer owns the partition; this writer must stop appending.
    #[error("this writer was fenced off partition {partition}: {detail}")]
    Fenced {
        partition: PartitionId,
        detail: String,
    },
    /// Another process holds the data directory.
    #[error(
        "data directory {path} is locked by another process (lock file {lock}); stop it or use another --data-dir"
    )]
    Locked { path: PathBuf, lock: PathBuf },
    /// The request itself is unacceptable (empty, too large, unknown partition).
    #[error("invalid append or read: {0}")]
    Invalid(String),
    /// Stored bytes are damaged at a known position.
    #[error("corrupt record at {position}: {detail}")]
    Corrupt { position: Position, detail: String },
    /// Stored bytes are damaged at a known byte offset of a segment file.
    #[error("corrupt segment {path} at byte {byte_offset}: {detail}")]
    CorruptSegment {
        path: PathBuf,
        byte_offset: u64,
        detail: String,
    },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The backend (broker, writer task) is gone or failed.
    #[error("event log backend unavailable: {0}")]
    Unavailable(String),
}

impl LogError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LogError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether a caller may retry the same command after reloading state.
    pub fn is_conflict(&self) -> bool {
        matches!(self, LogError::Conflict { .. })
    }
}
