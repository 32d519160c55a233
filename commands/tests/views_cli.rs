//! The query, project and replay commands on a real log (issue #6), running the `ledger` binary on a
//! small generated log appended through `FileLog`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ledger::domain::event::Event;
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use projector::views::sample::{self, SampleConfig};

const CONFIG: SampleConfig = SampleConfig {
    seed: 7,
    contracts: 3,
    periods: 2,
    dispensings_per_period: 40,
    lifecycle: true,
};

/// A data directory holding the sample log.
fn data_dir(config: SampleConfig) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = FileLogOptions {
        partitions: 4,
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let log = FileLog::open(dir.path(), options).expect("log");
        let bar = indicatif::ProgressBar::hidden();
        ledger_commands::project::write_sample_log(&log, config, &bar)
            .await
            .expect("sample log");
    });
    dir
}

fn ledger(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("run ledger")
}

fn stdout(output: Output) -> String {
    assert!(
        output.status.success(),
        "ledger failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The live dispensings of one contract and period, by a plain fold of the generated events.
fn live_dispensings(config: SampleConfig, contract: &str, period: &str) -> usize {
    let mut live = std::collections::BTreeSet::new();
    for sample in sample::events(config) {
        match sample.event {
            Event::DispensingRecorded(e)
                if e.contract_id.as_str() == contract && e.period.key() == period =>
            {
                live.insert(e.dispensing_id);
            }
            Event::DispensingReversed(e)
                if e.contract_id.as_str() == contract && e.period.key() == period =>
            {
                live.remove(&e.dispensing_id);
            }
            _ => {}
        }
    }
    live.len()
}

#[test]
fn registry_show_prints_every_live_dispensing_in_every_format() {
    let data = data_dir(CONFIG);
    let show = |format: &str| {
        stdout(ledger(
            data.path(),
            &[
                "registry",
                "show",
                "--contract",
                "C-00001",
                "--period",
                "2026-02",
                "--format",
                format,
            ],
        ))
    };
    let csv = show("csv");
    let expected = live_dispensings(CONFIG, "C-00001", "2026-02");
    assert!(expected > 0);
    assert_eq!(
        csv.lines().count(),
        expected + 1,
        "header plus one row per live dispensing"
    );
    assert!(csv.starts_with("№ п/п,"), "Appendix 1 Russian headers");
    let json: serde_json::Value = serde_json::from_str(&show("json")).expect("JSON");
    assert_eq!(
        json["form"]["lines"].as_array().expect("lines").len(),
        expected
    );
    assert_eq!(json["form"]["status"], "approved");
    assert!(show("html").contains("<html"));
    assert!(show("table").contains("status approved"));
}

#[test]
fn act_show_lists_rows_total_and_payments() {
    let data = data_dir(CONFIG);
    let json = stdout(ledger(
        data.path(),
        &[
            "act",
            "show",
            "--contract",
            "C-00000",
            "--period",
            "2026-01",
            "--format",
            "json",
        ],
    ));
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(json["form"]["status"], "paid");
    assert!(!json["payments"].as_array().expect("payments").is_empty());
    assert_eq!(json["total"], json["paid_total"]);
    let csv = stdout(ledger(
        data.path(),
        &[
            "act",
            "show",
            "--contract",
            "C-00000",
            "--period",
            "2026-01",
            "--format",
            "csv",
        ],
    ));
    assert!(csv.starts_with("№ п/п,Регион,"));
}

#[test]
fn project_prints_a_summary_and_then_has_nothing_left() {
    let data = data_dir(CONFIG);
    let first = stdout(ledger(data.path(), &["project"]));
    assert!(
        first.starts_with("projected ") && !first.starts_with("projected 0 events"),
        "{first}"
    );
    let second = stdout(ledger(data.path(), &["project"]));
    assert!(second.starts_with("projected 0 events"), "{second}");
}

fn replay(data: &Path, into: &Path, args: &[&str]) {
    let mut all = vec!["replay"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--into", into.to_str().expect("UTF-8 path")]);
    stdout(ledger(data, &all));
}

fn export(data: &Path, views: &Path, what: &str, period: &str, format: &str) -> Vec<u8> {
    let views = views.to_str().expect("UTF-8 path");
    let output = ledger(
        data,
        &[
            what,
            "show",
            "--contract",
            "C-00002",
            "--period",
            period,
            "--format",
            format,
            "--views",
            views,
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn replay_is_deterministic_byte_for_byte() {
    let data = data_dir(CONFIG);
    let scratch = tempfile::tempdir().expect("temp dir");
    let (one, two): (PathBuf, PathBuf) = (scratch.path().join("one"), scratch.path().join("two"));
    replay(data.path(), &one, &["--until", "2100-01-01T00:00:00Z"]);
    replay(data.path(), &two, &["--until", "2100-01-01T00:00:00Z"]);
    for (what, format) in [
        ("registry", "csv"),
        ("registry", "html"),
        ("act", "csv"),
        ("act", "html"),
    ] {
        let first = export(data.path(), &one, what, "2026-01", format);
        let second = export(data.path(), &two, what, "2026-01", format);
        assert!(!first.is_empty());
        assert_eq!(first, second, "{what} {format} differs between two replays");
    }
    // The live views, caught up from the same log, export the same bytes.
    let live = stdout(ledger(
        data.path(),
        &[
            "registry",
            "show",
            "--contract",
            "C-00002",
            "--period",
            "2026-01",
            "--format",
            "csv",
        ],
    ));
    assert_eq!(
        live.into_bytes(),
        export(data.path(), &one, "registry", "2026-01", "csv")
    );
}

#[test]
fn replay_of_a_period_holds_only_that_month() {
    let data = data_dir(CONFIG);
    let scratch = tempfile::tempdir().expect("temp dir");
    let into = scratch.path().join("february");
    replay(data.path(), &into, &["--period", "2026-02"]);
    let february = export(data.path(), &into, "registry", "2026-02", "csv");
    let live = stdout(ledger(
        data.path(),
        &[
            "registry",
            "show",
            "--contract",
            "C-00002",
            "--period",
            "2026-02",
            "--format",
            "csv",
        ],
    ));
    assert_eq!(february, live.into_bytes());
    let views = into.to_str().expect("UTF-8 path");
    let january = ledger(
        data.path(),
        &[
            "registry",
            "show",
            "--contract",
            "C-00002",
            "--period",
            "2026-01",
            "--views",
            views,
        ],
    );
    assert_eq!(
        january.status.code(),
        Some(2),
        "January is not in a February replay"
    );
}

#[test]
fn replay_until_a_position_and_refuses_the_live_views() {
    let data = data_dir(CONFIG);
    let scratch = tempfile::tempdir().expect("temp dir");
    replay(
        data.path(),
        &scratch.path().join("cut"),
        &["--until", "0:10,1:10,2:10,3:10"],
    );
    let live = data.path().join("views");
    stdout(ledger(data.path(), &["project"]));
    let refused = ledger(
        data.path(),
        &[
            "replay",
            "--until",
            "0:1",
            "--into",
            live.to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn deadlines_budget_and_contracts_answer_in_json() {
    let data = data_dir(CONFIG);
    let clocks = stdout(ledger(
        data.path(),
        &["deadlines", "--as-of", "2026-06-30", "--format", "json"],
    ));
    let clocks: serde_json::Value = serde_json::from_str(&clocks).expect("JSON");
    let clocks = clocks.as_array().expect("array");
    assert!(clocks.iter().any(|clock| clock["rule"] == "PAYMENT"));
    assert!(
        clocks
            .iter()
            .filter(|clock| clock["status"].get("running").is_some()
                || clock["status"].get("overdue").is_some())
            .all(|clock| clock["rule"] == "REGISTRY_SUBMISSION" && clock["stopped_by"].is_null()),
        "every clock of the generated periods stopped by June; only the registries of the months \
         after them, which nobody submitted, still run (D-02): {clocks:?}"
    );
    assert!(
        clocks
            .iter()
            .any(|clock| clock["rule"] == "REGISTRY_SUBMISSION"
                && clock["status"].get("overdue").is_some()),
        "a month in force with no registry is overdue"
    );
    let pharmacy = stdout(ledger(
        data.path(),
        &[
            "deadlines",
            "--as-of",
            "2026-06-30",
            "--party",
            "pharmacy",
            "--format",
            "json",
        ],
    ));
    let pharmacy: serde_json::Value = serde_json::from_str(&pharmacy).expect("JSON");
    assert!(
        pharmacy
            .as_array()
            .expect("array")
            .iter()
            .all(|clock| clock["party"] == "pharmacy")
    );
    let budget = stdout(ledger(
        data.path(),
        &[
            "budget",
            "--country",
            "KZ",
            "--year",
            "2026",
            "--format",
            "json",
        ],
    ));
    let budget: serde_json::Value = serde_json::from_str(&budget).expect("JSON");
    assert_eq!(
        budget.as_array().expect("lines").len(),
        6,
        "one line per region"
    );
    let contracts = stdout(ledger(data.path(), &["contracts", "--format", "json"]));
    let contracts: serde_json::Value = serde_json::from_str(&contracts).expect("JSON");
    assert_eq!(contracts.as_array().expect("contracts").len(), 3);
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let data = data_dir(SampleConfig {
        contracts: 1,
        periods: 1,
        dispensings_per_period: 2,
        ..CONFIG
    });
    for args in [
        &[
            "registry",
            "show",
            "--contract",
            "C-00000",
            "--period",
            "2026-13",
        ][..],
        &[
            "registry",
            "show",
            "--contract",
            "C-00000",
            "--period",
            "2030-01",
        ][..],
        &["act", "show", "--contract", "", "--period", "2026-01"][..],
        &["deadlines", "--as-of", "yesterday"][..],
        &["budget", "--country", "RU", "--year", "2026"][..],
        &["budget", "--country", "KZ", "--year", "twenty"][..],
        &["replay", "--until", "soon", "--into", "x"][..],
    ] {
        let output = ledger(data.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}
