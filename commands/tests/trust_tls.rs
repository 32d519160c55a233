//! The trust boundary over real TLS (issue #13): the real `ledger serve` process with a server
//! certificate, client certificates verified against a CA and its CRL, bearer tokens against a JWKS,
//! and a policy, all generated here (`ledger_commands::pki`; nothing is checked in).
//!
//! - The policy matrix: one command of every type (`schemas/commands/examples`) posted by every kind of
//!   principal (the Fund, the contract's holder, another pharmacy, a regulator, an analyst, an
//!   operator over the network, a Kyrgyz pharmacy), each answer checked against a table of who may
//!   do what written here from the law (not read from `deploy/policy.toml`), and every refused
//!   command checked to have appended nothing.
//! - Transport refusals: no certificate (401), another CA, expired, not yet valid, revoked (handshake
//!   refused), a malformed BIN (401), a tampered, foreign-issuer or expired token (401); a valid token
//!   records the person it names.

mod serve_http;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use chrono::{Duration, Utc};
use ledger::domain::ident::Iin;
use ledger::log::file::FileLog;
use ledger::log::{EventLog, PartitionId, StreamId, StreamVersion};
use ledger_commands::auth::Organisation;
use ledger_commands::pki::{
    ClientSubject, DEV_AUDIENCE, DEV_ISSUER, DevCa, Issued, TokenClaims, TokenSigner, Validity,
    jwks, localhost,
};

use serve_http::{address_of, stop};

const FUND: &str = "900101300007";
/// The holder of `KZ-001` in the examples (`schemas/commands/examples/*.json`).
const HOLDER: &str = "210740486972";
/// The applicant of `KG-1` in the examples.
const KG_PHARMACY: &str = "01234567890123";
const OTHER: &str = "020304500029";
const REGULATOR: &str = "030405600036";
const ANALYST: &str = "040506700043";
const OPERATOR: &str = "010203400011";
const PERSON: &str = "850912495552";

/// Who posts in the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Fund,
    Holder,
    KgPharmacy,
    Other,
    Regulator,
    Analyst,
    Operator,
}

const EVERYONE: [Who; 7] = [
    Who::Fund,
    Who::Holder,
    Who::KgPharmacy,
    Who::Other,
    Who::Regulator,
    Who::Analyst,
    Who::Operator,
];

impl Who {
    fn organisation(self) -> &'static str {
        match self {
            Who::Fund => FUND,
            Who::Holder => HOLDER,
            Who::KgPharmacy => KG_PHARMACY,
            Who::Other => OTHER,
            Who::Regulator => REGULATOR,
            Who::Analyst => ANALYST,
            Who::Operator => OPERATOR,
        }
    }
}

/// Who may issue each command type of the examples, from the law (S001, S002) and issue #13: the
/// contract's holder acts on its own contract and period streams and registers its own keys; the Fund
/// decides, receives, approves, signs, pays, publishes and moves budgets; the KG pharmacy acts on
/// KG-1; regulators, analysts and an operator over the network issue nothing. (The examples'
/// `SendTerminationNotice` is sent by the Fund, so only the Fund may post it as written.)
fn may(command_type: &str, who: Who) -> bool {
    const HOLDER_COMMANDS: &[&str] = &[
        "ReceiveApplication",
        "ChangePharmacyNetwork",
        "ReceiveTerminationNotice",
        "RecordDispensing",
        "ReverseDispensing",
        "SubmitRegistry",
        "SubmitPaymentAct",
        "RegisterSigningKey",
        "RevokeSigningKey",
    ];
    const KG_PHARMACY_COMMANDS: &[&str] = &[
        "ReceiveKgContractApplication",
        "FileKgContractObjection",
        "RecordKgDispensing",
        "ReverseKgDispensing",
        "SubmitKgPaymentReport",
        "FileKgDisputeClaim",
    ];
    const FUND_COMMANDS: &[&str] = &[
        "ReviewApplication",
        "ChangeIssCertification",
        "SendTerminationNotice",
        "ReceiveTerminationNotice",
        "ReceiveRegistry",
        "ApproveRegistry",
        "RejectRegistry",
        "ReceivePaymentAct",
        "SignPaymentAct",
        "SuspendPaymentClock",
        "ResumePaymentClock",
        "MakePayment",
        "RecordDeadlineBreach",
        "SealPeriod",
        "PublishPriceList",
        "AllocateBudget",
        "TransferBudgetToFund",
        "CommitBudget",
        "PayFromBudget",
        "RedistributeBudget",
        "CloseBudgetYear",
        "ChargeCarriedOverrun",
        "ConcludeKgContract",
        "RefuseKgContract",
        "DecideKgContractRenewal",
        "ApproveKgPaymentReport",
        "RejectKgPaymentReport",
        "PayKgSettlement",
        "PublishReferenceBook",
        "AssessRecovery",
        "FileKgDisputeClaim",
        "ResolveKgDispute",
    ];
    match who {
        Who::Fund => FUND_COMMANDS.contains(&command_type),
        Who::Holder => HOLDER_COMMANDS.contains(&command_type),
        Who::KgPharmacy => KG_PHARMACY_COMMANDS.contains(&command_type),
        Who::Other | Who::Regulator | Who::Analyst | Who::Operator => false,
    }
}

/// The PKI of one test: a CA, the server's certificate, clients, a CRL, a token signer, and files.
struct Pki {
    dir: tempfile::TempDir,
    ca: DevCa,
    signer: TokenSigner,
    revoked: Issued,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::generate("trust test CA", Validity::days_from_now(30)).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca.certificate().cert_pem).unwrap();
        ca.server(&["localhost", "127.0.0.1"], Validity::days_from_now(30))
            .unwrap()
            .write(dir.path(), "server")
            .unwrap();
        let revoked = ca
            .client(&subject(HOLDER, Some(PERSON)), Validity::days_from_now(30))
            .unwrap();
        let crl = ca.crl(&[&revoked], 30).unwrap();
        std::fs::write(dir.path().join("crl.pem"), crl).unwrap();
        let signer = TokenSigner::es256("trust-test").unwrap();
        let keys = serde_json::to_string(&jwks(&[&signer])).unwrap();
        std::fs::write(dir.path().join("jwks.json"), keys).unwrap();
        let policy = ledger_commands::auth::policy::DEFAULT_POLICY
            .replacen(
                "Regulator = []",
                &format!("Regulator = [\"{REGULATOR}\"]"),
                1,
            )
            .replacen("Analyst = []", &format!("Analyst = [\"{ANALYST}\"]"), 1)
            .replacen("Operator = []", &format!("Operator = [\"{OPERATOR}\"]"), 1);
        std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
        Pki {
            dir,
            ca,
            signer,
            revoked,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A client configuration presenting a certificate of `organisation` (or none).
    fn client(&self, certificate: Option<&Issued>) -> Arc<rustls::ClientConfig> {
        self.ca.client_config(certificate).unwrap()
    }

    fn certificate(&self, organisation: &str) -> Issued {
        self.ca
            .client(
                &subject(organisation, Some(PERSON)),
                Validity::days_from_now(30),
            )
            .unwrap()
    }

    fn token(&self, organisation: &str, validity: Validity, issuer: &str) -> String {
        let organisation: Organisation = organisation.parse().unwrap();
        let mut claims =
            TokenClaims::new(issuer, DEV_AUDIENCE, "operator-1", organisation, validity);
        claims.iin = Some(PERSON.into());
        self.signer.sign(&claims).unwrap()
    }
}

fn subject(organisation: &str, person: Option<&str>) -> ClientSubject {
    let person = person.map(|iin| iin.parse::<Iin>().unwrap());
    ClientSubject::new(
        "system",
        "Test organisation",
        organisation.parse().unwrap(),
        person,
    )
}

/// The server process, killed if the test panics before stopping it.
struct Running(Option<Child>);

impl Running {
    fn stop(mut self) -> std::process::ExitStatus {
        stop(self.0.take().expect("running"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `ledger serve` with TLS, client certificates, tokens and the test policy on `data_dir`.
fn start(data_dir: &Path, pki: &Pki) -> (Running, String) {
    let path = |name: &str| pki.path(name).to_str().unwrap().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--fund-bin", FUND])
        .args([
            "--tls-cert",
            &path("server.pem"),
            "--tls-key",
            &path("server-key.pem"),
        ])
        .args([
            "--client-ca",
            &path("ca.pem"),
            "--client-crl",
            &path("crl.pem"),
        ])
        .args(["--jwks", &path("jwks.json"), "--jwt-issuer", DEV_ISSUER])
        .args([
            "--jwt-audience",
            DEV_AUDIENCE,
            "--policy",
            &path("policy.toml"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let address = address_of(&mut child);
    (Running(Some(child)), address)
}

/// One HTTPS request (`Connection: close`); `Err` when the TLS handshake or the exchange failed.
fn https(
    config: Arc<rustls::ClientConfig>,
    address: &str,
    request: (&str, &str, Option<&str>, &str),
) -> std::io::Result<(u16, serde_json::Value)> {
    let (method, path, token, body) = request;
    let connection =
        rustls::ClientConnection::new(config, localhost()).map_err(std::io::Error::other)?;
    let socket = TcpStream::connect(address)?;
    socket.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        // The server closes without close_notify after `Connection: close`; what was read stands.
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {
        }
        Err(error) => return Err(error),
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let value =
        serde_json::from_str(body).unwrap_or_else(|_| serde_json::Value::String(body.into()));
    Ok((status, value))
}

fn wait_ready(config: &Arc<rustls::ClientConfig>, address: &str) {
    for _ in 0..600 {
        if let Ok((200, _)) = https(Arc::clone(config), address, ("GET", "/readyz", None, "")) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the writer at {address} did not become ready");
}

/// Every checked-in example command: (type, JSON text).
fn examples() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/commands/examples");
    let mut examples: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    examples.sort();
    examples
}

/// The records in the log of `data_dir` (a read-only open beside the running writer).
fn records(data_dir: &Path) -> u64 {
    let log = FileLog::open_read_only(data_dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut total = 0;
        for partition in 0..log.partitions() {
            total += log.end_offset(PartitionId(partition)).await.unwrap().0;
        }
        total
    })
}

/// The holders of KZ-001 and KG-1 apply first, as local administration, so that the log knows whose
/// contracts they are.
fn applications(data_dir: &Path) {
    let file = data_dir.with_extension("applications.jsonl");
    let examples = examples();
    let lines: Vec<&str> = ["ReceiveApplication", "ReceiveKgContractApplication"]
        .iter()
        .map(|name| {
            let text = &examples.iter().find(|(type_, _)| type_ == name).unwrap().1;
            text.as_str()
        })
        .collect();
    let lines: Vec<String> = lines
        .iter()
        .map(|text| {
            serde_json::from_str::<serde_json::Value>(text)
                .unwrap()
                .to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["submit", file.to_str().unwrap(), "--fund-bin", FUND])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// A running writer over HTTPS on a log where the holders of KZ-001 and KG-1 have applied.
struct Setup {
    pki: Pki,
    _data: tempfile::TempDir,
    data_dir: PathBuf,
    child: Running,
    address: String,
    /// A client that presents no certificate.
    anonymous: Arc<rustls::ClientConfig>,
}

impl Setup {
    fn start() -> Setup {
        let pki = Pki::new();
        let data = tempfile::tempdir().unwrap();
        let data_dir = data.path().join("data");
        applications(&data_dir);
        let (child, address) = start(&data_dir, &pki);
        let anonymous = pki.client(None);
        wait_ready(&anonymous, &address);
        Setup {
            pki,
            _data: data,
            data_dir,
            child,
            address,
            anonymous,
        }
    }
}

/// Issue #13's matrix: every command type × every kind of principal through the real HTTPS server,
/// each answer as the table says, and nothing appended for a refusal.
#[test]
fn every_command_type_by_every_principal() {
    let Setup {
        pki,
        _data,
        data_dir,
        child,
        address,
        anonymous: _,
    } = Setup::start();
    let clients: Vec<(Who, Arc<rustls::ClientConfig>)> = EVERYONE
        .iter()
        .map(|&who| (who, pki.client(Some(&pki.certificate(who.organisation())))))
        .collect();
    let mut appended = records(&data_dir);
    let mut checked = 0;
    for (command_type, body) in examples() {
        for (who, client) in &clients {
            let (status, answer) = https(
                Arc::clone(client),
                &address,
                ("POST", "/v1/commands", None, &body),
            )
            .unwrap_or_else(|error| panic!("{command_type} by {who:?}: {error}"));
            let allowed = may(&command_type, *who);
            let label = format!("{command_type} by {who:?}: {status} {answer}");
            if allowed {
                assert!(![401, 403].contains(&status), "allowed, but {label}");
            } else {
                assert_eq!(status, 403, "{label}");
                // The holder may send notices, but not one that says the Fund sent it.
                let rule = answer["rule"].as_str().unwrap();
                assert!(["POLICY-DENY", "ACTOR-MISMATCH"].contains(&rule), "{label}");
            }
            if status == 201 {
                appended += u64::try_from(answer["positions"].as_array().unwrap().len()).unwrap();
            }
            assert_eq!(records(&data_dir), appended, "only a 201 appends: {label}");
            checked += 1;
        }
    }
    let types = ledger_commands::submit::wire::WireCommand::TYPES.len();
    assert_eq!(
        checked,
        types * EVERYONE.len(),
        "every command type was posted by everyone"
    );
    assert!(child.stop().success());
}

/// A client that trusts our server but presents a certificate of another CA.
fn foreign_client(pki: &Pki) -> Arc<rustls::ClientConfig> {
    let other_ca = DevCa::generate("another CA", Validity::days_from_now(30)).unwrap();
    let foreign = other_ca
        .client(&subject(FUND, None), Validity::days_from_now(30))
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.certificate().certificate()).unwrap();
    let mut config =
        rustls::ClientConfig::builder_with_provider(ledger_commands::auth::tls::ring_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![foreign.certificate()], foreign.private_key())
            .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The handshake fails for a certificate of another CA, expired, not yet valid or revoked.
fn assert_handshakes_refused(pki: &Pki, address: &str, body: &str) {
    let now = Utc::now();
    let expired = Validity::between(now - Duration::days(10), now - Duration::days(1));
    let early = Validity::between(now + Duration::days(1), now + Duration::days(10));
    let issue = |validity| pki.ca.client(&subject(FUND, None), validity).unwrap();
    for (why, client) in [
        ("another CA", foreign_client(pki)),
        ("expired", pki.client(Some(&issue(expired)))),
        ("not yet valid", pki.client(Some(&issue(early)))),
        ("revoked", pki.client(Some(&pki.revoked))),
    ] {
        let answer = https(client, address, ("POST", "/v1/commands", None, body));
        assert!(
            answer.is_err(),
            "{why}: the handshake is refused, not {answer:?}"
        );
    }
}

/// No certificate, a malformed BIN, and tampered, expired or foreign tokens are 401.
fn assert_unauthenticated(pki: &Pki, address: &str, body: &str) {
    let anonymous = pki.client(None);
    let post = |client, token: Option<&str>| {
        https(client, address, ("POST", "/v1/commands", token, body)).unwrap()
    };
    let (status, answer) = post(Arc::clone(&anonymous), None);
    assert_eq!(
        (status, answer["rule"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "{answer}"
    );
    let bad_bin = ClientSubject {
        organisational_unit: "BIN900101300008".into(),
        ..subject(FUND, None)
    };
    let bad = pki
        .ca
        .client(&bad_bin, Validity::days_from_now(30))
        .unwrap();
    let (status, answer) = post(pki.client(Some(&bad)), None);
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("900101300008"),
        "{answer}"
    );
    let now = Utc::now();
    let mut tampered = pki.token(FUND, Validity::days_from_now(1), DEV_ISSUER);
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let stale = Validity::between(now - Duration::days(2), now - Duration::days(1));
    let stale = pki.token(FUND, stale, DEV_ISSUER);
    let foreign = pki.token(
        FUND,
        Validity::days_from_now(1),
        "https://idp.elsewhere.example",
    );
    for (why, token) in [
        ("tampered", &tampered),
        ("expired", &stale),
        ("other issuer", &foreign),
    ] {
        let (status, answer) = post(Arc::clone(&anonymous), Some(token));
        assert_eq!(status, 401, "{why}: {answer}");
    }
}

/// Refusals at the transport (see the two helpers above) append nothing; a valid token records the
/// person it names.
#[test]
fn certificates_and_tokens_are_checked_over_the_wire() {
    let Setup {
        pki,
        _data,
        data_dir,
        child,
        address,
        anonymous,
    } = Setup::start();
    let before = records(&data_dir);
    let examples = examples();
    let allocation = &examples
        .iter()
        .find(|(type_, _)| type_ == "AllocateBudget")
        .unwrap()
        .1;
    assert_handshakes_refused(&pki, &address, allocation);
    assert_unauthenticated(&pki, &address, allocation);
    assert_eq!(
        records(&data_dir),
        before,
        "no refused request appended anything"
    );

    let token = pki.token(FUND, Validity::days_from_now(1), DEV_ISSUER);
    let request = (
        "POST",
        "/v1/commands",
        Some(token.as_str()),
        allocation.as_str(),
    );
    let (status, answer) = https(anonymous, &address, request).unwrap();
    assert_eq!(status, 201, "{answer}");
    let log = FileLog::open_read_only(&data_dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stream = StreamId::new("budget/KG/KG_CHI_ADDITIONAL/2026").unwrap();
    let events = runtime
        .block_on(log.read_stream(&stream, StreamVersion(1)))
        .unwrap();
    let actor = &events[0].body.actor;
    assert_eq!(
        actor.person,
        Some(PERSON.parse().unwrap()),
        "the token's person is recorded"
    );
    assert_eq!(
        Organisation::of_actor(&actor.id),
        Some(FUND.parse().unwrap())
    );
    assert!(child.stop().success());
}
