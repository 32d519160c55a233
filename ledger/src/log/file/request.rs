//! Appends as the writer receives them: checked and encoded on the caller's task, so the single
//! writer thread only decides, chains and frames. One [`Request`] carries one call: a single
//! `append`, or a chunk of an `append_many` (many independent commands, one hand-off and one answer
//! for all of them).

use std::ops::Range;

use tokio::sync::oneshot;

use super::frame;
use super::writer::{BATCH_BYTES_MAX, EVENTS_PER_BATCH_MAX};
use crate::domain::time::Timestamp;
use crate::log::envelope::{EnvelopeBody, PAYLOAD_BYTES_MAX};
use crate::log::error::LogError;
use crate::log::ids::{CommandId, PartitionId, StreamId, StreamVersion, partition_of};
use crate::log::{AppendOutcome, AppendRequest, EVENTS_PER_APPEND_MAX};

/// What the caller receives: one result per queued command, in order, and its own encoded bodies
/// back, so their memory is freed on the caller's thread rather than on the writer's (the writer
/// thread is the bottleneck, and freeing another thread's allocations is the slow path of the
/// allocator).
pub type Answer = (Vec<Result<AppendOutcome, LogError>>, EncodedBodies);

/// The channel an answer goes back on.
pub type Reply = oneshot::Sender<Answer>;

/// The commands of one call, encoded by the caller, queued for the writer.
pub struct Request {
    pub commands: Vec<Queued>,
    pub waiter: Waiter,
}

/// One command of a [`Request`].
pub struct Queued {
    pub stream: StreamId,
    pub partition: PartitionId,
    pub expected: StreamVersion,
    pub command_id: CommandId,
    /// Where its bodies sit in the waiter's buffer.
    pub bytes: Range<usize>,
    /// How many events (bodies) it appends: 1..=[`EVENTS_PER_APPEND_MAX`].
    pub count: u32,
}

/// The caller's side of a request: the encoded bodies of all its commands, the results the writer
/// fills in (one per command, in order), and where to answer.
pub struct Waiter {
    /// `codec(EnvelopeBody)` of each event, with versions `expected + 1 ..` already filled in.
    pub bodies: EncodedBodies,
    pub results: Vec<Result<AppendOutcome, LogError>>,
    reply: Reply,
}

impl Waiter {
    /// Sends the answer; a caller that stopped waiting is no error of the log.
    pub fn answer(self) {
        let _ = self.reply.send((self.results, self.bodies));
    }

    /// Turns every success into `error` (a write or sync that failed after admission).
    pub fn fail(&mut self, error: impl Fn() -> LogError) {
        for result in &mut self.results {
            if result.is_ok() {
                *result = Err(error());
            }
        }
    }
}

/// The encoded bodies of a call's events in one buffer (one allocation per call, not per event):
/// each body is preceded by its length as a `u32` (little endian).
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
        if let Err(error) = encode(&mut self.bytes) {
            self.bytes.truncate(start);
            return Err(error);
        }
        let length = u32::try_from(self.bytes.len() - start - 4).expect("bodies are below 4 GiB");
        self.bytes[start..start + 4].copy_from_slice(&length.to_le_bytes());
        self.count += 1;
        Ok(self.bytes.len() - start - 4)
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The length of the buffer: where the next body starts.
    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Drops the bodies from byte `start` on (`count` of them): a command refused while encoding.
    fn truncate(&mut self, start: usize, count: usize) {
        self.bytes.truncate(start);
        self.count -= count;
    }

    /// The bytes these bodies take once chained and framed.
    pub fn frame_bytes(&self) -> usize {
        frame_bytes_of(self.bytes.len(), self.count)
    }

    /// Each body of the command at `range` with whether another body of the same command follows it.
    pub(super) fn command(&self, range: Range<usize>) -> impl Iterator<Item = (&[u8], bool)> {
        let mut rest = &self.bytes[range];
        std::iter::from_fn(move || {
            let (length, tail) = rest.split_first_chunk::<4>()?;
            let length = usize::try_from(u32::from_le_bytes(*length)).expect("u32 fits in usize");
            let (body, tail) = tail.split_at(length);
            rest = tail;
            Some((body, !rest.is_empty()))
        })
    }
}

/// The framed size of `count` bodies that take `buffer_bytes` in an [`EncodedBodies`].
fn frame_bytes_of(buffer_bytes: usize, count: usize) -> usize {
    buffer_bytes + count * (frame::FRAME_PREFIX_BYTES + 32 - 4)
}

/// Checks and encodes the requests of one call on the caller's task, in order, into requests for
/// the writer, each within the writer's batch bounds. Returns the queued requests with their answer
/// channels, and the refusals found while encoding by their place in `requests` (they never reach
/// the writer).
pub fn encode_many(requests: Vec<AppendRequest>, partitions: u32) -> Encoded {
    let recorded_at = Timestamp::from_datetime(chrono::Utc::now());
    let mut encoded = Encoded {
        queued: Vec::new(),
        refused: Vec::new(),
    };
    let mut chunk = Chunk::new(&requests);
    for (slot, request) in requests.into_iter().enumerate() {
        let start = (chunk.bodies.len(), chunk.bodies.count());
        match encode_one(&mut chunk.bodies, request, partitions, recorded_at) {
            Ok(queued) => {
                let (bytes, events) = (chunk.bodies.frame_bytes(), chunk.bodies.count());
                if (events > EVENTS_PER_BATCH_MAX || bytes > BATCH_BYTES_MAX)
                    && !chunk.commands.is_empty()
                {
                    // Too much for one writer batch: the chunk so far goes alone, this command
                    // starts the next one.
                    let moved = chunk.split_off(start, slot, queued);
                    encoded
                        .queued
                        .push(std::mem::replace(&mut chunk, moved).finish());
                } else {
                    chunk.commands.push((slot, queued));
                }
            }
            Err(error) => {
                chunk
                    .bodies
                    .truncate(start.0, chunk.bodies.count() - start.1);
                encoded.refused.push((slot, error));
            }
        }
    }
    if !chunk.commands.is_empty() {
        encoded.queued.push(chunk.finish());
    }
    encoded
}

/// The requests of one call, ready for the writer.
pub struct Encoded {
    /// Each request with the call slots of its commands and the receiver of its answer.
    pub queued: Vec<(Request, Vec<usize>, oneshot::Receiver<Answer>)>,
    /// Commands refused while encoding, by call slot.
    pub refused: Vec<(usize, LogError)>,
}

/// A request being filled.
struct Chunk {
    bodies: EncodedBodies,
    commands: Vec<(usize, Queued)>,
}

impl Chunk {
    fn new(requests: &[AppendRequest]) -> Chunk {
        let estimate: usize = requests
            .iter()
            .flat_map(|request| &request.events)
            .map(|event| event.payload.data.len() + 256)
            .sum();
        Chunk {
            bodies: EncodedBodies::with_capacity(estimate.min(BATCH_BYTES_MAX)),
            commands: Vec::with_capacity(requests.len()),
        }
    }

    /// Moves the last command (encoded from `start` on) into a new chunk.
    fn split_off(&mut self, start: (usize, usize), slot: usize, mut queued: Queued) -> Chunk {
        let count = self.bodies.count() - start.1;
        let mut bodies = EncodedBodies::with_capacity(self.bodies.len() - start.0);
        bodies
            .bytes
            .extend_from_slice(&self.bodies.bytes[start.0..]);
        bodies.count = count;
        self.bodies.truncate(start.0, count);
        queued.bytes = 0..bodies.len();
        Chunk {
            bodies,
            commands: vec![(slot, queued)],
        }
    }

    fn finish(self) -> (Request, Vec<usize>, oneshot::Receiver<Answer>) {
        let (reply, answer) = oneshot::channel();
        let (slots, commands): (Vec<usize>, Vec<Queued>) = self.commands.into_iter().unzip();
        let waiter = Waiter {
            bodies: self.bodies,
            results: Vec::with_capacity(commands.len()),
            reply,
        };
        (Request { commands, waiter }, slots, answer)
    }
}

/// Checks one request and encodes its events at the end of `bodies`.
fn encode_one(
    bodies: &mut EncodedBodies,
    request: AppendRequest,
    partitions: u32,
    recorded_at: Timestamp,
) -> Result<Queued, LogError> {
    check_request_shape(&request)?;
    let partition = partition_of(&request.stream, partitions);
    let start = bodies.len();
    let count = request.events.len();
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
    let framed = frame_bytes_of(bodies.len() - start, count);
    if framed > BATCH_BYTES_MAX {
        return Err(LogError::Invalid(format!(
            "command {} appends {framed} bytes to stream \"{stream}\", more than the {BATCH_BYTES_MAX} bytes \
                 one append may write; split the command",
            request.command_id,
        )));
    }
    Ok(Queued {
        stream,
        partition,
        expected: request.expected,
        command_id: request.command_id,
        bytes: start..bodies.len(),
        count: u32::try_from(count).expect("at most EVENTS_PER_APPEND_MAX events"),
    })
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
