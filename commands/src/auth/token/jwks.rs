//! The JWKS of a token issuer: read from a file or fetched over HTTP(S), and the keys of it the
//! verifier can use (a `kid`, and RS256, ES256 on P-256 or EdDSA on Ed25519).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::JwksSource;

/// The largest JWKS read, in bytes.
pub const JWKS_BYTES_MAX: u64 = 1024 * 1024;
/// How long a fetch of a JWKS URL may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A key of the JWKS and the one algorithm it verifies.
#[derive(Clone)]
pub struct VerifyingKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// The usable keys of one fetch of the JWKS, by `kid`.
pub struct KeySet {
    by_kid: BTreeMap<String, VerifyingKey>,
    fetched: Instant,
}

impl KeySet {
    pub fn get(&self, kid: &str) -> Option<VerifyingKey> {
        self.by_kid.get(kid).cloned()
    }

    pub fn age(&self) -> Duration {
        self.fetched.elapsed()
    }

    pub fn key_ids(&self) -> Vec<String> {
        self.by_kid.keys().cloned().collect()
    }
}

/// Refuses a source the verifier should not trust: a URL must be `https://`, except on loopback.
pub fn check_source(source: &JwksSource) -> anyhow::Result<()> {
    if let JwksSource::Url(url) = source
        && let Some(rest) = url.strip_prefix("http://")
    {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|address| address.is_loopback());
        anyhow::ensure!(
            loopback,
            "the JWKS URL \"{url}\" is plain http on a host that is not loopback: anyone on the path \
             could replace the keys; use https"
        );
    }
    Ok(())
}

/// Reads or fetches the JWKS and keeps its usable keys.
pub async fn fetch(source: &JwksSource) -> anyhow::Result<KeySet> {
    let owned = source.clone();
    let text = tokio::task::spawn_blocking(move || read(&owned))
        .await
        .context("the JWKS reader panicked")??;
    parse(&text).with_context(|| format!("the JWKS {source}"))
}

fn read(source: &JwksSource) -> anyhow::Result<String> {
    match source {
        JwksSource::File(path) => {
            let length = std::fs::metadata(path)
                .with_context(|| format!("cannot read the JWKS file {}", path.display()))?
                .len();
            anyhow::ensure!(
                length <= JWKS_BYTES_MAX,
                "the JWKS file {} has {length} bytes; at most {JWKS_BYTES_MAX} are read",
                path.display()
            );
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the JWKS file {}", path.display()))
        }
        JwksSource::Url(url) => {
            // An https JWKS stays https through redirects: a redirect to plain http is refused.
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(FETCH_TIMEOUT))
                .https_only(url.starts_with("https://"))
                .build()
                .into();
            agent
                .get(url)
                .call()
                .with_context(|| format!("cannot fetch the JWKS {url}"))?
                .body_mut()
                .with_config()
                .limit(JWKS_BYTES_MAX)
                .read_to_string()
                .with_context(|| format!("cannot read the JWKS {url}"))
        }
    }
}

/// The usable keys of a JWKS document. Keys for encryption, of other algorithms, or without a `kid`
/// are skipped (with a log line); two keys with one `kid`, or no usable key at all, are an error.
fn parse(text: &str) -> anyhow::Result<KeySet> {
    let set: JwkSet = serde_json::from_str(text).context("not a JWKS (JSON with \"keys\")")?;
    let mut by_kid = BTreeMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            tracing::warn!("jwks key without kid skipped");
            continue;
        };
        let Some(algorithm) = algorithm_of(jwk) else {
            tracing::warn!(%kid, "jwks key skipped: not a signing key of RS256, ES256 (P-256) or EdDSA (Ed25519)");
            continue;
        };
        let key = DecodingKey::from_jwk(jwk)
            .with_context(|| format!("the key \"{kid}\" is malformed"))?;
        let previous = by_kid.insert(kid.clone(), VerifyingKey { algorithm, key });
        anyhow::ensure!(
            previous.is_none(),
            "two keys have the kid \"{kid}\"; a kid must name one key"
        );
    }
    anyhow::ensure!(
        !by_kid.is_empty(),
        "no usable key: the verifier needs a key with a kid for RS256, ES256 (P-256) or EdDSA (Ed25519)"
    );
    Ok(KeySet {
        by_kid,
        fetched: Instant::now(),
    })
}

/// The one algorithm a key verifies: its `alg` when given, else the one its type implies; `None` for
/// keys the verifier does not use.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(params) if params.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(implied),
        Some(KeyAlgorithm::RS256) if implied == Algorithm::RS256 => Some(implied),
        Some(KeyAlgorithm::ES256) if implied == Algorithm::ES256 => Some(implied),
        Some(KeyAlgorithm::EdDSA) if implied == Algorithm::EdDSA => Some(implied),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_off_loopback() {
        for url in [
            "http://127.0.0.1:8080/jwks.json",
            "http://localhost/jwks",
            "http://[::1]:9/x",
            "https://idp.example/jwks",
        ] {
            assert!(check_source(&JwksSource::Url(url.into())).is_ok(), "{url}");
        }
        for url in [
            "http://idp.example/jwks",
            "http://10.0.0.1/jwks",
            "http://127.0.0.1.evil.example/",
        ] {
            let error = check_source(&JwksSource::Url(url.into()))
                .unwrap_err()
                .to_string();
            assert!(error.contains(url), "{error}");
        }
    }

    #[test]
    fn keys_of_other_algorithms_are_skipped_and_an_empty_set_is_refused() {
        let hmac = r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#;
        let error = format!(
            "{:#}",
            parse(hmac).err().expect("an HMAC key is not usable")
        );
        assert!(error.contains("no usable key"), "{error}");
        let mislabelled =
            r#"{"keys":[{"kty":"RSA","kid":"r","alg":"PS256","n":"AQAB","e":"AQAB"}]}"#;
        assert!(parse(mislabelled).is_err());
        assert!(parse("[]").is_err());
    }
}
