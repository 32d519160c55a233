//! The token half of the development PKI: signing keys published as a JWKS, and JWTs signed with them
//! carrying the claims `TokenVerifier` reads (`iss`, `aud`, `sub`, `exp`, `nbf`, `bin` or `kg_tin`,
//! `iin`, `role`).

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::Validity;
use crate::auth::principal::Organisation;

/// The issuer of the development tokens (`--jwt-issuer`).
pub const DEV_ISSUER: &str = "https://idp.ledger.localhost";
/// The audience of the development tokens (`--jwt-audience`).
pub const DEV_AUDIENCE: &str = "ledger";

/// The DER prefix of a PKCS #8 v1 Ed25519 private key (RFC 8410), followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A key that signs tokens, with the public half as a JWK.
pub struct TokenSigner {
    kid: String,
    algorithm: Algorithm,
    key: EncodingKey,
    jwk: serde_json::Value,
    key_pem: String,
}

/// The claims of a token. Fields are raw values, so that a test can also write malformed ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    /// Issued at, expiry and not-before, in seconds since the Unix epoch.
    pub iat: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kg_tin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl TokenClaims {
    /// Claims of `subject` for `organisation`, valid during `validity` (its start is `nbf`).
    pub fn new(
        issuer: &str,
        audience: &str,
        subject: &str,
        organisation: Organisation,
        validity: Validity,
    ) -> TokenClaims {
        let (bin, kg_tin) = match organisation {
            Organisation::Kz(bin) => (Some(bin.to_string()), None),
            Organisation::Kg(tin) => (None, Some(tin.as_str().to_owned())),
        };
        TokenClaims {
            iss: issuer.to_owned(),
            aud: audience.to_owned(),
            sub: subject.to_owned(),
            iat: validity.not_before.timestamp(),
            exp: validity.not_after.timestamp(),
            nbf: Some(validity.not_before.timestamp()),
            bin,
            kg_tin,
            iin: None,
            role: None,
        }
    }
}

impl TokenSigner {
    /// A fresh ECDSA P-256 key (ES256).
    pub fn es256(kid: &str) -> anyhow::Result<TokenSigner> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let point = pair.public_key_raw();
        anyhow::ensure!(
            point.len() == 65 && point[0] == 4,
            "a P-256 public key is an uncompressed point"
        );
        let jwk = serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        Ok(TokenSigner::from_parts(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(&pair.serialize_der()),
            jwk,
            pair.serialize_pem(),
        ))
    }

    /// A fresh Ed25519 key (EdDSA).
    pub fn ed25519(kid: &str) -> anyhow::Result<TokenSigner> {
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let mut pkcs8 = ED25519_PKCS8_PREFIX.to_vec();
        pkcs8.extend_from_slice(&signing.to_bytes());
        let jwk = serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(signing.verifying_key().to_bytes()),
        });
        let key_pem = pem("PRIVATE KEY", &pkcs8);
        Ok(TokenSigner::from_parts(
            kid,
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(&pkcs8),
            jwk,
            key_pem,
        ))
    }

    /// An RSA key (RS256) given as PKCS #1 DER; tests generate one with the `rsa` crate.
    pub fn rs256(kid: &str, pkcs1_der: &[u8]) -> anyhow::Result<TokenSigner> {
        let key = EncodingKey::from_rsa_der(pkcs1_der);
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256)
            .context("not an RSA private key (PKCS #1 DER)")?;
        let mut jwk = serde_json::to_value(jwk)?;
        if let Some(fields) = jwk.as_object_mut() {
            fields.retain(|name, _| ["kty", "n", "e"].contains(&name.as_str()));
        }
        let key_pem = pem("RSA PRIVATE KEY", pkcs1_der);
        Ok(TokenSigner::from_parts(
            kid,
            Algorithm::RS256,
            key,
            jwk,
            key_pem,
        ))
    }

    fn from_parts(
        kid: &str,
        algorithm: Algorithm,
        key: EncodingKey,
        mut jwk: serde_json::Value,
        key_pem: String,
    ) -> TokenSigner {
        let fields = jwk.as_object_mut().expect("a JWK is a JSON object");
        fields.insert("kid".into(), kid.into());
        fields.insert("use".into(), "sig".into());
        fields.insert("alg".into(), format!("{algorithm:?}").into());
        TokenSigner {
            kid: kid.to_owned(),
            algorithm,
            key,
            jwk,
            key_pem,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key as a JWK (with `kid`, `alg` and `use`).
    pub fn jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// The private key (PEM), for the identity provider's side only.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A JWT of `claims` (usually [`TokenClaims`]; any JSON object for a test that needs odd claims),
    /// signed with this key, its header naming the key's `kid`.
    pub fn sign(&self, claims: &impl Serialize) -> anyhow::Result<String> {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .with_context(|| format!("cannot sign a token with the key \"{}\"", self.kid))
    }
}

/// The JWKS (`{"keys": [...]}`) publishing the public halves of `signers`.
pub fn jwks(signers: &[&TokenSigner]) -> serde_json::Value {
    serde_json::json!({
        "keys": signers.iter().map(|signer| signer.jwk.clone()).collect::<Vec<_>>(),
    })
}

/// `der` as a PEM block labelled `label`, in lines of 64 characters.
fn pem(label: &str, der: &[u8]) -> String {
    let text = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
