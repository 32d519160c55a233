//! `ledger bench kafka`: appends through the ledger's Kafka backend beside the best raw rdkafka
//! produce of the same record bytes with the same guarantees (idempotent, `acks=all`, transactional),
//! so the ratio shows what the ledger's deciding, sealing and bookkeeping cost against what Kafka
//! itself can take. The last line is `kafka: ledger=<events/s> raw=<events/s> ratio=<ledger/raw>`
//! (target ≥ 0.70), for the default configuration: the public topic on (issue #14), so the raw side
//! produces each event's record and its CloudEvent in one transaction too. The line before it
//! measures both sides with the public topic off; the two ledger rates are what the public topic
//! costs.
//!
//! The raw baseline (issue #16 §3) is the best of a few producer shapes that keep the guarantees:
//! [`RAW_RECORDS_PER_TRANSACTION`] records per transaction (at least 10,000, or every event when
//! fewer are measured) with `linger.ms` [`RAW_LINGER_MS`], i.e. what a producer that fills its
//! transactions by size reaches; not the ledger's own transaction size, which is what is measured.
//!
//! Every event is the golden `DispensingRecorded` (a real event: the public form decodes it), under
//! its own event id and stream version.
//!
//! Back of the envelope: on loopback the broker round trip dominates, so a side is bounded by
//! (records per transaction) / (transaction round trips). The ledger's writer is a pipeline (decide
//! while the broker takes the open transaction, `docs/kafka.md`), but its transactions can only be as
//! large as the appends in flight (`--concurrency` tasks × `--commands-per-call`), and with the
//! public topic it produces each CloudEvent only once its record's offset is delivered (the CloudEvent
//! names it): its records first, then their CloudEvents, which raw produces at once.
//! `RUST_LOG=ledger::log::kafka=debug` shows per batch and per transaction where the time goes.
//!
//! Not measured yet: projection and consume (the projector's Kafka consumer is a later step).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::kafka::{KafkaConfig, KafkaLog};
use ledger::log::{
    Actor, ActorId, ActorRole, AppendRequest, ChainHash, CommandId, EnvelopeBody, EventEnvelope,
    EventId, EventLog, NewEvent, Offset, Payload, Position, PublicForm, StreamId, StreamVersion,
};
use ledger::public::CloudEvents;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::UsageError;

#[derive(Debug, clap::Args)]
pub struct KafkaArgs {
    /// The broker, e.g. the address `scripts/broker.sh start` prints.
    #[arg(long, env = "KAFKA_BOOTSTRAP")]
    bootstrap: Option<String>,
    /// Events to append (and to produce raw).
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Concurrent appending tasks, each on its own stream (also the raw transaction size).
    #[arg(long, default_value_t = 256)]
    concurrency: u32,
    /// Partitions of the benchmark topic.
    #[arg(long, default_value_t = 8)]
    partitions: u32,
    /// Commands per call on the ledger side: 1 appends each command on its own (`append`); more
    /// hands each task's next commands to one `append_many`, as `serve` and `submit` do.
    #[arg(long, default_value_t = 1)]
    commands_per_call: u32,
}

const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The raw side's transaction sizes; the best is the baseline (each capped at `--events`).
const RAW_RECORDS_PER_TRANSACTION: [u64; 2] = [10_000, 25_000];

/// The raw producer's `linger.ms`: long enough to fill its batches.
const RAW_LINGER_MS: &str = "5";

pub fn run(args: KafkaArgs) -> anyhow::Result<ExitCode> {
    let Some(bootstrap) = args.bootstrap.clone() else {
        return Err(UsageError(
            "ledger bench kafka needs a broker: pass --bootstrap HOST:PORT or set KAFKA_BOOTSTRAP \
             (scripts/broker.sh start runs one on loopback)"
                .to_owned(),
        )
        .into());
    };
    if args.events == 0
        || args.concurrency == 0
        || args.partitions == 0
        || args.commands_per_call == 0
    {
        return Err(UsageError(
            "--events, --concurrency, --partitions and --commands-per-call must be at least 1"
                .to_owned(),
        )
        .into());
    }
    let runtime = super::runtime()?;
    let prefix = format!(
        "bench-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp()
    );
    let off = Run {
        bootstrap: &bootstrap,
        prefix: format!("{prefix}-off"),
        args: &args,
        public: false,
    };
    let on = Run {
        prefix: format!("{prefix}-on"),
        public: true,
        ..off.clone()
    };
    let off_rates = (
        runtime.block_on(ledger_appends(&off))?,
        runtime.block_on(raw_best(&off))?,
    );
    let on_rates = (
        runtime.block_on(ledger_appends(&on))?,
        runtime.block_on(raw_best(&on))?,
    );
    let (record, cloud_event) = record_sizes()?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "kafka: {} events (DispensingRecorded: {record} B record, {cloud_event} B CloudEvent), {} tasks \
         x {} commands per call, {} partitions on {bootstrap}",
        args.events, args.concurrency, args.commands_per_call, args.partitions
    )?;
    writeln!(out, "kafka: public topic off: {}", rates(off_rates))?;
    writeln!(out, "kafka: {}", rates(on_rates))?;
    Ok(ExitCode::SUCCESS)
}

/// One measured configuration.
#[derive(Clone)]
struct Run<'a> {
    bootstrap: &'a str,
    prefix: String,
    args: &'a KafkaArgs,
    public: bool,
}

impl Run<'_> {
    fn url(&self, side: &str, options: &str) -> String {
        let public = if self.public { "on" } else { "off" };
        format!(
            "kafka://{}?prefix={}-{side}&partitions={}&public_topic={public}{options}",
            self.bootstrap, self.prefix, self.args.partitions
        )
    }
}

fn rates((ledger_rate, raw_rate): (u64, u64)) -> String {
    let hundredths = u128::from(ledger_rate) * 100 / u128::from(raw_rate.max(1));
    format!(
        "ledger={ledger_rate} raw={raw_rate} ratio={}.{:02}",
        hundredths / 100,
        hundredths % 100
    )
}

/// Bytes of one benchmark event's record and of its CloudEvent.
fn record_sizes() -> anyhow::Result<(usize, usize)> {
    let stream = StreamId::new("contract/BENCH-0")?;
    let body = body(0, &stream, StreamVersion(1));
    let (bytes, hash) = EventEnvelope::seal(&body, &ChainHash::GENESIS)?;
    let envelope = EventEnvelope {
        position: Position {
            partition: ledger::log::PartitionId(0),
            offset: Offset(0),
        },
        body,
        hash,
    };
    Ok((
        bytes.len(),
        CloudEvents::default().to_bytes(&envelope)?.len(),
    ))
}

fn per_second(events: u64, elapsed: Duration) -> u64 {
    let micros = elapsed.as_micros().max(1);
    u64::try_from(u128::from(events) * 1_000_000 / micros).unwrap_or(u64::MAX)
}

fn form(run: &Run<'_>) -> Option<Arc<dyn PublicForm>> {
    run.public
        .then(|| Arc::new(CloudEvents::default()) as Arc<dyn PublicForm>)
}

/// `concurrency` tasks append one event per command to their own stream, `commands_per_call` commands
/// per call, until `events` are in.
async fn ledger_appends(run: &Run<'_>) -> anyhow::Result<u64> {
    let args = run.args;
    let url = run.url("ledger", "");
    let log = Arc::new(
        KafkaLog::open_url(&url, form(run))
            .await
            .with_context(|| format!("open {url}"))?,
    );
    let remaining = Arc::new(AtomicU64::new(args.events));
    let per_call = u64::from(args.commands_per_call);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..args.concurrency {
        let (log, remaining) = (Arc::clone(&log), Arc::clone(&remaining));
        tasks.push(tokio::spawn(async move {
            let stream = StreamId::new(format!("contract/BENCH-{task}")).expect("valid stream id");
            let mut version = StreamVersion::NONE;
            while let Ok(left) =
                remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    left.checked_sub(per_call.min(left)).filter(|_| left > 0)
                })
            {
                // One call: the stream's next commands, each expecting the version the one before
                // it leaves.
                let mut requests = Vec::new();
                for _ in 0..per_call.min(left) {
                    let seed = u64::from(task) << 32 | version.0;
                    requests.push(AppendRequest {
                        stream: stream.clone(),
                        expected: version,
                        command_id: CommandId::derived("bench-kafka", &seed.to_string()),
                        events: vec![bench_event(seed)],
                    });
                    version = version.next();
                }
                if requests.len() == 1 {
                    log.append(requests.remove(0)).await?;
                } else {
                    for outcome in log.append_many(requests).await {
                        outcome?;
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("append task panicked")??;
    }
    Ok(per_second(args.events, started.elapsed()))
}

/// The best rate of [`raw_produce`] over [`RAW_RECORDS_PER_TRANSACTION`] (each capped at the events
/// measured, so a short run still produces one whole transaction).
async fn raw_best(run: &Run<'_>) -> anyhow::Result<u64> {
    let mut best = 0;
    let mut tried = Vec::new();
    for size in RAW_RECORDS_PER_TRANSACTION {
        let size = size.min(run.args.events);
        if tried.contains(&size) {
            continue;
        }
        tried.push(size);
        best = best.max(raw_produce(run, size).await?);
    }
    Ok(best)
}

/// Produces the same kind of sealed records (and with the public topic on, their CloudEvents) with
/// the same guarantees, `per_transaction` records per transaction, without deciding, bookkeeping or
/// waiting for offsets.
async fn raw_produce(run: &Run<'_>, per_transaction: u64) -> anyhow::Result<u64> {
    let args = run.args;
    // Opening (and dropping) a writer creates the topics; the raw producer then takes over its
    // transactional id.
    let url = run.url(&format!("raw-{per_transaction}"), "");
    drop(
        KafkaLog::open_url(&url, form(run))
            .await
            .context("create the raw topics")?,
    );
    let config = KafkaConfig::from_url(&url)?;
    let topics = (config.events_topic(), config.public_topic_name());
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", run.bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("transactional.id", &config.writer_id)
        .set("queue.buffering.max.messages", "1000000")
        .set("linger.ms", RAW_LINGER_MS)
        .create()?;
    producer.init_transactions(TRANSACTION_TIMEOUT)?;
    let records = sealed_records(run)?;
    let started = Instant::now();
    for chunk in records.chunks(usize::try_from(per_transaction)?) {
        producer.begin_transaction()?;
        let mut deliveries = Vec::with_capacity(chunk.len() * 2);
        for (partition, key, bytes, cloud_event) in chunk {
            let record = FutureRecord::to(&topics.0)
                .partition(*partition)
                .key(key)
                .payload(bytes);
            deliveries.push(producer.send_result(record).map_err(|(error, _)| error)?);
            if let Some(cloud_event) = cloud_event {
                let record = FutureRecord::to(&topics.1)
                    .partition(*partition)
                    .key(key)
                    .payload(cloud_event);
                deliveries.push(producer.send_result(record).map_err(|(error, _)| error)?);
            }
        }
        for delivery in deliveries {
            delivery.await?.map_err(|(error, _)| error)?;
        }
        producer.commit_transaction(TRANSACTION_TIMEOUT)?;
    }
    Ok(per_second(args.events, started.elapsed()))
}

/// A raw record: partition, key, sealed bytes and, with the public topic on, its CloudEvent.
type RawRecord = (i32, String, Vec<u8>, Option<Vec<u8>>);

/// Sealed record bytes like the ledger's, spread over the streams the ledger run used.
fn sealed_records(run: &Run<'_>) -> anyhow::Result<Vec<RawRecord>> {
    let args = run.args;
    let form = CloudEvents::default();
    let mut records = Vec::new();
    for index in 0..args.events {
        let task = index % u64::from(args.concurrency);
        let stream = StreamId::new(format!("contract/BENCH-{task}"))?;
        let partition = ledger::log::partition_of(&stream, args.partitions);
        let version = StreamVersion(index / u64::from(args.concurrency) + 1);
        let body = body(index, &stream, version);
        let (bytes, hash) = EventEnvelope::seal(&body, &ChainHash::GENESIS)?;
        let cloud_event = if run.public {
            let envelope = EventEnvelope {
                position: Position {
                    partition,
                    offset: Offset(index),
                },
                body,
                hash,
            };
            Some(form.to_bytes(&envelope)?)
        } else {
            None
        };
        let key = stream.to_string();
        records.push((i32::try_from(partition.0)?, key, bytes, cloud_event));
    }
    Ok(records)
}

fn body(seed: u64, stream: &StreamId, version: StreamVersion) -> EnvelopeBody {
    EnvelopeBody::new(
        bench_event(seed),
        stream.clone(),
        version,
        CommandId::derived("bench-kafka-raw", &seed.to_string()),
        Timestamp::from_datetime(chrono::Utc::now()),
    )
}

/// The golden `DispensingRecorded` (`schemas/golden/`), compiled in: a real event of typical size.
const DISPENSING: &[u8] = include_bytes!("../../../schemas/golden/DispensingRecorded/v1.bin");

/// A benchmark event: the golden dispensing under an event id derived from `seed`.
fn bench_event(seed: u64) -> NewEvent {
    NewEvent {
        event_id: EventId(uuid::Uuid::from_u64_pair(0x0190_0000_0000_7000, seed)),
        occurred_at: Timestamp::from_datetime(chrono::Utc::now()),
        jurisdiction: Jurisdiction::KZ,
        causation_id: None,
        correlation_id: uuid::Uuid::from_u64_pair(0xbe7c, seed),
        actor: Actor::new(ActorId::System("bench-kafka".to_owned()), ActorRole::System),
        payload: Payload {
            event_type: "DispensingRecorded".to_owned(),
            schema_version: 1,
            data: DISPENSING.to_vec(),
        },
        command_digest: None,
    }
}
