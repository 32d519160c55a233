//! `ledger pki dev` as a newcomer runs it: the real binary writes the files, and the server
//! configuration, the client certificates and the tokens it wrote work together.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use ledger_commands::auth::Role;
use ledger_commands::auth::principal::Organisation;
use ledger_commands::auth::tls::{TlsFiles, server_config};
use ledger_commands::auth::token::{JwksSource, TokenVerifier};
use ledger_commands::demo::world::World;
use ledger_commands::pki::{DEV_AUDIENCE, DEV_ISSUER};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::tls::handshake;

/// A client configuration trusting `dir/ca.pem` and presenting `dir/clients/<name>.pem`.
fn client(dir: &Path, name: &str) -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap())
        .unwrap();
    let cert = CertificateDer::from_pem_file(dir.join(format!("clients/{name}.pem"))).unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("clients/{name}-key.pem"))).unwrap();
    let mut config =
        rustls::ClientConfig::builder_with_provider(ledger_commands::auth::tls::ring_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![cert], key)
            .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    std::sync::Arc::new(config)
}

/// Runs `ledger pki dev --out OUT --seed 7`; returns README.txt.
fn pki_dev(out: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["pki", "dev", "--out", out.to_str().unwrap(), "--seed", "7"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("README.txt"), "{stdout}");
    for key in [
        "ca-key.pem",
        "server-key.pem",
        "clients/KZ-001-key.pem",
        "tokens/fund-operator.jwt",
    ] {
        let mode = std::fs::metadata(out.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    std::fs::read_to_string(out.join("README.txt")).unwrap()
}

/// The first demo pharmacy of seed 7 connects with its certificate and is named by its BIN; the
/// revoked copy of that certificate is refused.
#[tokio::test]
async fn the_dev_certificates_name_the_demo_pharmacies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let readme = pki_dev(&out);
    let world = World::generate(7, 8, 0, 0);
    let holder = world.contracts[0].holder.bin;
    assert!(
        readme.contains(&format!("KZ-001       BIN {holder}")),
        "{readme}"
    );
    let files = TlsFiles {
        cert: out.join("server.pem"),
        key: out.join("server-key.pem"),
        client_ca: Some(out.join("ca.pem")),
        client_crl: vec![out.join("crl.pem")],
    };
    let config = server_config(&files).unwrap();
    let outcome = handshake(config.clone(), client(&out, "KZ-001")).await;
    let principal = outcome.server.unwrap().unwrap().expect("a certificate");
    assert_eq!(principal.organisation, Organisation::Kz(holder));
    assert!(principal.person.is_some());
    let outcome = handshake(config, client(&out, "revoked")).await;
    assert!(
        outcome
            .server
            .unwrap_err()
            .to_lowercase()
            .contains("revoked")
    );
}

/// The tokens verify against the JWKS, with the roles and BINs README.txt lists.
#[tokio::test]
async fn the_dev_tokens_verify_against_the_dev_jwks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let readme = pki_dev(&out);
    let verifier = TokenVerifier::new(
        JwksSource::File(out.join("jwks.json")),
        DEV_ISSUER.into(),
        DEV_AUDIENCE.into(),
    )
    .await
    .unwrap();
    for (file, role) in [
        ("fund-operator", Role::Fund),
        ("regulator", Role::Regulator),
        ("analyst", Role::Analyst),
    ] {
        let token = std::fs::read_to_string(out.join(format!("tokens/{file}.jwt"))).unwrap();
        let principal = verifier.verify(&token).await.unwrap();
        assert_eq!(principal.claimed_role, Some(role));
        let bin = principal.organisation.to_string().replace("BIN ", "");
        assert!(
            readme.contains(&format!("{file:<14} BIN {bin}")),
            "{file}: {bin}"
        );
        if role == Role::Fund {
            let fund = ledger_commands::demo::fund_bin(7);
            assert_eq!(principal.organisation, Organisation::Kz(fund));
        }
    }
}
