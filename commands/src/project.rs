//! Glue between the log and the views: open the log read-only, open the views in
//! `<data-dir>/views` (or a replay directory), register every view, catch up with a progress bar and
//! a one-line summary.
//!
//! Consistency: views lag the log. Every query command calls [`catch_up_views`] first, so an answer
//! reflects the log as it was when the command started.

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use ledger::log::EventLog;
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

/// Opens every view in `dir` and brings it up to the log (within `options`), drawing a progress bar
/// on stderr when it is a terminal. Views whose version changed are rebuilt (and said so).
pub async fn catch_up_views(
    log: &dyn EventLog,
    dir: &Path,
    options: CatchUpOptions<'_>,
) -> anyhow::Result<Projected> {
    let store = SledStore::open(dir, FlushPolicy::Background { every_ms: 500 })
        .with_context(|| format!("cannot open the views in {}", dir.display()))?;
    let (mut projector, opened) = Projector::open(store, projector::views::all())
        .with_context(|| format!("cannot open the views in {}", dir.display()))?;
    for status in opened.rebuilding() {
        eprintln!(
            "view \"{}\" changed to version {}: rebuilding it from the log",
            status.name, status.version
        );
    }
    let bar = progress_bar();
    let mut on_progress = |progress: &Progress| {
        bar.set_length(progress.total);
        bar.set_position(progress.done);
    };
    let options = CatchUpOptions {
        progress: Some(&mut on_progress),
        ..options
    };
    let report = catch_up_with(&mut projector, log, options)
        .await
        .context("projection stopped")?;
    bar.finish_and_clear();
    projector.flush().context("cannot flush the views")?;
    Ok(Projected { projector, report })
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
        actor: Actor {
            id: ActorId::System("sample".to_owned()),
            role: ActorRole::System,
        },
        payload: event.to_payload()?,
    })
}
