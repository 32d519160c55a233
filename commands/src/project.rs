//! Glue between the log and the views: open the log read-only, open the views in
//! `<data-dir>/views` (or a replay directory), register every view, catch up with a progress bar and
//! a one-line summary.
//!
//! Consistency: views lag the log. Every query command calls [`catch_up_views`] first, so an answer
//! reflects the log as it was when the command started.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use ledger::log::EventLog;
use ledger::log::file::FileLog;
use projector::{
    CatchUpOptions, CatchUpReport, FlushPolicy, Progress, Projector, ProjectorReader, SledReader,
    SledStore, catch_up_with,
};

/// Where the live views of a data directory live.
pub fn views_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("views")
}

/// Projected views, ready for queries.
pub struct Projected {
    pub projector: Projector<SledStore>,
    pub report: CatchUpReport,
}

impl Projected {
    pub fn reader(&self) -> ProjectorReader<SledReader> {
        self.projector.reader()
    }
}

/// Opens every view in `dir`, saying which views changed version and are being rebuilt.
pub fn open_views(dir: &Path) -> anyhow::Result<Projector<SledStore>> {
    let store = SledStore::open(dir, FlushPolicy::Background { every_ms: 500 })
        .with_context(|| format!("cannot open the views in {}", dir.display()))?;
    let (projector, opened) = Projector::open(store, projector::views::all())
        .with_context(|| format!("cannot open the views in {}", dir.display()))?;
    for status in opened.rebuilding() {
        eprintln!(
            "view \"{}\" changed to version {}: rebuilding it from the log",
            status.name, status.version
        );
    }
    Ok(projector)
}

/// Opens every view in `dir` and brings it up to the log (within `options`), drawing a progress bar
/// on stderr when it is a terminal. Views whose version changed are rebuilt (and said so).
pub async fn catch_up_views(
    log: &dyn EventLog,
    dir: &Path,
    options: CatchUpOptions<'_>,
) -> anyhow::Result<Projected> {
    let mut projector = open_views(dir)?;
    let report = catch_up_open(&mut projector, log, options).await?;
    Ok(Projected { projector, report })
}

/// Brings open views up to the log with a progress bar, then flushes them.
pub async fn catch_up_open(
    projector: &mut Projector<SledStore>,
    log: &dyn EventLog,
    options: CatchUpOptions<'_>,
) -> anyhow::Result<CatchUpReport> {
    let bar = progress_bar();
    let mut on_progress = |progress: &Progress| {
        bar.set_length(progress.total);
        bar.set_position(progress.done);
    };
    let options = CatchUpOptions {
        progress: Some(&mut on_progress),
        ..options
    };
    let report = catch_up_with(projector, log, options)
        .await
        .context("projection stopped")?;
    bar.finish_and_clear();
    projector.flush().context("cannot flush the views")?;
    Ok(report)
}

/// A bar of events projected; hidden when stderr is not a terminal (indicatif's default).
pub fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} events ({per_sec}, {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("projecting");
    bar
}

/// Appends the events of a generated sample (see `projector::views::sample`) to `log`, one append per
/// run of consecutive events of a stream (at most `EVENTS_PER_APPEND_MAX`). The generator runs on its
/// own thread and hands batches over a bounded channel, so a million events never sit in memory at
/// once. Returns the number of events appended. For benchmarks, tests and demos.
pub async fn write_sample_log(
    log: &dyn EventLog,
    config: projector::views::sample::SampleConfig,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    use ledger::log::{AppendRequest, EVENTS_PER_APPEND_MAX, StreamId};
    let (sender, mut receiver) =
        tokio::sync::mpsc::channel::<(StreamId, Vec<ledger::domain::event::Event>)>(64);
    let generator = std::thread::spawn(move || {
        let mut run: Option<(StreamId, Vec<ledger::domain::event::Event>)> = None;
        projector::views::sample::generate(config, |sample| {
            let same = run.as_ref().is_some_and(|(stream, events)| {
                *stream == sample.stream && events.len() < EVENTS_PER_APPEND_MAX
            });
            if !same && let Some(full) = run.take() {
                let _ = sender.blocking_send(full);
            }
            run.get_or_insert_with(|| (sample.stream, Vec::new()))
                .1
                .push(sample.event);
        });
        if let Some(last) = run {
            let _ = sender.blocking_send(last);
        }
    });
    let mut versions: std::collections::HashMap<StreamId, ledger::log::StreamVersion> =
        std::collections::HashMap::new();
    let mut appended = 0u64;
    while let Some((stream, events)) = receiver.recv().await {
        let expected = versions
            .get(&stream)
            .copied()
            .unwrap_or(ledger::log::StreamVersion::NONE);
        let count = u64::try_from(events.len()).expect("bounded run");
        let events = events
            .iter()
            .zip(appended..)
            .map(|(event, n)| sample_new_event(event, n))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let command_id = ledger::log::CommandId::derived("sample-log", &appended.to_string());
        log.append(AppendRequest {
            stream: stream.clone(),
            expected,
            command_id,
            events,
        })
        .await
        .with_context(|| format!("cannot append the sample events of stream \"{stream}\""))?;
        versions.insert(stream, ledger::log::StreamVersion(expected.0 + count));
        appended += count;
        bar.set_position(appended);
    }
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("the sample generator panicked"))?;
    Ok(appended)
}

fn sample_new_event(
    event: &ledger::domain::event::Event,
    n: u64,
) -> anyhow::Result<ledger::log::NewEvent> {
    use ledger::log::{Actor, ActorId, ActorRole, EventId, NewEvent};
    Ok(NewEvent {
        event_id: EventId(uuid::Uuid::from_u128(u128::from(n) + 1)),
        occurred_at: ledger::domain::time::Timestamp::from_micros(1_767_225_600_000_000),
        jurisdiction: ledger::domain::jurisdiction::Jurisdiction::KZ,
        causation_id: None,
        correlation_id: uuid::Uuid::nil(),
        actor: Actor::new(ActorId::System("sample".to_owned()), ActorRole::System),
        payload: event.to_payload()?,
        command_digest: None,
    })
}

/// How `ledger project --follow` reports while it runs.
pub struct FollowSettings {
    /// A one-line progress report on stderr at most this often (while events arrive).
    pub status_every: Duration,
}

/// A stop signal that many waiters can share: completes once SIGINT or SIGTERM arrives (or the
/// sender side is dropped, which only happens when the process ends).
#[derive(Clone)]
pub struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    /// Installs handlers for SIGINT and SIGTERM; call inside the runtime, before the work starts, so
    /// that a signal during catch-up is not lost.
    pub fn on_signals() -> anyhow::Result<Stop> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt =
            signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
        let mut terminate =
            signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
        let (sender, receiver) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            tracing::info!(signal = name, "stopping: finishing the batch in progress");
            let _ = sender.send(true);
        });
        Ok(Stop(receiver))
    }

    /// A stop requested by sending `true` on the returned sender (tests, embedding).
    pub fn manual() -> (tokio::sync::watch::Sender<bool>, Stop) {
        let (sender, receiver) = tokio::sync::watch::channel(false);
        (sender, Stop(receiver))
    }

    /// Completes when the stop was requested.
    pub async fn requested(mut self) {
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// A closure called with the running totals after every round: prints `following: …` on stderr at
/// most every `every`, and only when something was projected since the last line.
fn status_line(every: Duration) -> impl FnMut(&CatchUpReport) {
    let mut last = Instant::now();
    let mut printed_events = 0;
    move |report: &CatchUpReport| {
        if last.elapsed() < every || report.events == printed_events {
            return;
        }
        last = Instant::now();
        printed_events = report.events;
        tracing::info!(
            events = report.events,
            applied = report.applied,
            "following"
        );
        eprintln!(
            "following: projected {} events in {} batches (applied {}, skipped {}) since catch-up",
            report.events, report.batches, report.applied, report.skipped
        );
    }
}

/// The pause between two looks at the embedded log while following it.
const EMBEDDED_POLL: Duration = Duration::from_millis(250);

/// Follows the embedded log in `data_dir` until `stop`, written by another process (`ledger serve`,
/// `ledger import`, …).
///
/// The log is opened read-only once; each round [`FileLog::refresh`] reads only the bytes the writer
/// appended since the previous round (a torn or half-written tail waits for the next round), and the
/// projector catches up from its checkpoints to the new end. A round therefore costs what was
/// appended, not the size of the log.
pub async fn follow_embedded(
    projector: &mut Projector<SledStore>,
    data_dir: &Path,
    settings: &FollowSettings,
    stop: Stop,
) -> anyhow::Result<CatchUpReport> {
    let started = Instant::now();
    let mut total = CatchUpReport::default();
    let mut status = status_line(settings.status_every);
    let log = FileLog::open_read_only(data_dir)
        .with_context(|| format!("cannot open the event log in {}", data_dir.display()))?;
    let mut first = true;
    while !stop.is_requested() {
        let refreshed = log.refresh().with_context(|| {
            format!(
                "cannot read new events of the log in {}",
                data_dir.display()
            )
        })?;
        if first || refreshed.records > 0 {
            first = false;
            let round = catch_up_with(projector, &log, CatchUpOptions::default())
                .await
                .context("projection stopped")?;
            total.events += round.events;
            total.batches += round.batches;
            total.applied += round.applied;
            total.skipped += round.skipped;
        }
        status(&total);
        let sleep = std::pin::pin!(tokio::time::sleep(EMBEDDED_POLL));
        let _ = futures::future::select(sleep, std::pin::pin!(stop.clone().requested())).await;
    }
    projector.flush().context("cannot flush the views")?;
    total.elapsed = started.elapsed();
    Ok(total)
}

/// The most records one poll of the consumer group hands to the projector.
#[cfg(feature = "kafka")]
const GROUP_POLL_RECORDS_MAX: usize = 4 * projector::PROJECT_BATCH_MAX;
/// How long one poll of the consumer group waits for records.
#[cfg(feature = "kafka")]
const GROUP_POLL_WAIT: Duration = Duration::from_millis(250);
/// How often the follower flushes its views and commits the group's offsets while events arrive.
#[cfg(feature = "kafka")]
const GROUP_COMMIT_EVERY: Duration = Duration::from_secs(1);

/// A Kafka consumer group member as the projector's [`projector::Feed`].
#[cfg(feature = "kafka")]
struct GroupFeed(ledger::log::kafka::GroupConsumer);

#[cfg(feature = "kafka")]
impl projector::Feed for GroupFeed {
    async fn poll(
        &mut self,
        resume: std::collections::BTreeMap<ledger::log::PartitionId, ledger::log::Offset>,
    ) -> Result<projector::FeedPoll, ledger::log::LogError> {
        use ledger::log::kafka::GroupChange;
        let poll = self
            .0
            .poll(resume, GROUP_POLL_RECORDS_MAX, GROUP_POLL_WAIT)
            .await?;
        let mut feed = projector::FeedPoll {
            records: poll.records,
            ..projector::FeedPoll::default()
        };
        for change in poll.changes {
            match change {
                GroupChange::Assigned(partitions) => feed.assigned.extend(partitions),
                GroupChange::Revoked(partitions) => feed.revoked.extend(partitions),
            }
        }
        Ok(feed)
    }

    async fn commit(
        &mut self,
        offsets: Vec<(ledger::log::PartitionId, ledger::log::Offset)>,
    ) -> Result<(), ledger::log::LogError> {
        self.0.commit(offsets).await
    }
}

/// Follows the Kafka log as a member of `config.group` until `stop`: each assigned partition resumes
/// from the views' checkpoint; offsets are committed after each flush, for monitoring only.
#[cfg(feature = "kafka")]
pub async fn follow_group(
    projector: &mut Projector<SledStore>,
    config: &ledger::log::kafka::KafkaConfig,
    settings: &FollowSettings,
    stop: Stop,
) -> anyhow::Result<CatchUpReport> {
    let consumer = ledger::log::kafka::GroupConsumer::join(config, &config.group)
        .await
        .with_context(|| format!("cannot join consumer group \"{}\"", config.group))?;
    let mut feed = GroupFeed(consumer);
    let mut status = status_line(settings.status_every);
    let options = projector::FeedOptions {
        partitions: config.partitions,
        commit_every: GROUP_COMMIT_EVERY,
        on_poll: Some(&mut status),
    };
    projector::follow_feed(projector, &mut feed, options, stop.requested())
        .await
        .with_context(|| format!("projection as group \"{}\" stopped", config.group))
}
