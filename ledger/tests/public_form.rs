//! The public form's wire contract (issue #14, STYLE §2.8): one golden CloudEvent per event type, made
//! from that type's golden record (`schemas/golden/<Type>/v<N>.bin`), and the CloudEvent JSON Schema
//! (`schemas/cloudevent.schema.json`). Regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p ledger --test public_form` and review the diff.

use std::path::{Path, PathBuf};

use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::time::Timestamp;
use ledger::log::{
    Actor, ActorId, ActorRole, ChainHash, CommandDigest, CommandId, EnvelopeBody, EventEnvelope,
    EventId, Offset, Payload, Position, StreamId, StreamVersion, partition_of,
};
use ledger::public::{CloudEvents, PATIENT_ID_FIELDS, json_schema};
use serde_json::Value;
use uuid::Uuid;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// Compares `actual` with the checked-in file, or rewrites it under `UPDATE_GOLDEN=1`.
fn check_golden(relative: &str, actual: &str) {
    let path = schemas_dir().join(relative);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the generated form.\n--- checked in\n{expected}\n--- generated\n{actual}\n\
         If the change is deliberate, run UPDATE_GOLDEN=1 and call out the wire change in review.",
        path.display()
    );
}

/// Illustrative coordinates of each type's example: a stream of the kind that type lives on.
fn example_stream(event_type: &str) -> (&'static str, Jurisdiction) {
    match event_type {
        "ContractApplicationReceived"
        | "ContractConcluded"
        | "ContractRefused"
        | "PharmacyNetworkChanged"
        | "IssCertificationChanged" => ("contract/KZ-001", Jurisdiction::KZ),
        name if name.starts_with("Termination") => ("contract/KZ-001", Jurisdiction::KZ),
        "KgContractApplicationReceived"
        | "KgContractConcluded"
        | "ContractObjectionFiled"
        | "ContractRenewed"
        | "ContractExpired" => ("contract/KG-001", Jurisdiction::KG),
        "PriceListPublished" => ("reference/prices/KZ", Jurisdiction::KZ),
        "CalendarPublished" => ("reference/calendar/KZ", Jurisdiction::KZ),
        "ReferenceBookPublished" => ("reference/kg-reference-book", Jurisdiction::KG),
        name if name.starts_with("Budget") => ("budget/KZ/OSMS/2026", Jurisdiction::KZ),
        name if name.starts_with("SigningKey") => ("keys/210740486972", Jurisdiction::KZ),
        name if name.starts_with("Dispute") => {
            ("contract/KG-001/dispute/DSP-KG-001-1", Jurisdiction::KG)
        }
        name if name.starts_with("Recovery") => {
            ("recovery/pharmacy/02303201910087", Jurisdiction::KG)
        }
        name if name.starts_with("Kg") => ("period/KG-001/2026-01", Jurisdiction::KG),
        _ => ("period/KZ-001/2026-01", Jurisdiction::KZ),
    }
}

/// The golden record of `event_type` in a canonical envelope at a canonical position.
fn example(event_type: &str, schema_version: u16) -> EventEnvelope {
    let bin = schemas_dir().join(format!("golden/{event_type}/v{schema_version}.bin"));
    let data = std::fs::read(&bin).unwrap_or_else(|error| panic!("{}: {error}", bin.display()));
    let (stream, jurisdiction) = example_stream(event_type);
    let stream = StreamId::new(stream).expect("valid stream");
    let at = Timestamp::parse_rfc3339("2026-02-03T04:05:06.789Z").expect("valid instant");
    EventEnvelope {
        position: Position {
            partition: partition_of(&stream, 8),
            offset: Offset(1041),
        },
        body: EnvelopeBody {
            event_id: EventId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)),
            stream,
            stream_version: StreamVersion(3),
            recorded_at: at,
            occurred_at: Timestamp::parse_rfc3339("2026-02-03T04:00:00Z").expect("valid instant"),
            jurisdiction,
            command_id: CommandId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002)),
            causation_id: Some(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0003)),
            correlation_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0004),
            actor: Actor {
                person: Some("900101300007".parse().expect("valid IIN")),
                ..Actor::new(
                    ActorId::Organisation("210740486972".parse().expect("valid BIN")),
                    ActorRole::Pharmacy,
                )
            },
            payload: Payload {
                event_type: event_type.to_owned(),
                schema_version,
                data,
            },
            command_digest: Some(CommandDigest::of(b"the command's canonical content")),
        },
        hash: ChainHash::GENESIS.link(b"example"),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("serialise") + "\n"
}

/// `schemas/golden/<Type>/v<N>.cloudevent.json`: the CloudEvent of every type's golden record. Its
/// `data` is exactly the checked-in canonical JSON (`v<N>.json`) without the type tag.
#[test]
fn every_event_type_has_a_golden_cloud_event() {
    let form = CloudEvents::default();
    for (event_type, version) in Event::TYPES {
        let envelope = example(event_type, *version);
        let bytes = form.to_bytes(&envelope).expect("the golden record renders");
        let value: Value = serde_json::from_slice(&bytes).expect("the form is JSON");
        let canonical: Value = serde_json::from_str(
            &std::fs::read_to_string(
                schemas_dir().join(format!("golden/{event_type}/v{version}.json")),
            )
            .expect("canonical JSON"),
        )
        .expect("canonical JSON parses");
        assert_eq!(
            value["data"], canonical[*event_type],
            "{event_type}: data is the canonical JSON"
        );
        check_golden(
            &format!("golden/{event_type}/v{version}.cloudevent.json"),
            &pretty(&value),
        );
    }
}

#[test]
fn the_cloud_event_schema_matches_checked_in() {
    check_golden("cloudevent.schema.json", &pretty(&json_schema()));
}

/// Every event schema's `$id` is the `dataschema` its CloudEvents name, so a validator that loads
/// `schemas/events/` resolves the per-type `$ref`s of `cloudevent.schema.json`.
#[test]
fn event_schemas_carry_the_ids_the_form_names() {
    for (event_type, version) in Event::TYPES {
        let path = schemas_dir().join(format!("events/{event_type}.v{version}.schema.json"));
        let schema: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("schema file"))
                .expect("schema parses");
        let golden: Value = serde_json::from_str(
            &std::fs::read_to_string(
                schemas_dir().join(format!("golden/{event_type}/v{version}.cloudevent.json")),
            )
            .expect("golden CloudEvent"),
        )
        .expect("golden parses");
        assert_eq!(schema["$id"], golden["dataschema"], "{}", path.display());
    }
}

/// Names of properties that hold a person's IIN (KZ) or PIN (KG) but not a patient's.
const NON_PATIENT_PERSON_IDS: [&str; 1] = ["signatory_iin"];

fn person_id_properties(schema: &Value, found: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                found.extend(
                    properties
                        .keys()
                        .filter(|name| name.split('_').any(|part| part == "iin" || part == "pin"))
                        .cloned(),
                );
            }
            map.values()
                .for_each(|value| person_id_properties(value, found));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| person_id_properties(item, found)),
        _ => {}
    }
}

/// The pseudonymization hook finds every patient identifier: each IIN/PIN property of every event
/// schema (current and frozen versions) is a patient field or known not to be one.
#[test]
fn every_person_id_property_is_classified() {
    for entry in std::fs::read_dir(schemas_dir().join("events")).expect("schemas/events") {
        let path = entry.expect("entry").path();
        let schema: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("schema file"))
                .expect("schema parses");
        let mut found = Vec::new();
        person_id_properties(&schema, &mut found);
        for name in found {
            assert!(
                PATIENT_ID_FIELDS.contains(&name.as_str())
                    || NON_PATIENT_PERSON_IDS.contains(&name.as_str()),
                "{}: property \"{name}\" holds a person id; add it to PATIENT_ID_FIELDS \
                 (ledger::public) if it is a patient's, else to NON_PATIENT_PERSON_IDS here",
                path.display()
            );
        }
    }
}
