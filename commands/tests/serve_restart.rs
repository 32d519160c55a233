//! `ledger serve` killed mid-load and restarted (issue #16 §1): the real binary takes a pharmacy's
//! dispensings over HTTP from several connections, is SIGKILLed while they arrive, and starts again
//! from its persisted state (checkpoint plus the log after it). Every pack and receipt the log holds
//! is still refused in another month (M-06), and a new pack is still taken.

mod common;

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{FUND_BIN, dispensings, small_demo};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::period::RecordDispensing;
use ledger::domain::values::{DispensingId, ReportingPeriod};
use ledger::log::{CommandId, StreamId};
use ledger_commands::auth::Organisation;
use ledger_commands::demo::dispense::generate;
use ledger_commands::demo::world::World;
use ledger_commands::pki::{DEV_AUDIENCE, DEV_ISSUER, TokenClaims, TokenSigner, Validity, jwks};
use ledger_commands::submit::wire::{CommandEnvelope, WireCommand};

const SEED: u64 = 16;
const CONTRACT: usize = 1;
const LOAD: u64 = 600;
const CONNECTIONS: u64 = 4;

struct Server {
    child: Child,
    address: String,
}

fn start(data_dir: &Path, jwks_file: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--fund-bin", FUND_BIN])
        .arg("--jwks")
        .arg(jwks_file)
        .args(["--jwt-issuer", DEV_ISSUER, "--jwt-audience", DEV_AUDIENCE])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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

/// One request with `token`; `None` when the connection broke (the server was killed).
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

fn envelope(contract_id: &str, period: &str, dispensing: RecordDispensing) -> String {
    let envelope = CommandEnvelope {
        command_id: CommandId::derived(
            "serve-restart",
            &format!("{period}/{}", dispensing.dispensing_id),
        ),
        stream: StreamId::new(format!("period/{contract_id}/{period}")).unwrap(),
        actor: None,
        jurisdiction: Jurisdiction::KZ,
        occurred_at: Some(dispensing.dispensed_at),
        correlation_id: None,
        expected_version: None,
        command: WireCommand::RecordDispensing(Box::new(dispensing)),
    };
    serde_json::to_string(&envelope).unwrap()
}

/// Posts the February load from `CONNECTIONS` threads until `stop`; counts the created ones.
fn load(
    world: &Arc<World>,
    address: &str,
    token: &str,
    stop: &Arc<AtomicBool>,
    created: &Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..CONNECTIONS)
        .map(|connection| {
            let (world, address, token) = (Arc::clone(world), address.to_owned(), token.to_owned());
            let (stop, created) = (Arc::clone(stop), Arc::clone(created));
            std::thread::spawn(move || {
                let holder = &world.contracts[CONTRACT];
                let february = ReportingPeriod::month(2026, 2).unwrap();
                for index in (connection..LOAD).step_by(usize::try_from(CONNECTIONS).unwrap()) {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let dispensing = generate(&world, holder, february, index).unwrap();
                    let body = envelope(&holder.contract_id, "2026-02", dispensing);
                    match http(&address, &token, "POST", "/v1/commands", &body) {
                        Some((201, _)) => {
                            created.fetch_add(1, Ordering::Relaxed);
                        }
                        Some((status, body)) => {
                            panic!("a dispensing was answered {status}: {body}")
                        }
                        None => return, // killed mid-request
                    }
                }
            })
        })
        .collect()
}

/// Writes the JWKS the server trusts to `jwks_file`; returns a token of the contract's pharmacy.
fn pharmacy_token(jwks_file: &Path, world: &World) -> String {
    let signer = TokenSigner::es256("serve-restart").unwrap();
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

/// A March dispensing (number `index`) of the pack `first` took in February is refused under M-06,
/// naming `first`.
fn assert_pack_refused(
    world: &World,
    server: &Server,
    token: &str,
    index: u64,
    first: &ledger::domain::period::events::DispensingRecorded,
) {
    let holder = &world.contracts[CONTRACT];
    let march = ReportingPeriod::month(2026, 3).unwrap();
    let mut again = generate(world, holder, march, index).unwrap();
    again.marking_code = first.marking_code.clone();
    let body = envelope(&holder.contract_id, "2026-03", again);
    let (status, answer) = http(&server.address, token, "POST", "/v1/commands", &body).unwrap();
    assert_eq!(
        status, 422,
        "pack of {} paid again: {answer}",
        first.dispensing_id
    );
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["rule"], "M-06", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains(first.dispensing_id.as_str()),
        "the refusal names the first dispensing: {answer}"
    );
}

#[test]
fn a_writer_killed_mid_load_still_enforces_m06_after_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = Arc::new(small_demo(&data_dir, SEED));
    let holder = &world.contracts[CONTRACT];
    let jwks_file = dir.path().join("jwks.json");
    let token = pharmacy_token(&jwks_file, &world);

    let mut server = start(&data_dir, &jwks_file);
    wait_ready(&server, &token);
    let (stop, created) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let loaders = load(&world, &server.address, &token, &stop, &created);
    while created.load(Ordering::Relaxed) < 150 {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.child.kill().unwrap(); // SIGKILL, with requests in flight
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        loader.join().unwrap();
    }
    let stream = format!("period/{}/2026-02", holder.contract_id);
    let february = dispensings(&data_dir, &stream);
    assert!(february.len() >= 150, "what was created is in the log");
    assert!(
        february.len() < usize::try_from(LOAD).unwrap(),
        "the writer was killed mid-load"
    );
    assert!(
        data_dir.join("writer-state").join("db").exists(),
        "the writer keeps its state beside the log"
    );

    let server = start(&data_dir, &jwks_file);
    wait_ready(&server, &token);
    let march = ReportingPeriod::month(2026, 3).unwrap();
    // The newest dispensings first: they are the ones the killed writer had not yet checkpointed.
    for (index, first) in (0u64..).zip(february.iter().rev().take(40)) {
        assert_pack_refused(&world, &server, &token, 10_000 + index, first);
    }
    let fresh = generate(&world, holder, march, 20_000).unwrap();
    let fresh_id: DispensingId = fresh.dispensing_id.clone();
    let (status, answer) = http(
        &server.address,
        &token,
        "POST",
        "/v1/commands",
        &envelope(&holder.contract_id, "2026-03", fresh),
    )
    .unwrap();
    assert_eq!(status, 201, "a new pack is taken ({fresh_id}): {answer}");
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
