//! `ledger bench serve` (issue #16 §2): one-dispensing commands posted over HTTPS/1.1 keep-alive
//! from many connections, each with a pharmacy's client certificate, to the writer service (`serve`'s
//! router and listener, its trust boundary, the dispatcher's batches, a durable embedded log), beside
//! the same bodies posted over the same kind of connections to a server that only reads each body
//! and answers. Two shapes: every command to one contract (one period stream: the dispatcher must
//! decide them one after another), and the commands spread over eight contracts.
//!
//! The world is a small demo (keys, prices, budgets, contracts concluded from January) written first
//! into a scratch directory; the measured commands are dispensings of February (one contract) and
//! March (eight contracts). The last line is `serve: ledger=<commands/s> raw=<requests/s>
//! ratio=<ledger/raw>` over both shapes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use ledger::domain::values::ReportingPeriod;
use ledger::log::EventLog;
use ledger::log::file::{Durability, FileLog, FileLogOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::limits::LimitSettings;
use crate::auth::tls::{TlsFiles, server_config};
use crate::auth::{Organisation, Policy};
use crate::demo::{self, DemoOptions, world::World};
use crate::pki::{ClientSubject, DevCa, Validity};
use crate::serve::listener::{ConnectionSettings, serve};
use crate::serve::{Authenticator, BODY_TIMEOUT_DEFAULT, ServeState, router};
use crate::submit::dispatch::Dispatcher;
use crate::submit::wire::{CommandEnvelope, WireCommand};
use ledger_benches::append::per_second;

#[derive(Debug, clap::Args)]
pub struct ServeBenchArgs {
    /// Commands per shape (one contract, eight contracts); each is posted once to each server.
    #[arg(long, default_value_t = 20_000)]
    commands: u64,
    /// HTTP/1.1 keep-alive connections posting at once.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Seed of the demo world.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Scratch directory (created, then removed); a fresh one under the system temporary directory
    /// by default. Put it on the disk you want to measure.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// One shape's two halves: wall time and the process's CPU time (user + system) for each.
struct Shape {
    name: &'static str,
    commands: u64,
    ledger: Duration,
    raw: Duration,
    ledger_cpu: Option<Duration>,
    raw_cpu: Option<Duration>,
}

/// The CPU time (user + system) this process has used so far, from `/proc/self/stat` (Linux; `None`
/// elsewhere). Shows whether a half was bound by the CPU or waited (for the disk, for locks).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// How long `half` took in wall time, and the CPU time the process used meanwhile.
async fn timed(
    half: impl std::future::Future<Output = anyhow::Result<Duration>>,
) -> anyhow::Result<(Duration, Option<Duration>)> {
    let before = cpu_time();
    let wall = half.await?;
    let cpu = cpu_time()
        .zip(before)
        .map(|(after, before)| after.saturating_sub(before));
    Ok((wall, cpu))
}

fn seconds(cpu: Option<Duration>) -> String {
    cpu.map_or_else(|| "?".into(), |cpu| format!("{:.2}", cpu.as_secs_f64()))
}

pub fn run(args: ServeBenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.commands > 0 && args.connections > 0,
        super::UsageError("--commands and --connections must be at least 1".into())
    );
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ledger-bench-serve-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let local = tokio::task::LocalSet::new();
    let shapes = super::runtime()?.block_on(local.run_until(measure(&args, &dir)));
    let _ = std::fs::remove_dir_all(&dir);
    let shapes = shapes?;
    let (mut commands, mut ledger, mut raw) = (0, Duration::ZERO, Duration::ZERO);
    for shape in &shapes {
        println!(
            "serve: {}: {} (ledger {:.2} s, {} CPU-s; raw {:.2} s, {} CPU-s)",
            shape.name,
            line(shape.commands, shape.ledger, shape.raw),
            shape.ledger.as_secs_f64(),
            seconds(shape.ledger_cpu),
            shape.raw.as_secs_f64(),
            seconds(shape.raw_cpu),
        );
        commands += shape.commands;
        ledger += shape.ledger;
        raw += shape.raw;
    }
    println!("serve: {}", line(commands, ledger, raw));
    Ok(ExitCode::SUCCESS)
}

/// `ledger=<commands/s> raw=<requests/s> ratio=<x.xx>`.
fn line(commands: u64, ledger: Duration, raw: Duration) -> String {
    let (ledger, raw) = (per_second(commands, ledger), per_second(commands, raw));
    let hundredths = u128::from(ledger) * 100 / u128::from(raw.max(1));
    format!(
        "ledger={ledger} raw={raw} ratio={}.{:02}",
        hundredths / 100,
        hundredths % 100
    )
}

/// Sets up the world and both servers, then measures each shape on each.
async fn measure(args: &ServeBenchArgs, dir: &Path) -> anyhow::Result<Vec<Shape>> {
    let started = Instant::now();
    let world = demo_world(dir, args.seed).await?;
    let pki = Pki::new(dir, &world)?;
    let log: Arc<dyn EventLog> = Arc::new(
        FileLog::open(dir.join("data"), FileLogOptions::default())
            .context("cannot reopen the bench log")?,
    );
    let fund = demo::fund_bin(args.seed);
    let policy = Policy::load(None, Organisation::Kz(fund))?;
    let dispatcher = Dispatcher::open(Arc::clone(&log), fund, policy).await?;
    let limits = LimitSettings {
        rate_per_second: u32::MAX / 2,
        burst: u32::MAX / 2,
        concurrent: 1 << 20,
    };
    let state = Arc::new(ServeState::new(
        Authenticator::new(None, true, limits),
        BODY_TIMEOUT_DEFAULT,
    ));
    state.ready(dispatcher);
    let (ledger_address, _ledger) = start(router(state), &pki).await?;
    let (raw_address, _raw) = start(raw_router(), &pki).await?;
    eprintln!(
        "serve: world ready in {:.1?}; {} commands per shape over {} connections (HTTPS, client certificates)",
        started.elapsed(),
        args.commands,
        args.connections
    );
    let mut shapes = Vec::new();
    for (name, contracts, month) in [("one contract", 1, 2), ("eight contracts", 8, 3)] {
        let period = ReportingPeriod::month(2026, month)?;
        let bodies = bodies(&world, contracts, period, args.commands)?;
        let (ledger, ledger_cpu) = timed(post_all(
            ledger_address,
            &pki,
            &bodies,
            args.connections,
            true,
        ))
        .await?;
        let (raw, raw_cpu) = timed(post_all(
            raw_address,
            &pki,
            &bodies,
            args.connections,
            false,
        ))
        .await?;
        shapes.push(Shape {
            name,
            commands: args.commands,
            ledger,
            raw,
            ledger_cpu,
            raw_cpu,
        });
    }
    drop(log);
    Ok(shapes)
}

/// Writes a small demo (no fsync) into `dir/data` and returns its world.
async fn demo_world(dir: &Path, seed: u64) -> anyhow::Result<World> {
    let options = DemoOptions {
        seed,
        dispensings: 200,
        kg_dispensings: 120,
        ..DemoOptions::default()
    };
    let log: Arc<dyn EventLog> = Arc::new(FileLog::open(
        dir.join("data"),
        FileLogOptions {
            durability: Durability::NoSync,
            ..FileLogOptions::default()
        },
    )?);
    let (_, world, _) = demo::run(log, &options, &Quiet).await?;
    Ok(world)
}

struct Quiet;

impl demo::Progress for Quiet {
    fn phase(&self, _name: &str, _total: u64) {}
    fn advance(&self, _by: u64) {}
    fn finish_phase(&self) {}
}

/// The bench's certificates: a CA, the server's, and a client certificate per KZ contract holder.
struct Pki {
    server: Arc<rustls::ServerConfig>,
    clients: Vec<Arc<rustls::ClientConfig>>,
}

impl Pki {
    fn new(dir: &Path, world: &World) -> anyhow::Result<Pki> {
        let validity = Validity::days_from_now(2);
        let ca = DevCa::generate("ledger bench CA", validity)?;
        let server = ca.server(&["localhost", "127.0.0.1"], validity)?;
        let (cert, key) = server.write(dir, "server")?;
        let (client_ca, _) = ca.certificate().write(dir, "ca")?;
        let files = TlsFiles {
            cert,
            key,
            client_ca: Some(client_ca),
            client_crl: Vec::new(),
        };
        let clients = world
            .contracts
            .iter()
            .map(|holder| {
                let organisation = Organisation::Kz(holder.holder.bin);
                let subject = ClientSubject::new("bench", &holder.holder.name, organisation, None);
                ca.client_config(Some(&ca.client(&subject, validity)?))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Pki {
            server: server_config(&files)?,
            clients,
        })
    }
}

/// Serves `app` over TLS on a free loopback port until the returned sender is dropped.
async fn start(
    app: Router,
    pki: &Pki,
) -> anyhow::Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let tls = Some(Arc::clone(&pki.server));
    tokio::spawn(serve(
        listener,
        tls,
        app,
        ConnectionSettings::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    Ok((address, stop))
}

/// The baseline server: reads each body (with the same size cap) and answers 201 with a small JSON
/// body, as the ledger's answer is.
fn raw_router() -> Router {
    async fn accept(body: axum::body::Body) -> (StatusCode, axum::Json<serde_json::Value>) {
        let read = axum::body::to_bytes(body, crate::submit::wire::COMMAND_BYTES_MAX).await;
        let length = read.map_or(0, |bytes| bytes.len());
        let answer =
            serde_json::json!({"read": length, "positions": [{"partition": 0, "offset": 0}]});
        (StatusCode::CREATED, axum::Json(answer))
    }
    Router::new().route("/v1/commands", post(accept))
}

/// `count` dispensing commands over the first `contracts` KZ contracts in `period`, as JSON bodies
/// with the index of the client certificate that may post each.
fn bodies(
    world: &World,
    contracts: usize,
    period: ReportingPeriod,
    count: u64,
) -> anyhow::Result<Vec<(usize, Vec<u8>)>> {
    (0..count)
        .map(|index| {
            let contract = usize::try_from(index).expect("fits") % contracts;
            let holder = &world.contracts[contract];
            let per_contract = index / u64::try_from(contracts).expect("fits");
            let dispensing = demo::dispense::generate(world, holder, period, per_contract + 1)?;
            let envelope = CommandEnvelope {
                command_id: ledger::log::CommandId::derived(
                    "ledger-bench-serve",
                    dispensing.dispensing_id.as_str(),
                ),
                stream: demo::engine::period_stream(&holder.contract_id, period),
                actor: None,
                jurisdiction: holder.jurisdiction,
                occurred_at: Some(dispensing.dispensed_at),
                correlation_id: None,
                expected_version: None,
                command: WireCommand::RecordDispensing(Box::new(dispensing)),
            };
            Ok((contract, serde_json::to_vec(&envelope)?))
        })
        .collect()
}

/// Posts every body once over `connections` connections (connection `n` posts bodies `n`,
/// `n + connections`, …, each with the certificate of its body's contract holder); returns how long
/// it took. With `strict`, any answer but 201 fails the run.
async fn post_all(
    address: SocketAddr,
    pki: &Pki,
    bodies: &[(usize, Vec<u8>)],
    connections: u32,
    strict: bool,
) -> anyhow::Result<Duration> {
    let bodies: Arc<Vec<(usize, Vec<u8>)>> = Arc::new(bodies.to_vec());
    let connections = usize::try_from(connections)
        .expect("fits")
        .min(bodies.len());
    // Connect (TCP and TLS handshakes) before the clock starts: the bench measures requests on
    // open keep-alive connections, not handshakes.
    let mut clients = Vec::with_capacity(connections);
    for first in 0..connections {
        let config = Arc::clone(&pki.clients[bodies[first].0]);
        clients.push(Client::connect(address, config).await?);
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(first, mut client)| {
            let bodies = Arc::clone(&bodies);
            tokio::spawn(async move {
                for (_, body) in bodies.iter().skip(first).step_by(connections) {
                    let (status, answer) = client.post(body).await?;
                    anyhow::ensure!(
                        !strict || status == 201,
                        "the ledger answered {status}: {}",
                        String::from_utf8_lossy(&answer)
                    );
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await.context("a client task failed")??;
    }
    Ok(started.elapsed())
}

/// A minimal HTTP/1.1 client on one TLS connection: no client library, one request at a time.
struct Client {
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    buffer: Vec<u8>,
}

impl Client {
    async fn connect(
        address: SocketAddr,
        config: Arc<rustls::ClientConfig>,
    ) -> anyhow::Result<Client> {
        let tcp = tokio::net::TcpStream::connect(address).await?;
        tcp.set_nodelay(true)?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(crate::pki::localhost(), tcp)
            .await?;
        Ok(Client {
            stream,
            buffer: Vec::with_capacity(16 * 1024),
        })
    }

    /// Posts one command; returns the status and the body of the answer.
    async fn post(&mut self, body: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut request = format!(
            "POST /v1/commands HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.stream.write_all(&request).await?;
        self.stream.flush().await?;
        let head_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buffer[..head_end]).context("a non-UTF-8 head")?;
        let status: u16 = head
            .get(9..12)
            .and_then(|code| code.parse().ok())
            .context("no status in the answer")?;
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .context("an answer without content-length")?;
        while self.buffer.len() < head_end + length {
            self.fill().await?;
        }
        let answer = self.buffer[head_end..head_end + length].to_vec();
        self.buffer.drain(..head_end + length);
        Ok((status, answer))
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 8192];
        let read = self.stream.read(&mut chunk).await?;
        anyhow::ensure!(read > 0, "the server closed the connection");
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
