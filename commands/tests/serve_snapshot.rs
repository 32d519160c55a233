//! `ledger serve` restarted after a long period stream grew (issue #16 §1, snapshots): the real binary
//! takes a pharmacy's dispensings over HTTP, snapshotting the period every 40 events, and is
//! SIGKILLed; the restarted writer decides the next dispensing on that stream folding only the events
//! after its snapshot (its tracing line says how many). Stopped gracefully (SIGTERM), it snapshots the
//! moved state, and the next start folds nothing.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::serve::{Server, dispensing_envelope, http, pharmacy_token, start, wait_ready};
use common::small_demo;
use ledger::domain::values::ReportingPeriod;
use ledger_commands::demo::dispense::generate;
use ledger_commands::demo::world::World;

const SEED: u64 = 16;
const CONTRACT: usize = 1;
const EVERY: u64 = 40;
const GROWN: u64 = 130;
/// The handler's tracing line says how many events a decision folded.
const LOG_ENV: &[(&str, &str)] = &[
    ("RUST_LOG", "ledger_commands::handler=info,warn"),
    ("NO_COLOR", "1"),
];

/// Records February dispensing number `index` of the contract; it must be created.
fn dispense(world: &World, server: &Server, token: &str, index: u64) {
    let holder = &world.contracts[CONTRACT];
    let february = ReportingPeriod::month(2026, 2).unwrap();
    let dispensing = generate(world, holder, february, index).unwrap();
    let body = dispensing_envelope("serve-snapshot", &holder.contract_id, "2026-02", dispensing);
    let (status, answer) = http(&server.address, token, "POST", "/v1/commands", &body).unwrap();
    assert_eq!(status, 201, "dispensing {index}: {answer}");
}

/// The `(snapshot, folded)` of the writer's "loaded from its snapshot" line for `stream`.
fn loaded_from_snapshot(stderr: &Path, stream: &str) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(stderr).unwrap();
    let line = text
        .lines()
        .find(|line| line.contains("stream state loaded from its snapshot"))?;
    let fields = line.split("loaded from its snapshot").nth(1)?;
    let field = |name: &str| -> Option<u64> {
        fields
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    assert!(fields.contains(&format!("stream={stream}")), "{line}");
    Some((field("snapshot")?, field("folded")?))
}

fn stop(mut server: Server, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    server.child.wait().unwrap();
}

/// `ledger serve` snapshotting every [`EVERY`] events, logging what each decision folded to `log`.
fn start_snapshotting(data_dir: &Path, jwks_file: &Path, log: &Path) -> Server {
    let every = EVERY.to_string();
    start(
        data_dir,
        jwks_file,
        &["--snapshot-every", &every],
        LOG_ENV,
        Some(log),
    )
}

#[test]
fn a_restarted_writer_folds_only_the_tail_after_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let stream = format!("period/{}/2026-02", world.contracts[CONTRACT].contract_id);
    let jwks_file = dir.path().join("jwks.json");
    let token = pharmacy_token(
        &jwks_file,
        "serve-snapshot",
        world.contracts[CONTRACT].holder.bin,
    );
    let snapshots = data_dir.join("writer-state").join("snapshots");

    let first_log = dir.path().join("first.log");
    let server = start_snapshotting(&data_dir, &jwks_file, &first_log);
    wait_ready(&server, &token);
    for index in 0..GROWN {
        dispense(&world, &server, &token, index);
    }
    for _ in 0..200 {
        if std::fs::read_dir(&snapshots).unwrap().count() > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::fs::read_dir(&snapshots).unwrap().count() > 0,
        "a stream of {GROWN} events has a snapshot"
    );
    stop(server, "-KILL");

    let second_log = dir.path().join("second.log");
    let server = start_snapshotting(&data_dir, &jwks_file, &second_log);
    wait_ready(&server, &token);
    dispense(&world, &server, &token, GROWN);
    let (snapshot, folded) = loaded_from_snapshot(&second_log, &stream).unwrap_or_else(|| {
        panic!(
            "no snapshot line: {}",
            std::fs::read_to_string(&second_log).unwrap()
        )
    });
    assert!(snapshot >= EVERY, "snapshot at {snapshot}");
    assert_eq!(
        snapshot + folded,
        GROWN,
        "only the tail after the snapshot is folded"
    );
    assert!(folded < GROWN, "folded {folded} events");
    stop(server, "-TERM"); // graceful: the moved state is snapshotted

    let third_log = dir.path().join("third.log");
    let server = start_snapshotting(&data_dir, &jwks_file, &third_log);
    wait_ready(&server, &token);
    dispense(&world, &server, &token, GROWN + 1);
    assert_eq!(
        loaded_from_snapshot(&third_log, &stream),
        Some((GROWN + 1, 0)),
        "a graceful stop leaves a snapshot at the stream's end"
    );
    stop(server, "-KILL");
}
