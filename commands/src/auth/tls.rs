//! TLS for the services (issue #13 §1, §2): the server's certificate, and client certificates (mTLS)
//! verified against `--client-ca` and `--client-crl`, whose subject names the organisation and the
//! person as Kazakh NCA certificates do (`OU=BIN<12 digits>`, `serialNumber=IIN<12 digits>`).

use std::path::PathBuf;
use std::sync::Arc;

use super::principal::Principal;

/// Why a request has no principal: answered 401 `UNAUTHENTICATED`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthFailure {
    pub message: String,
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

/// The rustls server configuration: client certificates are optional (a client may authenticate with a
/// token instead), but one that is presented must chain to a client CA, be within its validity period
/// and not be revoked, or the handshake fails.
pub fn server_config(files: &TlsFiles) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let _ = files;
    todo!("issue #13: rustls server config")
}

/// The principal a verified client certificate (DER, the leaf) names.
pub fn principal_from_certificate(der: &[u8]) -> Result<Principal, AuthFailure> {
    let _ = der;
    todo!("issue #13: principal from the certificate subject")
}
