//! Clocks from the calendar and the deadline watcher (issue #17), with the real binary: a small demo
//! closes January, and no contract ever submits February. February's registry clock exists from the
//! day February ends, is overdue the day after its due date in `ledger deadlines` and `ledger
//! contracts`, and `ledger watch` records its breach once (across restarts, and under any command id)
//! with the D-02 termination ground.

mod common;

use std::path::Path;

use common::{FUND_BIN, ledger, small_demo, submit};
use ledger::domain::event::Event;
use ledger::log::file::FileLog;
use ledger::log::{EventLog, StreamId, StreamVersion};

const SEED: u64 = 17;
const FEBRUARY: &str = "period/KZ-001/2026-02";

fn stdout(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "ledger failed ({:?}): {}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The event types of `stream`, in order.
fn event_types(data_dir: &Path, stream: &str) -> Vec<String> {
    let log = FileLog::open_read_only(data_dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let records = runtime
        .block_on(log.read_stream(&StreamId::new(stream).unwrap(), StreamVersion(1)))
        .unwrap();
    records
        .iter()
        .map(|record| record.body.payload.event_type.clone())
        .collect()
}

fn overdue_february(data_dir: &Path, as_of: &str) -> Vec<serde_json::Value> {
    let text = stdout(ledger(
        data_dir,
        &[
            "deadlines",
            "--as-of",
            as_of,
            "--overdue",
            "--contract",
            "KZ-001",
            "--format",
            "json",
        ],
    ));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    rows.into_iter()
        .filter(|row| row["rule"] == "REGISTRY_SUBMISSION" && row["period"] == "2026-02")
        .collect()
}

fn watch(data_dir: &Path, as_of: &str) -> String {
    stdout(ledger(
        data_dir,
        &["watch", "--as-of", as_of, "--fund-bin", FUND_BIN],
    ))
}

#[test]
fn d02_a_registry_never_submitted_is_overdue_breached_once_and_a_ground() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    small_demo(&data_dir, SEED);

    // February's registry is due 25 March 2026, rolled to the 26th (KZ calendar v2).
    assert!(
        overdue_february(&data_dir, "2026-03-26").is_empty(),
        "due, not overdue, on the 26th"
    );
    let overdue = overdue_february(&data_dir, "2026-03-27");
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert_eq!(overdue[0]["party"], "pharmacy");
    assert_eq!(overdue[0]["due"], "2026-03-26");
    assert_eq!(overdue[0]["started_on"], "2026-02-28");
    assert!(overdue[0]["stopped_by"].is_null());

    let early = watch(&data_dir, "2026-03-26");
    assert!(!early.contains("KZ-001"), "{early}");
    assert!(
        event_types(&data_dir, FEBRUARY).is_empty(),
        "nothing breached yet"
    );

    let first = watch(&data_dir, "2026-03-27");
    assert!(
        first.contains("REGISTRY_SUBMISSION  pharmacy KZ-001"),
        "{first}"
    );
    assert!(first.contains("0 refused"), "{first}");
    assert_eq!(
        event_types(&data_dir, FEBRUARY),
        ["DeadlineBreached", "TerminationGroundDetected"]
    );

    // A restart: the view knows the breach, and the derived command id is the same anyway.
    let again = watch(&data_dir, "2026-04-02");
    assert!(again.contains("0 breaches recorded"), "{again}");
    assert_eq!(event_types(&data_dir, FEBRUARY).len(), 2, "recorded once");

    refused_under_another_id(dir.path(), &data_dir);
    contracts_show_the_ground_and_the_overdue_registry(&data_dir);
    let breach = history_breach(&data_dir);
    assert_eq!(breach["deadline"]["due"], "2026-03-26");
    assert_eq!(breach["obliged"], "ContractHolder");
}

/// The breach event as the history prints it (the public JSON of the fact).
fn history_breach(data_dir: &Path) -> serde_json::Value {
    let text = stdout(ledger(
        data_dir,
        &["history", "--contract", "KZ-001", "--format", "json"],
    ));
    let line = text
        .lines()
        .find(|line| line.contains(".DeadlineBreached.v"))
        .expect("the breach is in the history");
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    // The watcher acts as the local operator (the Fund's BIN), in the role the policy gives it for
    // this command (issue #13).
    assert_eq!(value["actor"], format!("Fund:BIN:{FUND_BIN}"));
    let payload = value["data"].clone();
    let event: Event = serde_json::from_value(serde_json::json!({ "DeadlineBreached": payload }))
        .expect("the printed payload is the event's JSON");
    assert!(matches!(event, Event::DeadlineBreached(_)));
    payload
}

/// The same breach under another command id is refused by the domain, naming the clock.
fn refused_under_another_id(dir: &Path, data_dir: &Path) {
    // The same breach under another command id is refused by the domain, naming the clock.
    let file = dir.join("breach.jsonl");
    let command = serde_json::json!({
        "command_id": "0191b0c2-7a2e-7d4c-9d1e-2f00000000aa",
        "stream": FEBRUARY,
        "jurisdiction": "KZ",
        "command": {
            "type": "RecordDeadlineBreach",
            "rule": "REGISTRY_SUBMISSION",
            "observed_at": "2026-04-03T10:00:00Z"
        }
    });
    std::fs::write(&file, format!("{command}\n")).unwrap();
    let (code, text) = submit(data_dir, &file);
    assert_eq!(code, Some(1), "{text}");
    let rejects = std::fs::read_to_string(dir.join("breach.rejects.csv")).unwrap();
    assert!(rejects.contains("D-02"), "{rejects}");
    assert!(
        rejects.contains("recorded as breached already"),
        "{rejects}"
    );
    assert_eq!(event_types(data_dir, FEBRUARY).len(), 2);
}

/// `ledger contracts --as-of` shows the D-02 ground and the overdue registry with its breach.
fn contracts_show_the_ground_and_the_overdue_registry(data_dir: &Path) {
    let contracts = stdout(ledger(
        data_dir,
        &["contracts", "--as-of", "2026-03-27", "--format", "json"],
    ));
    let contracts: Vec<serde_json::Value> = serde_json::from_str(&contracts).unwrap();
    let kz001 = contracts
        .iter()
        .find(|contract| contract["record"]["contract_id"] == "KZ-001")
        .expect("KZ-001 is listed");
    let grounds = kz001["record"]["grounds"].as_array().unwrap();
    assert!(
        grounds
            .iter()
            .any(|ground| ground["finding"]["rule"] == "D-02"
                && ground["ground"] == "REGISTRY_SUBMISSION"),
        "{grounds:?}"
    );
    let overdue = kz001["overdue"].as_array().unwrap();
    assert!(
        overdue
            .iter()
            .any(|clock| clock["rule"] == "REGISTRY_SUBMISSION"
                && clock["period"] == "2026-02"
                && !clock["breached_at"].is_null()),
        "{overdue:?}"
    );
}
