//! Inclusion proofs (issue #15 §2): a pharmacy shows a regulator that one event is on the record and
//! in a sealed period, revealing nothing else. A proof carries the event's record bytes and the chain
//! link before it (so its chain hash can be recomputed), the RFC 6962 audit path of that hash in the
//! period's tree, the seal it leads to and the Fund's public key at sealing; [`check`] needs nothing
//! else (no log, no data directory).

use ed25519_dalek::{Signature as Ed25519, VerifyingKey};
use futures::StreamExt;
use ledger::domain::event::Event;
use ledger::domain::keys::{KeyEvent, KeyRegistry};
use ledger::domain::rules::RuleBook;
use ledger::domain::seal::{PeriodSealed, SealContent};
use ledger::domain::signature::Signature;
use ledger::domain::values::ReportingPeriod;
use ledger::log::{
    ChainHash, EnvelopeBody, EventEnvelope, EventId, EventLog, Offset, PartitionId, StreamId,
    StreamVersion, read_partition,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::merkle;
use super::seal::{in_seal, observe, period_month};

/// The format name of a proof file.
pub const PROOF_FORMAT: &str = "ledger-inclusion-proof-v1";

/// An inclusion proof as written by `ledger audit prove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    pub format: String,
    pub event_id: EventId,
    pub event_type: String,
    pub stream: String,
    pub partition: u32,
    pub offset: u64,
    /// The chain hash of the record before this one on its partition (hex).
    pub previous_hash: String,
    /// `codec(EnvelopeBody)` of the record (hex): docs/record-format.md.
    pub record_hex: String,
    /// The record's chain hash: the Merkle leaf (hex).
    pub leaf: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// RFC 6962 audit path, leaf side first (hex).
    pub audit_path: Vec<String>,
    pub seal_stream: String,
    pub seal: SealContent,
    pub seal_signature: Signature,
    /// The Fund's ed25519 public key registered under the signature's key id at sealing (hex).
    pub fund_public_key: String,
}

/// Why no proof can be made.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("no event with id {0} is on the log")]
    NotFound(EventId),
    #[error(
        "event {event_id} is on \"{stream}\", not on a period stream; only period events are sealed"
    )]
    NotInPeriod { event_id: EventId, stream: String },
    #[error("{seal_stream} holds no seal yet: the period of event {event_id} is not sealed")]
    NotSealed {
        event_id: EventId,
        seal_stream: String,
    },
    #[error("the key {key_id} of BIN {signer} that signed {seal_stream} is not on the log")]
    NoKey {
        key_id: String,
        signer: String,
        seal_stream: String,
    },
    #[error(transparent)]
    Audit(#[from] super::AuditError),
    #[error(transparent)]
    Log(#[from] ledger::log::LogError),
    #[error("cannot decode {0}")]
    Decode(String),
}

/// Finds the record of `event_id` and the chain hash before it.
async fn find(
    log: &dyn EventLog,
    event_id: EventId,
) -> Result<(EventEnvelope, ChainHash), ProveError> {
    for partition in 0..log.partitions() {
        let mut previous = ChainHash::GENESIS;
        let mut records = read_partition(log, PartitionId(partition), Offset(0));
        while let Some(envelope) = records.next().await {
            let envelope = envelope?;
            if envelope.body.event_id == event_id {
                return Ok((envelope, previous));
            }
            previous = envelope.hash;
        }
    }
    Err(ProveError::NotFound(event_id))
}

/// The seal event of a seal stream, if any.
async fn sealed(log: &dyn EventLog, stream: &str) -> Result<Option<PeriodSealed>, ProveError> {
    let stream = StreamId::new(stream).map_err(|error| ProveError::Decode(error.to_string()))?;
    for envelope in log.read_stream(&stream, StreamVersion(1)).await? {
        if let Ok(Event::PeriodSealed(sealed)) = Event::from_payload(&envelope.body.payload) {
            return Ok(Some(sealed));
        }
    }
    Ok(None)
}

/// The Fund's public key that signed the seal, from the key streams.
async fn fund_key(log: &dyn EventLog, signature: &Signature) -> Result<Option<String>, ProveError> {
    let bin = signature.signer;
    let stream = StreamId::new(ledger::domain::keys::stream_id(bin))
        .map_err(|error| ProveError::Decode(error.to_string()))?;
    let mut registry = KeyRegistry::new();
    for envelope in log.read_stream(&stream, StreamVersion(1)).await? {
        let event = Event::from_payload(&envelope.body.payload)
            .map_err(|error| ProveError::Decode(error.to_string()))?;
        if let Ok(key_event) = KeyEvent::try_from(&event) {
            registry.apply(&key_event);
        }
    }
    Ok(registry
        .ring(bin)
        .and_then(|ring| ring.key(&signature.key_id))
        .map(|key| hex::encode(key.public_key.as_bytes())))
}

/// Builds the inclusion proof of one event against its period's seal.
pub async fn prove(
    log: &dyn EventLog,
    rules: &RuleBook,
    event_id: EventId,
) -> Result<InclusionProof, ProveError> {
    let (envelope, previous) = find(log, event_id).await?;
    let body = &envelope.body;
    let not_in_period = || ProveError::NotInPeriod {
        event_id,
        stream: body.stream.to_string(),
    };
    let month = period_month(&body.stream).ok_or_else(not_in_period)?;
    let period = parse_month(month).ok_or_else(not_in_period)?;
    let seal_stream = ledger::domain::seal::stream_id(body.jurisdiction, period);
    let Some(sealed) = sealed(log, &seal_stream).await? else {
        return Err(ProveError::NotSealed {
            event_id,
            seal_stream,
        });
    };
    let observation = observe(log, rules, body.jurisdiction, period, sealed.seal.sealed_at).await?;
    assert!(in_seal(&envelope, body.jurisdiction, month));
    let leaves: Vec<[u8; 32]> = observation.leaves.iter().map(|(_, hash)| hash.0).collect();
    let index = observation
        .leaves
        .iter()
        .position(|(position, _)| *position == envelope.position)
        .expect("an event of a sealed period is one of its leaves");
    let fund_public_key =
        fund_key(log, &sealed.signature)
            .await?
            .ok_or_else(|| ProveError::NoKey {
                key_id: sealed.signature.key_id.clone(),
                signer: sealed.signature.signer.to_string(),
                seal_stream: seal_stream.clone(),
            })?;
    let (record, hash) = EventEnvelope::seal(body, &previous)?;
    assert_eq!(
        hash, envelope.hash,
        "the codec re-encodes a stored record to its bytes"
    );
    let body_len = record.len() - 32;
    Ok(InclusionProof {
        format: PROOF_FORMAT.to_owned(),
        event_id,
        event_type: body.payload.event_type.clone(),
        stream: body.stream.to_string(),
        partition: envelope.position.partition.0,
        offset: envelope.position.offset.0,
        previous_hash: previous.to_hex(),
        record_hex: hex::encode(&record[..body_len]),
        leaf: envelope.hash.to_hex(),
        leaf_index: u64::try_from(index).expect("index fits"),
        tree_size: u64::try_from(leaves.len()).expect("size fits"),
        audit_path: merkle::inclusion_proof(&leaves, index)
            .iter()
            .map(hex::encode)
            .collect(),
        seal_stream,
        seal: sealed.seal,
        seal_signature: sealed.signature,
        fund_public_key,
    })
}

fn parse_month(month: &str) -> Option<ReportingPeriod> {
    let (year, month) = month.split_once('-')?;
    ReportingPeriod::month(year.parse().ok()?, month.parse().ok()?).ok()
}

fn unhex32(text: &str) -> Result<[u8; 32], String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes)
        .map_err(|_| format!("\"{text}\" is not 64 hex digits"))?;
    Ok(bytes)
}

/// Checks a proof on its own; one (name, outcome) per check, in order.
pub fn check(proof: &InclusionProof) -> Vec<(&'static str, Result<String, String>)> {
    let mut checks = vec![("format", format_check(proof))];
    checks.push(("record hash", record_check(proof)));
    checks.push(("record content", content_check(proof)));
    checks.push(("inclusion", inclusion_check(proof)));
    checks.push(("seal signature", signature_check(proof)));
    checks
}

fn format_check(proof: &InclusionProof) -> Result<String, String> {
    if proof.format == PROOF_FORMAT {
        Ok(PROOF_FORMAT.to_owned())
    } else {
        Err(format!(
            "format \"{}\", expected \"{PROOF_FORMAT}\"",
            proof.format
        ))
    }
}

/// SHA-256(previous ‖ record) is the leaf (DESIGN §6).
fn record_check(proof: &InclusionProof) -> Result<String, String> {
    let previous = unhex32(&proof.previous_hash)?;
    let record = hex::decode(&proof.record_hex).map_err(|_| "record_hex is not hex".to_owned())?;
    let mut digest = Sha256::new();
    digest.update(previous);
    digest.update(&record);
    let computed = hex::encode(digest.finalize());
    if computed == proof.leaf {
        Ok(format!("SHA-256(previous ‖ record) = {computed}"))
    } else {
        Err(format!(
            "SHA-256(previous ‖ record) is {computed}, the proof says {}",
            proof.leaf
        ))
    }
}

/// The record decodes to the event the proof names, on a stream of the sealed period.
fn content_check(proof: &InclusionProof) -> Result<String, String> {
    let record = hex::decode(&proof.record_hex).map_err(|_| "record_hex is not hex".to_owned())?;
    let body = EnvelopeBody::decode(&record)
        .map_err(|error| format!("the record does not decode: {error}"))?;
    let stream_month = period_month(&body.stream);
    let expected_month = proof.seal.period.key();
    if body.event_id != proof.event_id
        || body.stream.as_str() != proof.stream
        || body.payload.event_type != proof.event_type
    {
        return Err("the record is another event than the proof names".to_owned());
    }
    if stream_month != Some(expected_month.as_str()) || body.jurisdiction != proof.seal.jurisdiction
    {
        return Err(format!(
            "the record is on \"{}\" ({}), outside the sealed period {} of {}",
            body.stream, body.jurisdiction, expected_month, proof.seal.jurisdiction
        ));
    }
    Ok(format!("{} on {}", body.payload.event_type, body.stream))
}

fn inclusion_check(proof: &InclusionProof) -> Result<String, String> {
    let leaf = unhex32(&proof.leaf)?;
    let path = proof
        .audit_path
        .iter()
        .map(|node| unhex32(node))
        .collect::<Result<Vec<_>, _>>()?;
    if proof.tree_size != proof.seal.events {
        return Err(format!(
            "the tree has {} leaves but the seal covers {} events",
            proof.tree_size, proof.seal.events
        ));
    }
    if merkle::verify_inclusion(
        &leaf,
        proof.leaf_index,
        proof.tree_size,
        &path,
        &proof.seal.merkle_root.0,
    ) {
        Ok(format!(
            "leaf {} of {} under the sealed root {}",
            proof.leaf_index,
            proof.tree_size,
            proof.seal.merkle_root.to_hex()
        ))
    } else {
        Err("the audit path does not lead to the sealed Merkle root".to_owned())
    }
}

fn signature_check(proof: &InclusionProof) -> Result<String, String> {
    let hash = proof.seal.document_hash();
    if proof.seal_signature.document_hash != hash {
        return Err("the signature is over another document than the seal".to_owned());
    }
    let key = VerifyingKey::from_bytes(&unhex32(&proof.fund_public_key)?)
        .map_err(|_| "fund_public_key is not an ed25519 key".to_owned())?;
    let bytes = hex::decode(&proof.seal_signature.signature_hex)
        .map_err(|_| "the signature is not hex".to_owned())?;
    let signature =
        Ed25519::from_slice(&bytes).map_err(|_| "the signature is not 64 bytes".to_owned())?;
    key.verify_strict(&hash.0, &signature)
        .map_err(|_| "the Fund's signature over the seal does not verify".to_owned())?;
    Ok(format!(
        "signed by BIN {} with key {} ({}); confirm that key is the Fund's",
        proof.seal_signature.signer, proof.seal_signature.key_id, proof.fund_public_key
    ))
}
