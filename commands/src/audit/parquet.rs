//! Parquet for analysts (issue #15 §4): one file per event type with typed columns (`columns`), and
//! `registry_lines.parquet`, the Appendix 1 lines of every KZ period exported (the live dispensings of
//! each period stream in line order, `period::registry::registry_lines`, as the registry shows them).
//! Files are written through [`crate::files::AtomicFile`]: whole or absent.

mod builder;
pub mod columns;
mod flatten;
mod registry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use futures::StreamExt;
use ledger::domain::event::Event;
use ledger::log::{ChainHash, EventEnvelope, EventLog, Offset, PartitionId, read_partition};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use self::builder::{Builder, data_type};
use self::columns::{Column, Kind, Step, payload_columns};
use self::flatten::{Flatten, Leaf};
use super::{ChainHead, ExportWriter, Manifest};
use crate::files::AtomicFile;
use crate::pseudonym::Pseudonymizer;

/// Rows buffered per file before a record batch is written.
pub const BATCH_ROWS: usize = 65_536;

/// The DECIMAL columns' precision and scale (the domain allows six decimals, `DECIMAL_SCALE_MAX`).
pub const DECIMAL_PRECISION: u8 = 38;
pub const DECIMAL_SCALE: i8 = 6;

/// Why a Parquet export failed.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("column {column} of {path}: {detail}")]
    Value {
        path: String,
        column: String,
        detail: String,
    },
}

/// A file written: its name, rows and SHA-256.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenFile {
    pub file: String,
    pub rows: u64,
    pub sha256: String,
}

/// A Parquet file being written: its columns, builders and writer.
pub(crate) struct Table {
    path: PathBuf,
    columns: Vec<Column>,
    /// Column by its key (the `_`-joined name the flattener gives a payload leaf).
    keys: std::collections::HashMap<String, usize>,
    /// Which columns got a value in the row being pushed.
    seen: Vec<bool>,
    schema: Arc<Schema>,
    builders: Vec<Builder>,
    buffered: usize,
    rows: u64,
    writer: ArrowWriter<AtomicFile>,
}

impl Table {
    pub(crate) fn create(path: PathBuf, columns: Vec<Column>) -> Result<Table, ParquetError> {
        let fields: Vec<Field> = columns
            .iter()
            .map(|column| Field::new(&column.name, data_type(column.kind), true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let file = AtomicFile::create(&path).map_err(|source| ParquetError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(properties)).map_err(
            |source| ParquetError::Parquet {
                path: path.display().to_string(),
                source,
            },
        )?;
        let builders = columns
            .iter()
            .map(|column| Builder::new(column.kind))
            .collect();
        let keys = columns
            .iter()
            .enumerate()
            .map(|(index, column)| (column_key(column), index))
            .collect();
        Ok(Table {
            path,
            seen: vec![false; columns.len()],
            keys,
            columns,
            schema,
            builders,
            buffered: 0,
            rows: 0,
            writer,
        })
    }

    /// Appends one row given as one leaf per column, in column order.
    pub(crate) fn push_leaves(&mut self, leaves: &[Leaf<'_>]) -> Result<(), ParquetError> {
        assert_eq!(leaves.len(), self.columns.len(), "one leaf per column");
        for (index, leaf) in leaves.iter().enumerate() {
            self.append(index, leaf)?;
        }
        self.end_row()
    }

    /// Appends one event row: the envelope's leaves (the first columns, in order), then every leaf
    /// of the event's payload into the column of its key; columns without a value get a null.
    pub(crate) fn push_event(
        &mut self,
        envelope: &[Leaf<'_>],
        event: Option<&Event>,
        pseudonymizer: Option<&Pseudonymizer>,
    ) -> Result<(), ParquetError> {
        self.seen.clear();
        self.seen.resize(self.columns.len(), false);
        for (index, leaf) in envelope.iter().enumerate() {
            self.append(index, leaf)?;
            self.seen[index] = true;
        }
        if let Some(event) = event {
            let mut failure = None;
            let mut sink = |key: &str, leaf: Leaf<'_>| {
                let Some(&index) = self.keys.get(key) else {
                    return;
                };
                if self.seen[index] || failure.is_some() {
                    return;
                }
                self.seen[index] = true;
                let leaf = pseudonymize(key, leaf, pseudonymizer);
                if let Err(error) =
                    append_to(&mut self.builders, &self.columns, &self.path, index, &leaf)
                {
                    failure = Some(error);
                }
            };
            Flatten::event(event, &mut sink).map_err(|error| ParquetError::Value {
                path: self.path.display().to_string(),
                column: "(event)".into(),
                detail: error.to_string(),
            })?;
            if let Some(error) = failure {
                return Err(error);
            }
        }
        for index in 0..self.columns.len() {
            if !self.seen[index] {
                self.append(index, &Leaf::Null)?;
            }
        }
        self.end_row()
    }

    fn append(&mut self, index: usize, leaf: &Leaf<'_>) -> Result<(), ParquetError> {
        append_to(&mut self.builders, &self.columns, &self.path, index, leaf)
    }

    fn end_row(&mut self) -> Result<(), ParquetError> {
        self.buffered += 1;
        self.rows += 1;
        if self.buffered >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ParquetError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays)
            .expect("every column has one value per row");
        self.buffered = 0;
        self.writer
            .write(&batch)
            .map_err(|source| ParquetError::Parquet {
                path: self.path.display().to_string(),
                source,
            })
    }

    /// Writes the rest, closes the Parquet file and commits it under its name.
    pub(crate) fn finish(mut self) -> Result<WrittenFile, ParquetError> {
        self.flush()?;
        let path = self.path.display().to_string();
        let file = self
            .writer
            .into_inner()
            .map_err(|source| ParquetError::Parquet {
                path: path.clone(),
                source,
            })?;
        let committed = file.commit().map_err(|source| ParquetError::Io {
            path: path.clone(),
            source,
        })?;
        let bytes =
            std::fs::read(&committed).map_err(|source| ParquetError::Io { path, source })?;
        Ok(WrittenFile {
            file: file_name(&committed),
            rows: self.rows,
            sha256: hex::encode(Sha256::digest(&bytes)),
        })
    }
}

/// The flattener's key of a column: its payload path joined with `_` (the name before a clash with
/// an envelope column renamed it), `@name` for an envelope column.
fn column_key(column: &Column) -> String {
    match column.path.first() {
        Some(Step::Field(first)) if first == "payload" => column.path[1..]
            .iter()
            .filter_map(|step| match step {
                Step::Field(name) | Step::Variant(name) => Some(name.as_str()),
                Step::Tag => None,
            })
            .collect::<Vec<_>>()
            .join("_"),
        _ => format!("@{}", column.name),
    }
}

/// Appends `leaf` to column `index`, naming the column and file on a bad value.
fn append_to(
    builders: &mut [Builder],
    columns: &[Column],
    path: &Path,
    index: usize,
    leaf: &Leaf<'_>,
) -> Result<(), ParquetError> {
    builders[index]
        .append(leaf)
        .map_err(|detail| ParquetError::Value {
            path: path.display().to_string(),
            column: columns[index].name.clone(),
            detail,
        })
}

/// Issue #15 §5: a patient's IIN or PIN becomes its pseudonym; a patient's name is dropped.
fn pseudonymize<'l>(key: &str, leaf: Leaf<'l>, pseudonymizer: Option<&Pseudonymizer>) -> Leaf<'l> {
    let Some(pseudonymizer) = pseudonymizer else {
        return leaf;
    };
    let field = key.rsplit('_').take(2).collect::<Vec<_>>();
    let scheme = match field.as_slice() {
        ["iin", "patient"] => "KZ-IIN",
        ["pin", "patient"] => "KG-PIN",
        ["name", "patient"] => return Leaf::Null,
        _ => return leaf,
    };
    match leaf {
        Leaf::Str(value) => Leaf::Str(pseudonymizer.pseudonym(scheme, &value).into()),
        other => other,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
}

/// The envelope's columns, in front of every event type's payload columns.
fn envelope_columns() -> Vec<Column> {
    let column = |name: &str, kind| Column {
        name: name.to_owned(),
        kind,
        path: vec![Step::Field(name.to_owned())],
    };
    vec![
        column("partition", Kind::Int64),
        column("offset", Kind::Int64),
        column("event_id", Kind::Text),
        column("stream", Kind::Text),
        column("stream_version", Kind::Int64),
        column("recorded_at", Kind::Timestamp),
        column("occurred_at", Kind::Timestamp),
        column("jurisdiction", Kind::Text),
        column("actor", Kind::Text),
        column("actor_role", Kind::Text),
        column("actor_person", Kind::Text),
        column("command_id", Kind::Text),
        column("schema_version", Kind::Int64),
        column("hash", Kind::Text),
    ]
}

/// The columns of `event_type`: the envelope's, then the payload's (prefixed `payload` where a
/// name would clash).
fn event_columns(event_type: &str) -> Vec<Column> {
    let mut columns = envelope_columns();
    let schema = Event::json_schemas()
        .into_iter()
        .find(|(name, _, _)| *name == event_type)
        .map(|(_, _, schema)| serde_json::to_value(schema).expect("a schema is JSON"));
    let payload = schema.map_or_else(
        || {
            vec![Column {
                name: "payload".into(),
                kind: Kind::Json,
                path: vec![],
            }]
        },
        |schema| payload_columns(&schema),
    );
    for mut column in payload {
        if columns.iter().any(|taken| taken.name == column.name) {
            column.name = format!("payload_{}", column.name);
        }
        column.path.insert(0, Step::Field("payload".into()));
        columns.push(column);
    }
    columns
}

/// The export of a selection of events as Parquet files in one folder.
pub struct ParquetExport {
    dir: PathBuf,
    pseudonymizer: Option<Pseudonymizer>,
    tables: BTreeMap<String, Table>,
    registry: registry::RegistryLines,
}

impl ParquetExport {
    pub fn new(
        dir: &Path,
        pseudonymizer: Option<Pseudonymizer>,
    ) -> Result<ParquetExport, ParquetError> {
        Ok(ParquetExport {
            dir: dir.to_path_buf(),
            registry: registry::RegistryLines::create(dir, pseudonymizer.clone())?,
            pseudonymizer,
            tables: BTreeMap::new(),
        })
    }

    /// Adds one event to its type's file (and its period's registry lines).
    pub fn add(&mut self, envelope: &EventEnvelope) -> Result<(), ParquetError> {
        let body = &envelope.body;
        let event = Event::from_payload(&body.payload).ok();
        let event_type = body.payload.event_type.as_str();
        if !self.tables.contains_key(event_type) {
            let path = self.dir.join(format!("{event_type}.parquet"));
            let table = Table::create(path, event_columns(event_type))?;
            self.tables.insert(event_type.to_owned(), table);
        }
        let envelope_leaves = [
            Leaf::U64(u64::from(envelope.position.partition.0)),
            Leaf::U64(envelope.position.offset.0),
            Leaf::Str(body.event_id.0.to_string().into()),
            Leaf::Str(body.stream.as_str().into()),
            Leaf::U64(body.stream_version.0),
            Leaf::I64(body.recorded_at.micros()),
            Leaf::I64(body.occurred_at.micros()),
            Leaf::Str(body.jurisdiction.to_string().into()),
            Leaf::Str(body.actor.id.to_string().into()),
            Leaf::Str(body.actor.role.to_string().into()),
            body.actor
                .person
                .map_or(Leaf::Null, |person| Leaf::Str(person.to_string().into())),
            Leaf::Str(body.command_id.0.to_string().into()),
            Leaf::U64(u64::from(body.payload.schema_version)),
            Leaf::Str(envelope.hash.to_hex().into()),
        ];
        self.tables
            .get_mut(event_type)
            .expect("inserted above")
            .push_event(
                &envelope_leaves,
                event.as_ref(),
                self.pseudonymizer.as_ref(),
            )?;
        if let Some(event) = event {
            self.registry.fold(&body.stream, &event);
        }
        Ok(())
    }

    /// Ends a partition: the periods folded so far are complete (a stream lives on one partition),
    /// so their registry lines are written and their state dropped.
    pub fn end_partition(&mut self) -> Result<(), ParquetError> {
        self.registry.flush_periods()
    }

    /// Writes everything and commits the files; returns them by name.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>, ParquetError> {
        self.registry.flush_periods()?;
        let mut written = vec![self.registry.finish()?];
        for (_, table) in std::mem::take(&mut self.tables) {
            written.push(table.finish()?);
        }
        written.sort_by(|left, right| left.file.cmp(&right.file));
        Ok(written)
    }
}

/// Reads every partition and writes the events `accept` takes as Parquet into `out`.
pub async fn export(
    log: &dyn EventLog,
    out: &Path,
    pseudonymizer: Option<Pseudonymizer>,
    accept: &(dyn Fn(&EventEnvelope) -> bool + Sync),
) -> anyhow::Result<Manifest> {
    let mut export = ParquetExport::new(out, pseudonymizer)?;
    let mut counts = ExportWriter::new(std::io::sink());
    let mut heads = std::collections::BTreeMap::new();
    for partition in 0..log.partitions() {
        let mut records = read_partition(log, PartitionId(partition), Offset(0));
        let mut head = ChainHead {
            records: 0,
            last_offset: None,
            hash: ChainHash::GENESIS.to_hex(),
        };
        while let Some(envelope) = records.next().await {
            let envelope = envelope?;
            head = ChainHead {
                records: head.records + 1,
                last_offset: Some(envelope.position.offset.0),
                hash: envelope.hash.to_hex(),
            };
            if accept(&envelope) {
                export.add(&envelope)?;
                counts.record(&envelope, "")?;
            }
        }
        // A stream lives on one partition: at a partition's end its periods are complete.
        export.end_partition()?;
        heads.insert(PartitionId(partition), head);
    }
    let files = export.finish()?;
    let (_, counts) = counts.finish()?;
    let digest = files_digest(&files);
    Ok(Manifest::new(
        "parquet",
        (counts.events, counts.by_type, counts.by_partition),
        heads,
        digest,
        files,
    ))
}

/// One SHA-256 over the files written: `name sha256` lines in name order.
fn files_digest(files: &[WrittenFile]) -> String {
    let mut digest = Sha256::new();
    for file in files {
        digest.update(format!("{} {}\n", file.file, file.sha256).as_bytes());
    }
    hex::encode(digest.finalize())
}
