//! What the writer must know to decide an append (DESIGN §3): every stream's version (and where its
//! records sit), every command id with its outcome, and each partition's chain head. Rebuilt from the
//! topic on open, then kept in memory and advanced by the writer's own commits.

use std::collections::HashMap;

use crate::log::AppendOutcome;
use crate::log::envelope::{ChainHash, EventEnvelope};
use crate::log::error::LogError;
use crate::log::ids::{CommandId, Offset, PartitionId, Position, StreamId, StreamVersion};

pub(super) struct WriterState {
    /// Per stream, the offsets of its records: version `v` sits at index `v - 1`.
    pub(super) streams: HashMap<StreamId, Vec<Offset>>,
    /// Per command id, the original outcome (returned again, flagged duplicate, on a retry).
    pub(super) commands: HashMap<CommandId, AppendOutcome>,
    /// Per partition, the hash of its last record (`GENESIS` before the first).
    pub(super) heads: Vec<ChainHash>,
    /// Per partition, the offset after the last record applied: where a catch-up read resumes.
    pub(super) next_read: Vec<Offset>,
    /// Where the writer's pipeline stands (shared by the deciding and the committing task).
    pub(super) pipeline: PipelineStatus,
}

/// What the committing task tells the deciding task (`writer.rs`, `commit.rs`), under the state's
/// lock so that it changes together with the state.
#[derive(Default)]
pub(super) struct PipelineStatus {
    /// The last decided batch whose transaction committed (batches are numbered from 1).
    pub(super) committed_batch: u64,
    /// Bumped by every failed transaction: batches decided in an earlier epoch were decided on top
    /// of it and are failed without being produced.
    pub(super) epoch: u64,
    /// After a failed transaction: the topic may hold records the state lacks; catch up first.
    pub(super) stale: bool,
    /// Set once fenced (or broken beyond repair): `(fenced, detail)`, every later append fails.
    pub(super) failed: Option<(bool, String)>,
}

impl WriterState {
    pub(super) fn new(partitions: u32) -> WriterState {
        let count = usize::try_from(partitions).expect("u32 fits in usize");
        WriterState {
            streams: HashMap::new(),
            commands: HashMap::new(),
            heads: vec![ChainHash::GENESIS; count],
            next_read: vec![Offset(0); count],
            pipeline: PipelineStatus::default(),
        }
    }

    pub(super) fn version(&self, stream: &StreamId) -> StreamVersion {
        let count = self.streams.get(stream).map_or(0, Vec::len);
        StreamVersion(u64::try_from(count).expect("usize fits in u64"))
    }

    pub(super) fn head(&self, partition: PartitionId) -> ChainHash {
        self.heads[index(partition)]
    }

    /// Applies one record read from the topic, checking that it chains from the partition's head and
    /// that its stream version follows gaplessly: a break in either means the topic was altered or
    /// written by a second, unfenced writer, and the writer must not go on deciding on top of it.
    pub(super) fn apply_read(
        &mut self,
        offset: Offset,
        bytes: &[u8],
        partition: PartitionId,
    ) -> Result<(), LogError> {
        let position = Position { partition, offset };
        let head = self.head(partition);
        let hash = EventEnvelope::verify_link(&head, bytes).ok_or_else(|| LogError::Corrupt {
            position,
            detail: format!("record does not chain from the previous record's hash {head}"),
        })?;
        let envelope = EventEnvelope::decode(position, bytes)?;
        let body = &envelope.body;
        let expected = self.version(&body.stream).next();
        if body.stream_version != expected {
            return Err(LogError::Corrupt {
                position,
                detail: format!(
                    "stream \"{}\" jumps to version {} where version {expected} was due",
                    body.stream, body.stream_version
                ),
            });
        }
        self.record(
            position,
            &body.stream,
            body.command_id,
            body.stream_version,
            hash,
        )
    }

    /// Records one record of a command (read back or just committed).
    pub(super) fn record(
        &mut self,
        position: Position,
        stream: &StreamId,
        command_id: CommandId,
        version: StreamVersion,
        hash: ChainHash,
    ) -> Result<(), LogError> {
        let slot = index(position.partition);
        assert!(
            position.offset >= self.next_read[slot],
            "offsets grow within a partition"
        );
        let outcome = self
            .commands
            .entry(command_id)
            .or_insert_with(|| AppendOutcome {
                stream: stream.clone(),
                first_version: version,
                positions: Vec::new(),
                duplicate: false,
            });
        if &outcome.stream != stream {
            return Err(LogError::Corrupt {
                position,
                detail: format!(
                    "command {command_id} appears on stream \"{stream}\" after stream \"{}\"",
                    outcome.stream
                ),
            });
        }
        outcome.positions.push(position);
        self.streams
            .entry(stream.clone())
            .or_default()
            .push(position.offset);
        self.heads[slot] = hash;
        self.next_read[slot] = position.offset.next();
        Ok(())
    }
}

fn index(partition: PartitionId) -> usize {
    usize::try_from(partition.0).expect("u32 fits in usize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::envelope::EnvelopeBody;
    use crate::log::testkit::{command, sample_event, stream};

    fn sealed(
        stream_id: &str,
        version: u64,
        name: &str,
        previous: &ChainHash,
    ) -> (Vec<u8>, ChainHash) {
        let body = EnvelopeBody::new(
            sample_event(version, 16),
            stream(stream_id),
            StreamVersion(version),
            command(name),
            crate::domain::time::Timestamp::from_micros(0),
        );
        EventEnvelope::seal(&body, previous).unwrap()
    }

    #[test]
    fn rebuild_records_versions_commands_and_heads() {
        let mut state = WriterState::new(2);
        let partition = PartitionId(1);
        let (first, hash) = sealed("contract/A", 1, "a", &ChainHash::GENESIS);
        let (second, head) = sealed("contract/A", 2, "a", &hash);
        state.apply_read(Offset(0), &first, partition).unwrap();
        // Offset 1 held a transaction marker: the next record sits at 2.
        state.apply_read(Offset(2), &second, partition).unwrap();
        assert_eq!(state.version(&stream("contract/A")), StreamVersion(2));
        assert_eq!(state.head(partition), head);
        assert_eq!(state.head(PartitionId(0)), ChainHash::GENESIS);
        assert_eq!(state.next_read[1], Offset(3));
        let outcome = &state.commands[&command("a")];
        assert_eq!(outcome.first_version, StreamVersion(1));
        assert_eq!(
            outcome
                .positions
                .iter()
                .map(|p| p.offset)
                .collect::<Vec<_>>(),
            vec![Offset(0), Offset(2)]
        );
    }

    #[test]
    fn rebuild_stops_on_a_broken_chain() {
        let mut state = WriterState::new(1);
        let (first, _) = sealed("contract/A", 1, "a", &ChainHash::GENESIS);
        let (forged, _) = sealed("contract/A", 2, "b", &ChainHash([7; 32]));
        state.apply_read(Offset(0), &first, PartitionId(0)).unwrap();
        let error = state
            .apply_read(Offset(2), &forged, PartitionId(0))
            .unwrap_err();
        assert!(
            matches!(error, LogError::Corrupt { position, .. } if position.offset == Offset(2)),
            "{error}"
        );
    }

    #[test]
    fn rebuild_stops_on_a_version_gap() {
        let mut state = WriterState::new(1);
        let (first, hash) = sealed("contract/A", 1, "a", &ChainHash::GENESIS);
        let (skipping, _) = sealed("contract/A", 3, "b", &hash);
        state.apply_read(Offset(0), &first, PartitionId(0)).unwrap();
        let error = state
            .apply_read(Offset(2), &skipping, PartitionId(0))
            .unwrap_err();
        assert!(error.to_string().contains("version 2 was due"), "{error}");
    }
}
