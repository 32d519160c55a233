//! An append as the writer receives it: checked and encoded on the caller's task, so the single
//! writer thread only decides, chains and frames.

use tokio::sync::oneshot;

use super::frame;
use super::writer::BATCH_BYTES_MAX;
use crate::domain::time::Timestamp;
use crate::log::envelope::{EnvelopeBody, PAYLOAD_BYTES_MAX};
use crate::log::error::LogError;
use crate::log::ids::{CommandId, PartitionId, Position, StreamId, StreamVersion, partition_of};
use crate::log::{AppendOutcome, AppendRequest, EVENTS_PER_APPEND_MAX};

/// What the caller receives: the outcome, and its own encoded bodies back, so their memory is freed
/// on the caller's thread rather than on the writer's (the writer thread is the bottleneck, and
/// freeing another thread's allocations is the slow path of the allocator).
pub type Answer = (Result<AppendOutcome, LogError>, EncodedBodies);

/// The channel an answer goes back on.
pub type Reply = oneshot::Sender<Answer>;

/// One command's events, encoded by the caller, queued for the writer.
pub struct Request {
    pub stream: StreamId,
    pub partition: PartitionId,
    pub expected: StreamVersion,
    pub command_id: CommandId,
    pub waiter: Waiter,
}

/// The caller's side of a request: its encoded bodies, room for its positions (allocated by the
/// caller for the same reason as [`Answer`]), and where to answer.
pub struct Waiter {
    /// `codec(EnvelopeBody)` of each event, with versions `expected + 1 ..` already filled in.
    pub bodies: EncodedBodies,
    /// Empty, with capacity for one position per event.
    pub positions: Vec<Position>,
    reply: Reply,
}

impl Waiter {
    /// Sends the answer; a caller that stopped waiting is no error of the log.
    pub fn answer(self, result: Result<AppendOutcome, LogError>) {
        let _ = self.reply.send((result, self.bodies));
    }
}

/// The encoded bodies of one command's events in one buffer (one allocation per command, not per
/// event): each body is preceded by its length as a `u32` (little endian).
pub struct EncodedBodies {
    bytes: Vec<u8>,
    count: usize,
}

impl EncodedBodies {
    pub fn with_capacity(bytes: usize) -> EncodedBodies {
        EncodedBodies {
            bytes: Vec::with_capacity(bytes),
            count: 0,
        }
    }

    /// Appends one body written by `encode` into the buffer it is given; returns the body's length.
    pub fn push<E>(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);
        encode(&mut self.bytes)?;
        let length = u32::try_from(self.bytes.len() - start - 4).expect("bodies are below 4 GiB");
        self.bytes[start..start + 4].copy_from_slice(&length.to_le_bytes());
        self.count += 1;
        Ok(self.bytes.len() - start - 4)
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The bytes these bodies take once chained and framed.
    pub fn frame_bytes(&self) -> usize {
        self.bytes.len() + self.count * (frame::FRAME_PREFIX_BYTES + 32 - 4)
    }

    /// Each body with whether another body of the same command follows it.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], bool)> {
        let mut rest = self.bytes.as_slice();
        std::iter::from_fn(move || {
            let (length, tail) = rest.split_first_chunk::<4>()?;
            let length = usize::try_from(u32::from_le_bytes(*length)).expect("u32 fits in usize");
            let (body, tail) = tail.split_at(length);
            rest = tail;
            Some((body, !rest.is_empty()))
        })
    }
}

/// Checks and encodes a request on the caller's task, so the writer thread only chains and frames.
pub fn encode(
    request: AppendRequest,
    partitions: u32,
) -> Result<(Request, oneshot::Receiver<Answer>), LogError> {
    check_request_shape(&request)?;
    let partition = partition_of(&request.stream, partitions);
    let recorded_at = Timestamp::from_datetime(chrono::Utc::now());
    let estimate = request
        .events
        .iter()
        .map(|event| event.payload.data.len() + 256)
        .sum();
    let mut bodies = EncodedBodies::with_capacity(estimate);
    let mut version = request.expected;
    // The stream id moves into each body and back out once it is encoded, instead of a clone per
    // event: one allocation and one free fewer per event on the appending task.
    let mut stream = request.stream;
    for event in request.events {
        check_payload(&stream, &event.payload)?;
        version = version.next();
        let body = EnvelopeBody::new(event, stream, version, request.command_id, recorded_at);
        let body_bytes = bodies.push(|out| body.encode_into(out))?;
        if body_bytes + 32 > frame::RECORD_BYTES_MAX {
            return Err(LogError::Invalid(format!(
                "event {} for stream \"{}\" encodes to {body_bytes} bytes, more than the {} a record \
                     may hold; shorten its payload or its text fields",
                body.event_id,
                body.stream,
                frame::RECORD_BYTES_MAX - 32
            )));
        }
        stream = body.stream;
    }
    if bodies.frame_bytes() > BATCH_BYTES_MAX {
        return Err(LogError::Invalid(format!(
            "command {} appends {} bytes to stream \"{}\", more than the {BATCH_BYTES_MAX} bytes \
                 one append may write; split the command",
            request.command_id,
            bodies.frame_bytes(),
            stream
        )));
    }
    let (reply, answer) = oneshot::channel();
    let positions = Vec::with_capacity(bodies.count());
    let waiter = Waiter {
        bodies,
        positions,
        reply,
    };
    let queued = Request {
        stream,
        partition,
        expected: request.expected,
        command_id: request.command_id,
        waiter,
    };
    Ok((queued, answer))
}

fn check_request_shape(request: &AppendRequest) -> Result<(), LogError> {
    let count = request.events.len();
    if count == 0 || count > EVENTS_PER_APPEND_MAX {
        return Err(LogError::Invalid(format!(
            "command {} appends {count} events to stream \"{}\"; an append carries 1..={EVENTS_PER_APPEND_MAX} events",
            request.command_id, request.stream
        )));
    }
    Ok(())
}

fn check_payload(stream: &StreamId, payload: &crate::log::Payload) -> Result<(), LogError> {
    if payload.data.len() <= PAYLOAD_BYTES_MAX {
        return Ok(());
    }
    Err(LogError::Invalid(format!(
        "event {} for stream \"{stream}\" has a payload of {} bytes, more than the {PAYLOAD_BYTES_MAX} allowed",
        payload.event_type,
        payload.data.len()
    )))
}
