//! `ledger bench feed [--events N]` (issue #14 §7): how fast the public form reaches subscribers,
//! beside a raw baseline measured in the same run on the same events: reading and decoding every
//! record (`Event::from_payload`), as any consumer of the log must.
//!
//! - **SSE**: the real reader service (`crate::read`: TLS, a client certificate, the policy, the
//!   feed) on loopback, and a client that reads `/v1/events` from the start until it has every
//!   event's `data:` frame. Events/s from the request to the last frame.
//! - **JSON topic**: each record rendered as the writer publishes it on `<prefix>.events.json`
//!   (`PublicForm::prepare` + `finish`), without a broker.
//!
//! Back of the envelope: decoding a dispensing costs ~2–3 µs; its CloudEvent adds serde_json of the
//! event (~1 KB) and of ~20 attributes, a few µs more; SSE adds framing, TLS and a loopback copy. So
//! SSE should deliver about half the raw rate or better on one core each (the target, ≥ 0.5).
//!
//! Measured (release, 207,909 events, load ~5): JSON topic 0.41–0.43, SSE 0.23–0.28 of raw. The
//! estimate above was wrong: rendering the CloudEvent alone costs ~8 µs per event against ~3.3 µs
//! for the raw pass, so a feed that renders per event cannot pass ~0.42 here; see
//! docs/subscribing.md ("Benchmark") for the next steps.
//!
//! The last line is exactly `feed: ledger=<SSE events/s> raw=<events/s> ratio=<ledger/raw>`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use ledger::log::{EventLog, Offset, PartitionId, PublicForm, read_partition};
use ledger::public::CloudEvents;
use projector::views::sample::SampleConfig;
use projector::{FlushPolicy, Projector, SledStore};

use crate::auth::limits::LimitSettings;
use crate::auth::tls::{TlsFiles, server_config};
use crate::auth::{Organisation, Policy};
use crate::pki::{ClientSubject, DevCa, Validity};
use crate::project::progress_bar;
use crate::read::follow::checkpoint_of;
use crate::read::progress::ViewProgress;
use crate::read::{Forms, ReadState, owners, router};
use crate::serve::Authenticator;
use crate::serve::listener::ConnectionSettings;

/// The Fund of the benchmark (it reads every event).
const FUND: &str = "900101300007";

#[derive(Debug, clap::Args)]
pub struct FeedBenchArgs {
    /// Dispensing events to generate (plus the lifecycle events of their periods).
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Dispensings per contract and period.
    #[arg(long, default_value_t = 1_000)]
    pub per_contract: u32,
    /// Work directory (default: a fresh directory under the system temp dir, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Events and time of one pass.
struct Pass {
    events: u64,
    elapsed: Duration,
}

impl Pass {
    fn rate(&self) -> u64 {
        let micros = u64::try_from(self.elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.events.saturating_mul(1_000_000) / micros
    }
}

pub fn run(args: FeedBenchArgs) -> anyhow::Result<ExitCode> {
    let config = super::bench_month::sample_month(args.events, args.per_contract, args.seed)?;
    let (raw, topic, sse) = super::bench_month::in_work_dir(args.dir, "feed", |dir| async move {
        measure(&dir, config).await
    })?;
    anyhow::ensure!(
        raw.events == topic.events && raw.events == sse.events,
        "the passes read different numbers of events: raw {}, JSON topic {}, SSE {}",
        raw.events,
        topic.events,
        sse.events
    );
    let ratio = |pass: &Pass| {
        let hundredths = pass.rate().saturating_mul(100) / raw.rate().max(1);
        format!("{}.{:02}", hundredths / 100, hundredths % 100)
    };
    println!(
        "raw: {} events read and decoded in {} ms; JSON topic: rendered in {} ms; SSE: delivered over TLS in {} ms",
        raw.events,
        raw.elapsed.as_millis(),
        topic.elapsed.as_millis(),
        sse.elapsed.as_millis()
    );
    println!(
        "json-topic: ledger={} raw={} ratio={}",
        topic.rate(),
        raw.rate(),
        ratio(&topic)
    );
    println!(
        "feed: ledger={} raw={} ratio={}",
        sse.rate(),
        raw.rate(),
        ratio(&sse)
    );
    Ok(ExitCode::SUCCESS)
}

/// Generates the log, then measures the three passes over it.
async fn measure(dir: &Path, config: SampleConfig) -> anyhow::Result<(Pass, Pass, Pass)> {
    let log: Arc<dyn EventLog> = Arc::new(super::bench_month::generate(dir, config).await?);
    let started = Instant::now();
    let events = super::project_bench::raw_pass(&*log).await?;
    let raw = Pass {
        events,
        elapsed: started.elapsed(),
    };
    let topic = topic_pass(&*log).await?;
    let sse = sse_pass(dir, log, raw.events).await?;
    Ok((raw, topic, sse))
}

/// Renders every record as its record on the public topic.
async fn topic_pass(log: &dyn EventLog) -> anyhow::Result<Pass> {
    let form = CloudEvents::default();
    let started = Instant::now();
    let mut events = 0u64;
    for index in 0..log.partitions() {
        let mut records = read_partition(log, PartitionId(index), Offset(0));
        while let Some(envelope) = records.next().await {
            let envelope = envelope?;
            let prepared = form.prepare(&envelope.body)?;
            let bytes = form.finish(&prepared, &envelope.body, envelope.position, &envelope.hash);
            std::hint::black_box(bytes);
            events += 1;
        }
    }
    Ok(Pass {
        events,
        elapsed: started.elapsed(),
    })
}

/// Serves the log with the reader service over TLS and reads the whole feed as the Fund.
async fn sse_pass(dir: &Path, log: Arc<dyn EventLog>, expected: u64) -> anyhow::Result<Pass> {
    let tls_dir = dir.join("tls");
    std::fs::create_dir_all(&tls_dir)?;
    let ca = DevCa::generate("ledger bench feed", Validity::days_from_now(1))?;
    std::fs::write(tls_dir.join("ca.pem"), &ca.certificate().cert_pem)?;
    ca.server(&["localhost"], Validity::days_from_now(1))?
        .write(&tls_dir, "server")?;
    let fund: Organisation = FUND.parse().map_err(anyhow::Error::msg)?;
    let subject = ClientSubject::new("bench", "Fund", fund, None);
    let client = ca.client_config(Some(&ca.client(&subject, Validity::days_from_now(1))?))?;
    let tls = server_config(&TlsFiles {
        cert: tls_dir.join("server.pem"),
        key: tls_dir.join("server-key.pem"),
        client_ca: Some(tls_dir.join("ca.pem")),
        client_crl: Vec::new(),
    })?;
    let store = SledStore::open(
        &dir.join("views"),
        FlushPolicy::Background { every_ms: 500 },
    )?;
    let mut views = projector::views::all();
    views.push(Box::new(owners::OwnerView));
    let (projector, _) = Projector::open(store, views)?;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let state = Arc::new(ReadState {
        progress: Arc::new(ViewProgress::new(checkpoint_of(
            &projector,
            log.partitions(),
        ))),
        views: projector.reader(),
        log,
        policy: Policy::parse(crate::auth::policy::DEFAULT_POLICY, fund)?,
        authenticator: Authenticator::new(None, true, LimitSettings::default()),
        forms: Forms::new(CloudEvents::default(), None),
        heartbeat: Duration::from_secs(15),
        wait_max: Duration::from_secs(1),
        stopping: stopping.clone(),
        metrics: crate::read::metrics::ReadMetrics::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let mut stopped = stopping;
    let server = tokio::spawn(crate::serve::listener::serve(
        listener,
        Some(tls),
        router(state),
        ConnectionSettings::default(),
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        },
    ));
    let reading = tokio::task::spawn_blocking(move || read_feed(client, address, expected));
    let pass = reading.await.context("the feed client panicked")?;
    let _ = stop.send(true);
    server.await.context("the reader task failed")??;
    pass
}

/// Reads `/v1/events` until `expected` events have arrived.
fn read_feed(
    client: Arc<rustls::ClientConfig>,
    address: std::net::SocketAddr,
    expected: u64,
) -> anyhow::Result<Pass> {
    let bar = progress_bar();
    bar.set_message("SSE");
    bar.set_length(expected);
    let started = Instant::now();
    let connection = rustls::ClientConnection::new(client, crate::pki::localhost())?;
    let socket = std::net::TcpStream::connect(address)?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    write!(
        stream,
        "GET /v1/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
    )?;
    stream.flush()?;
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut line = Vec::with_capacity(4096);
    let mut events = 0u64;
    while events < expected {
        line.clear();
        anyhow::ensure!(
            reader.read_until(b'\n', &mut line)? > 0,
            "the feed ended after {events} of {expected} events"
        );
        if line.starts_with(b"data: ") {
            events += 1;
            if events.is_multiple_of(4096) {
                bar.set_position(events);
            }
        }
    }
    bar.finish_and_clear();
    Ok(Pass {
        events,
        elapsed: started.elapsed(),
    })
}
