//! Shared by the tests of `ledger serve`: a command to post, the real binary on a free port (plain HTTP
//! on loopback, taking bearer tokens of a JWKS made here), and raw HTTP/1.1 over a `TcpStream` that
//! presents the key owner's token (no HTTP client dependency). The trust boundary itself is tested
//! in `trust.rs`, `trust_tls.rs` and `tls_token`.

#![allow(dead_code)]

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use ledger_commands::pki::{DEV_AUDIENCE, DEV_ISSUER, TokenClaims, TokenSigner, Validity, jwks};

pub const FUND_BIN: &str = "900101300007";
pub const KEY_OWNER: &str = "210740486972";

/// The ed25519 public key of a fixed test seed, as 64 hex digits.
pub fn public_key_hex() -> String {
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    hex::encode(signing.verifying_key().to_bytes())
}

/// A `RegisterSigningKey` command on `keys/<KEY_OWNER>` with the given command id.
pub fn register_key(command_id: &str, expected_version: Option<u64>) -> String {
    let mut command = serde_json::json!({
        "command_id": command_id,
        "stream": format!("keys/{KEY_OWNER}"),
        "actor": {"id": {"Organisation": KEY_OWNER}, "role": "Pharmacy"},
        "jurisdiction": "KZ",
        "occurred_at": "2026-01-05T09:00:00Z",
        "command": {
            "type": "RegisterSigningKey",
            "key_id": "K-1",
            "public_key": public_key_hex(),
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_to": "2027-01-01T00:00:00Z",
            "signatory_iin": null
        }
    });
    if let Some(version) = expected_version {
        command["expected_version"] = version.into();
    }
    command.to_string()
}

/// The JWKS file every server of this test process trusts, and a token of the key owner signed by it.
fn tokens() -> &'static (tempfile::TempDir, String) {
    static TOKENS: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let signer = TokenSigner::es256("serve-test").unwrap();
        let keys = serde_json::to_string(&jwks(&[&signer])).unwrap();
        std::fs::write(dir.path().join("jwks.json"), keys).unwrap();
        let owner = KEY_OWNER.parse().unwrap();
        let claims = TokenClaims::new(
            DEV_ISSUER,
            DEV_AUDIENCE,
            "key-owner",
            owner,
            Validity::days_from_now(1),
        );
        (dir, signer.sign(&claims).unwrap())
    })
}

/// Sends one raw HTTP/1.1 request as the key owner (its bearer token) and returns the status code
/// and the body.
pub fn http(address: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        tokens().1,
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub fn start(data_dir: &Path, global: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(global)
        .args(["serve", "--listen", "127.0.0.1:0", "--fund-bin", FUND_BIN])
        .arg("--jwks")
        .arg(tokens().0.path().join("jwks.json"))
        .args(["--jwt-issuer", DEV_ISSUER, "--jwt-audience", DEV_AUDIENCE])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let address = address_of(&mut child);
    (child, address)
}

/// The address a started service prints on its first line (`listening on ADDR (http|https)`).
pub fn address_of(child: &mut Child) -> String {
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_once(" (").map(|(address, _)| address))
        .unwrap_or_else(|| panic!("the first line names the address: {line:?}"))
        .to_owned()
}

/// Waits until `/readyz` answers 200 (the log is open), for at most a minute.
pub fn wait_ready(address: &str) {
    for _ in 0..600 {
        if http(address, "GET", "/readyz", "").0 == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the writer at {address} did not become ready");
}

/// Sends SIGTERM and waits (at most 30 s) for the exit.
pub fn stop(mut child: Child) -> ExitStatus {
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    for _ in 0..300 {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("the server did not stop on SIGTERM");
}
