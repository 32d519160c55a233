//! The JSON command contract (STYLE §2.8, docs/commands.md): the JSON Schemas generated from the wire
//! types equal the checked-in files under `schemas/commands/`, and every checked-in example parses and
//! prints back byte for byte. Regenerate with `UPDATE_GOLDEN=1 cargo test -p ledger-commands --test
//! submit_schema`; the diff must show in review.

use std::path::{Path, PathBuf};

use ledger_commands::serve::Accepted;
use ledger_commands::submit::Refusal;
use ledger_commands::submit::wire::{CommandEnvelope, WireCommand};

fn commands_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/commands")
}

fn pretty_json(value: &impl serde::Serialize) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(value).expect("serialise to JSON");
    text.push('\n');
    text.into_bytes()
}

/// Compares `actual` with the checked-in file, or rewrites it under `UPDATE_GOLDEN=1`.
fn check_golden(relative: &str, actual: &[u8]) {
    let path = commands_dir().join(relative);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
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
        "{} differs from the generated output.\n--- checked in\n{}\n--- generated\n{}\nIf the wire change is deliberate, say so in review and run UPDATE_GOLDEN=1.",
        path.display(),
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual)
    );
}

#[test]
fn command_schemas_match_checked_in() {
    check_golden(
        "command.schema.json",
        &pretty_json(&schemars::schema_for!(CommandEnvelope)),
    );
    check_golden(
        "accepted.schema.json",
        &pretty_json(&schemars::schema_for!(Accepted)),
    );
    check_golden(
        "refusal.schema.json",
        &pretty_json(&schemars::schema_for!(Refusal)),
    );
}

/// Each example is named after its command type, parses, and prints back as checked in.
#[test]
fn examples_parse_and_round_trip() {
    let mut seen = 0;
    for entry in std::fs::read_dir(commands_dir().join("examples")).expect("examples folder") {
        let path = entry.expect("directory entry").path();
        let text = std::fs::read(&path).expect("read example");
        let envelope = CommandEnvelope::parse(&text)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let stem = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("");
        assert_eq!(envelope.command.type_name(), stem, "{}", path.display());
        assert!(WireCommand::TYPES.contains(&stem));
        check_golden(&format!("examples/{stem}.json"), &pretty_json(&envelope));
        seen += 1;
    }
    assert!(seen >= 7, "the examples cover every aggregate");
}

/// A shape error names the field inside the command by its path, and an unknown field is refused
/// rather than ignored.
#[test]
fn shape_errors_name_the_field() {
    let text = std::fs::read_to_string(commands_dir().join("examples/ReceiveRegistry.json"))
        .expect("example");
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    value["command"]["received_at"] = "yesterday".into();
    let error = CommandEnvelope::parse(value.to_string().as_bytes()).unwrap_err();
    assert_eq!(error.field, "command.received_at");

    let mut value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    value["command"]["recieved_at"] = "2026-03-02T09:00:00Z".into();
    let error = CommandEnvelope::parse(value.to_string().as_bytes()).unwrap_err();
    assert!(error.message.contains("recieved_at"), "{error}");

    let mut value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    value.as_object_mut().expect("object").remove("command_id");
    let error = CommandEnvelope::parse(value.to_string().as_bytes()).unwrap_err();
    assert!(error.message.contains("command_id"), "{error}");
}

mod round_trip {
    use ledger::domain::jurisdiction::Jurisdiction;
    use ledger::domain::values::ReportingPeriod;
    use ledger::log::{Actor, ActorId, ActorRole, CommandId, StreamId, StreamVersion};
    use ledger_commands::demo::dispense::generate;
    use ledger_commands::demo::world::World;
    use ledger_commands::submit::wire::{CommandEnvelope, WireCommand};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any dispensing the demo can generate survives JSON and back unchanged, so nothing a client
        /// sends is lost or altered between the wire and the domain (P-08, A-36: exact decimals).
        #[test]
        fn any_dispensing_round_trips(
            contract in 0usize..8,
            index in 0u64..1_000_000,
            expected in proptest::option::of(0u64..1_000),
        ) {
            let world = World::generate(7, 8, 3, 2_000);
            let holder = &world.contracts[contract];
            let period = ReportingPeriod::month(2026, 3).unwrap();
            let dispensing = generate(&world, holder, period, index).unwrap();
            let envelope = CommandEnvelope {
                command_id: CommandId::derived("round-trip", &format!("{contract}/{index}")),
                stream: StreamId::new(format!("period/{}/2026-03", holder.contract_id)).unwrap(),
                actor: Actor::new(ActorId::Organisation(dispensing.dispenser_bin), ActorRole::Pharmacy),
                jurisdiction: Jurisdiction::KZ,
                occurred_at: Some(dispensing.dispensed_at),
                correlation_id: None,
                expected_version: expected.map(StreamVersion),
                command: WireCommand::RecordDispensing(Box::new(dispensing)),
            };
            let text = serde_json::to_vec(&envelope).unwrap();
            prop_assert_eq!(CommandEnvelope::parse(&text).unwrap(), envelope);
        }
    }
}
