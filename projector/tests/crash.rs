//! The real-process crash test of the sled adapter (STYLE §2.7, DESIGN §7).
//!
//! The test re-runs its own binary as a child (`crash_child_projects_until_killed`), which projects a
//! long synthetic log, generated deterministically from a seed, into a sled directory with a
//! checkpoint every few events, printing a line after each step. The parent kills it with SIGKILL
//! (`Child::kill`) after a random number of steps, restarts it on the same directory, and repeats a
//! few times before letting a last child finish. The final sled contents (views, stream versions,
//! checkpoints, markers) must be identical to a clean one-pass build, and the views must equal the
//! BTreeMap fold. Several rounds, each with its own seed and flush policy.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Rng, Workload};
use ledger::log::PartitionId;
use projector::{FlushPolicy, PROJECT_BATCH_MAX, Projector, SledStore, ViewRead};

/// Set in the child's environment: the sled directory to project into.
const CHILD_DIR_ENV: &str = "PROJECTOR_CRASH_CHILD_DIR";
/// Set in the child's environment: the seed of the workload.
const CHILD_SEED_ENV: &str = "PROJECTOR_CRASH_CHILD_SEED";
const CHILD_TEST: &str = "crash_child_projects_until_killed";
const STEP_LINE: &str = "crash-child: step";
const DONE_LINE: &str = "crash-child: done";

const ROUNDS: u32 = 3;
const KILLS_PER_ROUND_MAX: u32 = 4;
const EVENTS: usize = 4000;

fn workload(seed: u64) -> Workload {
    Workload::generate(&mut Rng::new(seed), 3, 60, EVENTS)
}

/// Even seeds fsync every batch; odd seeds leave flushing to sled's background thread, so a kill also
/// loses a suffix of committed batches that the restarted child must re-apply.
fn policy(seed: u64) -> FlushPolicy {
    if seed & 1 == 0 {
        FlushPolicy::EveryBatch
    } else {
        FlushPolicy::Background { every_ms: 5 }
    }
}

/// The child: a no-op unless the parent set `CHILD_DIR_ENV`.
#[test]
fn crash_child_projects_until_killed() {
    let Ok(directory) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let seed: u64 = std::env::var(CHILD_SEED_ENV).unwrap().parse().unwrap();
    let workload = workload(seed);
    let store = SledStore::open(Path::new(&directory), policy(seed)).unwrap();
    let (mut projector, _) = Projector::open(store, common::views(1)).unwrap();
    // Batch sizes differ on every restart (the pid seeds them): the result must not depend on them.
    let mut rng = Rng::new(seed ^ u64::from(std::process::id()));
    let mut steps = 0u64;
    loop {
        let behind: Vec<PartitionId> = (0..workload.partition_count())
            .map(PartitionId)
            .filter(|&partition| {
                let resume = usize::try_from(projector.resume_offset(partition).0).unwrap();
                resume < workload.partition(partition).len()
            })
            .collect();
        let Some(&partition) = behind.get(rng.index(behind.len().max(1))) else {
            break;
        };
        let events = workload.partition(partition);
        let from = usize::try_from(projector.resume_offset(partition).0).unwrap();
        let to = (from + 1 + rng.index(12)).min(events.len());
        projector.step(&events[from..to]).unwrap();
        steps += 1;
        println!("{STEP_LINE} {steps}");
    }
    projector.flush().unwrap();
    println!("{DONE_LINE}");
}

#[test]
fn sled_views_after_sigkill_and_restart_equal_a_clean_build() {
    if std::env::var(CHILD_DIR_ENV).is_ok() {
        return;
    }
    let base = std::env::var("LEDGER_SIM_SEED").map_or(20_261_123, |seed| seed.parse().unwrap());
    let mut kills = 0;
    for round in 0..ROUNDS {
        let seed = base + u64::from(round);
        let directory = tempfile::tempdir().unwrap();
        let round_kills = run_until_done(seed, directory.path());
        eprintln!("round {round}: seed {seed}, {round_kills} children killed");
        kills += round_kills;
        let recovered = SledStore::open(directory.path(), policy(seed))
            .unwrap()
            .export()
            .unwrap();
        let clean = clean_build(seed);
        assert!(
            recovered == clean,
            "sled contents differ from a clean build\nLEDGER_SIM_SEED={seed}"
        );
        let (projector, _) = Projector::open(
            SledStore::open(directory.path(), policy(seed)).unwrap(),
            common::views(1),
        )
        .unwrap();
        let actual = common::read_views(&projector.reader());
        assert_eq!(
            common::first_difference(&actual, &common::model(&workload(seed), 1)),
            None,
            "LEDGER_SIM_SEED={seed}"
        );
    }
    assert!(
        kills >= ROUNDS,
        "children were killed only {kills} times; the test did not test crashes"
    );
}

/// Starts children on `directory` until one finishes; kills each of the first few after a random
/// number of steps. Returns how many were killed.
fn run_until_done(seed: u64, directory: &Path) -> u32 {
    let mut rng = Rng::new(seed);
    let mut kills = 0;
    loop {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, directory)
            .env(CHILD_SEED_ENV, seed.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let kill_after = (kills < KILLS_PER_ROUND_MAX).then(|| 1 + rng.below(250));
        let mut steps = 0u64;
        let mut done = false;
        let mut killed = false;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            // libtest's own "test … ... " may share a line with the child's first output (the child
            // runs with --nocapture), so the markers are looked for anywhere on the line.
            done |= line.contains(DONE_LINE);
            steps += u64::from(line.contains(STEP_LINE));
            if kill_after.is_some_and(|after| steps >= after) {
                child.kill().unwrap();
                kills += 1;
                killed = true;
                break;
            }
        }
        let status = child.wait().unwrap();
        if done {
            assert!(
                status.success(),
                "the last child failed: {status}\nLEDGER_SIM_SEED={seed}"
            );
            return kills;
        }
        // A child that stopped before we killed it failed on its own (its stderr is inherited).
        assert!(
            killed,
            "a child neither finished nor was killed: {status}\nLEDGER_SIM_SEED={seed}"
        );
    }
}

/// The same events projected once, without interruption, in large batches.
fn clean_build(seed: u64) -> Vec<projector::Entry> {
    let workload = workload(seed);
    let (mut projector, _) =
        Projector::open(SledStore::temporary().unwrap(), common::views(1)).unwrap();
    for index in 0..workload.partition_count() {
        for batch in workload
            .partition(PartitionId(index))
            .chunks(PROJECT_BATCH_MAX)
        {
            projector.step(batch).unwrap();
        }
    }
    projector.store().export().unwrap()
}
