//! Deterministic simulation of the projector over the in-memory store (STYLE §2.7).
//!
//! One u64 seed drives the workload, the batch sizes, redeliveries, injected I/O errors, flushes and
//! the crash schedule (crash points inside a batch, power loss between steps, partial flushes, view
//! version bumps on restart). After every crash the harness recovers the durable state, reopens the
//! projector and carries on; at the end every view must equal the plain BTreeMap fold of the events.
//!
//! On failure the test prints `LEDGER_SIM_SEED=<n>`; `LEDGER_SIM_SEED=<n> cargo test -p projector
//! --test sim` reruns exactly that seed. `LEDGER_SIM_RANDOM=<k>` sets how many random seeds run.

mod common;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use common::{Rng, Workload};
use ledger::log::{EventEnvelope, PartitionId};
use projector::{
    CrashPoint, Projector, ProjectorError, SimConfig, SimStore, StoreError, ViewStore,
};

/// Seeds that always run.
const FIXED_SEEDS: [u64; 12] = [0, 1, 2, 3, 7, 42, 99, 1234, 4242, 65_535, 1 << 40, u64::MAX];
/// Random seeds per run unless `LEDGER_SIM_RANDOM` says otherwise.
const RANDOM_SEEDS_DEFAULT: u64 = 8;
/// A run that takes more steps than this is stuck (e.g. retrying the same failure forever).
const STEPS_MAX: u64 = 200_000;
/// View version bumps per run: each one replays the view from offset 0.
const REBUILDS_MAX: u32 = 3;
/// Attempts at reopening after crashes injected into the open itself.
const OPEN_ATTEMPTS_MAX: u32 = 50;

#[test]
fn simulation_matches_model_for_fixed_and_random_seeds() {
    let seeds: Vec<u64> = match std::env::var("LEDGER_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("LEDGER_SIM_SEED is a u64")],
        Err(_) => {
            let random = std::env::var("LEDGER_SIM_RANDOM")
                .map_or(RANDOM_SEEDS_DEFAULT, |count| count.parse().unwrap());
            let entropy = RandomState::new();
            FIXED_SEEDS
                .into_iter()
                .chain((0..random).map(|index| entropy.hash_one(index)))
                .collect()
        }
    };
    let mut total = Stats::default();
    for seed in &seeds {
        match simulate(*seed, SimConfig::default()) {
            Ok(stats) => total.add(&stats),
            Err(failure) => panic!("simulation failed: {failure}\nLEDGER_SIM_SEED={seed}"),
        }
    }
    eprintln!("simulated {} seeds: {total:?}", seeds.len());
    if seeds.len() > 1 {
        // Guard against a blind simulation: the fixed seeds must exercise every fault and path.
        assert!(
            total.crashes_in_step >= 20,
            "too few crashes inside steps: {total:?}"
        );
        assert!(
            total.power_losses >= 20,
            "too few power losses between steps: {total:?}"
        );
        assert!(
            total.io_errors >= 5,
            "too few injected I/O errors: {total:?}"
        );
        assert!(total.rebuilds >= 3, "too few view rebuilds: {total:?}");
        assert!(
            total.duplicates >= 20,
            "too few duplicate stream versions skipped: {total:?}"
        );
        assert!(
            total.below_checkpoint >= 20,
            "too few redelivered events skipped: {total:?}"
        );
    }
}

/// What a run exercised.
#[derive(Debug, Default)]
struct Stats {
    steps: u64,
    crashes_in_step: u64,
    power_losses: u64,
    io_errors: u64,
    rebuilds: u64,
    duplicates: u64,
    below_checkpoint: u64,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.steps += other.steps;
        self.crashes_in_step += other.crashes_in_step;
        self.power_losses += other.power_losses;
        self.io_errors += other.io_errors;
        self.rebuilds += other.rebuilds;
        self.duplicates += other.duplicates;
        self.below_checkpoint += other.below_checkpoint;
    }
}

/// A test of the test: with batches that are NOT atomic across crashes, the simulation must find a
/// divergence for some fixed seed. If this ever passes, the simulation has gone blind.
#[test]
fn simulation_catches_a_store_whose_batches_are_not_atomic() {
    let broken = SimConfig {
        durable_on_apply: true,
        atomic_batches: false,
    };
    let caught = FIXED_SEEDS
        .iter()
        .filter(|&&seed| simulate(seed, broken).is_err())
        .count();
    assert!(
        caught > 0,
        "no seed detected torn batches surviving a crash"
    );
}

/// One seeded run; `Err` describes the divergence.
fn simulate(seed: u64, config: SimConfig) -> Result<Stats, String> {
    let mut rng = Rng::new(seed);
    let partitions = u32::try_from(1 + rng.below(4)).unwrap();
    let streams = 1 + rng.index(40);
    let events = rng.index(1500);
    let workload = Workload::generate(&mut rng, partitions, streams, events);
    let config = SimConfig {
        durable_on_apply: config.durable_on_apply || rng.one_in(3),
        ..config
    };
    let mut digest_version = 1;
    let (mut store, mut projector) = open(SimStore::new(config), digest_version, &mut rng)?;
    let mut stats = Stats::default();
    while let Some(partition) = pick_partition(&projector, &workload, &mut rng) {
        stats.steps += 1;
        if stats.steps > STEPS_MAX {
            return Err(format!("no progress after {STEPS_MAX} steps"));
        }
        let batch = pick_batch(&projector, &workload, partition, &mut rng);
        inject_faults(&store, &mut rng);
        let crashed = match projector.step(batch) {
            Ok(outcome) => {
                stats.duplicates += outcome.duplicates;
                stats.below_checkpoint += outcome.below_checkpoint;
                false
            }
            Err(ProjectorError::Store(StoreError::InjectedIo { .. })) => {
                stats.io_errors += 1;
                false
            }
            Err(ProjectorError::Store(StoreError::Crashed { .. })) => {
                stats.crashes_in_step += 1;
                true
            }
            Err(other) => return Err(format!("step failed: {other}")),
        };
        if rng.one_in(12) {
            let _ = projector.flush();
        }
        if crashed || rng.one_in(50) {
            stats.power_losses += u64::from(!crashed);
            store.crash();
            let recovered = store.recover(rng.index(store.pending_batches() + 1));
            if digest_version < REBUILDS_MAX + 1 && rng.one_in(6) {
                digest_version += 1;
                stats.rebuilds += 1;
            }
            (store, projector) = open(recovered, digest_version, &mut rng)?;
            if rng.one_in(3) {
                check_recovered(&projector, &workload, digest_version)?;
            }
        }
    }
    let expected = common::model(&workload, digest_version);
    let actual = common::read_views(&projector.reader());
    match common::first_difference(&actual, &expected) {
        Some(difference) => Err(format!(
            "{difference} (after {} steps, {} events)",
            stats.steps,
            workload.event_count()
        )),
        None => Ok(stats),
    }
}

/// After a restart, each view must equal the fold of exactly the events below its checkpoints: a
/// crash neither lost an event behind a checkpoint nor kept one ahead of it.
fn check_recovered(
    projector: &Projector<SimStore>,
    workload: &Workload,
    digest_version: u32,
) -> Result<(), String> {
    let actual = common::read_views(&projector.reader());
    for view in [common::ENTITIES, common::DIGEST] {
        let prefix = Workload {
            partitions: (0..workload.partition_count())
                .map(|index| {
                    let checkpoint = projector.checkpoint(view, PartitionId(index)).unwrap();
                    let events = workload.partition(PartitionId(index));
                    events[..usize::try_from(checkpoint.0).unwrap()].to_vec()
                })
                .collect(),
        };
        let mut expected = common::model(&prefix, digest_version);
        expected.retain(|name, _| name == view);
        if let Some(difference) = common::first_difference(&actual, &expected) {
            return Err(format!("after a restart: {difference}"));
        }
    }
    Ok(())
}

/// Opens the projector, sometimes crashing inside the open (mid-rebuild) first.
fn open(
    mut store: SimStore,
    digest_version: u32,
    rng: &mut Rng,
) -> Result<(SimStore, Projector<SimStore>), String> {
    for _ in 0..OPEN_ATTEMPTS_MAX {
        if rng.one_in(4) {
            store.schedule_crash(CrashPoint::MidBatch(u32::try_from(rng.below(3)).unwrap()));
        }
        match Projector::open(store.clone(), common::views(digest_version)) {
            Ok((projector, _report)) => return Ok((store, projector)),
            Err(ProjectorError::Store(StoreError::Crashed { .. })) => {
                store = store.recover(rng.index(store.pending_batches() + 1));
            }
            Err(other) => return Err(format!("open failed: {other}")),
        }
    }
    Err(format!("open crashed {OPEN_ATTEMPTS_MAX} times in a row"))
}

/// A partition some view has not finished, or `None` when every view is at the end of every partition.
fn pick_partition<S: ViewStore>(
    projector: &Projector<S>,
    workload: &Workload,
    rng: &mut Rng,
) -> Option<PartitionId> {
    let behind: Vec<PartitionId> = (0..workload.partition_count())
        .map(PartitionId)
        .filter(|&partition| {
            let end = u64::try_from(workload.partition(partition).len()).unwrap();
            projector.resume_offset(partition).0 < end
        })
        .collect();
    (!behind.is_empty()).then(|| behind[rng.index(behind.len())])
}

/// The next batch of `partition`: usually from the resume offset, sometimes starting a little earlier
/// (a redelivery); mostly tiny, sometimes large.
fn pick_batch<'a, S: ViewStore>(
    projector: &Projector<S>,
    workload: &'a Workload,
    partition: PartitionId,
    rng: &mut Rng,
) -> &'a [EventEnvelope] {
    let events = workload.partition(partition);
    let resume = usize::try_from(projector.resume_offset(partition).0).unwrap();
    let start = if rng.one_in(8) {
        resume.saturating_sub(rng.index(6))
    } else {
        resume
    };
    let size = if rng.one_in(10) {
        1 + rng.index(64)
    } else {
        1 + rng.index(4)
    };
    &events[start..(start + size).min(events.len())]
}

/// Schedules at most one fault for the next step.
fn inject_faults(store: &SimStore, rng: &mut Rng) {
    match rng.below(80) {
        0..=1 => store.schedule_crash(CrashPoint::BeforeViewWrite),
        2..=3 => store.schedule_crash(CrashPoint::AfterViewWriteBeforeCheckpoint),
        4..=5 => store.schedule_crash(CrashPoint::AfterCheckpoint),
        6..=7 => store.schedule_crash(CrashPoint::MidBatch(u32::try_from(rng.below(8)).unwrap())),
        8 => store.fail_next_apply(),
        9 => store.fail_next_read(),
        _ => {}
    }
}
