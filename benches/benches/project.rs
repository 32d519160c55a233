//! Projection into all domain views (issue #6), beside a raw baseline in the same run: decoding the
//! same envelopes (`Event::from_payload`) without writing views.
//!
//! Back of the envelope: ~10k generated events (10 contracts × 1,000 dispensings plus lifecycle) in
//! memory, so the log read is out of the picture. Decoding a ~700-byte dispensing costs ~2 µs; the
//! registry view adds one buffered put of the recorded payload per dispensing and the store batch
//! adds one sled insert per key (~5–10 µs in sled 0.34), so expect ~100–200k events/s into sled,
//! several times that into `SimStore`, and ~500k events/s for the baseline.
//! `ledger bench project` measures the same on a national month read from a real log.

use std::collections::BTreeMap;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::{
    Actor, ActorId, ActorRole, ChainHash, CommandId, EnvelopeBody, EventEnvelope, EventId, Offset,
    Position, StreamVersion, partition_of,
};
use projector::views::sample::{self, SampleConfig};
use projector::{Projector, SimConfig, SimStore, SledStore, ViewStore};

const PARTITIONS: u32 = 4;
const BATCH: usize = 1024;

/// The sample as envelopes per partition, with gapless stream versions.
fn envelopes(config: SampleConfig) -> Vec<Vec<EventEnvelope>> {
    let mut partitions = vec![Vec::new(); usize::try_from(PARTITIONS).expect("small")];
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    for (sample, n) in sample::events(config).into_iter().zip(1u64..) {
        let partition = partition_of(&sample.stream, PARTITIONS);
        let slot = &mut partitions[usize::try_from(partition.0).expect("small")];
        let version = versions
            .entry(sample.stream.as_str().to_owned())
            .or_insert(0);
        *version += 1;
        let body = EnvelopeBody {
            event_id: EventId(uuid::Uuid::from_u128(u128::from(n))),
            stream: sample.stream,
            stream_version: StreamVersion(*version),
            recorded_at: Timestamp::from_micros(i64::try_from(n).expect("small")),
            occurred_at: Timestamp::from_micros(i64::try_from(n).expect("small")),
            jurisdiction: Jurisdiction::KZ,
            command_id: CommandId(uuid::Uuid::from_u128(u128::from(n))),
            causation_id: None,
            correlation_id: uuid::Uuid::nil(),
            actor: Actor::new(ActorId::System("bench".into()), ActorRole::System),
            payload: sample.event.to_payload().expect("encodes"),
            command_digest: None,
        };
        let offset = Offset(u64::try_from(slot.len()).expect("small"));
        slot.push(EventEnvelope {
            position: Position { partition, offset },
            body,
            hash: ChainHash([0; 32]),
        });
    }
    partitions
}

fn project<S: ViewStore>(store: S, partitions: &[Vec<EventEnvelope>]) {
    let (mut projector, _) = Projector::open(store, projector::views::all()).expect("open");
    for events in partitions {
        for batch in events.chunks(BATCH) {
            projector.step(batch).expect("step");
        }
    }
}

fn bench(c: &mut Criterion) {
    let config = SampleConfig {
        seed: 1,
        contracts: 10,
        periods: 1,
        dispensings_per_period: 1_000,
        lifecycle: true,
    };
    let partitions = envelopes(config);
    let events: usize = partitions.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("project");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::try_from(events).expect("small")));
    group.bench_function("raw_decode", |b| {
        b.iter(|| {
            for envelope in partitions.iter().flatten() {
                std::hint::black_box(Event::from_payload(&envelope.body.payload).expect("decodes"));
            }
        });
    });
    group.bench_function("sim_store", |b| {
        b.iter_batched(
            || SimStore::new(SimConfig::default()),
            |store| project(store, &partitions),
            BatchSize::LargeInput,
        );
    });
    group.bench_function("sled", |b| {
        b.iter_batched(
            || SledStore::temporary().expect("sled"),
            |store| project(store, &partitions),
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
