//! Opening the event log named by the global options: the embedded log in `--data-dir` by default, or
//! Kafka with `--log kafka://HOST:PORT[?options]` (builds with the `kafka` feature). A Kafka writer
//! publishes every event's public form on `<prefix>.events.json` unless the URL says
//! `public_topic=off`; the form is `ledger::public::CloudEvents` with `--event-source` as its source.

use std::sync::Arc;

use anyhow::Context;
use futures::StreamExt;
use ledger::log::file::{FileLog, FileLogOptions};
use ledger::log::{EventLog, Offset, PartitionId, read_partition};

use super::{GlobalOpts, UsageError};

/// An opened log, keeping the concrete embedded log when it is one (for its statistics).
pub enum Opened {
    File(Arc<FileLog>),
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    Other(Arc<dyn EventLog>),
}

impl Opened {
    pub fn log(&self) -> Arc<dyn EventLog> {
        match self {
            Opened::File(log) => Arc::clone(log) as Arc<dyn EventLog>,
            Opened::Other(log) => Arc::clone(log),
        }
    }

    /// How many records the log holds (the embedded log knows; Kafka is counted by reading).
    pub async fn records(&self) -> anyhow::Result<u64> {
        match self {
            Opened::File(log) => Ok(log
                .stats()
                .partitions
                .iter()
                .map(|partition| partition.records)
                .sum()),
            Opened::Other(log) => {
                let mut count = 0;
                for partition in 0..log.partitions() {
                    let mut records = read_partition(&**log, PartitionId(partition), Offset(0));
                    while let Some(record) = records.next().await {
                        record?;
                        count += 1;
                    }
                }
                Ok(count)
            }
        }
    }
}

#[cfg(feature = "kafka")]
async fn kafka(global: &GlobalOpts, url: &str, role: &str) -> anyhow::Result<Opened> {
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = if url.contains("role=") {
        url.to_owned()
    } else {
        format!("{url}{separator}role={role}")
    };
    let form: Arc<dyn ledger::log::PublicForm> = Arc::new(super::public::form(global));
    let log = ledger::log::kafka::KafkaLog::open_url(&url, Some(form))
        .await
        .with_context(|| format!("cannot open the Kafka log {url}"))?;
    Ok(Opened::Other(Arc::new(log)))
}

#[cfg(not(feature = "kafka"))]
async fn kafka(_global: &GlobalOpts, url: &str, _role: &str) -> anyhow::Result<Opened> {
    Err(UsageError(format!("--log {url}: this build has no Kafka support; build with `--features ledger-commands/kafka`")).into())
}

async fn open(global: &GlobalOpts, role: &str, options: FileLogOptions) -> anyhow::Result<Opened> {
    match global.log.as_deref() {
        Some(url) if url.starts_with("kafka://") => kafka(global, url, role).await,
        Some(other) => Err(UsageError(format!(
            "--log {other:?}: expected kafka://HOST:PORT, or no --log for the embedded log"
        ))
        .into()),
        None if role == "reader" => {
            let log = FileLog::open_read_only(&global.data_dir).with_context(|| {
                format!("cannot open the event log in {}", global.data_dir.display())
            })?;
            Ok(Opened::File(Arc::new(log)))
        }
        None => {
            let log = FileLog::open(&global.data_dir, options).with_context(|| {
                format!(
                    "cannot open the event log in {} for writing",
                    global.data_dir.display()
                )
            })?;
            Ok(Opened::File(Arc::new(log)))
        }
    }
}

/// Opens the log for reading only (history, export, audit): takes no lock and fences no writer.
pub async fn reader(global: &GlobalOpts) -> anyhow::Result<Arc<dyn EventLog>> {
    Ok(open(global, "reader", FileLogOptions::default())
        .await?
        .log())
}

/// Opens the log for reading only, keeping the embedded log's concrete handle (to refresh it).
pub async fn reading(global: &GlobalOpts) -> anyhow::Result<Opened> {
    open(global, "reader", FileLogOptions::default()).await
}

/// Opens the log as its one writer (embedded: takes the data directory's lock and creates the log if
/// missing; Kafka: claims the transactional id, fencing any previous writer).
pub async fn writer(global: &GlobalOpts, options: FileLogOptions) -> anyhow::Result<Opened> {
    open(global, "writer", options).await
}

/// Opens the log for reading only, in the runtime the caller goes on to read it with (Kafka's open is
/// asynchronous, and what it starts must outlive the open).
pub fn read_only(
    runtime: &tokio::runtime::Runtime,
    global: &GlobalOpts,
) -> anyhow::Result<Arc<dyn EventLog>> {
    runtime.block_on(reader(global))
}

/// Where the writer keeps its own state (issue #16 §1): `<data-dir>/writer-state` for the embedded
/// log; for Kafka, a directory named after the log's URL, so that a store is only read against the
/// log it was built from.
pub fn writer_state_dir(global: &GlobalOpts) -> std::path::PathBuf {
    match global.log.as_deref() {
        None => crate::writer_state::state_dir(&global.data_dir),
        Some(url) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(url.as_bytes());
            global.data_dir.join(format!(
                "{}-{}",
                crate::writer_state::WRITER_STATE_DIR,
                hex::encode(&digest[..8])
            ))
        }
    }
}
