//! TLS for the services (issue #13 §1, §2): the server's certificate, and client certificates (mTLS)
//! verified against `--client-ca` and `--client-crl`, whose subject names the organisation and the
//! person as Kazakh NCA certificates do (`OU=BIN<12 digits>`, `serialNumber=IIN<12 digits>`).
//!
//! A Kyrgyz organisation's certificate carries its 14-digit taxpayer number (ИНН) as `OU=INN<14
//! digits>`. Unlike a BIN it has no public check digit (RULES §3 **[K]**, A-35), so only its form is
//! checked. docs/security.md describes the mapping and how CAs and CRLs rotate (by restart: the
//! configuration is read once, when the service starts).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ledger::domain::ident::{Bin, Iin};
use ledger::domain::values::KgTin;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use super::principal::{Channel, Organisation, Principal};

/// Why a request has no principal: answered 401 `UNAUTHENTICATED`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthFailure {
    pub message: String,
}

impl AuthFailure {
    pub fn new(message: impl Into<String>) -> AuthFailure {
        AuthFailure {
            message: message.into(),
        }
    }
}

/// The TLS material of a service.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// CA certificates (PEM bundle) client certificates must chain to; none: no client certificates.
    pub client_ca: Option<PathBuf>,
    /// Certificate revocation lists (PEM or DER) of those CAs.
    pub client_crl: Vec<PathBuf>,
}

/// The ALPN protocol the services speak.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The prefix of the organisation's BIN in a certificate subject's `OU` (Kazakh NCA certificates).
pub const OU_BIN_PREFIX: &str = "BIN";
/// The prefix of a Kyrgyz organisation's taxpayer number in a certificate subject's `OU`.
pub const OU_KG_TIN_PREFIX: &str = "INN";
/// The prefix of the person's IIN in a certificate subject's `serialNumber`.
pub const SERIAL_NUMBER_IIN_PREFIX: &str = "IIN";

/// The rustls server configuration: client certificates are optional (a client may authenticate with a
/// token instead), but one that is presented must chain to a client CA, be within its validity period
/// and not be revoked, or the handshake fails.
pub fn server_config(files: &TlsFiles) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = ring_provider();
    let chain = read_certificates(&files.cert, "the server certificate")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).with_context(|| {
        format!(
            "cannot read the server's private key (PEM) from {}",
            files.key.display()
        )
    })?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("the ring provider supports no TLS version")?;
    let builder = match &files.client_ca {
        Some(client_ca) => builder.with_client_cert_verifier(client_verifier(
            client_ca,
            &files.client_crl,
            provider,
        )?),
        None => {
            anyhow::ensure!(
                files.client_crl.is_empty(),
                "--client-crl is given without --client-ca: revocation lists need the CA they belong to"
            );
            builder.with_no_client_auth()
        }
    };
    let mut config = builder.with_single_cert(chain, key).with_context(|| {
        format!(
            "the server certificate {} and the key {} do not make a usable pair",
            files.cert.display(),
            files.key.display()
        )
    })?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// The `ring` crypto provider of rustls, which every TLS endpoint of the ledger uses (server and
/// clients alike), so that the build needs no C toolchain beyond ring's and no aws-lc.
///
/// rustls 0.23.48 deprecates `ring::default_provider` because ring has no post-quantum key exchange;
/// X25519 and the NIST curves remain. Moving to post-quantum groups means moving to aws-lc-rs, a
/// decision for docs/decisions.md, not a side effect of a dependency update.
#[allow(deprecated)]
pub fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The principal a verified client certificate (DER, the leaf) names.
///
/// Implements RULES §3 at the edge: the organisation is the subject's `OU` as `BIN` + 12 digits
/// (check digit verified) or `INN` + 14 digits (a Kyrgyz taxpayer number, form only); the person,
/// when the subject has a `serialNumber`, is `IIN` + 12 digits (check digit verified).
pub fn principal_from_certificate(der: &[u8]) -> Result<Principal, AuthFailure> {
    let (_, certificate) = X509Certificate::from_der(der).map_err(|error| {
        AuthFailure::new(format!(
            "the client certificate is not a DER X.509 certificate: {error}"
        ))
    })?;
    let subject = certificate.subject();
    let organisation = organisation_of(subject)?;
    let person = person_of(subject)?;
    let common_name = attribute_values(subject.iter_common_name(), "CN")?
        .first()
        .map_or_else(String::new, |name| (*name).to_owned());
    Ok(Principal {
        organisation,
        person,
        claimed_role: None,
        channel: Channel::Certificate,
        credential: format!(
            "certificate CN=\"{common_name}\" serial {}",
            hex::encode(certificate.raw_serial())
        ),
    })
}

/// The principal of a TLS connection's client: none when the client sent no certificate (it may
/// still present a token), else the principal its verified leaf certificate names.
pub fn principal_from_peer(
    peer_certificates: Option<&[CertificateDer<'_>]>,
) -> Result<Option<Principal>, AuthFailure> {
    match peer_certificates.and_then(<[CertificateDer<'_>]>::first) {
        Some(leaf) => principal_from_certificate(leaf.as_ref()).map(Some),
        None => Ok(None),
    }
}

/// The verifier of client certificates: chains to `client_ca`, not revoked by any of `crls` (every
/// certificate of the chain below the CA), within its validity period; clients without a
/// certificate are let through to authenticate by token.
fn client_verifier(
    client_ca: &Path,
    crls: &[PathBuf],
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(client_ca, "the client CA bundle")? {
        roots.add(certificate).with_context(|| {
            format!(
                "a certificate of the client CA bundle {} is not a usable trust anchor",
                client_ca.display()
            )
        })?;
    }
    let mut revocation_lists = Vec::new();
    for path in crls {
        revocation_lists.extend(read_crls(path)?);
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .with_crls(revocation_lists)
        .allow_unauthenticated()
        .build()
        .with_context(|| {
            format!(
                "cannot verify client certificates with the CA {} and the CRLs {:?}",
                client_ca.display(),
                crls
            )
        })
}

/// Every certificate of a PEM file; at least one.
fn read_certificates(path: &Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("cannot read {what} (PEM) from {}", path.display()))?;
    anyhow::ensure!(
        !certificates.is_empty(),
        "{what} {} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
        path.display()
    );
    Ok(certificates)
}

/// The revocation lists of a file: PEM (one or more `X509 CRL` blocks) or a single DER CRL.
fn read_crls(path: &Path) -> anyhow::Result<Vec<CertificateRevocationListDer<'static>>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the CRL file {}", path.display()))?;
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("the CRL file {} is not valid PEM", path.display()))?;
        anyhow::ensure!(
            !crls.is_empty(),
            "the CRL file {} holds no \"-----BEGIN X509 CRL-----\" block",
            path.display()
        );
        Ok(crls)
    } else {
        Ok(vec![CertificateRevocationListDer::from(bytes)])
    }
}

/// The organisation of a subject: its one `OU` that starts with `BIN` or `INN`.
fn organisation_of(subject: &X509Name<'_>) -> Result<Organisation, AuthFailure> {
    let units = attribute_values(subject.iter_organizational_unit(), "OU")?;
    let named: Vec<&str> = units
        .iter()
        .copied()
        .filter(|unit| unit.starts_with(OU_BIN_PREFIX) || unit.starts_with(OU_KG_TIN_PREFIX))
        .collect();
    match named.as_slice() {
        [unit] => parse_organisation(unit),
        [] => Err(AuthFailure::new(format!(
            "the certificate subject has no OU naming the organisation (found {units:?}); expected \
             \"BIN\" + 12 digits (RULES §3) or \"INN\" + 14 digits (a Kyrgyz taxpayer number)"
        ))),
        several => Err(AuthFailure::new(format!(
            "the certificate subject names more than one organisation in its OU ({several:?}); a \
             certificate must name exactly one"
        ))),
    }
}

fn parse_organisation(unit: &str) -> Result<Organisation, AuthFailure> {
    let refuse =
        |detail: String| AuthFailure::new(format!("certificate subject OU \"{unit}\": {detail}"));
    if let Some(digits) = unit.strip_prefix(OU_BIN_PREFIX) {
        return digits
            .parse::<Bin>()
            .map(Organisation::Kz)
            .map_err(|error| refuse(error.to_string()));
    }
    let digits = unit
        .strip_prefix(OU_KG_TIN_PREFIX)
        .expect("organisation_of keeps BIN and INN units only");
    KgTin::new(digits)
        .map(|tin| Organisation::Kg((&tin).into()))
        .map_err(|error| refuse(error.to_string()))
}

/// The person of a subject: its `serialNumber` as `IIN` + 12 digits, when it has one.
fn person_of(subject: &X509Name<'_>) -> Result<Option<Iin>, AuthFailure> {
    let serial_numbers = attribute_values(
        subject.iter_by_oid(&x509_parser::oid_registry::OID_X509_SERIALNUMBER),
        "serialNumber",
    )?;
    let serial_number = match serial_numbers.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        several => {
            return Err(AuthFailure::new(format!(
                "the certificate subject has more than one serialNumber ({several:?}); a \
                 certificate names at most one person"
            )));
        }
    };
    let refuse = |detail: &str| {
        AuthFailure::new(format!(
            "certificate subject serialNumber \"{serial_number}\": {detail}"
        ))
    };
    let digits = serial_number
        .strip_prefix(SERIAL_NUMBER_IIN_PREFIX)
        .ok_or_else(|| refuse("expected \"IIN\" + 12 digits (RULES §3)"))?;
    digits
        .parse::<Iin>()
        .map(Some)
        .map_err(|error| refuse(&error.to_string()))
}

/// The string values of some subject attributes; a value that is not a string is refused.
fn attribute_values<'a>(
    attributes: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
    name: &str,
) -> Result<Vec<&'a str>, AuthFailure> {
    attributes
        .map(|attribute| {
            attribute.as_str().map_err(|error| {
                AuthFailure::new(format!(
                    "the certificate subject's {name} is not a string: {error}"
                ))
            })
        })
        .collect()
}
