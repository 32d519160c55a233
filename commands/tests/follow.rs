//! `ledger project --follow` on the embedded log (issue #7): events another process appends after the
//! follower started reach its views, SIGTERM stops it gracefully (exit 0), and the views it built equal
//! a clean one-pass build of the same log.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ledger::log::file::{Durability, FileLog, FileLogOptions};
use projector::views::sample::SampleConfig;
use projector::{FlushPolicy, SledStore, ViewRead};

/// ~1,300 events: 6 contracts × 200 dispensings plus their lifecycle and budget events.
const CONFIG: SampleConfig = SampleConfig {
    seed: 7,
    contracts: 6,
    periods: 1,
    dispensings_per_period: 200,
    lifecycle: true,
};

/// How long the follower may take to show an expected line (generous: the machine is shared).
const WAIT_LINE_MAX: Duration = Duration::from_secs(120);

/// Spawns `ledger project --follow` with stderr going to `stderr_file`.
fn spawn_follower(data: &Path, stderr_file: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(data)
        .args(["project", "--follow", "--status-every", "1"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr_file).expect("stderr file"))
        .spawn()
        .expect("spawn ledger project --follow")
}

/// Waits until `file` holds a line containing `needle`; panics with the file after `WAIT_LINE_MAX`.
fn wait_for_line(file: &Path, needle: &str) {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|line| line.contains(needle)) {
            return;
        }
        assert!(
            started.elapsed() < WAIT_LINE_MAX,
            "no line with {needle:?} within {WAIT_LINE_MAX:?}; stderr so far:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {}", child.id());
}

fn export(views: &Path) -> Vec<projector::Entry> {
    SledStore::open(views, FlushPolicy::EveryBatch)
        .expect("open views")
        .export()
        .expect("export views")
}

#[test]
fn follow_projects_events_appended_after_start_and_exits_0_on_sigterm() {
    let data = tempfile::tempdir().expect("temp dir");
    let options = FileLogOptions {
        partitions: 4,
        durability: Durability::NoSync,
        // Small segments: the writer rolls to new files while the follower reads (issue #6).
        segment_bytes_max: 64 * 1024,
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // The writer holds the log's lock for the whole test; the follower only reads.
    let log = FileLog::open(data.path(), options).expect("log");
    let stderr_file = data.path().join("follower.stderr");
    let mut follower = spawn_follower(data.path(), &stderr_file);
    wait_for_line(&stderr_file, "following the log in");

    let appended = runtime.block_on(async {
        let bar = indicatif::ProgressBar::hidden();
        ledger_commands::project::write_sample_log(&log, CONFIG, &bar)
            .await
            .expect("sample log")
    });
    assert!(appended > 1_000, "the sample is demo-sized: {appended}");
    assert!(
        log.stats()
            .partitions
            .iter()
            .any(|partition| partition.segments > 1),
        "the writer rolled segments under the follower"
    );
    wait_for_line(
        &stderr_file,
        &format!("following: projected {appended} events"),
    );
    sigterm(&follower);
    let status = follower.wait().expect("reap follower");
    let mut stdout = String::new();
    follower
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    assert!(
        status.success(),
        "SIGTERM must end the follower with exit 0, got {status}; stderr:\n{}",
        std::fs::read_to_string(&stderr_file).unwrap_or_default()
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with(&format!("projected {appended} events")),
        "the follow summary counts every appended event: {stdout}"
    );
    drop(log);

    let clean = data.path().join("clean");
    let output = common::ledger(
        data.path(),
        &[
            "replay",
            "--until",
            "2100-01-01T00:00:00Z",
            "--into",
            clean.to_str().expect("UTF-8"),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let followed = export(&data.path().join("views"));
    assert!(!followed.is_empty(), "the follower built no views");
    assert!(
        followed == export(&clean),
        "the followed views differ from a clean build of the same log"
    );
}
