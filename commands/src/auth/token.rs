//! Bearer tokens (issue #13 §2): JWTs from an OpenID Connect provider, verified against its JWKS.
//!
//! A token is accepted when its header names RS256, ES256 or EdDSA (never `none`, never an HMAC
//! algorithm: a shared secret would let anyone holding the JWKS mint tokens) and a `kid` of the JWKS
//! whose key is of that algorithm, its signature verifies, `iss` and `aud` are the configured ones, and
//! `exp` (and `nbf`, when present) hold within [`LEEWAY`]. Its claims name the organisation (`bin`, a
//! 12-digit BIN, or `kg_tin`, a 14-digit Kyrgyz taxpayer number), optionally the person (`iin`) and
//! the one role it acts in (`role`). The keys are cached; a `kid` the cache does not know makes the
//! verifier fetch the JWKS again, at most once per refresh interval (docs/security.md).

mod jwks;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use ledger::domain::ident::{Bin, Iin};
use ledger::domain::values::KgTin;
use serde::Deserialize;

use super::Role;
use super::principal::{Channel, Organisation, Principal};
use super::tls::AuthFailure;
use jwks::{KeySet, VerifyingKey};

/// Clock skew allowed on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(60);
/// The shortest time between two fetches of the JWKS: an unknown `kid` triggers a fetch only when the
/// last one is at least this old, so that tokens with made-up `kid`s cannot flood the provider.
pub const REFRESH_INTERVAL_MIN: Duration = Duration::from_secs(30);
/// Keys older than this are fetched again when a token is verified (the provider may have withdrawn
/// one); when that fetch fails the cached keys stay in use.
pub const KEYS_AGE_MAX: Duration = Duration::from_secs(15 * 60);
/// The longest token accepted, in bytes (a JWT of these algorithms is well under 2 KiB).
pub const TOKEN_BYTES_MAX: usize = 16 * 1024;
/// The signature algorithms accepted, by their JOSE names.
pub const ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// Where the JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    File(std::path::PathBuf),
    Url(String),
}

impl std::str::FromStr for JwksSource {
    type Err = String;
    fn from_str(text: &str) -> Result<JwksSource, String> {
        if text.starts_with("https://") || text.starts_with("http://") {
            Ok(JwksSource::Url(text.to_owned()))
        } else {
            Ok(JwksSource::File(text.into()))
        }
    }
}

impl std::fmt::Display for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksSource::File(path) => write!(f, "{}", path.display()),
            JwksSource::Url(url) => f.write_str(url),
        }
    }
}

/// Verifies bearer tokens of one issuer and audience.
pub struct TokenVerifier {
    source: JwksSource,
    issuer: String,
    audience: String,
    refresh_interval: Duration,
    keys: RwLock<Arc<KeySet>>,
    /// When the JWKS was last fetched on demand (an unknown `kid` or old keys); held while fetching,
    /// so that concurrent requests wait for one fetch instead of starting their own.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

/// The outcome of an on-demand fetch of the JWKS.
enum Refresh {
    Done,
    TooSoon(Duration),
    Failed(String),
}

/// The claims the ledger reads; `exp`, `nbf`, `aud` are checked by the validation, which also requires
/// `iss` and `sub` (hence their defaults here: a missing one is refused by name, not as bad JSON).
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    sub: String,
    bin: Option<String>,
    kg_tin: Option<String>,
    iin: Option<String>,
    role: Option<String>,
}

impl TokenVerifier {
    /// Loads the keys once; fails when they cannot be read.
    pub async fn new(
        source: JwksSource,
        issuer: String,
        audience: String,
    ) -> anyhow::Result<TokenVerifier> {
        anyhow::ensure!(!issuer.is_empty(), "--jwt-issuer must not be empty");
        anyhow::ensure!(!audience.is_empty(), "--jwt-audience must not be empty");
        jwks::check_source(&source)?;
        let keys = jwks::fetch(&source).await?;
        tracing::info!(source = %source, keys = ?keys.key_ids(), "jwks loaded");
        Ok(TokenVerifier {
            source,
            issuer,
            audience,
            refresh_interval: REFRESH_INTERVAL_MIN,
            keys: RwLock::new(Arc::new(keys)),
            last_refresh: tokio::sync::Mutex::new(None),
        })
    }

    /// The same verifier with another shortest time between two fetches of the JWKS (default
    /// [`REFRESH_INTERVAL_MIN`]).
    pub fn with_refresh_interval(mut self, interval: Duration) -> TokenVerifier {
        self.refresh_interval = interval;
        self
    }

    /// The `kid`s of the keys in use, sorted.
    pub fn key_ids(&self) -> Vec<String> {
        self.current().key_ids()
    }

    /// The principal a token names, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthFailure> {
        let (algorithm, kid) = header_of(token)?;
        let key = self.key_for(&kid).await?;
        if key.algorithm != algorithm {
            return Err(AuthFailure::new(format!(
                "the token's alg {algorithm:?} is not the algorithm of its key \"{kid}\" ({:?})",
                key.algorithm
            )));
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|error| self.refusal(token, &error))?;
        principal_of(data.claims)
    }

    fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().expect("jwks lock"))
    }

    /// The key named `kid`: from the cache, or from the JWKS fetched again when the cache does not
    /// know it or is older than [`KEYS_AGE_MAX`].
    async fn key_for(&self, kid: &str) -> Result<VerifyingKey, AuthFailure> {
        let cached = self.current();
        if cached.age() < KEYS_AGE_MAX
            && let Some(key) = cached.get(kid)
        {
            return Ok(key);
        }
        let refresh = self.refresh().await;
        if let Some(key) = self.current().get(kid) {
            return Ok(key);
        }
        let unknown = format!(
            "the token's kid \"{kid}\" is not in the JWKS {}",
            self.source
        );
        Err(AuthFailure::new(match refresh {
            Refresh::Done => format!("{unknown}, fetched again just now"),
            Refresh::TooSoon(ago) => format!(
                "{unknown}; it was fetched {}s ago and is fetched at most once every {}s",
                ago.as_secs(),
                self.refresh_interval.as_secs()
            ),
            Refresh::Failed(error) => format!("{unknown}, and fetching it again failed: {error}"),
        }))
    }

    /// Fetches the JWKS again unless that was done less than the refresh interval ago.
    async fn refresh(&self) -> Refresh {
        let mut last = self.last_refresh.lock().await;
        if let Some(at) = *last {
            let ago = at.elapsed();
            if ago < self.refresh_interval {
                return Refresh::TooSoon(ago);
            }
        }
        *last = Some(Instant::now());
        match jwks::fetch(&self.source).await {
            Ok(keys) => {
                tracing::info!(source = %self.source, keys = ?keys.key_ids(), "jwks refreshed");
                *self.keys.write().expect("jwks lock") = Arc::new(keys);
                Refresh::Done
            }
            Err(error) => {
                tracing::warn!(source = %self.source, error = %format!("{error:#}"), "jwks refresh failed; the cached keys stay in use");
                Refresh::Failed(format!("{error:#}"))
            }
        }
    }

    /// Why `jsonwebtoken` refused a token, naming the value at fault.
    fn refusal(&self, token: &str, error: &jsonwebtoken::errors::Error) -> AuthFailure {
        let claims: serde_json::Value =
            jsonwebtoken::dangerous::insecure_decode_claims(token).unwrap_or_default();
        let claim = |name: &str| {
            claims
                .get(name)
                .map_or("(none)".to_owned(), |v| v.to_string())
        };
        AuthFailure::new(match error.kind() {
            ErrorKind::InvalidSignature => "the token's signature does not verify".to_owned(),
            ErrorKind::ExpiredSignature => format!(
                "the token expired (exp {}, leeway {}s)",
                claim("exp"),
                LEEWAY.as_secs()
            ),
            ErrorKind::ImmatureSignature => format!(
                "the token is not valid yet (nbf {}, leeway {}s)",
                claim("nbf"),
                LEEWAY.as_secs()
            ),
            ErrorKind::InvalidIssuer => format!(
                "the token's issuer {} is not the configured issuer \"{}\"",
                claim("iss"),
                self.issuer
            ),
            ErrorKind::InvalidAudience => format!(
                "the token's audience {} does not include \"{}\"",
                claim("aud"),
                self.audience
            ),
            ErrorKind::MissingRequiredClaim(name) => {
                format!("the token has no \"{name}\" claim; exp, iss, aud and sub are required")
            }
            ErrorKind::Json(detail) => format!("the token's claims are malformed: {detail}"),
            _ => format!("the token is malformed: {error}"),
        })
    }
}

/// The accepted algorithm and the `kid` of a token's header, read before any key is looked up.
fn header_of(token: &str) -> Result<(Algorithm, String), AuthFailure> {
    if token.len() > TOKEN_BYTES_MAX {
        return Err(AuthFailure::new(format!(
            "the token is {} bytes long; at most {TOKEN_BYTES_MAX} are accepted",
            token.len()
        )));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthFailure::new(
            "the token is not a JWT (three base64url parts separated by dots)",
        ));
    };
    let header: serde_json::Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| AuthFailure::new("the token's header is not base64url-encoded JSON"))?;
    let algorithm = match header.get("alg").and_then(serde_json::Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("ES256") => Algorithm::ES256,
        Some("EdDSA") => Algorithm::EdDSA,
        Some(other) => {
            return Err(AuthFailure::new(format!(
                "the token's alg \"{other}\" is refused; only {} are accepted",
                ALGORITHMS.join(", ")
            )));
        }
        None => return Err(AuthFailure::new("the token's header has no alg")),
    };
    let kid = header
        .get("kid")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| {
            AuthFailure::new(
                "the token's header has no kid naming the key of the JWKS that signed it",
            )
        })?;
    Ok((algorithm, kid.to_owned()))
}

/// The principal of verified claims. Implements RULES §3 at the edge: a `bin` and an `iin` are checked
/// with their check digit; a `kg_tin` has 14 digits.
fn principal_of(claims: Claims) -> Result<Principal, AuthFailure> {
    let organisation = match (&claims.bin, &claims.kg_tin) {
        (Some(bin), None) => bin
            .parse::<Bin>()
            .map(Organisation::Kz)
            .map_err(|error| AuthFailure::new(format!("token claim bin \"{bin}\": {error}")))?,
        (None, Some(tin)) => KgTin::new(tin.as_str())
            .map(|tin| Organisation::Kg((&tin).into()))
            .map_err(|error| AuthFailure::new(format!("token claim kg_tin \"{tin}\": {error}")))?,
        (Some(bin), Some(tin)) => {
            return Err(AuthFailure::new(format!(
                "the token names two organisations (bin \"{bin}\" and kg_tin \"{tin}\"); it must name one"
            )));
        }
        (None, None) => {
            return Err(AuthFailure::new(
                "the token names no organisation: it needs a bin (12 digits) or a kg_tin (14 digits) claim",
            ));
        }
    };
    let person = claims
        .iin
        .as_deref()
        .map(|iin| {
            iin.parse::<Iin>()
                .map_err(|error| AuthFailure::new(format!("token claim iin \"{iin}\": {error}")))
        })
        .transpose()?;
    let claimed_role = claims
        .role
        .as_deref()
        .map(|role| {
            role.parse::<Role>()
                .map_err(|error| AuthFailure::new(format!("token claim role: {error}")))
        })
        .transpose()?;
    Ok(Principal {
        organisation,
        person,
        claimed_role,
        channel: Channel::Token,
        credential: format!("token iss \"{}\" sub \"{}\"", claims.iss, claims.sub),
    })
}
