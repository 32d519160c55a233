//! A development PKI (issue #13 §7), like `mkcert`: a CA, a server certificate, client certificates
//! whose subject names an organisation and a person as Kazakh NCA certificates do
//! (`CN=<name>, O=<name>, OU=BIN<bin>, serialNumber=IIN<iin>`, or `OU=INN<tin>` for a Kyrgyz
//! organisation), CRLs, and an OpenID-style JWKS with tokens signed by its keys.
//!
//! Used by `ledger pki dev` and by the tests of the trust boundary. Everything is generated fresh
//! (ECDSA P-256 keys from the `ring` backend of `rcgen`); nothing here is meant for production: a
//! production service trusts the CA of its certificate authority (NCA of the Republic of Kazakhstan
//! or a corporate CA) and the JWKS of its identity provider (docs/security.md).

mod tokens;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use ledger::domain::ident::Iin;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

use crate::auth::principal::Organisation;
use crate::auth::tls::{
    ALPN_HTTP1, OU_BIN_PREFIX, OU_KG_TIN_PREFIX, SERIAL_NUMBER_IIN_PREFIX, ring_provider,
};

pub use tokens::{DEV_AUDIENCE, DEV_ISSUER, TokenClaims, TokenSigner, jwks};

/// The OID of the subject attribute `serialNumber` (X.520), which carries the person's IIN.
const OID_SERIAL_NUMBER: [u64; 4] = [2, 5, 4, 5];
/// Bytes of a certificate serial number (RFC 5280 allows up to 20).
const SERIAL_BYTES: usize = 16;

/// When a certificate (or a token) is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

impl Validity {
    /// From an hour ago (for clocks that run behind) until `days` days from now.
    pub fn days_from_now(days: i64) -> Validity {
        let now = Utc::now();
        Validity::between(now - Duration::hours(1), now + Duration::days(days))
    }

    /// From `not_before` until `not_after`, which must be later.
    pub fn between(not_before: DateTime<Utc>, not_after: DateTime<Utc>) -> Validity {
        assert!(
            not_before < not_after,
            "a validity period ends after it begins ({not_before} .. {not_after})"
        );
        Validity {
            not_before,
            not_after,
        }
    }

    fn apply(self, params: &mut CertificateParams) -> anyhow::Result<()> {
        params.not_before = offset(self.not_before)?;
        params.not_after = offset(self.not_after)?;
        Ok(())
    }
}

/// A certificate and its private key.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pem: String,
    /// The private key as PKCS #8 DER.
    pub key_der: Vec<u8>,
    /// The serial number (big-endian bytes, positive, no leading zero).
    pub serial: Vec<u8>,
}

impl Issued {
    /// The serial number in lower-case hex, as `principal_from_certificate` names it.
    pub fn serial_hex(&self) -> String {
        hex::encode(&self.serial)
    }

    pub fn certificate(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.cert_der.clone())
    }

    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// Writes `<stem>.pem` (the certificate) and `<stem>-key.pem` (the key, mode 0600) into `dir`;
    /// returns their paths.
    pub fn write(&self, dir: &Path, stem: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}-key.pem"));
        write_public(&cert, &self.cert_pem)?;
        write_private(&key, &self.key_pem)?;
        Ok((cert, key))
    }
}

/// The subject of a client certificate, as Kazakh NCA certificates of legal entities carry it.
/// Fields are the raw attribute values, so that a test can also write malformed ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSubject {
    /// `CN`: the person's or the system's name.
    pub common_name: String,
    /// `O`: the organisation's name.
    pub organisation_name: String,
    /// `OU`: `BIN` + 12 digits, or `INN` + 14 digits for a Kyrgyz organisation.
    pub organisational_unit: String,
    /// `serialNumber`: `IIN` + 12 digits, when the certificate names a person.
    pub serial_number: Option<String>,
}

impl ClientSubject {
    /// The subject of `organisation` (and of `person`, who acts for it).
    pub fn new(
        common_name: &str,
        organisation_name: &str,
        organisation: Organisation,
        person: Option<Iin>,
    ) -> ClientSubject {
        let organisational_unit = match organisation {
            Organisation::Kz(bin) => format!("{OU_BIN_PREFIX}{bin}"),
            Organisation::Kg(tin) => format!("{OU_KG_TIN_PREFIX}{}", tin.as_str()),
        };
        ClientSubject {
            common_name: common_name.to_owned(),
            organisation_name: organisation_name.to_owned(),
            organisational_unit,
            serial_number: person.map(|iin| format!("{SERIAL_NUMBER_IIN_PREFIX}{iin}")),
        }
    }
}

/// A development certificate authority: issues server and client certificates and CRLs.
pub struct DevCa {
    certificate: Issued,
    issuer: Issuer<'static, KeyPair>,
}

impl DevCa {
    /// A new CA named `common_name`, with a fresh P-256 key.
    pub fn generate(common_name: &str, validity: Validity) -> anyhow::Result<DevCa> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "ledger development PKI");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let serial = new_serial();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        validity.apply(&mut params)?;
        let cert = params
            .self_signed(&key)
            .context("cannot sign the CA certificate")?;
        let certificate = Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
            serial,
        };
        Ok(DevCa {
            certificate,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA's own certificate and key.
    pub fn certificate(&self) -> &Issued {
        &self.certificate
    }

    /// A server certificate for `names` (DNS names or IP addresses; the first is also the CN).
    pub fn server(&self, names: &[&str], validity: Validity) -> anyhow::Result<Issued> {
        let first = names
            .first()
            .context("a server certificate needs at least one name")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, *first);
        for name in names {
            params.subject_alt_names.push(match name.parse() {
                Ok(address) => SanType::IpAddress(address),
                Err(_) => SanType::DnsName((*name).try_into().with_context(|| {
                    format!("\"{name}\" is neither an IP address nor a DNS name")
                })?),
            });
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, validity)
    }

    /// A client certificate (mTLS) with `subject`.
    pub fn client(&self, subject: &ClientSubject, validity: Validity) -> anyhow::Result<Issued> {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, subject.common_name.as_str());
        name.push(DnType::OrganizationName, subject.organisation_name.as_str());
        name.push(
            DnType::OrganizationalUnitName,
            subject.organisational_unit.as_str(),
        );
        if let Some(serial_number) = &subject.serial_number {
            // X.520 defines serialNumber as a PrintableString.
            let printable = serial_number.as_str().try_into().with_context(|| {
                format!("serialNumber \"{serial_number}\" is not a PrintableString")
            })?;
            name.push(
                DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()),
                DnValue::PrintableString(printable),
            );
        }
        params.distinguished_name = name;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, validity)
    }

    /// A CRL of this CA revoking `revoked`, valid from a minute ago for `days` days (PEM).
    pub fn crl(&self, revoked: &[&Issued], days: i64) -> anyhow::Result<String> {
        let now = Utc::now();
        let params = CertificateRevocationListParams {
            this_update: offset(now - Duration::minutes(1))?,
            next_update: offset(now + Duration::days(days))?,
            crl_number: SerialNumber::from(u64::try_from(now.timestamp()).unwrap_or(1)),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|issued| {
                    Ok(RevokedCertParams {
                        serial_number: SerialNumber::from_slice(&issued.serial),
                        revocation_time: offset(now - Duration::minutes(1))?,
                        reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                        invalidity_date: None,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.issuer)
            .context("cannot sign the CRL")?;
        Ok(crl.pem()?)
    }

    /// A TLS client configuration that trusts this CA (and no other) and presents `client` when
    /// given: what a test's HTTPS client needs.
    pub fn client_config(
        &self,
        client: Option<&Issued>,
    ) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.certificate.certificate())?;
        let builder = rustls::ClientConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let mut config = match client {
            Some(issued) => {
                builder.with_client_auth_cert(vec![issued.certificate()], issued.private_key())?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(Arc::new(config))
    }

    fn sign(&self, mut params: CertificateParams, validity: Validity) -> anyhow::Result<Issued> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let serial = new_serial();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        validity.apply(&mut params)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("cannot sign the certificate")?;
        Ok(Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
            serial,
        })
    }
}

/// The name a client connects to the development server as.
pub fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("localhost is a DNS name")
}

/// Writes a file anyone may read (certificates, CRLs, the JWKS, the README).
pub fn write_public(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a private key or a token readable by its owner only (mode 0600), replacing the file.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // An existing file keeps its mode through `open`: narrow it too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A random positive serial number without a leading zero byte (so its DER form is these bytes).
fn new_serial() -> Vec<u8> {
    let mut serial: [u8; SERIAL_BYTES] = rand::random();
    serial[0] = (serial[0] & 0x7f).max(1);
    serial.to_vec()
}

fn offset(instant: DateTime<Utc>) -> anyhow::Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(instant.timestamp())
        .with_context(|| format!("{instant} is outside the range of a certificate date"))
}
