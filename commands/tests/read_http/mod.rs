//! Shared by the tests of `ledger read` (issue #14): a small demo and the development PKI of its world
//! (`ledger pki dev`, the real command), the real `ledger read` and `ledger serve` processes over
//! HTTPS with client certificates, and raw HTTP/1.1 over rustls (no HTTP client dependency).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ledger::log::file::FileLog;
use ledger::log::{EventLog, Offset, PartitionId, read_partition};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The Fund of the tests (any valid BIN: the reader only needs to know who the Fund is).
pub const FUND: &str = "900101300007";

/// A data directory with a small demo in it and the development PKI of the demo's world.
pub struct World {
    pub dir: tempfile::TempDir,
    /// `--log URL` when the log is on Kafka.
    pub log: Option<String>,
}

impl World {
    /// `ledger demo` (50 dispensings, seed 2026) and `ledger pki dev` for its world.
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        crate::common::small_demo(&dir.path().join("data"), 2026);
        World::pki_for(dir, None)
    }

    /// The same on the Kafka log `url` (the data directory holds only views).
    pub fn on_kafka(url: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let output = crate::common::ledger(
            &dir.path().join("data"),
            &[
                "--log",
                url,
                "demo",
                "--dispensings",
                "50",
                "--kg-dispensings",
                "120",
                "--no-sync",
                "--seed",
                "2026",
            ],
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        World::pki_for(dir, Some(url.to_owned()))
    }

    fn pki_for(dir: tempfile::TempDir, log: Option<String>) -> World {
        let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(["pki", "dev", "--seed", "2026", "--fund-bin", FUND, "--out"])
            .arg(dir.path().join("pki"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(dir.path().join("pseudonym.key"), [42u8; 32]).unwrap();
        World { dir, log }
    }

    /// `--log URL` for a command, when the log is on Kafka.
    pub fn log_args(&self) -> Vec<String> {
        self.log
            .iter()
            .flat_map(|url| ["--log".to_owned(), url.clone()])
            .collect()
    }

    /// Runs `ledger ARGS…` on this world's log; panics unless it succeeds.
    pub fn cli(&self, args: &[&str]) -> Vec<u8> {
        let mut all: Vec<String> = self.log_args();
        all.extend(args.iter().map(|arg| (*arg).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let output = crate::common::ledger(&self.data(), &all);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn pki(&self, name: &str) -> PathBuf {
        self.dir.path().join("pki").join(name)
    }

    /// A client with `who`'s certificate (`clients/<who>.pem`), or none.
    pub fn client(&self, who: Option<&str>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(self.pki("ca.pem")).unwrap() {
            roots.add(certificate.unwrap()).unwrap();
        }
        let provider = ledger_commands::auth::tls::ring_provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match who {
            Some(who) => {
                let cert = self.pki(&format!("clients/{who}.pem"));
                let key = self.pki(&format!("clients/{who}-key.pem"));
                let chain = CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let key = PrivateKeyDer::from_pem_file(key).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// The token `tokens/<name>.jwt`.
    pub fn token(&self, name: &str) -> String {
        std::fs::read_to_string(self.pki(&format!("tokens/{name}.jwt")))
            .unwrap()
            .trim()
            .to_owned()
    }

    fn trust_args(&self) -> Vec<String> {
        let path = |name: &str| self.pki(name).to_str().unwrap().to_owned();
        vec![
            "--fund-bin".into(),
            FUND.into(),
            "--policy".into(),
            path("policy.toml"),
            "--tls-cert".into(),
            path("server.pem"),
            "--tls-key".into(),
            path("server-key.pem"),
            "--client-ca".into(),
            path("ca.pem"),
            "--jwks".into(),
            path("jwks.json"),
            "--jwt-issuer".into(),
            ledger_commands::pki::DEV_ISSUER.into(),
            "--jwt-audience".into(),
            ledger_commands::pki::DEV_AUDIENCE.into(),
        ]
    }

    /// Starts `ledger read` on the data directory, with its views in `views`.
    pub fn reader(&self, views: &Path, extra: &[&str]) -> Service {
        let key = self.dir.path().join("pseudonym.key");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
        command
            .arg("--data-dir")
            .arg(self.data())
            .args(self.log_args())
            .args(["read", "--listen", "127.0.0.1:0", "--views"])
            .arg(views)
            .arg("--pseudonym-key")
            .arg(key)
            .args(self.trust_args())
            .args(extra);
        let service = Service::start(command);
        service.wait_ready(&self.client(Some("fund")));
        service
    }

    /// Starts `ledger serve` (the writer) on the data directory.
    pub fn writer(&self) -> Service {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
        command
            .arg("--data-dir")
            .arg(self.data())
            .args(self.log_args())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(self.trust_args());
        let service = Service::start(command);
        service.wait_ready(&self.client(Some("fund")));
        service
    }
}

/// A running service, killed if the test ends before stopping it.
pub struct Service {
    child: Option<Child>,
    pub address: String,
}

impl Service {
    fn start(mut command: Command) -> Service {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|rest| rest.strip_suffix(" (https)"))
            .unwrap_or_else(|| panic!("the first line names the HTTPS address: {line:?}"))
            .to_owned();
        Service {
            child: Some(child),
            address,
        }
    }

    /// `host:port` with the name of the server certificate.
    pub fn port(&self) -> u16 {
        self.address.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn wait_ready(&self, client: &Arc<rustls::ClientConfig>) {
        for _ in 0..600 {
            if let Ok(answer) = get(client, &self.address, "/readyz", &[])
                && answer.status == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the service at {} did not become ready", self.address);
    }

    /// Stops it with SIGTERM and waits; returns whether it exited 0.
    pub fn stop(mut self) -> bool {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        child.wait().unwrap().success()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Opens a TLS connection to `address` and sends one request (`Connection: close`).
fn send(
    client: &Arc<rustls::ClientConfig>,
    address: &str,
    request: &str,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let connection =
        rustls::ClientConnection::new(Arc::clone(client), ledger_commands::pki::localhost())
            .map_err(std::io::Error::other)?;
    let socket = TcpStream::connect(address)?;
    socket.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    Ok(stream)
}

/// One GET with extra headers; the body is de-chunked.
pub fn get(
    client: &Arc<rustls::ClientConfig>,
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Answer> {
    request(client, address, "GET", path, headers, "")
}

/// One request with extra headers and a body.
pub fn request(
    client: &Arc<rustls::ClientConfig>,
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Answer> {
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let text = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = send(client, address, &text)?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(error) => return Err(error),
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> std::io::Result<Answer> {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = body.windows(2).position(|window| window == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 2 + size + 2..];
    }
}

/// Reads an NDJSON feed until its first heartbeat (an empty line: the feed is idle, caught up) and
/// returns the events before it.
pub fn feed_until_idle(
    client: &Arc<rustls::ClientConfig>,
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (Answer, Vec<serde_json::Value>) {
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let text = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/x-ndjson\r\n{extra}\r\n"
    );
    let stream = send(client, address, &text).unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line).unwrap();
        head.extend_from_slice(&line);
        if line == b"\r\n" || line.is_empty() {
            break;
        }
    }
    let answer = parse(&head).unwrap();
    let mut events = Vec::new();
    if answer.status != 200 {
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        return (
            Answer {
                body: rest,
                ..answer
            },
            events,
        );
    }
    // Chunked: a size line, the chunk, CRLF. Chunks hold whole lines.
    let mut pending = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).unwrap();
        pending.extend_from_slice(&chunk[..size]);
        while let Some(end) = pending.iter().position(|byte| *byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if line == b"\n" {
                return (answer, events);
            }
            events.push(serde_json::from_slice(&line).unwrap());
        }
    }
}

/// Every event id in the log of `data_dir`, and how many records it holds.
pub fn log_event_ids(data_dir: &Path) -> Vec<String> {
    let log = FileLog::open_read_only(data_dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use futures::StreamExt;
        let mut ids = Vec::new();
        for partition in 0..log.partitions() {
            let mut records = read_partition(&log, PartitionId(partition), Offset(0));
            while let Some(record) = records.next().await {
                ids.push(record.unwrap().body.event_id.to_string());
            }
        }
        ids
    })
}
