//! `schemas/openapi.json` (OpenAPI 3.1, issue #14 §4) and the views' answer schemas in
//! `schemas/read/` are generated from the code (`ledger_commands::read::openapi`) and equal the
//! checked-in files; `openapi-spec-validator` from PyPI accepts the document (and refuses a broken
//! one). Regenerate with `UPDATE_GOLDEN=1 cargo test -p ledger-commands --test openapi`; the diff
//! must show in review.

mod common;

use std::path::Path;
use std::process::Command;

use common::python;
use ledger_commands::read::openapi;

fn pretty(value: &serde_json::Value) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(value).unwrap();
    text.push('\n');
    text.into_bytes()
}

fn check_golden(relative: &str, actual: &[u8]) {
    let path = python::schemas().join(relative);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from what the code generates.\n--- checked in\n{}\n--- generated\n{}\nIf the API change is deliberate, say so in review and run UPDATE_GOLDEN=1.",
        path.display(),
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual)
    );
}

#[test]
fn openapi_and_the_answer_schemas_are_generated_from_the_code() {
    check_golden("openapi.json", &pretty(&openapi::document()));
    let schemas = openapi::answer_schemas();
    for (name, schema) in &schemas {
        check_golden(&format!("read/{name}"), &pretty(schema));
    }
    // No stale file: every schema in schemas/read is one the code generates.
    for entry in std::fs::read_dir(python::schemas().join("read")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            schemas.iter().any(|(generated, _)| *generated == name),
            "stale {name}"
        );
    }
}

/// Every operation of the document names a route of one of the services, and the reader's routes
/// are all described: what the document says exists is what the code serves.
#[test]
fn the_document_describes_the_routes_of_both_services() {
    let document = openapi::document();
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    let described: std::collections::BTreeSet<&str> =
        paths.iter().map(|path| path.as_str()).collect();
    let served: std::collections::BTreeSet<&str> = ledger_commands::read::ROUTES
        .iter()
        .chain(ledger_commands::serve::ROUTES.iter())
        .copied()
        .collect();
    assert_eq!(described, served);
}

fn validate(python: &Path, dir: &Path) -> (bool, String) {
    let output = Command::new(python)
        .arg(python::scripts().join("validate_openapi.py"))
        .arg(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn openapi_spec_validator_accepts_the_document_and_refuses_a_broken_one() {
    let python = python::python_http();
    let schemas = python::schemas();
    let (ok, text) = validate(&python, &schemas);
    assert!(ok && text.contains(" passed, 0 failed"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    for entry in ["cloudevent.schema.json", "events", "commands", "read"] {
        std::os::unix::fs::symlink(schemas.join(entry), dir.path().join(entry)).unwrap();
    }
    let mut broken = openapi::document();
    broken["paths"]["/v1/events"]["get"]["parameters"][0]["in"] = "body".into();
    std::fs::write(dir.path().join("openapi.json"), pretty(&broken)).unwrap();
    let (ok, text) = validate(&python, dir.path());
    assert!(
        !ok && text.contains("FAIL openapi-spec-validator"),
        "{text}"
    );
}
