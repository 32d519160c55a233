//! Shared test support: a seeded generator of synthetic events, two simple views, and the plain
//! BTreeMap fold they must equal (STYLE §2.6: "views act like a BTreeMap, even after crashes").

#![allow(dead_code)] // Each test binary uses a different part of this module.

pub mod log;

use std::collections::{BTreeMap, BTreeSet};

use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::{
    Actor, ActorId, ActorRole, ChainHash, CommandId, EnvelopeBody, EventEnvelope, EventId, Offset,
    PartitionId, Payload, Position, StreamId, StreamVersion, partition_of,
};
use projector::{ProjectorReader, View, ViewError, ViewRead, ViewTxn};

/// A small, stable PRNG (SplitMix64): the sequence for a seed never changes with a dependency bump.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0);
        self.next_u64() % bound
    }

    pub fn index(&mut self, bound: usize) -> usize {
        usize::try_from(self.below(u64::try_from(bound).unwrap())).unwrap()
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// What a synthetic event does to one entity of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Set { entity: u8, value: u64 },
    Add { entity: u8, amount: u64 },
    Delete { entity: u8 },
}

impl Op {
    pub fn encode(self) -> Vec<u8> {
        let (tag, entity, number) = match self {
            Op::Set { entity, value } => (1u8, entity, value),
            Op::Add { entity, amount } => (2, entity, amount),
            Op::Delete { entity } => (3, entity, 0),
        };
        let mut bytes = vec![tag, entity];
        bytes.extend_from_slice(&number.to_be_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<Op> {
        let (&tag, rest) = bytes.split_first()?;
        let (&entity, number) = rest.split_first()?;
        let number = u64::from_be_bytes(number.try_into().ok()?);
        match tag {
            1 => Some(Op::Set {
                entity,
                value: number,
            }),
            2 => Some(Op::Add {
                entity,
                amount: number,
            }),
            3 => Some(Op::Delete { entity }),
            _ => None,
        }
    }

    pub fn random(rng: &mut Rng) -> Op {
        let entity = u8::try_from(rng.below(6)).unwrap();
        match rng.below(4) {
            0 => Op::Set {
                entity,
                value: rng.below(1000),
            },
            1 | 2 => Op::Add {
                entity,
                amount: rng.below(100),
            },
            _ => Op::Delete { entity },
        }
    }
}

/// The event type of synthetic events.
pub const SYNTHETIC: &str = "Synthetic";

/// A synthetic record at `position`.
pub fn envelope(
    position: Position,
    stream: &StreamId,
    version: StreamVersion,
    op: Op,
) -> EventEnvelope {
    let name = format!("{stream}#{version}");
    let event_id = EventId::derived("projector-tests", &name);
    let offset = i64::try_from(position.offset.0).unwrap();
    let body = EnvelopeBody {
        event_id,
        stream: stream.clone(),
        stream_version: version,
        recorded_at: Timestamp::from_micros(offset),
        occurred_at: Timestamp::from_micros(offset),
        jurisdiction: Jurisdiction::KZ,
        command_id: CommandId::derived("projector-tests", &name),
        causation_id: None,
        correlation_id: event_id.0,
        actor: Actor::new(ActorId::System("simulation".into()), ActorRole::System),
        payload: Payload {
            event_type: SYNTHETIC.into(),
            schema_version: 1,
            data: op.encode(),
        },
        command_digest: None,
    };
    EventEnvelope {
        position,
        body,
        hash: ChainHash::GENESIS,
    }
}

/// A log's worth of synthetic events, per partition in offset order.
#[derive(Debug, Clone)]
pub struct Workload {
    pub partitions: Vec<Vec<EventEnvelope>>,
}

impl Workload {
    /// `events` events over `streams` streams and `partitions` partitions; about one event in 30 is
    /// a redelivered duplicate of an earlier record of its stream (same stream version, new offset).
    pub fn generate(rng: &mut Rng, partitions: u32, streams: usize, events: usize) -> Workload {
        let ids: Vec<StreamId> = (0..streams).map(stream_id).collect();
        let mut script = Vec::with_capacity(events);
        for _ in 0..events {
            script.push((rng.index(streams), Op::random(rng), rng.one_in(30)));
        }
        Workload::from_script(partitions, &ids, &script)
    }

    /// Builds the log from `(stream index, op, duplicate?)` steps; a duplicate re-emits the stream's
    /// last event instead (when it has one).
    pub fn from_script(
        partitions: u32,
        ids: &[StreamId],
        script: &[(usize, Op, bool)],
    ) -> Workload {
        let mut logs: Vec<Vec<EventEnvelope>> =
            vec![Vec::new(); usize::try_from(partitions).unwrap()];
        let mut last: BTreeMap<usize, EventEnvelope> = BTreeMap::new();
        for &(index, op, duplicate) in script {
            let stream = &ids[index % ids.len()];
            let partition = partition_of(stream, partitions);
            let log = &mut logs[usize::try_from(partition.0).unwrap()];
            let position = Position {
                partition,
                offset: Offset(u64::try_from(log.len()).unwrap()),
            };
            let record = match (duplicate, last.get(&index)) {
                (true, Some(previous)) => EventEnvelope {
                    position,
                    ..previous.clone()
                },
                _ => {
                    let version = last.get(&index).map_or(StreamVersion(1), |previous| {
                        previous.body.stream_version.next()
                    });
                    envelope(position, stream, version, op)
                }
            };
            last.insert(index, record.clone());
            log.push(record);
        }
        Workload { partitions: logs }
    }

    pub fn partition(&self, partition: PartitionId) -> &[EventEnvelope] {
        &self.partitions[usize::try_from(partition.0).unwrap()]
    }

    pub fn partition_count(&self) -> u32 {
        u32::try_from(self.partitions.len()).unwrap()
    }

    pub fn event_count(&self) -> usize {
        self.partitions.iter().map(Vec::len).sum()
    }
}

pub fn stream_id(index: usize) -> StreamId {
    // Mix contract and period streams so that several streams share a partition (DESIGN §1).
    let text = match index % 3 {
        0 => format!("contract/C-{}", index / 3),
        1 => format!("period/C-{}/2026-01", index / 3),
        _ => format!("budget/KZ/GOBMP/{}", 2000 + index),
    };
    StreamId::new(text).unwrap()
}

/// Live entities per stream: `e/<stream>/<entity>` → value (u64 BE), and `n/<stream>` → how many
/// entities the stream has, counted with a prefix scan through the pending writes.
pub struct EntityView;

/// A per-stream rolling digest of every applied event, seeded by the view version: any double
/// application, loss or reordering changes it.
pub struct DigestView {
    pub version: u32,
}

pub const ENTITIES: &str = "entities";
pub const DIGEST: &str = "digest";

pub fn views(digest_version: u32) -> Vec<Box<dyn View>> {
    vec![
        Box::new(EntityView),
        Box::new(DigestView {
            version: digest_version,
        }),
    ]
}

fn decode_op(envelope: &EventEnvelope) -> Result<Op, ViewError> {
    Op::decode(&envelope.body.payload.data).ok_or_else(|| ViewError::Event {
        detail: "not a synthetic op".into(),
    })
}

fn entity_key(stream: &StreamId, entity: u8) -> Vec<u8> {
    format!("e/{stream}/{entity:03}").into_bytes()
}

fn u64_value(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().expect("8-byte value"))
}

impl View for EntityView {
    fn name(&self) -> &str {
        ENTITIES
    }

    fn version(&self) -> u32 {
        1
    }

    fn apply(&self, envelope: &EventEnvelope, txn: &mut ViewTxn<'_>) -> Result<(), ViewError> {
        let stream = &envelope.body.stream;
        match decode_op(envelope)? {
            Op::Set { entity, value } => {
                txn.put(entity_key(stream, entity), value.to_be_bytes().to_vec())
            }
            Op::Add { entity, amount } => {
                let key = entity_key(stream, entity);
                let current = txn.get(&key)?.map_or(0, |bytes| u64_value(&bytes));
                txn.put(key, (current + amount).to_be_bytes().to_vec());
            }
            Op::Delete { entity } => txn.delete(entity_key(stream, entity)),
        }
        let live = txn.scan_prefix(format!("e/{stream}/").as_bytes())?.len();
        txn.put(
            format!("n/{stream}").into_bytes(),
            u64::try_from(live).unwrap().to_be_bytes().to_vec(),
        );
        Ok(())
    }
}

impl View for DigestView {
    fn name(&self) -> &str {
        DIGEST
    }

    fn version(&self) -> u32 {
        self.version
    }

    fn apply(&self, envelope: &EventEnvelope, txn: &mut ViewTxn<'_>) -> Result<(), ViewError> {
        let key = format!("d/{}", envelope.body.stream).into_bytes();
        let previous = txn
            .get(&key)?
            .map_or(u64::from(self.version), |bytes| u64_value(&bytes));
        txn.put(key, digest(previous, envelope).to_be_bytes().to_vec());
        Ok(())
    }
}

/// FNV-1a over the previous digest, the stream version and the payload.
fn digest(previous: u64, envelope: &EventEnvelope) -> u64 {
    let bytes = previous
        .to_be_bytes()
        .into_iter()
        .chain(envelope.body.stream_version.0.to_be_bytes())
        .chain(envelope.body.payload.data.iter().copied());
    bytes.fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The expected content of each view: a plain fold over the events, partition by partition, each
/// stream version once.
pub type Model = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

pub fn model(workload: &Workload, digest_version: u32) -> Model {
    let mut entities: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut digests: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut live: BTreeMap<StreamId, BTreeSet<u8>> = BTreeMap::new();
    let mut seen: BTreeSet<(StreamId, StreamVersion)> = BTreeSet::new();
    for envelope in workload.partitions.iter().flatten() {
        let stream = &envelope.body.stream;
        if !seen.insert((stream.clone(), envelope.body.stream_version)) {
            continue;
        }
        let entities_of = live.entry(stream.clone()).or_default();
        match Op::decode(&envelope.body.payload.data).unwrap() {
            Op::Set { entity, value } => {
                entities.insert(entity_key(stream, entity), value.to_be_bytes().to_vec());
                entities_of.insert(entity);
            }
            Op::Add { entity, amount } => {
                let slot = entities
                    .entry(entity_key(stream, entity))
                    .or_insert_with(|| 0u64.to_be_bytes().to_vec());
                *slot = (u64_value(slot) + amount).to_be_bytes().to_vec();
                entities_of.insert(entity);
            }
            Op::Delete { entity } => {
                entities.remove(&entity_key(stream, entity));
                entities_of.remove(&entity);
            }
        }
        let count = u64::try_from(entities_of.len()).unwrap();
        entities.insert(
            format!("n/{stream}").into_bytes(),
            count.to_be_bytes().to_vec(),
        );
        let key = format!("d/{stream}").into_bytes();
        let previous = digests
            .get(&key)
            .map_or(u64::from(digest_version), |bytes| u64_value(bytes));
        digests.insert(key, digest(previous, envelope).to_be_bytes().to_vec());
    }
    BTreeMap::from([
        (ENTITIES.to_owned(), entities),
        (DIGEST.to_owned(), digests),
    ])
}

/// What the views hold, read through a query handle.
pub fn read_views<R: ViewRead>(reader: &ProjectorReader<R>) -> Model {
    reader
        .views()
        .map(|view| {
            let entries = reader.scan_prefix(view, b"", usize::MAX).unwrap();
            (view.to_owned(), entries.into_iter().collect())
        })
        .collect()
}

/// Describes the first difference between two models, for a failure message.
pub fn first_difference(actual: &Model, expected: &Model) -> Option<String> {
    for (view, expected_entries) in expected {
        let Some(actual_entries) = actual.get(view) else {
            return Some(format!("view {view} is missing"));
        };
        let keys: BTreeSet<&Vec<u8>> = expected_entries
            .keys()
            .chain(actual_entries.keys())
            .collect();
        for key in keys {
            let (left, right) = (actual_entries.get(key), expected_entries.get(key));
            if left != right {
                return Some(format!(
                    "view {view} key {:?}: projected {left:?}, model {right:?}",
                    String::from_utf8_lossy(key)
                ));
            }
        }
    }
    None
}
