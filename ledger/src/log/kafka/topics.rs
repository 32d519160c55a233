//! The topics a deployment needs: `<prefix>.events` always, `<prefix>.events.json` for a writer with
//! the public topic on; created if missing, refused if their partition count differs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use super::config::{self, KafkaConfig};
use super::reader::{REQUEST_TIMEOUT, blocking};
use super::writer::PublicTopic;
use super::{client_config, unavailable};
use crate::log::{LogError, PublicForm};

/// How long `open` waits for a just-created topic to show all its partitions in the metadata.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The writer's public topic, if it has one: a writer with `public_topic` on must have been given
/// the form to render; a reader never publishes.
pub(super) fn public_topic(
    config: &KafkaConfig,
    public: Option<Arc<dyn PublicForm>>,
) -> Result<Option<PublicTopic>, LogError> {
    if config.role == config::Role::Reader || !config.public_topic {
        return Ok(None);
    }
    let form = public.ok_or_else(|| {
        LogError::Invalid(format!(
            "the log URL has public_topic on (the default), so the writer publishes every event on \
             \"{}\", but it was opened without a public form to render them; pass one to \
             KafkaLog::open, or set public_topic=off",
            config.public_topic_name()
        ))
    })?;
    Ok(Some(PublicTopic {
        topic: config.public_topic_name(),
        form,
    }))
}

/// Creates `topic` with the configured partitions and infinite retention if it is missing; refuses an
/// existing topic whose partition count differs (it would move streams between partitions, and the
/// public topic mirrors the events topic partition by partition).
pub(super) async fn ensure_topic(config: &KafkaConfig, topic: &str) -> Result<(), LogError> {
    let topic = topic.to_owned();
    let admin: AdminClient<DefaultClientContext> = client_config(config)
        .create()
        .map_err(|error| unavailable("creating the Kafka admin client", &error))?;
    let partitions = usize::try_from(config.partitions).expect("u32 fits in usize");
    let new_topic = NewTopic::new(
        &topic,
        i32::try_from(partitions).expect("bounded"),
        TopicReplication::Fixed(config.replication),
    )
    .set("retention.ms", "-1")
    .set("cleanup.policy", "delete");
    // Both timeouts: an unreachable broker must fail the open with a message, not hang it.
    let options = AdminOptions::new()
        .operation_timeout(Some(REQUEST_TIMEOUT))
        .request_timeout(Some(REQUEST_TIMEOUT));
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .map_err(|error| {
            let context = format!(
                "creating topic \"{topic}\" on {} (is the broker reachable?)",
                config.bootstrap
            );
            unavailable(&context, &error)
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(LogError::Unavailable(format!(
                    "creating topic \"{name}\" failed: {code}"
                )));
            }
        }
    }
    wait_for_partitions(config, topic).await
}

/// Waits until the metadata shows the topic with exactly the configured partition count.
async fn wait_for_partitions(config: &KafkaConfig, topic: String) -> Result<(), LogError> {
    let consumer: BaseConsumer = client_config(config)
        .create()
        .map_err(|error| unavailable("creating the Kafka metadata client", &error))?;
    let expected = config.partitions;
    blocking(move || {
        let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
        loop {
            let metadata = consumer
                .fetch_metadata(Some(&topic), REQUEST_TIMEOUT)
                .map_err(|error| unavailable(&format!("metadata of topic \"{topic}\""), &error))?;
            let found = metadata.topics().first().map_or(0, |entry| entry.partitions().len());
            let found = u32::try_from(found).unwrap_or(u32::MAX);
            if found == expected {
                return Ok(());
            }
            if found > 0 {
                return Err(LogError::Invalid(format!(
                    "topic \"{topic}\" has {found} partitions but the log URL says partitions={expected}; the \
                     partition count of a deployment never changes (it would move streams between partitions)"
                )));
            }
            if Instant::now() >= deadline {
                return Err(LogError::Unavailable(format!(
                    "topic \"{topic}\" did not appear in the metadata within {TOPIC_READY_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
}
