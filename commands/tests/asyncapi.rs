//! `schemas/asyncapi.yaml` (AsyncAPI 3.0, issue #14) is checked against the code it describes (topic
//! names, routing headers, content type, payload schema, topic settings) and validated by tools from
//! PyPI (`asyncapi3`, `jsonschema`) in a virtual environment the test creates.
#![cfg(feature = "kafka")]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use common::python;
use ledger::log::kafka::{
    HEADER_CONTENT_TYPE, HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION,
    HEADER_STREAM_ID, HEADER_STREAM_VERSION, KafkaConfig,
};
use ledger::public::{CLOUD_EVENT_SCHEMA_ID, CONTENT_TYPE};
use serde_norway::Value;

fn document() -> Value {
    let path = python::schemas().join("asyncapi.yaml");
    serde_norway::from_str(&std::fs::read_to_string(&path).expect("schemas/asyncapi.yaml"))
        .expect("asyncapi.yaml parses")
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

fn names(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Mapping(map) => map.keys().map(text).collect(),
        Value::Sequence(items) => items.iter().map(text).collect(),
        other => panic!("expected a mapping or sequence, got {other:?}"),
    }
}

#[test]
fn the_document_describes_what_the_writer_produces() {
    let document = document();
    let defaults = KafkaConfig::from_url("kafka://broker:9092").unwrap();
    for (channel, topic) in [
        ("events", defaults.events_topic()),
        ("publicEvents", defaults.public_topic_name()),
    ] {
        let channel = &document["channels"][channel];
        let prefix = text(&channel["parameters"]["prefix"]["default"]);
        assert_eq!(
            text(&channel["address"]).replace("{prefix}", &prefix),
            topic
        );
        let kafka = &channel["bindings"]["kafka"];
        assert_eq!(
            text(&kafka["partitions"]),
            defaults.partitions.to_string(),
            "the default partition count"
        );
        assert_eq!(text(&kafka["topicConfiguration"]["retention.ms"]), "-1");
    }
    let routing = &document["components"]["schemas"]["routingHeaders"];
    let headers: BTreeSet<String> = [
        HEADER_EVENT_TYPE,
        HEADER_SCHEMA_VERSION,
        HEADER_EVENT_ID,
        HEADER_STREAM_ID,
        HEADER_STREAM_VERSION,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(names(&routing["properties"]), headers);
    assert_eq!(names(&routing["required"]), headers);
    let message = &document["components"]["messages"]["cloudEvent"];
    assert_eq!(text(&document["defaultContentType"]), CONTENT_TYPE);
    assert_eq!(text(&message["contentType"]), CONTENT_TYPE);
    let content_type = &message["headers"]["allOf"][1]["properties"][HEADER_CONTENT_TYPE];
    assert_eq!(text(&content_type["const"]), CONTENT_TYPE);
    let payload = text(&message["payload"]["schema"]["$ref"]);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(python::schemas().join(&payload)).expect("the payload schema"),
    )
    .unwrap();
    assert_eq!(schema["$id"], CLOUD_EVENT_SCHEMA_ID);
}

/// The feed channel is the reader's route, carrying the one public form.
#[test]
fn the_feed_channel_is_the_reader_route() {
    let document = document();
    let feed = &document["channels"]["feed"];
    assert_eq!(text(&feed["address"]), ledger_commands::read::ROUTES[0]);
    assert_eq!(text(&document["servers"]["reader"]["protocol"]), "https");
    let message = &document["components"]["messages"]["sseEvent"];
    assert_eq!(text(&message["contentType"]), CONTENT_TYPE);
    assert_eq!(
        text(&message["payload"]["schema"]["$ref"]),
        text(&document["components"]["messages"]["cloudEvent"]["payload"]["schema"]["$ref"])
    );
    let description = text(&feed["description"]);
    assert!(description.contains(ledger_commands::read::feed::SSE));
    assert!(description.contains(ledger_commands::read::feed::NDJSON));
    assert!(description.contains("Last-Event-ID"));
}

fn run(python: &PathBuf, script: &str, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let output = Command::new(python)
        .arg(python::scripts().join(script))
        .args(args)
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn asyncapi3_and_jsonschema_validate_the_documents() {
    let python = python::python();
    let schemas = python::schemas();
    let (ok, text) = run(&python, "validate_asyncapi.py", &[schemas.as_os_str()]);
    assert!(ok && text.contains(" passed, 0 failed"), "{text}");
    // The validator refuses a broken document (so the pass above means something).
    let dir = tempfile::tempdir().unwrap();
    for entry in ["cloudevent.schema.json", "events", "golden"] {
        let target = dir.path().join(entry);
        std::os::unix::fs::symlink(schemas.join(entry), target).unwrap();
    }
    let broken = std::fs::read_to_string(schemas.join("asyncapi.yaml"))
        .unwrap()
        .replace("action: receive", "action: consume");
    std::fs::write(dir.path().join("asyncapi.yaml"), broken).unwrap();
    let (ok, text) = run(&python, "validate_asyncapi.py", &[dir.path().as_os_str()]);
    assert!(
        !ok && text.contains("FAIL asyncapi3 accepts the document"),
        "{text}"
    );
}
