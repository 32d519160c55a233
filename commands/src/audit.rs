//! History and export for regulators and analysts (issue #8): every event of a contract or a reporting
//! period, and a verifiable export of a period with a manifest holding counts and the hash-chain heads.
//! Issue #15 adds, in the submodules: the canonical JSON form (`jsonl`), RFC 6962 trees (`merkle`),
//! period seals (`seal`), inclusion proofs (`proof`), Parquet (`parquet`) and audit packs (`pack`).

pub mod jsonl;
pub mod merkle;
pub mod pack;
pub mod parquet;
pub mod proof;
pub mod raw;
pub mod seal;

use std::collections::BTreeMap;
use std::io::Write;

use futures::StreamExt;
use ledger::domain::time::Timestamp;
use ledger::log::{
    ChainHash, EventEnvelope, EventLog, LogError, Offset, PartitionId, StreamId, read_partition,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Which events a history or export selects.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every stream of one contract (`contract/<id>` and `period/<id>/…`), on the contract's partition.
    Contract { contract_id: String },
    /// Every period stream of one reporting month (`period/<contract>/<YYYY-MM>`), on all partitions.
    Period { period: String },
    /// One stream of any kind (price lists, budgets, keys, calendars, the KG reference book, recovery
    /// and dispute streams…), on its partition.
    Stream { stream: StreamId },
}

impl Selection {
    /// Whether an event of `stream` is selected.
    pub fn matches(&self, stream: &StreamId) -> bool {
        match self {
            Selection::Contract { contract_id } => {
                stream.partition_key() == format!("contract/{contract_id}")
            }
            Selection::Period { period } => {
                stream.category() == "period"
                    && stream.as_str().rsplit('/').next() == Some(period.as_str())
            }
            Selection::Stream { stream: selected } => stream == selected,
        }
    }

    fn partitions(&self, log: &dyn EventLog) -> Vec<PartitionId> {
        match self {
            Selection::Contract { contract_id } => {
                let stream = StreamId::new(format!("contract/{contract_id}"))
                    .expect("validated contract id");
                vec![log.partition_of(&stream)]
            }
            Selection::Period { .. } => (0..log.partitions()).map(PartitionId).collect(),
            Selection::Stream { stream } => vec![log.partition_of(stream)],
        }
    }
}

/// Calls `visit` with every selected event recorded at or before `until`, partition by partition in log
/// order. Returns the chain head (last record hash and its offset) of every partition read.
pub async fn scan(
    log: &dyn EventLog,
    selection: &Selection,
    until: Option<Timestamp>,
    mut visit: impl FnMut(&EventEnvelope) -> std::io::Result<()>,
) -> Result<BTreeMap<PartitionId, ChainHead>, AuditError> {
    let mut heads = BTreeMap::new();
    for partition in selection.partitions(log) {
        let mut records = read_partition(log, partition, Offset(0));
        let mut head = ChainHead {
            records: 0,
            last_offset: None,
            hash: ChainHash::GENESIS.to_hex(),
        };
        while let Some(envelope) = records.next().await {
            let envelope = envelope?;
            if until.is_some_and(|until| envelope.body.recorded_at > until) {
                break;
            }
            head = ChainHead {
                records: head.records + 1,
                last_offset: Some(envelope.position.offset.0),
                hash: envelope.hash.to_hex(),
            };
            if selection.matches(&envelope.body.stream) {
                visit(&envelope).map_err(AuditError::Output)?;
            }
        }
        heads.insert(partition, head);
    }
    Ok(heads)
}

/// The head of a partition's hash chain as seen by a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainHead {
    pub records: u64,
    pub last_offset: Option<u64>,
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
    #[error(transparent)]
    Handler(#[from] crate::handler::HandlerError),
}

/// One line of `ledger history`: time, stream and version, event type, actor, cause, summary.
pub fn history_line(envelope: &EventEnvelope, summary: &str) -> String {
    let body = &envelope.body;
    let cause = body
        .causation_id
        .map_or_else(|| "-".to_owned(), |id| id.to_string());
    format!(
        "{}  {}@{}  {:<28} {} ({})  command {}  cause {}  {}",
        body.occurred_at,
        body.stream,
        body.stream_version,
        body.payload.event_type,
        body.actor.id,
        body.actor.role,
        body.command_id,
        cause,
        summary
    )
}

/// The manifest written beside an export: what was exported and the chain heads it was read against,
/// so the export can be verified later, away from the system.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub selection: String,
    pub format: String,
    pub events: u64,
    pub events_by_type: BTreeMap<String, u64>,
    pub events_by_partition: BTreeMap<u32, u64>,
    pub chain_heads: BTreeMap<u32, ChainHead>,
    /// SHA-256 of the export file's bytes (Parquet: of the `name sha256` lines of `files`).
    pub file_sha256: String,
    /// The pseudonymization key's fingerprint when patient identifiers were pseudonymized (issue
    /// #15 §5); never the key.
    pub pseudonymized: Option<String>,
    /// Each file of a multi-file export (Parquet) with its rows and SHA-256.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<parquet::WrittenFile>,
}

impl Manifest {
    /// A manifest of `format` from an export's counts (events, by type, by partition) and the chain
    /// heads it was read against; `selection` and `pseudonymized` are the caller's to fill.
    pub fn new(
        format: &str,
        (events, events_by_type, events_by_partition): (
            u64,
            BTreeMap<String, u64>,
            BTreeMap<u32, u64>,
        ),
        heads: BTreeMap<PartitionId, ChainHead>,
        file_sha256: String,
        files: Vec<parquet::WrittenFile>,
    ) -> Manifest {
        Manifest {
            selection: String::new(),
            format: format.to_owned(),
            events,
            events_by_type,
            events_by_partition,
            chain_heads: heads
                .into_iter()
                .map(|(partition, head)| (partition.0, head))
                .collect(),
            file_sha256,
            pseudonymized: None,
            files,
        }
    }
}

/// Counts and hashes what an export writes.
pub struct ExportWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    pub events: u64,
    pub by_type: BTreeMap<String, u64>,
    pub by_partition: BTreeMap<u32, u64>,
}

impl<W: Write> ExportWriter<W> {
    pub fn new(inner: W) -> Self {
        ExportWriter {
            inner,
            hasher: Sha256::new(),
            events: 0,
            by_type: BTreeMap::new(),
            by_partition: BTreeMap::new(),
        }
    }

    /// Writes a header line (hashed like every line, not counted as an event).
    pub fn header(&mut self, line: &str) -> std::io::Result<()> {
        self.write_line(line)
    }

    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
        self.inner.write_all(line.as_bytes())?;
        self.inner.write_all(b"\n")
    }

    /// Writes one exported line (already rendered) for `envelope`.
    pub fn record(&mut self, envelope: &EventEnvelope, line: &str) -> std::io::Result<()> {
        self.write_line(line)?;
        self.events += 1;
        *self
            .by_type
            .entry(envelope.body.payload.event_type.clone())
            .or_default() += 1;
        *self
            .by_partition
            .entry(envelope.position.partition.0)
            .or_default() += 1;
        Ok(())
    }

    /// The writer underneath (after [`ExportWriter::finish`] flushed it).
    pub fn into_inner(self) -> W {
        self.inner
    }

    pub fn finish(mut self) -> std::io::Result<(String, Self)> {
        self.inner.flush()?;
        let digest = hex::encode(self.hasher.clone().finalize());
        Ok((digest, self))
    }
}

impl ExportWriter<crate::files::AtomicFile> {
    /// Finishes a one-file export: flushes, puts the file in place whole (`AtomicFile::commit`) and
    /// returns its manifest of `format` over the chain `heads` it was read against.
    pub fn commit(
        self,
        format: &str,
        heads: BTreeMap<PartitionId, ChainHead>,
    ) -> std::io::Result<Manifest> {
        let (file_sha256, writer) = self.finish()?;
        let counts = (writer.events, writer.by_type, writer.by_partition);
        writer.inner.commit()?;
        Ok(Manifest::new(
            format,
            counts,
            heads,
            file_sha256,
            Vec::new(),
        ))
    }
}
