//! `ledger serve` restarted after a long period stream grew (issue #16 §1, snapshots): the real binary
//! takes a pharmacy's dispensings over HTTP, snapshotting the period every 40 events, and is
//! SIGKILLed; the restarted writer decides the next dispensing on that stream folding only the events
//! after its snapshot (its tracing line says how many). Stopped gracefully (SIGTERM), it snapshots the
//! moved state, and the next start folds nothing.

mod common;

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{FUND_BIN, small_demo};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::period::RecordDispensing;
use ledger::domain::values::ReportingPeriod;
use ledger::log::{CommandId, StreamId};
use ledger_commands::auth::Organisation;
use ledger_commands::demo::dispense::generate;
use ledger_commands::demo::world::World;
use ledger_commands::pki::{DEV_AUDIENCE, DEV_ISSUER, TokenClaims, TokenSigner, Validity, jwks};
use ledger_commands::submit::wire::{CommandEnvelope, WireCommand};

const SEED: u64 = 16;
const CONTRACT: usize = 1;
const EVERY: u64 = 40;
const GROWN: u64 = 130;

struct Server {
    child: Child,
    address: String,
}

fn start(data_dir: &Path, jwks_file: &Path, stderr: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--fund-bin", FUND_BIN])
        .args(["--snapshot-every", &EVERY.to_string()])
        .arg("--jwks")
        .arg(jwks_file)
        .args(["--jwt-issuer", DEV_ISSUER, "--jwt-audience", DEV_AUDIENCE])
        .env("RUST_LOG", "ledger_commands::handler=info,warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .trim_end_matches(" (http)")
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the first line names the address: {line:?}"))
        .to_owned();
    Server { child, address }
}

fn http(address: &str, token: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

fn wait_ready(server: &Server, token: &str) {
    for _ in 0..1200 {
        if http(&server.address, token, "GET", "/readyz", "").is_some_and(|(code, _)| code == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the writer at {} did not become ready", server.address);
}

fn envelope(contract_id: &str, dispensing: RecordDispensing) -> String {
    let envelope = CommandEnvelope {
        command_id: CommandId::derived("serve-snapshot", dispensing.dispensing_id.as_str()),
        stream: StreamId::new(format!("period/{contract_id}/2026-02")).unwrap(),
        actor: None,
        jurisdiction: Jurisdiction::KZ,
        occurred_at: Some(dispensing.dispensed_at),
        correlation_id: None,
        expected_version: None,
        command: WireCommand::RecordDispensing(Box::new(dispensing)),
    };
    serde_json::to_string(&envelope).unwrap()
}

/// Records February dispensing number `index` of the contract; it must be created.
fn dispense(world: &World, server: &Server, token: &str, index: u64) {
    let holder = &world.contracts[CONTRACT];
    let february = ReportingPeriod::month(2026, 2).unwrap();
    let dispensing = generate(world, holder, february, index).unwrap();
    let body = envelope(&holder.contract_id, dispensing);
    let (status, answer) = http(&server.address, token, "POST", "/v1/commands", &body).unwrap();
    assert_eq!(status, 201, "dispensing {index}: {answer}");
}

fn pharmacy_token(jwks_file: &Path, world: &World) -> String {
    let signer = TokenSigner::es256("serve-snapshot").unwrap();
    std::fs::write(jwks_file, serde_json::to_string(&jwks(&[&signer])).unwrap()).unwrap();
    let claims = TokenClaims::new(
        DEV_ISSUER,
        DEV_AUDIENCE,
        "pharmacy",
        Organisation::Kz(world.contracts[CONTRACT].holder.bin),
        Validity::days_from_now(1),
    );
    signer.sign(&claims).unwrap()
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

#[test]
fn a_restarted_writer_folds_only_the_tail_after_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = small_demo(&data_dir, SEED);
    let stream = format!("period/{}/2026-02", world.contracts[CONTRACT].contract_id);
    let jwks_file = dir.path().join("jwks.json");
    let token = pharmacy_token(&jwks_file, &world);
    let snapshots = data_dir.join("writer-state").join("snapshots");

    let first_log = dir.path().join("first.log");
    let server = start(&data_dir, &jwks_file, &first_log);
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
    let server = start(&data_dir, &jwks_file, &second_log);
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
    let server = start(&data_dir, &jwks_file, &third_log);
    wait_ready(&server, &token);
    dispense(&world, &server, &token, GROWN + 1);
    assert_eq!(
        loaded_from_snapshot(&third_log, &stream),
        Some((GROWN + 1, 0)),
        "a graceful stop leaves a snapshot at the stream's end"
    );
    stop(server, "-KILL");
}
