//! A real `ledger serve` for the tests that kill and restart it: started on a free loopback port,
//! plain HTTP/1.1 requests with a bearer token, and the JSON envelope of a dispensing.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::period::RecordDispensing;
use ledger::log::{CommandId, StreamId};
use ledger_commands::auth::Organisation;
use ledger_commands::pki::{DEV_AUDIENCE, DEV_ISSUER, TokenClaims, TokenSigner, Validity, jwks};
use ledger_commands::submit::wire::{CommandEnvelope, WireCommand};

use super::FUND_BIN;

pub struct Server {
    pub child: Child,
    pub address: String,
}

/// Starts `ledger serve` on `data_dir` with tokens checked against `jwks_file`, `extra` arguments and
/// `env`, its standard error to `stderr` (or nowhere); returns once it names its address.
pub fn start(
    data_dir: &Path,
    jwks_file: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    stderr: Option<&Path>,
) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--fund-bin", FUND_BIN])
        .args(extra)
        .arg("--jwks")
        .arg(jwks_file)
        .args(["--jwt-issuer", DEV_ISSUER, "--jwt-audience", DEV_AUDIENCE])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr.map_or_else(Stdio::null, |path| {
            std::fs::File::create(path).unwrap().into()
        }));
    let mut child = command.spawn().unwrap();
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
pub fn http(
    address: &str,
    token: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(u16, String)> {
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

pub fn wait_ready(server: &Server, token: &str) {
    for _ in 0..1200 {
        if http(&server.address, token, "GET", "/readyz", "").is_some_and(|(code, _)| code == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the writer at {} did not become ready", server.address);
}

/// The JSON envelope of `dispensing` on `contract_id`'s period `month`, its command id derived from
/// `namespace`, the month and the dispensing id.
pub fn dispensing_envelope(
    namespace: &str,
    contract_id: &str,
    month: &str,
    dispensing: RecordDispensing,
) -> String {
    let envelope = CommandEnvelope {
        command_id: CommandId::derived(namespace, &format!("{month}/{}", dispensing.dispensing_id)),
        stream: StreamId::new(format!("period/{contract_id}/{month}")).unwrap(),
        actor: None,
        jurisdiction: Jurisdiction::KZ,
        occurred_at: Some(dispensing.dispensed_at),
        correlation_id: None,
        expected_version: None,
        command: WireCommand::RecordDispensing(Box::new(dispensing)),
    };
    serde_json::to_string(&envelope).unwrap()
}

/// Writes the JWKS of a new signer `key_id` to `jwks_file` (what the server trusts); returns a
/// day-long token of the pharmacy with BIN `bin`.
pub fn pharmacy_token(jwks_file: &Path, key_id: &str, bin: Bin) -> String {
    let signer = TokenSigner::es256(key_id).unwrap();
    std::fs::write(jwks_file, serde_json::to_string(&jwks(&[&signer])).unwrap()).unwrap();
    let claims = TokenClaims::new(
        DEV_ISSUER,
        DEV_AUDIENCE,
        "pharmacy",
        Organisation::Kz(bin),
        Validity::days_from_now(1),
    );
    signer.sign(&claims).unwrap()
}
