//! `ledger audit verify`: what a regulator runs to prove the history was not altered. Checks every
//! record's CRC and the per-partition hash chain (DESIGN §6), then every document signature against
//! the key registered for the signer's BIN at signing time (S-01…S-04). Exits non-zero on the first
//! inconsistency and names it.

use std::collections::BTreeMap;
use std::process::ExitCode;

use futures::StreamExt;
use ledger::domain::event::Event;
use ledger::domain::keys::{KeyEvent, KeyRegistry};
use ledger::domain::signature::Signature;
use ledger::domain::time::Timestamp;
use ledger::log::{EventEnvelope, EventLog, Offset, PartitionId, read_partition};

use super::{GlobalOpts, history, open};

mod pack;
mod proof;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verify CRCs, the hash chain and every document signature; exits 2 on the first inconsistency.
    Verify {
        /// Check the signatures of one reporting month only (YYYY-MM), and its seals (KZ and KG)
        /// against the log; the chain is always checked whole.
        #[arg(long)]
        period: Option<String>,
    },
    /// Print the inclusion proof of one event against its sealed period's Merkle root (JSON).
    Prove {
        /// The event id (UUID).
        #[arg(long)]
        event: String,
        /// Write the proof to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Check an inclusion proof file on its own (no log needed); exits 2 when any check fails.
    CheckProof { file: std::path::PathBuf },
    /// Write a self-contained audit pack of a sealed month (raw records, JSON, Parquet, forms, seal,
    /// keys, calendars, price lists and `verify.py`, an independent verifier).
    Pack {
        /// The sealed reporting month (YYYY-MM).
        #[arg(long)]
        period: String,
        /// The folder to write (must be absent or empty).
        #[arg(long)]
        out: std::path::PathBuf,
        /// Pseudonymize patients (keyed HMAC-SHA256); the raw records are then withheld.
        #[arg(long, value_name = "KEYFILE")]
        pseudonymize: Option<std::path::PathBuf>,
    },
}

/// The signature a signed event carries, with the instant it was made.
fn signature_of(event: &Event) -> Option<(&Signature, Timestamp, &'static str)> {
    match event {
        Event::ContractConcluded(event) => Some((&event.signature, event.concluded_at, "contract")),
        Event::TerminationNoticeSent(event) => {
            Some((&event.signature, event.sent_at, "termination notice"))
        }
        Event::RegistrySubmitted(event) => Some((&event.signature, event.submitted_at, "registry")),
        Event::RegistryApproved(event) => {
            Some((&event.signature, event.approved_at, "registry approval"))
        }
        Event::PaymentActSubmitted(event) => {
            Some((&event.signature, event.submitted_at, "payment act"))
        }
        Event::PaymentActSigned(event) => {
            Some((&event.signature, event.signed_at, "act signature"))
        }
        _ => None,
    }
}

pub fn run(command: AuditCommand, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { period } => verify(period, global),
        AuditCommand::Prove { event, out } => proof::run_prove(&event, out.as_deref(), global),
        AuditCommand::CheckProof { file } => proof::run_check(&file),
        AuditCommand::Pack {
            period,
            out,
            pseudonymize,
        } => pack::run(&period, out, pseudonymize.as_deref(), global),
    }
}

fn verify(period: Option<String>, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let period = period.as_deref().map(history::parse_period).transpose()?;
    let runtime = super::runtime()?;
    let log = if global.log.is_some() {
        let log = open::read_only(&runtime, global)?;
        let chain = runtime.block_on(verify_chain(&*log))?;
        if chain != ExitCode::SUCCESS {
            return Ok(chain);
        }
        log
    } else {
        // The embedded log's own verifier runs before anything opens the log: it reads damaged
        // segments that an open refuses, and names the file, byte offset and position.
        let chain = super::log::run_verify(global)?;
        if chain != ExitCode::SUCCESS {
            return Ok(chain);
        }
        open::read_only(&runtime, global)?
    };
    let outcome = runtime.block_on(verify_signatures(&*log, period.as_deref()))?;
    match outcome {
        Ok(counts) => {
            for (partition, count) in &counts {
                println!("partition {partition}: signatures ok: {count} documents");
            }
            let total: u64 = counts.values().sum();
            if let Some(period) = &period
                && !runtime.block_on(proof::verify_seals(&*log, period))?
            {
                println!("audit: FAILED: a seal of {period} does not match the log");
                return Ok(ExitCode::from(2));
            }
            println!("audit: ok (hash chain intact, {total} document signatures valid)");
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            println!("audit: FAILED: {failure}");
            Ok(ExitCode::from(2))
        }
    }
}

/// DESIGN §6 on any backend: re-seals every decoded record against its predecessor's hash and compares
/// the result with the stored link (the codec is deterministic, so an intact record re-seals to itself).
async fn verify_chain(log: &dyn EventLog) -> anyhow::Result<ExitCode> {
    for partition in 0..log.partitions() {
        let mut previous = ledger::log::ChainHash::GENESIS;
        let mut records = read_partition(log, PartitionId(partition), Offset(0));
        let mut count = 0u64;
        while let Some(envelope) = records.next().await {
            let envelope = envelope?;
            let (_, hash) = ledger::log::EventEnvelope::seal(&envelope.body, &previous)?;
            if hash != envelope.hash {
                println!(
                    "verdict: DAMAGED: first bad position {}: the hash chain breaks there",
                    envelope.position
                );
                return Ok(ExitCode::from(2));
            }
            previous = envelope.hash;
            count += 1;
        }
        println!("partition {partition}: ok: {count} records, chain head {previous}");
    }
    println!("verdict: ok (hash chain intact)");
    Ok(ExitCode::SUCCESS)
}

/// Every key event of the log, folded into one registry (validity is judged by time, not log order).
pub(super) async fn key_registry(log: &dyn EventLog) -> anyhow::Result<KeyRegistry> {
    let mut registry = KeyRegistry::new();
    for partition in 0..log.partitions() {
        let mut records = read_partition(log, PartitionId(partition), Offset(0));
        while let Some(envelope) = records.next().await {
            let envelope = envelope?;
            if envelope.body.stream.category() != "keys" {
                continue;
            }
            let event = Event::from_payload(&envelope.body.payload)?;
            if let Ok(key_event) = KeyEvent::try_from(&event) {
                registry.apply(&key_event);
            }
        }
    }
    Ok(registry)
}

/// Checks each signed document; the outer error is operational, the inner one the first failure.
async fn verify_signatures(
    log: &dyn EventLog,
    period: Option<&str>,
) -> anyhow::Result<Result<BTreeMap<u32, u64>, String>> {
    let registry = key_registry(log).await?;
    let mut counts = BTreeMap::new();
    for partition in 0..log.partitions() {
        let mut records = read_partition(log, PartitionId(partition), Offset(0));
        let mut checked = 0u64;
        while let Some(envelope) = records.next().await {
            let envelope = envelope?;
            match check_one(&registry, &envelope, period) {
                Ok(signed) => checked += u64::from(signed),
                Err(failure) => return Ok(Err(failure)),
            }
        }
        counts.insert(partition, checked);
    }
    Ok(Ok(counts))
}

fn in_period(envelope: &EventEnvelope, period: Option<&str>) -> bool {
    period.is_none_or(|period| {
        envelope.body.stream.category() == "period"
            && envelope.body.stream.as_str().ends_with(period)
    })
}

/// Checks the signature of one record when it is a signed document in scope; returns whether it was.
fn check_one(
    registry: &KeyRegistry,
    envelope: &EventEnvelope,
    period: Option<&str>,
) -> Result<bool, String> {
    if !in_period(envelope, period) {
        return Ok(false);
    }
    let event = Event::from_payload(&envelope.body.payload)
        .map_err(|error| format!("record at {} does not decode: {error}", envelope.position))?;
    let Some((signature, at, document)) = signature_of(&event) else {
        return Ok(false);
    };
    let bytes = hex::decode(&signature.signature_hex).map_err(|_| {
        format!(
            "{document} at {} ({}): the signature is not hex",
            envelope.position, envelope.body.stream
        )
    })?;
    registry
        .check(
            signature.signer,
            &signature.key_id,
            &signature.document_hash.0,
            &bytes,
            at,
        )
        .map_err(|reason| {
            format!(
                "{document} at {} ({}@{}), signed by BIN {} with key {}: {reason}",
                envelope.position,
                envelope.body.stream,
                envelope.body.stream_version,
                signature.signer,
                signature.key_id
            )
        })?;
    Ok(true)
}
