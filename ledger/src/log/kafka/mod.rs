//! The Kafka backend of the [`EventLog`] (issue #7): one topic `<prefix>.events` with N partitions,
//! record key = stream id, partition = [`partition_of`](super::partition_of) (never librdkafka's partitioner), record value =
//! the sealed record bytes ([`EventEnvelope::seal`]), headers for routing without decoding.
//!
//! Exactly one writer appends: it holds the deployment's transactional id (fencing any earlier holder)
//! and rebuilds stream versions, command ids and chain heads from the topic when it opens. Readers
//! (`role=reader`) never touch the transactional id. Design and broker limits: `docs/kafka.md`.
//!
//! With `public_topic` on (the default) the writer also publishes each record's public form on
//! `<prefix>.events.json` in the same transaction, rendered by the [`PublicForm`] the opener passes
//! (this backend never decodes payloads).

mod commit;
mod config;
mod decide;
mod group;
mod produce;
mod reader;
mod state;
#[cfg(any(test, feature = "testkit"))]
pub mod testing;
mod topics;
mod writer;

pub use config::{InvalidKafkaUrl, KafkaConfig, Role};
pub use group::{GroupChange, GroupConsumer, GroupPoll, committed_offsets};
pub use writer::{
    HEADER_CONTENT_TYPE, HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION,
    HEADER_STREAM_ID, HEADER_STREAM_VERSION,
};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, Producer};
use tokio::sync::{mpsc, oneshot};

use self::commit::Committer;
use self::decide::Overlay;
use self::reader::{Reader, blocking};
use self::state::WriterState;
use self::topics::{ensure_topic, public_topic};
use self::writer::{
    DECIDE_EVENTS_MAX, Idle, PIPELINE_BATCHES_MAX, Pending, PublicTopic, QUEUE_APPENDS_MAX,
    TRANSACTION_TIMEOUT, Writer,
};
use super::{
    AppendOutcome, AppendRequest, CommandId, EventEnvelope, EventLog, LogError, Offset,
    PartitionId, PublicForm, READ_BATCH_RECORDS, StreamId, StreamVersion,
};

/// The Kafka event log. Cheap to share behind an `Arc`; appends from many tasks are group-committed.
pub struct KafkaLog {
    config: KafkaConfig,
    reader: Arc<Reader>,
    /// `None` for `role=reader`.
    writer: Option<WriterHandle>,
}

struct WriterHandle {
    queue: mpsc::Sender<Pending>,
    state: Arc<Mutex<WriterState>>,
    /// The committing task's test hook (see [`KafkaLog::fail_commit_of`]).
    #[cfg_attr(not(any(test, feature = "testkit")), allow(dead_code))]
    fail_commit: Arc<Mutex<Option<CommandId>>>,
}

impl KafkaLog {
    /// Opens the log from a `kafka://` URL (see [`KafkaConfig::from_url`] and [`KafkaLog::open`]).
    pub async fn open_url(
        url: &str,
        public: Option<Arc<dyn PublicForm>>,
    ) -> Result<KafkaLog, LogError> {
        let config =
            KafkaConfig::from_url(url).map_err(|error| LogError::Invalid(error.to_string()))?;
        KafkaLog::open(config, public).await
    }

    /// Creates the topic if missing (checking the partition count if not), then, for a writer, claims
    /// the transactional id (fencing the previous writer) and rebuilds its state from the topic.
    /// A writer with `public_topic` on needs `public`, the renderer of the public form, and creates
    /// `<prefix>.events.json` too; readers ignore `public`.
    /// Needs a multi-threaded tokio runtime or one that allows `spawn_blocking`.
    pub async fn open(
        config: KafkaConfig,
        public: Option<Arc<dyn PublicForm>>,
    ) -> Result<KafkaLog, LogError> {
        let public = public_topic(&config, public)?;
        ensure_topic(&config, &config.events_topic()).await?;
        if let Some(public) = &public {
            ensure_topic(&config, &public.topic).await?;
        }
        let reader = Arc::new(Reader::new(&config)?);
        let writer = match config.role {
            config::Role::Reader => None,
            config::Role::Writer => Some(start_writer(&config, Arc::clone(&reader), public).await?),
        };
        Ok(KafkaLog {
            config,
            reader,
            writer,
        })
    }

    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Test hook (feature `testkit`): the transaction that will hold `command` fails at its commit,
    /// as if the broker had refused the commit; the writer aborts it and fails it and every command
    /// decided after it. Used by the pipeline tests; does nothing on a reader.
    #[cfg(any(test, feature = "testkit"))]
    pub fn fail_commit_of(&self, command: CommandId) {
        if let Some(writer) = &self.writer {
            *writer.fail_commit.lock().expect("test hook lock") = Some(command);
        }
    }

    /// Reads `stream` from `from` by scanning its partition (readers keep no index).
    async fn scan_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
    ) -> Result<Vec<EventEnvelope>, LogError> {
        let partition = self.partition_of(stream);
        let mut found = Vec::new();
        let mut next = Offset(0);
        loop {
            let batch = self.read_batch(partition, next, READ_BATCH_RECORDS).await?;
            let Some(last) = batch.last() else {
                return Ok(found);
            };
            next = last.position.offset.next();
            found.extend(batch.into_iter().filter(|envelope| {
                &envelope.body.stream == stream && envelope.body.stream_version >= from
            }));
        }
    }

    /// Reads the records at `offsets` (ascending, one partition) by reading from the first to the last.
    async fn read_offsets(
        &self,
        partition: PartitionId,
        offsets: &[Offset],
    ) -> Result<Vec<EventEnvelope>, LogError> {
        let mut found = Vec::with_capacity(offsets.len());
        let mut wanted = offsets.iter().peekable();
        while let Some(&&from) = wanted.peek() {
            let batch = self.read_batch(partition, from, READ_BATCH_RECORDS).await?;
            if batch.is_empty() {
                return Err(LogError::Unavailable(format!(
                    "record {partition}:{from} is in the writer's index but the broker returned nothing there"
                )));
            }
            for envelope in batch {
                if wanted
                    .peek()
                    .is_some_and(|&&offset| offset == envelope.position.offset)
                {
                    wanted.next();
                    found.push(envelope);
                }
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl EventLog for KafkaLog {
    fn partitions(&self) -> u32 {
        self.config.partitions
    }

    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, LogError> {
        let outcome = self.enqueue(request).await?;
        answered(outcome).await
    }

    /// Queues every command before waiting for any answer, so the writer task decides them together
    /// and commits them in as few transactions as its bounds allow.
    async fn append_many(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Vec<Result<AppendOutcome, LogError>> {
        let mut queued = Vec::with_capacity(requests.len());
        for request in requests {
            queued.push(self.enqueue(request).await);
        }
        let mut outcomes = Vec::with_capacity(queued.len());
        for outcome in queued {
            outcomes.push(match outcome {
                Ok(outcome) => answered(outcome).await,
                Err(error) => Err(error),
            });
        }
        outcomes
    }

    async fn read_batch(
        &self,
        partition: PartitionId,
        from: Offset,
        max: usize,
    ) -> Result<Vec<EventEnvelope>, LogError> {
        self.check_partition(partition)?;
        let records = self.reader.read_raw(partition, from, max).await?;
        records
            .into_iter()
            .map(|(offset, bytes)| {
                EventEnvelope::decode(super::Position { partition, offset }, &bytes)
            })
            .collect()
    }

    async fn end_offset(&self, partition: PartitionId) -> Result<Offset, LogError> {
        self.check_partition(partition)?;
        self.reader.end_offset(partition).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
    ) -> Result<Vec<EventEnvelope>, LogError> {
        let Some(writer) = self.index_for(stream) else {
            return self.scan_stream(stream, from).await;
        };
        let offsets: Vec<Offset> = {
            let state = writer.state.lock().expect("writer state lock");
            let all = state
                .streams
                .get(stream)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let skip = usize::try_from(from.0.saturating_sub(1))
                .unwrap_or(usize::MAX)
                .min(all.len());
            all[skip..].to_vec()
        };
        self.read_offsets(self.partition_of(stream), &offsets).await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<StreamVersion, LogError> {
        match self.index_for(stream) {
            Some(writer) => Ok(writer
                .state
                .lock()
                .expect("writer state lock")
                .version(stream)),
            None => {
                let events = self.scan_stream(stream, StreamVersion(1)).await?;
                Ok(events
                    .last()
                    .map_or(StreamVersion::NONE, |envelope| envelope.body.stream_version))
            }
        }
    }

    async fn command_outcome(
        &self,
        command_id: CommandId,
    ) -> Result<Option<AppendOutcome>, LogError> {
        let Some(writer) = &self.writer else {
            return Err(LogError::Invalid(format!(
                "this Kafka log was opened with role=reader, which keeps no command index; ask the \
                 writer for the outcome of command {command_id}"
            )));
        };
        let state = writer.state.lock().expect("writer state lock");
        Ok(state
            .commands
            .get(&command_id)
            .map(|original| AppendOutcome {
                duplicate: true,
                ..original.clone()
            }))
    }

    async fn wait_for(
        &self,
        partition: PartitionId,
        offset: Offset,
        timeout: Duration,
    ) -> Result<bool, LogError> {
        self.check_partition(partition)?;
        self.reader.wait_for(partition, offset, timeout).await
    }
}

/// The answer of the writer task to one queued command.
async fn answered(
    outcome: oneshot::Receiver<Result<AppendOutcome, LogError>>,
) -> Result<AppendOutcome, LogError> {
    outcome
        .await
        .map_err(|_| LogError::Unavailable("the Kafka writer task dropped an append".into()))?
}

impl KafkaLog {
    /// Hands one command to the writer task; the receiver gets its outcome.
    async fn enqueue(
        &self,
        request: AppendRequest,
    ) -> Result<oneshot::Receiver<Result<AppendOutcome, LogError>>, LogError> {
        let Some(writer) = &self.writer else {
            return Err(LogError::Invalid(format!(
                "this Kafka log was opened with role=reader; append to stream \"{}\" needs the writer",
                request.stream
            )));
        };
        let partition = self.partition_of(&request.stream);
        if !self.config.owns(partition.0) {
            let (first, last) = self.config.owns;
            return Err(LogError::Invalid(format!(
                "stream \"{}\" lives on partition {partition}, but this writer owns partitions \
                 {first}-{last}; send the command to the writer of partition {partition}",
                request.stream
            )));
        }
        let (reply, outcome) = oneshot::channel();
        writer
            .queue
            .send(Pending { request, reply })
            .await
            .map_err(|_| LogError::Unavailable("the Kafka writer task has stopped".into()))?;
        Ok(outcome)
    }

    /// The writer's in-memory index, if it covers `stream` (a writer indexes only the partitions it
    /// owns; other streams are read by scanning, like on a reader).
    fn index_for(&self, stream: &StreamId) -> Option<&WriterHandle> {
        let writer = self.writer.as_ref()?;
        self.config
            .owns(self.partition_of(stream).0)
            .then_some(writer)
    }

    fn check_partition(&self, partition: PartitionId) -> Result<(), LogError> {
        if partition.0 >= self.config.partitions {
            return Err(LogError::Invalid(format!(
                "partition {partition} does not exist; topic \"{}\" has partitions 0 to {}",
                self.config.events_topic(),
                self.config.partitions - 1
            )));
        }
        Ok(())
    }
}

/// librdkafka settings shared by every client: bootstrap and the pass-through security settings.
fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.bootstrap);
    for (name, value) in &config.pass_through {
        client.set(name, value);
    }
    client
}

fn kafka_partition(partition: PartitionId) -> i32 {
    i32::try_from(partition.0).expect("partition counts are bounded by PARTITIONS_MAX")
}

fn unavailable(context: &str, error: &rdkafka::error::KafkaError) -> LogError {
    LogError::Unavailable(format!("{context}: {error}"))
}

/// Claims the transactional id (fencing the previous writer), rebuilds the state and starts the task.
async fn start_writer(
    config: &KafkaConfig,
    reader: Arc<Reader>,
    public: Option<PublicTopic>,
) -> Result<WriterHandle, LogError> {
    let mut client = client_config(config);
    client
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("transactional.id", &config.writer_id)
        .set("transaction.timeout.ms", "60000")
        .set("queue.buffering.max.messages", "1000000")
        .set("linger.ms", "2");
    let producer: FutureProducer = client
        .create()
        .map_err(|error| unavailable("creating the Kafka producer", &error))?;
    let producer = Arc::new(producer);
    let claim = Arc::clone(&producer);
    let writer_id = config.writer_id.clone();
    blocking(move || {
        claim
            .init_transactions(TRANSACTION_TIMEOUT)
            .map_err(|error| {
                unavailable(
                    &format!("claiming transactional id \"{writer_id}\""),
                    &error,
                )
            })
    })
    .await?;
    let state = Arc::new(Mutex::new(WriterState::new(config.partitions)));
    let idle = Arc::new(Idle::default());
    let (to_committer, decided) = mpsc::channel(PIPELINE_BATCHES_MAX);
    let writer = Writer {
        state: Arc::clone(&state),
        reader,
        form: public.as_ref().map(|public| Arc::clone(&public.form)),
        partitions: config.partitions,
        owns: config.owns,
        overlay: Overlay::default(),
        epoch: 0,
        batches: 0,
        batch_events: DECIDE_EVENTS_MAX.min(config.transaction_events),
        committer: to_committer,
        idle: Arc::clone(&idle),
    };
    // Rebuild only after claiming: from now on no earlier writer can commit behind our back.
    writer.catch_up().await?;
    let fail_commit = Arc::new(Mutex::new(None));
    let committer = Committer {
        producer,
        state: Arc::clone(&state),
        topic: config.events_topic(),
        public,
        partitions: config.partitions,
        transaction_events: config.transaction_events,
        linger: Duration::from_millis(config.linger_ms),
        epoch: 0,
        last_failure: (false, String::new()),
        fail_commit: Arc::clone(&fail_commit),
        idle,
    };
    let (queue, receiver) = mpsc::channel(QUEUE_APPENDS_MAX);
    tokio::spawn(committer.run(decided));
    tokio::spawn(writer.run(receiver));
    Ok(WriterHandle {
        queue,
        state,
        fail_commit,
    })
}
