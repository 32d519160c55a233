//! The wire contract (STYLE §2.8): JSON Schemas generated from the Rust types must equal the checked-in
//! files under `schemas/`, and the checked-in golden records must decode to the canonical instances.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p ledger --test schemas`; the diff must show in review.

use std::path::{Path, PathBuf};

use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::{
    Actor, ActorId, ActorRole, ChainHash, CommandId, EnvelopeBody, EventEnvelope, EventId, Offset,
    PartitionId, Payload, Position, StreamId, StreamVersion,
};
use uuid::Uuid;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// Compares `actual` with the checked-in file, or rewrites it under `UPDATE_GOLDEN=1`.
fn check_golden(relative: &str, actual: &[u8]) {
    let path = schemas_dir().join(relative);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden files sit in a folder"))
            .expect("create folder");
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let expected_text = String::from_utf8_lossy(&expected);
        let actual_text = String::from_utf8_lossy(actual);
        let first_difference = expected_text
            .lines()
            .zip(actual_text.lines())
            .position(|(left, right)| left != right)
            .map_or_else(
                || "lengths differ".to_owned(),
                |line| format!("first difference at line {}", line + 1),
            );
        panic!(
            "{} differs from the generated output ({first_difference}).\n--- checked in\n{expected_text}\n--- generated\n{actual_text}\nIf the wire change is deliberate, bump the schema version (docs/schema-evolution.md) and run UPDATE_GOLDEN=1.",
            path.display()
        );
    }
}

fn pretty_json(value: &impl serde::Serialize) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(value).expect("serialise to JSON");
    text.push('\n');
    text.into_bytes()
}

/// The canonical envelope used by the golden record.
fn canonical_body() -> EnvelopeBody {
    let at = Timestamp::parse_rfc3339("2026-02-03T04:05:06Z").expect("valid instant");
    EnvelopeBody {
        event_id: EventId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)),
        stream: StreamId::new("period/C-1/2026-01").expect("valid stream"),
        stream_version: StreamVersion(1),
        recorded_at: at,
        occurred_at: at,
        jurisdiction: Jurisdiction::KZ,
        command_id: CommandId(Uuid::from_u128(2)),
        causation_id: Some(Uuid::from_u128(3)),
        correlation_id: Uuid::from_u128(4),
        actor: Actor {
            id: ActorId::Organisation("900101300007".parse::<Bin>().expect("valid BIN")),
            role: ActorRole::Pharmacy,
        },
        payload: Payload {
            event_type: "Example".into(),
            schema_version: 1,
            data: vec![1, 2, 3],
        },
    }
}

#[test]
fn envelope_schema_matches_checked_in() {
    let schema = schemars::schema_for!(EnvelopeBody);
    check_golden("envelope.schema.json", &pretty_json(&schema));
}

#[test]
fn envelope_golden_record_decodes() {
    let body = canonical_body();
    let (bytes, hash) = EventEnvelope::seal(&body, &ChainHash::GENESIS).expect("seal");
    check_golden("golden/envelope/v1.bin", &bytes);
    check_golden("golden/envelope/v1.json", &pretty_json(&body));
    let stored =
        std::fs::read(schemas_dir().join("golden/envelope/v1.bin")).expect("golden record");
    let position = Position {
        partition: PartitionId(0),
        offset: Offset(0),
    };
    let decoded = EventEnvelope::decode(position, &stored).expect("the checked-in record decodes");
    assert_eq!(decoded.body, body);
    assert_eq!(decoded.hash, hash);
    assert_eq!(
        EventEnvelope::verify_link(&ChainHash::GENESIS, &stored),
        Some(hash)
    );
    let json = std::fs::read(schemas_dir().join("golden/envelope/v1.json")).expect("golden JSON");
    let from_json: EnvelopeBody =
        serde_json::from_slice(&json).expect("the checked-in JSON decodes");
    assert_eq!(from_json, body);
}
