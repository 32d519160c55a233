use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::*;
use crate::domain::jurisdiction::Jurisdiction;
use crate::log::{ActorRole, Offset, PartitionId, StreamId, StreamVersion};

/// A real event: the golden DispensingRecorded (it holds a patient IIN).
fn dispensing_payload() -> Payload {
    Payload {
        event_type: "DispensingRecorded".into(),
        schema_version: 1,
        data: include_bytes!("../../../schemas/golden/DispensingRecorded/v1.bin").to_vec(),
    }
}

fn golden_fields() -> Value {
    let golden: Value = serde_json::from_str(include_str!(
        "../../../schemas/golden/DispensingRecorded/v1.json"
    ))
    .unwrap();
    golden["DispensingRecorded"].clone()
}

fn envelope(causation: Option<Uuid>) -> EventEnvelope {
    EventEnvelope {
        position: Position {
            partition: PartitionId(5),
            offset: Offset(4_294_967_296),
        },
        body: EnvelopeBody {
            event_id: EventId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)),
            stream: StreamId::new("period/KZ-001/2026-01").unwrap(),
            stream_version: StreamVersion(12),
            recorded_at: Timestamp::parse_rfc3339("2026-01-12T11:00:01.25Z").unwrap(),
            occurred_at: Timestamp::parse_rfc3339("2026-01-12T11:00:00Z").unwrap(),
            jurisdiction: Jurisdiction::KZ,
            command_id: CommandId(Uuid::from_u128(2)),
            causation_id: causation,
            correlation_id: Uuid::from_u128(4),
            actor: Actor::new(
                ActorId::Organisation("210740486972".parse().unwrap()),
                ActorRole::Pharmacy,
            ),
            payload: dispensing_payload(),
            command_digest: causation.map(|_| CommandDigest::of(b"the command")),
        },
        hash: ChainHash([0xAB; 32]),
    }
}

#[test]
fn the_form_carries_every_attribute_and_the_golden_fields() {
    use sha2::Digest;
    let form = CloudEvents::default();
    let mut record = envelope(Some(Uuid::from_u128(3)));
    record.body.actor.person = Some("750612448787".parse().unwrap());
    let value = form.to_value(&record).unwrap();
    let expected = serde_json::json!({
        "specversion": "1.0",
        "id": "01900000-0000-7000-8000-000000000001",
        "source": "urn:pharmacy-copayment:ledger:local",
        "type": "org.pharmacy-copayment.ledger.DispensingRecorded.v1",
        "subject": "period/KZ-001/2026-01",
        "time": "2026-01-12T11:00:01.250Z",
        "datacontenttype": "application/json",
        "dataschema": "urn:pharmacy-copayment:schema:DispensingRecorded:v1",
        "sequence": "00000000000000000012",
        "partition": 5,
        "offset": "4294967296",
        "chainhash": "ab".repeat(32),
        "jurisdiction": "KZ",
        "occurredat": "2026-01-12T11:00:00Z",
        "commandid": "00000000-0000-0000-0000-000000000002",
        "commanddigest": hex::encode(sha2::Sha256::digest(b"the command")),
        "causationid": "00000000-0000-0000-0000-000000000003",
        "correlationid": "00000000-0000-0000-0000-000000000004",
        "actor": "Pharmacy:BIN:210740486972",
        "actorperson": "750612448787",
        "data": golden_fields(),
    });
    assert_eq!(value, expected);
}

#[test]
fn attributes_come_first_in_table_order_and_data_last() {
    let bytes = CloudEvents::default().to_bytes(&envelope(None)).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let names = [
        "\"specversion\"",
        "\"id\"",
        "\"source\"",
        "\"type\"",
        "\"subject\"",
        "\"time\"",
        "\"datacontenttype\"",
        "\"dataschema\"",
        "\"sequence\"",
        "\"partition\"",
        "\"offset\"",
        "\"chainhash\"",
        "\"jurisdiction\"",
        "\"occurredat\"",
        "\"commandid\"",
        "\"correlationid\"",
        "\"actor\"",
        "\"data\"",
    ];
    let at: Vec<usize> = names
        .iter()
        .map(|name| text.find(name).unwrap_or_else(|| panic!("{name} missing")))
        .collect();
    assert!(at.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
    for optional in ["causationid", "commanddigest", "actorperson"] {
        assert!(
            !text.contains(optional),
            "absent {optional}, absent attribute"
        );
    }
}

/// CloudEvents naming rule: attribute names are lower-case a-z0-9, at most 20 characters, not `data`
/// unless it is the data member.
#[test]
fn attribute_names_follow_the_cloudevents_naming_rule() {
    let value = CloudEvents::default()
        .to_value(&envelope(Some(Uuid::nil())))
        .unwrap();
    for name in value.as_object().unwrap().keys() {
        assert!(
            name.len() <= 20
                && name
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit()),
            "{name}"
        );
    }
}

#[test]
fn an_older_schema_version_is_rendered_upcast() {
    let payload = Payload {
        event_type: "RegistrySubmitted".into(),
        schema_version: 1,
        data: include_bytes!("../../../schemas/golden/RegistrySubmitted/v1.bin").to_vec(),
    };
    let data = CloudEvents::default().data(&payload).unwrap();
    assert_eq!(data.schema_version, 2);
    let mut record = envelope(None);
    record.body.payload = payload;
    let value = CloudEvents::default().to_value(&record).unwrap();
    assert_eq!(
        value["type"],
        "org.pharmacy-copayment.ledger.RegistrySubmitted.v2"
    );
    assert_eq!(
        value["dataschema"],
        "urn:pharmacy-copayment:schema:RegistrySubmitted:v2"
    );
}

#[test]
fn an_unknown_payload_has_no_public_form() {
    let mut body = envelope(None).body;
    body.payload = Payload {
        event_type: "NoSuchEvent".into(),
        schema_version: 1,
        data: vec![1, 2, 3],
    };
    let error = PublicForm::prepare(&CloudEvents::default(), &body).unwrap_err();
    assert_eq!(error.event_type, "NoSuchEvent");
    assert!(error.to_string().contains("unknown event type"), "{error}");
}

#[test]
fn prepare_then_finish_equals_to_bytes() {
    let form = CloudEvents::new("urn:example-fund:ledger:kz-prod".parse().unwrap());
    let record = envelope(Some(Uuid::from_u128(7)));
    let prepared = PublicForm::prepare(&form, &record.body).unwrap();
    let finished = PublicForm::finish(
        &form,
        &prepared,
        &record.body,
        record.position,
        &record.hash,
    );
    assert_eq!(finished, form.to_bytes(&record).unwrap());
    assert_eq!(PublicForm::content_type(&form), CONTENT_TYPE);
}

struct Redact;

impl DataMap for Redact {
    fn map(&self, _event_type: &str, data: &mut Value) {
        for_each_patient_id(data, &mut |id| *id = "redacted".to_owned());
    }
}

#[test]
fn the_data_map_rewrites_patient_ids_before_wrapping() {
    let form = CloudEvents::default().with_data_map(Arc::new(Redact));
    let text = String::from_utf8(form.to_bytes(&envelope(None)).unwrap()).unwrap();
    let patient = golden_fields()["patient_iin"].as_str().unwrap().to_owned();
    assert!(!text.contains(&patient), "{text}");
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["data"]["patient_iin"], "redacted");
    assert_eq!(
        value["data"]["dispenser_bin"],
        golden_fields()["dispenser_bin"]
    );
}

#[test]
fn patient_ids_are_found_at_any_depth() {
    let mut data = serde_json::json!({
        "patient_iin": "1",
        "lines": [{ "patient_iin": "2", "x": { "patient_pin": "3" } }],
        "signatory_iin": "4",
        "patient_region": "KZ:1",
    });
    let mut seen = Vec::new();
    for_each_patient_id(&mut data, &mut |id| seen.push(id.clone()));
    seen.sort();
    assert_eq!(seen, ["1", "2", "3"]);
}

#[test]
fn sources_must_be_urns() {
    for good in [
        SOURCE_DEFAULT,
        "urn:example-fund:ledger:kz-prod",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
    ] {
        assert_eq!(EventSource::new(good).unwrap().as_str(), good);
    }
    for (bad, reason) in [
        ("https://fund.example/ledger", "urn:"),
        ("urn:x:ledger", "namespace"),
        ("urn:fund", "namespace-specific"),
        ("urn:fund:", "part after"),
        ("urn:fund:led ger", "part after"),
        ("urn:-fund:ledger", "namespace"),
    ] {
        let error = EventSource::new(bad).unwrap_err();
        assert!(error.to_string().contains(reason), "{bad}: {error}");
        assert!(error.to_string().contains(bad), "the error names the value");
    }
    let long = format!("urn:fund:{}", "a".repeat(SOURCE_BYTES_MAX));
    assert!(EventSource::new(long).is_err());
}

#[test]
fn actors_name_role_kind_and_id() {
    let actor = |id, role| actor_text(&Actor::new(id, role));
    assert_eq!(
        actor(ActorId::System("demo".into()), ActorRole::System),
        "System:system:demo"
    );
    assert_eq!(
        actor(
            ActorId::Kyrgyz("02303201910087".into()),
            ActorRole::Pharmacy
        ),
        "Pharmacy:KG:02303201910087"
    );
    assert_eq!(
        actor(
            ActorId::Person("750612448787".parse().unwrap()),
            ActorRole::Fund
        ),
        "Fund:IIN:750612448787"
    );
}

proptest::proptest! {
    /// The Sequence extension: string order of `sequence` is stream-version order.
    #[test]
    fn sequence_order_is_version_order(first: u64, second: u64) {
        let text = |version: u64| sequence(StreamVersion(version));
        proptest::prop_assert_eq!(text(first).cmp(&text(second)), first.cmp(&second));
        proptest::prop_assert_eq!(text(first).len(), SEQUENCE_DIGITS);
    }
}
