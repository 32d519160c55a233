//! `ledger audit pack --period P --out DIR` (issue #15 §3): a self-contained folder a regulator can
//! archive and check years later without this project. Per jurisdiction sealed for the month
//! (`KZ/`, `KG/`): the period's raw records exactly as stored (`records/<partition>.bin`) with an
//! offsets index, the same events as canonical JSON (`events.jsonl`, the form the seal's export
//! digest is taken over) and in the one public form (`events.cloudevents.jsonl`, the CloudEvents of
//! `ledger::public`, as the feeds and `export --format jsonl` write them), and the seal (`seal.bin`,
//! `seal.json`). Beside them: the events as Parquet,
//! the Appendix 1 and 2 forms of every contract, the signing keys, the calendars and price lists,
//! the record format (`record-format.md`, `layout.json`) and `verify.py`, an independent verifier in
//! plain Python 3. `manifest.json` lists every file with its SHA-256. Layout: docs/audit-pack.md.

mod forms;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::StreamExt;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::values::ReportingPeriod;
use ledger::log::{ChainHash, EventEnvelope, EventLog, Offset, PartitionId, read_partition};
use ledger::public::CloudEvents;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::jsonl::{canonical_line, canonical_value};
use super::seal::{in_seal, period_month};
use crate::files::{AtomicFile, write_file};
use crate::pseudonym::Pseudonymizer;

/// The pack's format name (its `manifest.json`).
pub const PACK_FORMAT: &str = "ledger-audit-pack-v1";

/// The independent verifier, the record format and the layouts it decodes with.
const VERIFY_PY: &str = include_str!("pack/verify.py");
const RECORD_FORMAT_MD: &str = include_str!("../../../docs/record-format.md");
const LAYOUT_JSON: &str = include_str!("../../../schemas/layout.json");

/// What to pack.
pub struct PackOptions {
    pub period: ReportingPeriod,
    pub out: PathBuf,
    /// Pseudonymize patients (issue #15 §5): the raw records, which hold them in clear, are then
    /// withheld (their hashes stay in the index, so the Merkle root can still be checked).
    pub pseudonymizer: Option<Pseudonymizer>,
    /// The public form of `events.cloudevents.jsonl` (the deployment's `source`; with the
    /// pseudonymizer as its data map when patients are pseudonymized).
    pub form: CloudEvents,
}

/// One partition's records file and index.
struct Records {
    bin: Option<AtomicFile>,
    index: AtomicFile,
    bytes: u64,
}

/// One jurisdiction's files being written.
struct Part {
    dir: PathBuf,
    records: BTreeMap<u32, Records>,
    events: AtomicFile,
    /// The same events in the one public form (DESIGN §9).
    cloudevents: AtomicFile,
    count: u64,
    seal: Option<EventEnvelope>,
    seal_previous: ChainHash,
}

impl Part {
    fn create(out: &Path, jurisdiction: Jurisdiction) -> anyhow::Result<Part> {
        let dir = out.join(jurisdiction.to_string());
        std::fs::create_dir_all(dir.join("records"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Part {
            events: AtomicFile::create(dir.join("events.jsonl"))?,
            cloudevents: AtomicFile::create(dir.join("events.cloudevents.jsonl"))?,
            dir,
            records: BTreeMap::new(),
            count: 0,
            seal: None,
            seal_previous: ChainHash::GENESIS,
        })
    }

    /// Adds one record of the period: its exact bytes, its index line, its canonical JSON and its
    /// CloudEvent.
    fn add(
        &mut self,
        envelope: &EventEnvelope,
        previous: &ChainHash,
        options: &PackOptions,
    ) -> anyhow::Result<()> {
        let pseudonymizer = options.pseudonymizer.as_ref();
        let partition = envelope.position.partition.0;
        if !self.records.contains_key(&partition) {
            let base = self.dir.join("records").join(partition.to_string());
            let bin = match pseudonymizer {
                None => Some(AtomicFile::create(base.with_extension("bin"))?),
                Some(_) => None,
            };
            let index = AtomicFile::create(base.with_extension("index.jsonl"))?;
            self.records.insert(
                partition,
                Records {
                    bin,
                    index,
                    bytes: 0,
                },
            );
        }
        let records = self.records.get_mut(&partition).expect("inserted above");
        let (bytes, hash) = EventEnvelope::seal(&envelope.body, previous)?;
        assert_eq!(
            hash, envelope.hash,
            "a stored record re-encodes to its own bytes"
        );
        let length = u64::try_from(bytes.len()).expect("a record length fits in u64");
        let line = serde_json::json!({
            "offset": envelope.position.offset.0,
            "start": records.bin.as_ref().map(|_| records.bytes),
            "length": records.bin.as_ref().map(|_| length),
            "previous_hash": previous.to_hex(),
            "hash": envelope.hash.to_hex(),
        });
        if let Some(bin) = &mut records.bin {
            bin.write_all(&bytes)?;
            records.bytes += length;
        }
        writeln!(records.index, "{line}")?;
        writeln!(self.events, "{}", canonical_line(envelope, pseudonymizer))?;
        let public = options
            .form
            .to_bytes(envelope)
            .with_context(|| format!("the record at {} has no public form", envelope.position))?;
        self.cloudevents.write_all(&public)?;
        self.cloudevents.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }

    /// Commits every file; returns their paths.
    fn finish(self) -> anyhow::Result<Vec<PathBuf>> {
        let mut written = vec![self.events.commit()?, self.cloudevents.commit()?];
        for (_, records) in self.records {
            if let Some(bin) = records.bin {
                written.push(bin.commit()?);
            }
            written.push(records.index.commit()?);
        }
        if let Some(seal) = &self.seal {
            let bytes = stored_bytes(seal, &self.seal_previous)?;
            written.push(write_file(self.dir.join("seal.bin"), bytes)?);
            let value = canonical_value(seal, None);
            let text = serde_json::to_string_pretty(&serde_json::json!({
                "record": value,
                "previous_hash": self.seal_previous.to_hex(),
            }))? + "\n";
            written.push(write_file(self.dir.join("seal.json"), text)?);
        }
        Ok(written)
    }
}

/// A record's bytes as stored (`audit::raw`), or an error naming it.
fn stored_bytes(envelope: &EventEnvelope, previous: &ChainHash) -> anyhow::Result<Vec<u8>> {
    super::raw::record_bytes(envelope, previous)?.ok_or_else(|| {
        anyhow::anyhow!(
            "the record at {} does not re-encode to its stored chain hash under any layout this build knows",
            envelope.position
        )
    })
}

/// The reference and key events a pack carries as JSON, by file name.
#[derive(Default)]
struct Reference {
    files: BTreeMap<&'static str, Vec<serde_json::Value>>,
}

impl Reference {
    fn add(&mut self, envelope: &EventEnvelope) {
        let stream = envelope.body.stream.as_str();
        let file = if stream.starts_with("keys/") {
            "keys.json"
        } else if stream.starts_with("reference/calendar/") {
            "calendars.json"
        } else if stream.starts_with("reference/prices/") || stream == "reference/kg-reference-book"
        {
            "price-lists.json"
        } else {
            return;
        };
        self.files
            .entry(file)
            .or_default()
            .push(canonical_value(envelope, None));
    }
}

/// What a pack holds, for the summary line.
#[derive(Debug, Clone, Serialize)]
pub struct PackSummary {
    pub events: BTreeMap<String, u64>,
    pub files: usize,
    pub forms: usize,
}

/// Reads the log once and writes the records, events, seals and reference data of the pack.
async fn scan(
    log: &dyn EventLog,
    options: &PackOptions,
) -> anyhow::Result<(BTreeMap<Jurisdiction, Part>, Reference, Vec<String>)> {
    let month = options.period.key();
    let mut parts = BTreeMap::new();
    let mut reference = Reference::default();
    let mut contracts = std::collections::BTreeSet::new();
    for jurisdiction in [Jurisdiction::KZ, Jurisdiction::KG] {
        parts.insert(jurisdiction, Part::create(&options.out, jurisdiction)?);
    }
    for partition in 0..log.partitions() {
        let mut previous = ChainHash::GENESIS;
        let mut records = read_partition(log, PartitionId(partition), Offset(0));
        while let Some(envelope) = records.next().await {
            let envelope = envelope?;
            let body = &envelope.body;
            let part = parts
                .get_mut(&body.jurisdiction)
                .expect("both jurisdictions");
            if in_seal(&envelope, body.jurisdiction, &month) {
                part.add(&envelope, &previous, options)?;
                if body.jurisdiction == Jurisdiction::KZ {
                    let contract = body.stream.as_str().split('/').nth(1).unwrap_or("");
                    contracts.insert(contract.to_owned());
                }
            } else if body.stream.as_str()
                == ledger::domain::seal::stream_id(body.jurisdiction, options.period)
            {
                part.seal = Some(envelope.clone());
                part.seal_previous = previous;
            } else if period_month(&body.stream).is_none() {
                reference.add(&envelope);
            }
            previous = envelope.hash;
        }
    }
    Ok((parts, reference, contracts.into_iter().collect()))
}

/// Builds the pack in `options.out` (which must not exist or be empty).
pub async fn build(
    log: &dyn EventLog,
    data_dir: &Path,
    options: &PackOptions,
) -> anyhow::Result<PackSummary> {
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    let (parts, reference, contracts) = scan(log, options).await?;
    let mut written = Vec::new();
    let mut events = BTreeMap::new();
    for (jurisdiction, part) in parts {
        if part.count > 0 && part.seal.is_none() {
            anyhow::bail!(crate::cli::UsageError(format!(
                "{} of {jurisdiction} is not sealed (no seal/{jurisdiction}/{}); a pack holds sealed periods only",
                options.period.key(),
                options.period.key()
            )));
        }
        events.insert(jurisdiction.to_string(), part.count);
        written.extend(part.finish()?);
    }
    for (name, values) in reference.files {
        let text = serde_json::to_string_pretty(&values)? + "\n";
        written.push(write_file(options.out.join(name), text)?);
    }
    let parquet_dir = options.out.join("parquet");
    std::fs::create_dir_all(&parquet_dir)?;
    let month = options.period.key();
    let manifest = super::parquet::export(
        log,
        &parquet_dir,
        options.pseudonymizer.clone(),
        &|envelope: &EventEnvelope| in_seal(envelope, envelope.body.jurisdiction, &month),
    )
    .await?;
    written.extend(
        manifest
            .files
            .iter()
            .map(|file| parquet_dir.join(&file.file)),
    );
    let forms = forms::write(log, data_dir, options, &contracts).await?;
    let form_count = forms.len();
    written.extend(forms);
    written.push(write_file(options.out.join("verify.py"), VERIFY_PY)?);
    written.push(write_file(
        options.out.join("record-format.md"),
        RECORD_FORMAT_MD,
    )?);
    written.push(write_file(options.out.join("layout.json"), LAYOUT_JSON)?);
    let files = written.len();
    write_manifest(options, &written, &events)?;
    Ok(PackSummary {
        events,
        files,
        forms: form_count,
    })
}

/// `manifest.json`: the pack's format, period, pseudonymization and every file's SHA-256.
fn write_manifest(
    options: &PackOptions,
    written: &[PathBuf],
    events: &BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let mut files = BTreeMap::new();
    for path in written {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let name = path
            .strip_prefix(&options.out)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        files.insert(name, hex::encode(Sha256::digest(&bytes)));
    }
    let manifest = serde_json::json!({
        "format": PACK_FORMAT,
        "period": options.period.key(),
        "written_by": format!("ledger {}", env!("CARGO_PKG_VERSION")),
        "pseudonymized": options.pseudonymizer.as_ref().map(|pseudonymizer| {
            serde_json::json!({"key_fingerprint": pseudonymizer.fingerprint(), "raw_records": "withheld"})
        }),
        "events": events,
        "files": files,
    });
    write_file(
        options.out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    Ok(())
}
