//! Period seals and inclusion proofs with the real binary (issue #15 §1, §2): the demo seals January;
//! `audit verify --period` checks the seals against the log; `audit prove` / `check-proof` show one
//! dispensing is in the sealed period and catch an altered proof; the writer refuses commands on the
//! sealed month (SEAL-01) and seals that are repeated (SEAL-02), early (SEAL-03) or do not match the
//! log (SEAL-04).

mod common;

use chrono::Datelike;

use std::path::Path;

use common::{FUND_BIN, ledger, small_demo, submit};
use ledger::domain::event::Event;
use ledger::log::file::FileLog;
use ledger::log::{EventLog, StreamId, StreamVersion};

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The seal event of `stream` as the log holds it, as JSON.
fn seal_json(data_dir: &Path, stream: &str) -> serde_json::Value {
    let log = FileLog::open_read_only(data_dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let records = runtime
        .block_on(log.read_stream(&StreamId::new(stream).unwrap(), StreamVersion(1)))
        .unwrap();
    let Event::PeriodSealed(sealed) = Event::from_payload(&records[0].body.payload).unwrap() else {
        panic!("{stream} holds a seal");
    };
    serde_json::to_value(sealed).unwrap()
}

fn seal_command(
    id: &str,
    stream: &str,
    seal: &serde_json::Value,
    signature: &serde_json::Value,
) -> String {
    serde_json::json!({
        "command_id": id,
        "stream": stream,
        "actor": {"id": {"Organisation": common::FUND_BIN}, "role": "Fund"},
        "jurisdiction": seal["jurisdiction"],
        "command": {
            "type": "SealPeriod",
            "seal": seal,
            "signature": {
                "key_id": signature["key_id"],
                "signer": signature["signer"],
                "signature_hex": signature["signature_hex"],
            }
        }
    })
    .to_string()
}

fn first_dispensing_id(data_dir: &Path) -> String {
    let history = ledger(
        data_dir,
        &["history", "--period", "2026-01", "--format", "json"],
    );
    assert!(history.status.success(), "{}", text(&history));
    String::from_utf8_lossy(&history.stdout)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|event| {
            let kind = event["type"].as_str().unwrap_or("");
            kind.contains(".DispensingRecorded.v") && event["jurisdiction"] == "KZ"
        })
        .expect("a KZ dispensing in January")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn check_proofs(data_dir: &Path, dir: &Path) {
    let event_id = first_dispensing_id(data_dir);
    let proof_path = dir.join("proof.json");
    let prove = ledger(
        data_dir,
        &[
            "audit",
            "prove",
            "--event",
            &event_id,
            "--out",
            proof_path.to_str().unwrap(),
        ],
    );
    assert!(prove.status.success(), "{}", text(&prove));
    let check = ledger(
        data_dir,
        &["audit", "check-proof", proof_path.to_str().unwrap()],
    );
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("proof: ok"), "{}", text(&check));

    let proof: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof_path).unwrap()).unwrap();
    let tamper = |name: &str, change: &dyn Fn(&mut serde_json::Value), expect: &str| {
        let mut altered = proof.clone();
        change(&mut altered);
        let path = dir.join(format!("proof-{name}.json"));
        std::fs::write(&path, altered.to_string()).unwrap();
        let check = ledger(data_dir, &["audit", "check-proof", path.to_str().unwrap()]);
        assert_eq!(check.status.code(), Some(2), "{name}: {}", text(&check));
        assert!(text(&check).contains(expect), "{name}: {}", text(&check));
    };
    let flip = |hex: &str| {
        let mut chars: Vec<char> = hex.chars().collect();
        let last = chars.len() - 1;
        chars[last] = if chars[last] == '0' { '1' } else { '0' };
        chars.into_iter().collect::<String>()
    };
    tamper(
        "record",
        &|proof| {
            let record = proof["record_hex"].as_str().unwrap().to_owned();
            proof["record_hex"] = flip(&record).into();
        },
        "FAILED  record hash",
    );
    tamper(
        "path",
        &|proof| {
            let node = proof["audit_path"][0].as_str().unwrap().to_owned();
            proof["audit_path"][0] = flip(&node).into();
        },
        "FAILED  inclusion",
    );
    tamper(
        "seal",
        &|proof| {
            proof["seal"]["export_sha256"] = "00".repeat(32).into();
        },
        "FAILED  seal signature",
    );
}

fn check_writer_refusals(data_dir: &Path, dir: &Path) {
    let mut dispensing: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../schemas/commands/examples/RecordDispensing.json"),
        )
        .unwrap(),
    )
    .unwrap();
    dispensing["command_id"] = "0190a000-0000-7000-8000-0000000005e1".into();
    dispensing["stream"] = "period/KZ-001/2026-01".into();
    let sealed = seal_json(data_dir, "seal/KZ/2026-01");
    let again = seal_command(
        "0190a000-0000-7000-8000-0000000005e2",
        "seal/KZ/2026-01",
        &sealed["seal"],
        &sealed["signature"],
    );
    // SEAL-03: the current month, sealed now (not in the future: that is TIME-01, issue #13).
    let now = chrono::Utc::now() - chrono::Duration::minutes(1);
    let first = now.date_naive().with_day(1).unwrap();
    let last = (first + chrono::Months::new(1)).pred_opt().unwrap();
    let mut early = sealed["seal"].clone();
    early["period"] =
        serde_json::json!({"first_day": first.to_string(), "last_day": last.to_string()});
    early["sealed_at"] = now.format("%Y-%m-%dT%H:%M:%SZ").to_string().into();
    let early = seal_command(
        "0190a000-0000-7000-8000-0000000005e3",
        &format!("seal/KZ/{}", first.format("%Y-%m")),
        &early,
        &sealed["signature"],
    );
    let mut wrong = sealed["seal"].clone();
    wrong["period"] = serde_json::json!({"first_day": "2026-02-01", "last_day": "2026-02-28"});
    wrong["sealed_at"] = "2026-03-10T05:00:00Z".into();
    let wrong = seal_command(
        "0190a000-0000-7000-8000-0000000005e4",
        "seal/KZ/2026-02",
        &wrong,
        &sealed["signature"],
    );
    let file = dir.join("after-seal.jsonl");
    std::fs::write(
        &file,
        [dispensing.to_string(), again, early, wrong].join("\n") + "\n",
    )
    .unwrap();
    let (code, output) = submit(data_dir, &file);
    assert_eq!(code, Some(1), "{output}");
    let rejects = std::fs::read_to_string(dir.join("after-seal.rejects.csv")).unwrap();
    let rules: Vec<&str> = rejects
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(
        rules,
        ["SEAL-01", "SEAL-02", "SEAL-03", "SEAL-04"],
        "{rejects}"
    );
    assert!(rejects.contains("seal/KZ/2026-01"), "{rejects}");
}

/// SEAL-01 in the import: a new January row is refused with the rule.
fn check_import_refusal(data_dir: &Path, dir: &Path, world: &ledger_commands::demo::world::World) {
    use ledger_commands::demo::dispense::generate;
    use ledger_commands::import;
    let holder = &world.contracts[0];
    let january = ledger::domain::values::ReportingPeriod::month(2026, 1).unwrap();
    let dispensing = generate(world, holder, january, 900_000).unwrap();
    let file = dir.join("january.csv");
    let mut writer = csv::Writer::from_path(&file).unwrap();
    writer.write_record(import::HEADER).unwrap();
    writer
        .write_record(import::to_row(&holder.contract_id, &dispensing, "0"))
        .unwrap();
    writer.flush().unwrap();
    let output = ledger(
        data_dir,
        &[
            "import",
            "dispensings",
            file.to_str().unwrap(),
            "--fund-bin",
            FUND_BIN,
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let rejects = std::fs::read_to_string(dir.join("january.rejects.csv")).unwrap();
    assert!(rejects.contains("SEAL-01"), "{rejects}");
}

#[test]
fn the_demo_seals_january_and_the_seal_proofs_and_refusals_hold() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, 7);

    let verify = ledger(&data_dir, &["audit", "verify", "--period", "2026-01"]);
    let report = text(&verify);
    assert!(verify.status.success(), "{report}");
    assert!(report.contains("seal seal/KZ/2026-01: ok"), "{report}");
    assert!(report.contains("seal seal/KG/2026-01: ok"), "{report}");

    check_proofs(&data_dir, dir.path());
    check_writer_refusals(&data_dir, dir.path());
    check_import_refusal(&data_dir, dir.path(), &world);

    // The refusals appended nothing: the seals still hold.
    let verify = ledger(&data_dir, &["audit", "verify", "--period", "2026-01"]);
    assert!(verify.status.success(), "{}", text(&verify));
}
