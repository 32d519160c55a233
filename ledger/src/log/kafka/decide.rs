//! Deciding one append against the writer's state: the same rules, in the same order, as the embedded
//! log (duplicate command id first, then the expected stream version), then sealing its records onto
//! the partition's hash chain and, when the public topic is on, rendering each record's public form
//! (a payload without one refuses the append before anything is produced).

use std::collections::HashMap;

use super::state::WriterState;
use crate::domain::time::Timestamp;
use crate::log::envelope::{ChainHash, EnvelopeBody, EventEnvelope};
use crate::log::error::LogError;
use crate::log::ids::{CommandId, PartitionId, StreamId, StreamVersion, partition_of};
use crate::log::public_form::{PreparedForm, PublicForm};
use crate::log::{AppendRequest, EVENTS_PER_APPEND_MAX};

/// One sealed record: its wire bytes, its chain hash, its body (for the headers) and, with the
/// public topic on, its prepared public form.
pub(super) struct Sealed {
    pub(super) bytes: Vec<u8>,
    pub(super) hash: ChainHash,
    pub(super) body: EnvelopeBody,
    pub(super) public: Option<PreparedForm>,
}

/// What the writer decided that is not committed yet (the batches in the pipeline): stream versions,
/// chain heads and command ids, each tagged with the decided batch that set it last, so that an entry
/// is dropped once that batch's transaction has committed (the state then holds the same value).
#[derive(Default)]
pub(super) struct Overlay {
    pub(super) versions: HashMap<StreamId, (StreamVersion, u64)>,
    pub(super) heads: HashMap<PartitionId, (ChainHash, u64)>,
    pub(super) commands: HashMap<CommandId, u64>,
    /// The batch being decided: what it adds is tagged with this number.
    pub(super) batch: u64,
}

impl Overlay {
    /// Drops what batches `..=committed` set: their transactions committed, the state has it.
    pub(super) fn prune(&mut self, committed: u64) {
        self.versions.retain(|_, (_, batch)| *batch > committed);
        self.heads.retain(|_, (_, batch)| *batch > committed);
        self.commands.retain(|_, batch| *batch > committed);
    }

    /// Whether `command` was decided but its transaction has not committed yet.
    pub(super) fn in_flight(&self, command: &CommandId) -> bool {
        self.commands.contains_key(command)
    }
}

/// Decides one command against the committed state plus the batch's overlay. `Ok(None)` means a
/// duplicate command id (reply with the original outcome). The overlay moves only when the command
/// is accepted whole.
pub(super) fn decide_one(
    state: &WriterState,
    overlay: &mut Overlay,
    request: &AppendRequest,
    partitions: u32,
    recorded_at: Timestamp,
    public: Option<&dyn PublicForm>,
) -> Result<Option<(PartitionId, StreamVersion, Vec<Sealed>)>, LogError> {
    if state.commands.contains_key(&request.command_id) {
        return Ok(None);
    }
    validate(request)?;
    let actual = overlay
        .versions
        .get(&request.stream)
        .map_or_else(|| state.version(&request.stream), |(version, _)| *version);
    if actual != request.expected {
        return Err(LogError::Conflict {
            stream: request.stream.clone(),
            expected: request.expected,
            actual,
        });
    }
    let partition = partition_of(&request.stream, partitions);
    let mut head = overlay
        .heads
        .get(&partition)
        .map_or_else(|| state.head(partition), |(head, _)| *head);
    let mut version = actual;
    let mut records = Vec::with_capacity(request.events.len());
    for event in &request.events {
        version = version.next();
        let body = EnvelopeBody::new(
            event.clone(),
            request.stream.clone(),
            version,
            request.command_id,
            recorded_at,
        );
        let (bytes, hash) = EventEnvelope::seal(&body, &head)?;
        let public = public
            .map(|form| form.prepare(&body))
            .transpose()
            .map_err(|error| {
                LogError::Invalid(format!(
                    "the command for stream \"{}\" cannot be published: {error}; nothing was appended",
                    request.stream
                ))
            })?;
        head = hash;
        records.push(Sealed {
            bytes,
            hash,
            body,
            public,
        });
    }
    let batch = overlay.batch;
    overlay
        .versions
        .insert(request.stream.clone(), (version, batch));
    overlay.heads.insert(partition, (head, batch));
    overlay.commands.insert(request.command_id, batch);
    Ok(Some((partition, actual.next(), records)))
}

fn validate(request: &AppendRequest) -> Result<(), LogError> {
    let count = request.events.len();
    if count == 0 {
        return Err(LogError::Invalid(format!(
            "command {} appends no events to stream \"{}\"; a command must append at least one",
            request.command_id, request.stream
        )));
    }
    if count > EVENTS_PER_APPEND_MAX {
        return Err(LogError::Invalid(format!(
            "command {} appends {count} events to stream \"{}\"; at most {EVENTS_PER_APPEND_MAX} are allowed",
            request.command_id, request.stream
        )));
    }
    Ok(())
}
