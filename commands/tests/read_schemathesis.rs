//! `schemathesis` (PyPI) against `schemas/openapi.json` and both live services (issue #14 §6): the
//! real `ledger serve` and `ledger read` over HTTPS with the certificates of `ledger pki dev` and a
//! token of its issuer; schemathesis generates requests from the document (valid and invalid ones)
//! and checks every answer: no 5xx, and status, content type, headers and body as declared. The
//! event feed is left out: a feed does not end, so there is no answer to check (`read_feed.rs`
//! reads it with a real client instead).

mod common;
mod read_http;

use std::process::Command;

use read_http::{Service, World};

/// Examples per operation and phase: enough to reach every branch of the parameters' checks, small
/// enough for CI (about a minute on two cores).
const MAX_EXAMPLES: u32 = 10;

fn run(
    world: &World,
    service: &Service,
    include: &[&str],
    name: &str,
    schemas: &std::path::Path,
) -> (bool, String) {
    let pki = |name: &str| world.pki(name).to_str().unwrap().to_owned();
    let out = world.dir.path().join(name);
    let config = serde_json::json!({
        "url": format!("https://localhost:{}", service.port()),
        "ca": pki("ca.pem"),
        "cert": pki("clients/fund.pem"),
        "key": pki("clients/fund-key.pem"),
        "token": world.token("fund-operator"),
        "include": include,
        "max_examples": MAX_EXAMPLES,
        "out": out.to_str().unwrap(),
    });
    let path = world.dir.path().join(format!("{name}.json"));
    std::fs::write(&path, config.to_string()).unwrap();
    let output = Command::new(common::python::python_http())
        .arg(common::python::scripts().join("schemathesis_run.py"))
        .arg(schemas)
        .arg(&path)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), report)
}

fn passes(world: &World, service: &Service, include: &[&str], name: &str) {
    let (ok, report) = run(world, service, include, name, &common::python::schemas());
    assert!(ok, "schemathesis found problems on {name}:\n{report}");
    assert!(
        report.contains(" passed") && !report.contains(" failed"),
        "{report}"
    );
}

/// A copy of `schemas/` whose registry schema requires a field no answer has.
fn broken_schemas(world: &World) -> std::path::PathBuf {
    let broken = world.dir.path().join("broken-schemas");
    std::fs::create_dir(&broken).unwrap();
    let schemas = common::python::schemas();
    for entry in [
        "openapi.json",
        "cloudevent.schema.json",
        "events",
        "commands",
    ] {
        std::os::unix::fs::symlink(schemas.join(entry), broken.join(entry)).unwrap();
    }
    std::fs::create_dir(broken.join("read")).unwrap();
    for entry in std::fs::read_dir(schemas.join("read")).unwrap() {
        let entry = entry.unwrap();
        let mut schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap();
        if entry.file_name() == "registry.schema.json" {
            schema["required"]
                .as_array_mut()
                .unwrap()
                .push("no_such_field".into());
        }
        std::fs::write(
            broken.join("read").join(entry.file_name()),
            schema.to_string(),
        )
        .unwrap();
    }
    broken
}

#[test]
fn schemathesis_finds_every_answer_of_both_services_as_declared() {
    let world = World::new();
    let reader = world.reader(
        &world.dir.path().join("read-views"),
        &["--wait-max-seconds", "1"],
    );
    let writer = world.writer();
    let reads = [
        "/v1/contracts",
        "/v1/contracts/{contract}",
        "/v1/registries/{contract}/{period}",
        "/v1/acts/{contract}/{period}",
        "/v1/deadlines",
        "/v1/budgets/{country}/{year}",
        "/v1/history",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    passes(&world, &reader, &reads, "reader");
    passes(&world, &writer, &ledger_commands::serve::ROUTES, "writer");
    // The checks bite: a registry schema that asks for a field the answer lacks is caught.
    let registries = ["/v1/registries/{contract}/{period}"];
    let (ok, report) = run(
        &world,
        &reader,
        &registries,
        "broken",
        &broken_schemas(&world),
    );
    assert!(
        !ok && report.contains("Response violates schema"),
        "{report}"
    );
}
