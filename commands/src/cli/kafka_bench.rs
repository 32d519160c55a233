//! `ledger bench kafka`: appends through the ledger's Kafka backend beside raw rdkafka produce of the
//! same record bytes with the same producer settings (idempotent, `acks=all`, transactional), so the
//! ratio shows what the ledger's deciding, sealing and bookkeeping cost on top of Kafka itself.
//! The last line is `kafka: ledger=<events/s> raw=<events/s> ratio=<ledger/raw>` (target ≥ 0.70).
//!
//! Back of the envelope: on loopback the broker round trip dominates; both sides commit one transaction
//! per batch of `--concurrency` records, so both are bounded by (records per transaction) / (transaction
//! round trips), and the ledger should stay close to raw.
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
    EventId, EventLog, NewEvent, Payload, StreamId, StreamVersion,
};
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
    /// Bytes of each event's synthetic payload.
    #[arg(long, default_value_t = 300)]
    payload_bytes: u32,
    /// Partitions of the benchmark topic.
    #[arg(long, default_value_t = 8)]
    partitions: u32,
}

const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(args: KafkaArgs) -> anyhow::Result<ExitCode> {
    let Some(bootstrap) = args.bootstrap.clone() else {
        return Err(UsageError(
            "ledger bench kafka needs a broker: pass --bootstrap HOST:PORT or set KAFKA_BOOTSTRAP \
             (scripts/broker.sh start runs one on loopback)"
                .to_owned(),
        )
        .into());
    };
    if args.events == 0 || args.concurrency == 0 || args.partitions == 0 {
        return Err(UsageError(
            "--events, --concurrency and --partitions must be at least 1".to_owned(),
        )
        .into());
    }
    let runtime = super::runtime()?;
    let prefix = format!(
        "bench-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp()
    );
    let ledger_rate = runtime.block_on(ledger_appends(&bootstrap, &prefix, &args))?;
    let raw_rate = runtime.block_on(raw_produce(&bootstrap, &prefix, &args))?;
    let hundredths = u128::from(ledger_rate) * 100 / u128::from(raw_rate.max(1));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "kafka: {} events of {} B payload, {} tasks, {} partitions on {bootstrap}",
        args.events, args.payload_bytes, args.concurrency, args.partitions
    )?;
    writeln!(
        out,
        "kafka: ledger={ledger_rate} raw={raw_rate} ratio={}.{:02}",
        hundredths / 100,
        hundredths % 100
    )?;
    Ok(ExitCode::SUCCESS)
}

fn per_second(events: u64, elapsed: Duration) -> u64 {
    let micros = elapsed.as_micros().max(1);
    u64::try_from(u128::from(events) * 1_000_000 / micros).unwrap_or(u64::MAX)
}

/// `concurrency` tasks append one event per command to their own stream until `events` are in.
async fn ledger_appends(bootstrap: &str, prefix: &str, args: &KafkaArgs) -> anyhow::Result<u64> {
    let url = format!(
        "kafka://{bootstrap}?prefix={prefix}-ledger&partitions={}",
        args.partitions
    );
    let log = Arc::new(
        KafkaLog::open_url(&url)
            .await
            .with_context(|| format!("open {url}"))?,
    );
    let remaining = Arc::new(AtomicU64::new(args.events));
    let payload_bytes = usize::try_from(args.payload_bytes)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..args.concurrency {
        let (log, remaining) = (Arc::clone(&log), Arc::clone(&remaining));
        tasks.push(tokio::spawn(async move {
            let stream = StreamId::new(format!("contract/BENCH-{task}")).expect("valid stream id");
            let mut version = StreamVersion::NONE;
            while remaining
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    left.checked_sub(1)
                })
                .is_ok()
            {
                let seed = u64::from(task) << 32 | version.0;
                let request = AppendRequest {
                    stream: stream.clone(),
                    expected: version,
                    command_id: CommandId::derived("bench-kafka", &seed.to_string()),
                    events: vec![bench_event(seed, payload_bytes)],
                };
                log.append(request).await?;
                version = version.next();
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("append task panicked")??;
    }
    Ok(per_second(args.events, started.elapsed()))
}

/// Produces the same kind of sealed records with the same producer settings, `concurrency` records
/// per transaction (the ledger's group commit at full load), without deciding or bookkeeping.
async fn raw_produce(bootstrap: &str, prefix: &str, args: &KafkaArgs) -> anyhow::Result<u64> {
    let url = format!(
        "kafka://{bootstrap}?prefix={prefix}-raw&partitions={}&role=reader",
        args.partitions
    );
    drop(
        KafkaLog::open_url(&url)
            .await
            .context("create the raw topic")?,
    );
    let topic = KafkaConfig::from_url(&url)?.events_topic();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("transactional.id", format!("{prefix}-raw.writer"))
        .set("queue.buffering.max.messages", "1000000")
        .set("linger.ms", "2")
        .create()?;
    producer.init_transactions(TRANSACTION_TIMEOUT)?;
    let records = sealed_records(args)?;
    let started = Instant::now();
    for chunk in records.chunks(usize::try_from(args.concurrency)?) {
        producer.begin_transaction()?;
        let mut deliveries = Vec::with_capacity(chunk.len());
        for (partition, key, bytes) in chunk {
            let record = FutureRecord::to(&topic)
                .partition(*partition)
                .key(key)
                .payload(bytes);
            deliveries.push(producer.send_result(record).map_err(|(error, _)| error)?);
        }
        for delivery in deliveries {
            delivery.await?.map_err(|(error, _)| error)?;
        }
        producer.commit_transaction(TRANSACTION_TIMEOUT)?;
    }
    Ok(per_second(args.events, started.elapsed()))
}

/// Sealed record bytes like the ledger's, spread over the streams the ledger run used.
fn sealed_records(args: &KafkaArgs) -> anyhow::Result<Vec<(i32, String, Vec<u8>)>> {
    let payload_bytes = usize::try_from(args.payload_bytes)?;
    let mut records = Vec::new();
    for index in 0..args.events {
        let task = index % u64::from(args.concurrency);
        let stream = StreamId::new(format!("contract/BENCH-{task}"))?;
        let partition = ledger::log::partition_of(&stream, args.partitions);
        let body = EnvelopeBody::new(
            bench_event(index, payload_bytes),
            stream.clone(),
            StreamVersion(index / u64::from(args.concurrency) + 1),
            CommandId::derived("bench-kafka-raw", &index.to_string()),
            Timestamp::from_datetime(chrono::Utc::now()),
        );
        let (bytes, _) = EventEnvelope::seal(&body, &ChainHash::GENESIS)?;
        records.push((i32::try_from(partition.0)?, stream.to_string(), bytes));
    }
    Ok(records)
}

/// A synthetic event with `payload_bytes` bytes of payload derived from `seed`.
fn bench_event(seed: u64, payload_bytes: usize) -> NewEvent {
    let data = seed
        .to_le_bytes()
        .iter()
        .copied()
        .cycle()
        .take(payload_bytes)
        .collect();
    NewEvent {
        event_id: EventId(uuid::Uuid::from_u64_pair(0x0190_0000_0000_7000, seed)),
        occurred_at: Timestamp::from_datetime(chrono::Utc::now()),
        jurisdiction: Jurisdiction::KZ,
        causation_id: None,
        correlation_id: uuid::Uuid::from_u64_pair(0xbe7c, seed),
        actor: Actor::new(ActorId::System("bench-kafka".to_owned()), ActorRole::System),
        payload: Payload {
            event_type: "BenchEvent".to_owned(),
            schema_version: 1,
            data,
        },
        command_digest: None,
    }
}
