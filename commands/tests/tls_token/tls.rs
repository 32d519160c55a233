//! Client certificates (mTLS): real handshakes between a server configured by `server_config` and
//! `tokio-rustls` clients, over loopback sockets.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ledger_commands::auth::Principal;
use ledger_commands::auth::principal::{Channel, Organisation};
use ledger_commands::auth::tls::{
    AuthFailure, TlsFiles, principal_from_certificate, principal_from_peer, server_config,
};
use ledger_commands::pki::{ClientSubject, DevCa, Issued, Validity, localhost, write_public};
use proptest::prelude::*;
use rustls::pki_types::CertificateRevocationListDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{BIN, IIN, KG_TIN, with_check_digit, with_wrong_check_digit};

/// A bound on each handshake, so that a bug shows as a failure rather than a hung test.
const HANDSHAKE_BOUND: Duration = Duration::from_secs(30);

/// A CA, a server certificate for localhost and the files of a server that trusts the CA for client
/// certificates.
struct Setup {
    ca: DevCa,
    files: TlsFiles,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::generate("test CA", Validity::days_from_now(30)).unwrap();
        let server = ca
            .server(&["localhost", "127.0.0.1"], Validity::days_from_now(30))
            .unwrap();
        let (cert, key) = server.write(dir.path(), "server").unwrap();
        let client_ca = dir.path().join("ca.pem");
        write_public(&client_ca, &ca.certificate().cert_pem).unwrap();
        Setup {
            files: TlsFiles {
                cert,
                key,
                client_ca: Some(client_ca),
                client_crl: Vec::new(),
            },
            ca,
            dir,
        }
    }

    fn client(&self, subject: &ClientSubject, validity: Validity) -> Issued {
        self.ca.client(subject, validity).unwrap()
    }

    /// Handshakes with a client presenting `client` (or nothing) and trusting this setup's CA.
    async fn handshake(&self, client: Option<&Issued>) -> Outcome {
        handshake(
            server_config(&self.files).unwrap(),
            self.ca.client_config(client).unwrap(),
        )
        .await
    }
}

/// A KZ pharmacy's system certificate, acted for by a person.
fn pharmacy() -> ClientSubject {
    ClientSubject::new(
        "Аптека 1: кассовый модуль",
        "ТОО «Аптечная сеть 1»",
        BIN.parse().unwrap(),
        Some(IIN.parse().unwrap()),
    )
}

/// What each side of a handshake saw.
#[derive(Debug)]
pub struct Outcome {
    /// The server: the handshake's error, or the principal of the client's certificate (none when
    /// it sent none).
    pub server: Result<Result<Option<Principal>, AuthFailure>, String>,
    /// The client: whether one byte made the round trip.
    pub client: Result<(), String>,
}

/// One TLS connection on a loopback socket: the server accepts, reads the principal and echoes a
/// byte; the client connects to "localhost", sends a byte and reads it back.
pub async fn handshake(
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server);
    let server_side = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(socket).await.map_err(|e| e.to_string())?;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let principal = principal_from_peer(tls.get_ref().1.peer_certificates());
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        tls.write_all(&byte).await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok(principal)
    });
    let client_side = async {
        let socket = TcpStream::connect(address).await.unwrap();
        let mut tls = TlsConnector::from(client)
            .connect(localhost(), socket)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(b"x").await.map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        assert_eq!(&byte, b"x");
        Ok(())
    };
    let client = tokio::time::timeout(HANDSHAKE_BOUND, client_side)
        .await
        .expect("the client side ends");
    let server = tokio::time::timeout(HANDSHAKE_BOUND, server_side)
        .await
        .expect("the server side ends")
        .unwrap();
    Outcome { server, client }
}

/// Asserts the server refused the handshake with an error containing `reason`, and the client got
/// nothing through.
fn assert_refused(outcome: &Outcome, reason: &str) {
    let error = outcome
        .server
        .as_ref()
        .expect_err("the server refuses the handshake");
    assert!(
        error.to_lowercase().contains(&reason.to_lowercase()),
        "expected a refusal for {reason}, got: {error}"
    );
    assert!(outcome.client.is_err(), "{outcome:?}");
}

#[tokio::test]
async fn a_valid_client_certificate_names_the_organisation_and_the_person() {
    let setup = Setup::new();
    let client = setup.client(&pharmacy(), Validity::days_from_now(1));
    let outcome = setup.handshake(Some(&client)).await;
    assert_eq!(outcome.client, Ok(()));
    let principal = outcome.server.unwrap().unwrap().expect("a certificate");
    assert_eq!(principal.organisation, BIN.parse::<Organisation>().unwrap());
    assert_eq!(principal.person.unwrap().as_str(), IIN);
    assert_eq!(principal.channel, Channel::Certificate);
    assert_eq!(principal.claimed_role, None);
    assert!(
        principal.credential.contains(&client.serial_hex()),
        "{}",
        principal.credential
    );
    assert!(
        principal.credential.contains("Аптека 1"),
        "{}",
        principal.credential
    );
}

#[tokio::test]
async fn no_client_certificate_is_a_handshake_without_a_principal() {
    let setup = Setup::new();
    let outcome = setup.handshake(None).await;
    assert_eq!(outcome.client, Ok(()));
    assert_eq!(outcome.server, Ok(Ok(None)));
    // Without --client-ca the server asks for no certificate at all.
    let mut files = setup.files.clone();
    files.client_ca = None;
    let client = setup.client(&pharmacy(), Validity::days_from_now(1));
    let outcome = handshake(
        server_config(&files).unwrap(),
        setup.ca.client_config(Some(&client)).unwrap(),
    )
    .await;
    assert_eq!(outcome.client, Ok(()));
    assert_eq!(outcome.server, Ok(Ok(None)));
}

#[tokio::test]
async fn a_certificate_of_another_ca_is_refused() {
    let setup = Setup::new();
    let other = DevCa::generate("another CA", Validity::days_from_now(30)).unwrap();
    let stranger = other
        .client(&pharmacy(), Validity::days_from_now(1))
        .unwrap();
    // The client trusts the server (setup's CA) but presents a certificate of the other CA.
    let outcome = setup.handshake(Some(&stranger)).await;
    assert_refused(&outcome, "UnknownIssuer");
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates_are_refused() {
    let setup = Setup::new();
    let now = Utc::now();
    let expired = setup.client(
        &pharmacy(),
        Validity::between(
            now - chrono::Duration::days(30),
            now - chrono::Duration::days(1),
        ),
    );
    assert_refused(&setup.handshake(Some(&expired)).await, "expired");
    let early = setup.client(
        &pharmacy(),
        Validity::between(
            now + chrono::Duration::days(1),
            now + chrono::Duration::days(30),
        ),
    );
    assert_refused(&setup.handshake(Some(&early)).await, "not valid yet");
}

/// A revoked certificate is refused with the CRL as PEM and as DER; one the CRL does not name still
/// passes.
#[tokio::test]
async fn a_revoked_certificate_is_refused() {
    let mut setup = Setup::new();
    let revoked = setup.client(&pharmacy(), Validity::days_from_now(1));
    let kept = setup.client(&pharmacy(), Validity::days_from_now(1));
    let crl_pem = setup.ca.crl(&[&revoked], 7).unwrap();
    let pem_file = setup.dir.path().join("crl.pem");
    write_public(&pem_file, &crl_pem).unwrap();
    setup.files.client_crl = vec![pem_file];
    assert_refused(&setup.handshake(Some(&revoked)).await, "revoked");
    assert!(
        setup
            .handshake(Some(&kept))
            .await
            .server
            .unwrap()
            .unwrap()
            .is_some()
    );

    let der = CertificateRevocationListDer::from_pem_slice(crl_pem.as_bytes()).unwrap();
    let der_file = setup.dir.path().join("crl.der");
    std::fs::write(&der_file, der.as_ref()).unwrap();
    setup.files.client_crl = vec![der_file];
    assert_refused(&setup.handshake(Some(&revoked)).await, "revoked");
    assert!(
        setup
            .handshake(Some(&kept))
            .await
            .server
            .unwrap()
            .unwrap()
            .is_some()
    );
}

/// With CRLs given, a CA of the bundle that has none cannot vouch for its certificates: their
/// revocation status is unknown, and they are refused (docs/security.md, "Rotation").
#[tokio::test]
async fn with_crls_every_ca_of_the_bundle_needs_one() {
    let mut setup = Setup::new();
    let second = DevCa::generate("second CA", Validity::days_from_now(30)).unwrap();
    let bundle = setup.dir.path().join("bundle.pem");
    write_public(
        &bundle,
        &format!(
            "{}{}",
            setup.ca.certificate().cert_pem,
            second.certificate().cert_pem
        ),
    )
    .unwrap();
    setup.files.client_ca = Some(bundle);
    let client = second
        .client(&pharmacy(), Validity::days_from_now(1))
        .unwrap();
    // Without CRLs, both CAs' certificates pass.
    let outcome = setup.handshake(Some(&client)).await;
    assert!(outcome.server.unwrap().unwrap().is_some());
    let crl = setup.dir.path().join("crl.pem");
    write_public(&crl, &setup.ca.crl(&[], 7).unwrap()).unwrap();
    setup.files.client_crl = vec![crl];
    assert_refused(
        &setup.handshake(Some(&client)).await,
        "UnknownRevocationStatus",
    );
    let own = setup.client(&pharmacy(), Validity::days_from_now(1));
    let outcome = setup.handshake(Some(&own)).await;
    assert!(outcome.server.unwrap().unwrap().is_some());
}

/// RULES §3: a chain that verifies is not enough; the BIN in the subject must pass its check digit.
#[tokio::test]
async fn a_malformed_bin_in_the_subject_is_an_auth_failure() {
    let setup = Setup::new();
    let bad_bin = with_wrong_check_digit(BIN);
    let mut subject = pharmacy();
    subject.organisational_unit = format!("BIN{bad_bin}");
    let client = setup.client(&subject, Validity::days_from_now(1));
    let outcome = setup.handshake(Some(&client)).await;
    assert_eq!(outcome.client, Ok(()), "the chain itself is valid");
    let failure = outcome.server.unwrap().unwrap_err();
    assert!(
        failure
            .message
            .contains(&format!("certificate subject OU \"BIN{bad_bin}\"")),
        "{failure}"
    );
    assert!(failure.message.contains("check digit"), "{failure}");
}

#[test]
fn subjects_map_to_principals_and_bad_fields_are_named() {
    let ca = DevCa::generate("test CA", Validity::days_from_now(1)).unwrap();
    let issue = |subject: &ClientSubject| {
        let issued = ca.client(subject, Validity::days_from_now(1)).unwrap();
        principal_from_certificate(&issued.cert_der)
    };
    // A Kyrgyz organisation, no person.
    let kg = ClientSubject::new("MHIF back office", "ФОМС", KG_TIN.parse().unwrap(), None);
    let principal = issue(&kg).unwrap();
    assert_eq!(principal.organisation.to_string(), format!("TIN {KG_TIN}"));
    assert_eq!(principal.person, None);
    // A bad IIN names the serialNumber.
    let mut bad_person = pharmacy();
    let bad_iin = with_wrong_check_digit(IIN);
    bad_person.serial_number = Some(format!("IIN{bad_iin}"));
    let failure = issue(&bad_person).unwrap_err();
    assert!(
        failure
            .message
            .contains(&format!("serialNumber \"IIN{bad_iin}\"")),
        "{failure}"
    );
    // A serialNumber that is not an IIN.
    let mut passport = pharmacy();
    passport.serial_number = Some("PAS123456".into());
    assert!(issue(&passport).unwrap_err().message.contains("PAS123456"));
    // An OU that names no organisation.
    let mut department = pharmacy();
    department.organisational_unit = "Accounting".into();
    let failure = issue(&department).unwrap_err();
    assert!(failure.message.contains("Accounting"), "{failure}");
    // An INN of the wrong length.
    let mut short = pharmacy();
    short.organisational_unit = "INN0150620011".into();
    assert!(issue(&short).unwrap_err().message.contains("INN0150620011"));
    // Not a certificate at all.
    assert!(principal_from_certificate(b"not DER").is_err());
}

#[test]
fn configuration_errors_name_the_file() {
    let setup = Setup::new();
    let mut missing = setup.files.clone();
    missing.cert = setup.dir.path().join("absent.pem");
    let error = format!("{:#}", server_config(&missing).unwrap_err());
    assert!(error.contains("absent.pem"), "{error}");
    let mut empty = setup.files.clone();
    let empty_bundle = setup.dir.path().join("empty.pem");
    write_public(&empty_bundle, "no certificates here\n").unwrap();
    empty.client_ca = Some(empty_bundle);
    let error = format!("{:#}", server_config(&empty).unwrap_err());
    assert!(error.contains("empty.pem"), "{error}");
    let mut orphan_crl = setup.files.clone();
    orphan_crl.client_ca = None;
    orphan_crl.client_crl = vec![setup.dir.path().join("crl.pem")];
    let error = format!("{:#}", server_config(&orphan_crl).unwrap_err());
    assert!(error.contains("--client-crl"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// RULES §3: a certificate's OU is accepted exactly when its BIN carries the right check digit.
    #[test]
    fn an_ou_bin_is_accepted_iff_its_check_digit_holds(
        prefix in "[0-9]{11}",
        last in 0u8..10,
        use_check_digit in any::<bool>(),
    ) {
        let ca = DevCa::generate("test CA", Validity::days_from_now(1)).unwrap();
        // Half of the cases carry the right check digit (when the prefix has one), half any digit.
        let candidate = match with_check_digit(&prefix) {
            Some(valid) if use_check_digit => valid,
            _ => format!("{prefix}{last}"),
        };
        let mut subject = pharmacy();
        subject.organisational_unit = format!("BIN{candidate}");
        let issued = ca.client(&subject, Validity::days_from_now(1)).unwrap();
        let outcome = principal_from_certificate(&issued.cert_der);
        let valid = with_check_digit(&prefix).is_some_and(|bin| bin == candidate);
        prop_assert_eq!(outcome.is_ok(), valid, "{}: {:?}", candidate, outcome);
        if let Ok(principal) = outcome {
            prop_assert_eq!(principal.organisation.to_string(), format!("BIN {candidate}"));
        }
    }
}
