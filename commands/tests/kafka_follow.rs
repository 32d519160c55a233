//! Projectors following Kafka as a consumer group (issue #7, "Reads"), against a real broker: the
//! group projector builds the same views as `ledger project`; a `ledger project --follow` process
//! killed with SIGKILL mid-stream and restarted ends with the views of a clean build; the group's
//! committed offsets never run ahead of the sled checkpoint.
//!
//! Uses `LEDGER_TEST_KAFKA=HOST:PORT` when set, otherwise starts the project's broker
//! (`scripts/broker.sh start`), like every other Kafka test. Run:
//! `LEDGER_TEST_KAFKA=127.0.0.1:PORT cargo test -p ledger-commands --features kafka --test kafka_follow`
#![cfg(feature = "kafka")]

mod common;

use ledger::log::testkit::kafka_bootstrap;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use ledger::log::kafka::{KafkaConfig, KafkaLog, committed_offsets};
use ledger::log::{EventLog, Offset, PartitionId, read_partition};
use ledger_commands::project::{FollowSettings, Stop, follow_group, open_views};
use projector::views::sample::SampleConfig;
use projector::{FlushPolicy, Projector, SledStore, ViewRead};

const PARTITIONS: u32 = 4;
/// How long a follower may take to reach the end of the log (a group join alone takes ~5 s on tansu,
/// and a restarted member may wait for the killed one's session to time out).
const CATCH_UP_MAX: Duration = Duration::from_secs(180);

/// A log URL on a topic prefix of its own: the broker is shared by every test and helper.
fn url(bootstrap: &str, name: &str) -> String {
    let prefix = format!("follow-{name}-{}", std::process::id());
    format!("kafka://{bootstrap}?prefix={prefix}&partitions={PARTITIONS}")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Appends the sample `config` through a Kafka writer; returns the events appended.
async fn write_sample(url: &str, config: SampleConfig) -> u64 {
    let form = std::sync::Arc::new(ledger::public::CloudEvents::default());
    let log = KafkaLog::open_url(url, Some(form))
        .await
        .expect("open the Kafka writer");
    let bar = indicatif::ProgressBar::hidden();
    ledger_commands::project::write_sample_log(&log, config, &bar)
        .await
        .expect("sample log")
}

/// Per partition, the offset after its last record: where a caught-up follower's checkpoint stands.
async fn record_ends(url: &str) -> BTreeMap<PartitionId, Offset> {
    let log = KafkaLog::open_url(&format!("{url}&role=reader"), None)
        .await
        .expect("open a Kafka reader");
    let mut ends = BTreeMap::new();
    for partition in (0..log.partitions()).map(PartitionId) {
        let mut records = read_partition(&log, partition, Offset(0));
        let mut end = Offset(0);
        while let Some(record) = records.next().await {
            end = record.expect("read").position.offset.next();
        }
        ends.insert(partition, end);
    }
    ends
}

/// Whether `group` has committed at least `ends` on every partition.
async fn committed_all(config: &KafkaConfig, ends: &BTreeMap<PartitionId, Offset>) -> bool {
    let committed = committed_offsets(config, &config.group)
        .await
        .expect("committed offsets");
    ends.iter()
        .all(|(partition, end)| committed.get(partition).is_some_and(|at| at >= end))
}

/// Waits until `group` has committed `ends` on every partition, while `alive` says the follower runs.
async fn wait_for_commits(
    config: &KafkaConfig,
    ends: &BTreeMap<PartitionId, Offset>,
    mut alive: impl FnMut() -> Result<(), String>,
) {
    let started = Instant::now();
    while !committed_all(config, ends).await {
        if let Err(died) = alive() {
            panic!("the follower stopped before reaching the end of the log: {died}");
        }
        let committed = committed_offsets(config, &config.group).await;
        assert!(
            started.elapsed() < CATCH_UP_MAX,
            "group \"{}\" did not reach {ends:?} within {CATCH_UP_MAX:?}: committed {committed:?}",
            config.group
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The sled checkpoint of the views in `views` (the lowest over the views, per partition).
fn checkpoints(views: &Path) -> BTreeMap<PartitionId, Offset> {
    let store = SledStore::open(views, FlushPolicy::EveryBatch).expect("open views");
    let (projector, _) = Projector::open(store, projector::views::all()).expect("open projector");
    (0..PARTITIONS)
        .map(PartitionId)
        .map(|partition| (partition, projector.resume_offset(partition)))
        .collect()
}

/// Committed group offsets are for monitoring and must never be ahead of what the views hold.
async fn assert_committed_not_ahead(config: &KafkaConfig, views: &Path) {
    let committed = committed_offsets(config, &config.group)
        .await
        .expect("committed offsets");
    let checkpoints = checkpoints(views);
    for (partition, offset) in &committed {
        assert!(
            offset <= &checkpoints[partition],
            "group \"{}\" committed {offset} on partition {partition}, ahead of the sled checkpoint {}",
            config.group,
            checkpoints[partition]
        );
    }
}

fn export(views: &Path) -> Vec<projector::Entry> {
    SledStore::open(views, FlushPolicy::EveryBatch)
        .expect("open views")
        .export()
        .expect("export views")
}

/// `ledger project` (catch-up only) on the log into `data/views`: the reference build.
fn reference_views(data: &Path, url: &str) -> Vec<projector::Entry> {
    let reader = format!("{url}&role=reader");
    let output = common::ledger(data, &["project", "--log", &reader]);
    assert!(
        output.status.success(),
        "ledger project: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    export(&data.join("views"))
}

#[test]
fn group_projector_builds_the_views_of_ledger_project() {
    let bootstrap = kafka_bootstrap();
    let url = url(bootstrap, "group");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = SampleConfig {
        seed: 11,
        contracts: 8,
        periods: 1,
        dispensings_per_period: 150,
        lifecycle: true,
    };
    let runtime = runtime();
    let appended = runtime.block_on(write_sample(&url, config));
    assert!(appended > 1_000, "a demo-sized log: {appended}");
    let kafka = KafkaConfig::from_url(&format!("{url}&role=reader")).expect("URL");
    let views = dir.path().join("group");
    runtime.block_on(async {
        let ends = record_ends(&url).await;
        let mut projector = open_views(&views).expect("open views");
        let (sender, stop) = Stop::manual();
        let watcher = {
            let kafka = kafka.clone();
            tokio::spawn(async move {
                wait_for_commits(&kafka, &ends, || Ok(())).await;
                sender.send(true).expect("stop the follower");
            })
        };
        let settings = FollowSettings {
            status_every: Duration::from_secs(1),
        };
        let report = follow_group(&mut projector, &kafka, &settings, stop)
            .await
            .expect("follow as a group");
        watcher.await.expect("watcher");
        assert_eq!(
            report.events, appended,
            "every event came through the group"
        );
        drop(projector);
        assert_committed_not_ahead(&kafka, &views).await;
    });
    let reference = reference_views(&dir.path().join("reference"), &url);
    assert!(!reference.is_empty(), "the reference build holds views");
    assert!(
        export(&views) == reference,
        "the group projector's views differ from `ledger project` on the same log"
    );
}

fn spawn_follower(data: &Path, url: &str, stderr_file: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(data)
        .args(["project", "--follow", "--status-every", "1", "--log"])
        .arg(format!("{url}&role=reader"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr_file).expect("stderr file"))
        .spawn()
        .expect("spawn ledger project --follow")
}

/// Whether the follower has applied events as a group member (its progress line shows up).
fn following_with_events(stderr_file: &Path) -> bool {
    std::fs::read_to_string(stderr_file)
        .unwrap_or_default()
        .lines()
        .any(|line| line.starts_with("following: projected "))
}

/// The log written while the followers run: ~10k events.
const LIVE: SampleConfig = SampleConfig {
    seed: 23,
    contracts: 40,
    periods: 1,
    dispensings_per_period: 220,
    lifecycle: true,
};

/// Kill delays after the follower started projecting live events.
const KILL_AFTER_MS: [u64; 2] = [400, 1_500];

#[test]
fn follower_killed_mid_stream_and_restarted_ends_with_the_views_of_a_clean_build() {
    let bootstrap = kafka_bootstrap();
    let url = url(bootstrap, "kill");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("follower");
    let views = data.join("views");
    let kafka = KafkaConfig::from_url(&format!("{url}&role=reader")).expect("URL");
    let runtime = runtime();
    // The writer appends while the followers run, so that every kill lands mid-stream.
    let writer = runtime.spawn({
        let url = url.clone();
        async move { write_sample(&url, LIVE).await }
    });
    let mut killed = 0;
    for delay in KILL_AFTER_MS {
        let stderr_file = dir.path().join(format!("follower-{killed}.stderr"));
        let mut child = spawn_follower(&data, &url, &stderr_file);
        let started = Instant::now();
        // Once the writer is done no live event will come: the kill then lands wherever the
        // follower is (the pipelined Kafka writer can finish before the second follower starts).
        while !following_with_events(&stderr_file)
            && !writer.is_finished()
            && started.elapsed() < CATCH_UP_MAX
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().expect("SIGKILL the follower");
        child.wait().expect("reap the follower");
        killed += 1;
        runtime.block_on(assert_committed_not_ahead(&kafka, &views));
    }
    runtime.block_on(writer).expect("writer task");
    let stderr_file = dir.path().join("follower-last.stderr");
    let mut child = spawn_follower(&data, &url, &stderr_file);
    runtime.block_on(async {
        let ends = record_ends(&url).await;
        let alive = || match child.try_wait().expect("poll the follower") {
            None => Ok(()),
            Some(exit) => Err(format!(
                "{exit}: {}",
                std::fs::read_to_string(&stderr_file).unwrap_or_default()
            )),
        };
        wait_for_commits(&kafka, &ends, alive).await;
    });
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let exit = child.wait().expect("reap the follower");
    assert!(
        exit.success(),
        "SIGTERM must end the follower with exit 0, got {exit}: {}",
        std::fs::read_to_string(&stderr_file).unwrap_or_default()
    );
    eprintln!("killed the follower {killed} times");
    runtime.block_on(assert_committed_not_ahead(&kafka, &views));

    let reference = reference_views(&dir.path().join("reference"), &url);
    assert!(
        export(&views) == reference,
        "the killed and restarted follower's views differ from a clean build"
    );
}
