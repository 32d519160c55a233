//! `ledger log stats|tail|verify` and `ledger bench append` run as the real binary against a log
//! written through `FileLog` (issue #3 §6 and §8).

use std::path::Path;
use std::process::{Command, Output};

use ledger::log::EventLog;
use ledger::log::file::{FileLog, FileLogOptions};
use ledger::log::testkit::{command, request, sample_event};

fn ledger(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("the ledger binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes 3 events to `contract/C-1` and 2 to `budget/KZ/GOBMP/2026` on a 2-partition log.
fn write_log(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let options = FileLogOptions {
            partitions: 2,
            ..FileLogOptions::default()
        };
        let log = FileLog::open(dir, options).unwrap();
        let events = (0..3).map(|seed| sample_event(seed, 40)).collect();
        log.append(request("contract/C-1", 0, command("c1"), events))
            .await
            .unwrap();
        for version in 0..2 {
            let events = vec![sample_event(10 + version, 20)];
            let name = format!("b{version}");
            log.append(request(
                "budget/KZ/GOBMP/2026",
                version,
                command(&name),
                events,
            ))
            .await
            .unwrap();
        }
    });
}

#[test]
fn stats_tail_and_verify_on_a_healthy_log() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path());
    let stats = ledger(dir.path(), &["log", "stats", "--format", "json"]);
    assert!(stats.status.success(), "{stats:?}");
    let document: serde_json::Value = serde_json::from_str(stdout(&stats).trim()).unwrap();
    assert_eq!(document["records"], 5);
    assert_eq!(document["streams"], 2);
    assert_eq!(document["commands"], 3);
    assert_eq!(document["partitions"].as_array().unwrap().len(), 2);

    // JSON is the public form (a CloudEvent, tested in public_cli.rs): records whose payload this
    // build cannot decode have none, and the error names the first one and the way out.
    let tail = ledger(dir.path(), &["log", "tail", "--format", "json"]);
    assert_eq!(tail.status.code(), Some(2), "{tail:?}");
    let stderr = String::from_utf8_lossy(&tail.stderr);
    assert!(
        stderr.contains("TestkitEvent v1") && stderr.contains("has no public form"),
        "{stderr}"
    );
    assert!(stderr.contains("--format text"), "{stderr}");

    let partition = ledger::log::partition_of(&"contract/C-1".parse().unwrap(), 2);
    let from = format!("{}:1", partition.0);
    let text = ledger(
        dir.path(),
        &["log", "tail", "--from", &from, "--limit", "1"],
    );
    let text = stdout(&text);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with(&format!("{from} contract/C-1@2 TestkitEvent v1 ")),
        "{text}"
    );

    let verify = ledger(dir.path(), &["log", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{verify:?}");
    assert!(
        stdout(&verify).contains("verdict: ok (5 records in 2 partitions)"),
        "{}",
        stdout(&verify)
    );
}

#[test]
fn verify_reports_a_flipped_byte_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path());
    let partition = ledger::log::partition_of(&"contract/C-1".parse().unwrap(), 2);
    let segment =
        ledger::log::file::partition_dir(dir.path(), partition).join(format!("{:020}.seg", 0));
    let mut bytes = std::fs::read(&segment).unwrap();
    // The header is 32 bytes and the first frame starts right after it; damage the first record's body.
    bytes[32 + 8 + 10] ^= 0x20;
    std::fs::write(&segment, bytes).unwrap();
    let verify = ledger(dir.path(), &["log", "verify"]);
    assert_eq!(verify.status.code(), Some(2), "{verify:?}");
    let text = stdout(&verify);
    assert!(
        text.contains(&format!(
            "verdict: DAMAGED: first bad position {}:0",
            partition.0
        )),
        "{text}"
    );
    assert!(text.contains("CRC-32C mismatch"), "{text}");
}

#[test]
fn a_missing_log_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = ledger(&dir.path().join("nothing"), &["log", "stats"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no event log in") && stderr.contains("--data-dir"),
        "{stderr}"
    );
}

#[test]
fn bench_append_prints_the_summary_line_last() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "append",
        "--events",
        "2000",
        "--concurrency",
        "16",
        "--dir",
    ];
    let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .arg(dir.path())
        .output()
        .expect("the ledger binary runs");
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let last = text.lines().last().unwrap();
    let fields: Vec<&str> = last.split(' ').collect();
    assert_eq!(fields[0], "append:", "{last}");
    assert!(
        fields[1]
            .strip_prefix("ledger=")
            .unwrap()
            .parse::<u64>()
            .is_ok(),
        "{last}"
    );
    assert!(
        fields[2]
            .strip_prefix("raw=")
            .unwrap()
            .parse::<u64>()
            .is_ok(),
        "{last}"
    );
    let ratio = fields[3].strip_prefix("ratio=").unwrap();
    assert_eq!(ratio.split('.').nth(1).map(str::len), Some(2), "{last}");
}

/// `--tasks` spreads the same in-flight appends over fewer tasks; every event is still appended once,
/// on its own stream, and the log it leaves behind verifies.
#[test]
fn bench_append_spreads_streams_over_fewer_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["bench", "append", "--events", "1003", "--concurrency", "10"])
        .args(["--tasks", "3", "--events-per-append", "2", "--dir"])
        .arg(dir.path())
        .output()
        .expect("the ledger binary runs");
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(
            "ledger: 1003 events (300 B payload, 2 per append, 1 command per call, 10 in flight over 3 tasks"
        ),
        "{text}"
    );
}

#[test]
fn bench_append_refuses_more_tasks_than_streams() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["bench", "append", "--events", "10", "--concurrency", "2"])
        .args(["--tasks", "3", "--dir"])
        .arg(dir.path())
        .output()
        .expect("the ledger binary runs");
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--tasks 3") && stderr.contains("--concurrency 2"),
        "{stderr}"
    );
}

/// `bench project`, `bench export` and `bench feed` measure on one generated month (`cli/bench_month`):
/// each ends with its `<name>: ledger=<n> raw=<n> ratio=<x.xx>` line and leaves no work directory.
#[test]
fn the_month_benches_end_with_their_ratio_lines_and_clean_up() {
    for name in ["project", "export", "feed"] {
        let child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(["bench", name, "--events", "1200", "--per-contract", "400"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the ledger binary runs");
        let work_dir = std::env::temp_dir().join(format!("ledger-bench-{name}-{}", child.id()));
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{name}: {output:?}");
        let text = stdout(&output);
        let last = text.lines().last().unwrap_or_default();
        let fields: Vec<&str> = last.split(' ').collect();
        assert_eq!(fields.len(), 4, "{name}: {last}");
        assert_eq!(fields[0], format!("{name}:"), "{last}");
        for (field, prefix) in fields[1..3].iter().zip(["ledger=", "raw="]) {
            let value = field
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{last}"));
            assert!(value.parse::<u64>().is_ok_and(|rate| rate > 0), "{last}");
        }
        let ratio = fields[3].strip_prefix("ratio=").unwrap();
        assert_eq!(ratio.split('.').nth(1).map(str::len), Some(2), "{last}");
        assert!(
            !work_dir.exists(),
            "{name} left {} behind",
            work_dir.display()
        );
    }
}
