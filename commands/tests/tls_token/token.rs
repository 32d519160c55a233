//! Bearer tokens: JWTs signed with keys generated in the test (ES256, EdDSA, and RS256 with an RSA key
//! from the `rsa` crate), verified against a JWKS in a file or served by a loopback HTTP server.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ledger_commands::auth::Role;
use ledger_commands::auth::principal::{Channel, Organisation};
use ledger_commands::auth::token::{JwksSource, TokenVerifier};
use ledger_commands::pki::{
    DEV_AUDIENCE, DEV_ISSUER, TokenClaims, TokenSigner, Validity, jwks, write_public,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::{BIN, IIN, KG_TIN, with_wrong_check_digit};

/// The operating system's random source for the `rsa` crate's generator (rand_core 0.10).
struct OsRandom;

impl rsa::rand_core::TryRng for OsRandom {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(rand::random())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(rand::random())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, dst);
        Ok(())
    }
}

impl rsa::rand_core::TryCryptoRng for OsRandom {}

/// A 2048-bit RSA key (PKCS #1 DER), generated once per test binary: key generation is the slow part.
fn rsa_key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let key = rsa::PrivateKey::new(&mut OsRandom, 2048).expect("an RSA key");
        key.to_pkcs1_der().expect("PKCS #1").as_bytes().to_vec()
    })
}

/// A Fund operator's claims: the Fund's BIN, the operator's IIN, the role Fund; valid for a day.
fn claims() -> TokenClaims {
    let mut claims = TokenClaims::new(
        DEV_ISSUER,
        DEV_AUDIENCE,
        "operator-1",
        BIN.parse().unwrap(),
        Validity::days_from_now(1),
    );
    claims.iin = Some(IIN.into());
    claims.role = Some("Fund".into());
    claims
}

/// A JWKS file publishing `signers`, and a verifier reading it.
async fn file_verifier(signers: &[&TokenSigner]) -> (tempfile::TempDir, PathBuf, TokenVerifier) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    write_public(&path, &jwks(signers).to_string()).unwrap();
    let verifier = TokenVerifier::new(
        JwksSource::File(path.clone()),
        DEV_ISSUER.into(),
        DEV_AUDIENCE.into(),
    )
    .await
    .unwrap();
    (dir, path, verifier)
}

/// Asserts `token` is refused with a message containing each of `words`.
async fn assert_refused(verifier: &TokenVerifier, token: &str, words: &[&str]) {
    let failure = verifier
        .verify(token)
        .await
        .expect_err("the token is refused");
    for word in words {
        assert!(
            failure.message.contains(word),
            "expected {word:?} in: {failure}"
        );
    }
}

/// A token with the given header and claims and a made-up signature.
fn unsigned(header: &serde_json::Value, claims: &TokenClaims, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_string(claims).unwrap())
    )
}

#[tokio::test]
async fn valid_tokens_of_each_algorithm_name_the_principal() {
    let es = TokenSigner::es256("es-1").unwrap();
    let ed = TokenSigner::ed25519("ed-1").unwrap();
    let rs = TokenSigner::rs256("rs-1", rsa_key()).unwrap();
    let (_dir, _path, verifier) = file_verifier(&[&es, &ed, &rs]).await;
    assert_eq!(verifier.key_ids(), ["ed-1", "es-1", "rs-1"]);
    for signer in [&es, &ed, &rs] {
        let token = signer.sign(&claims()).unwrap();
        let principal = verifier
            .verify(&token)
            .await
            .unwrap_or_else(|failure| panic!("{:?} token refused: {failure}", signer.algorithm()));
        assert_eq!(principal.organisation, BIN.parse::<Organisation>().unwrap());
        assert_eq!(principal.person.unwrap().as_str(), IIN);
        assert_eq!(principal.claimed_role, Some(Role::Fund));
        assert_eq!(principal.channel, Channel::Token);
        assert!(
            principal.credential.contains(DEV_ISSUER),
            "{}",
            principal.credential
        );
        assert!(
            principal.credential.contains("operator-1"),
            "{}",
            principal.credential
        );
    }
}

#[tokio::test]
async fn forged_and_misdirected_tokens_are_refused() {
    let es = TokenSigner::es256("es-1").unwrap();
    let rs = TokenSigner::rs256("rs-1", rsa_key()).unwrap();
    let (_dir, _path, verifier) = file_verifier(&[&es, &rs]).await;
    // Tampered: another organisation's claims under the original signature.
    let genuine = es.sign(&claims()).unwrap();
    let mut other = claims();
    other.bin = Some("900101300007".into());
    let forged_claims = es.sign(&other).unwrap();
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged_parts: Vec<&str> = forged_claims.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], forged_parts[1], parts[2]);
    assert_refused(&verifier, &tampered, &["signature does not verify"]).await;
    // Another issuer, another audience.
    let mut foreign = claims();
    foreign.iss = "https://idp.elsewhere.example".into();
    let token = es.sign(&foreign).unwrap();
    assert_refused(&verifier, &token, &["idp.elsewhere.example", DEV_ISSUER]).await;
    let mut misdirected = claims();
    misdirected.aud = "another-service".into();
    let token = es.sign(&misdirected).unwrap();
    assert_refused(&verifier, &token, &["another-service", DEV_AUDIENCE]).await;
    // No subject.
    let no_sub = serde_json::json!({
        "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "exp": Utc::now().timestamp() + 600, "bin": BIN,
    });
    assert_refused(&verifier, &es.sign(&no_sub).unwrap(), &["\"sub\""]).await;
    // An RS256 header naming the ES256 key: the key decides the algorithm.
    let token = unsigned(
        &serde_json::json!({"alg": "RS256", "kid": "es-1"}),
        &claims(),
        "AAAA",
    );
    assert_refused(&verifier, &token, &["RS256", "es-1"]).await;
}

#[tokio::test]
async fn expiry_and_not_before_hold_within_the_leeway() {
    let es = TokenSigner::es256("es-1").unwrap();
    let (_dir, _path, verifier) = file_verifier(&[&es]).await;
    let now = Utc::now().timestamp();
    let mut expired = claims();
    expired.exp = now - 3600;
    expired.iat = now - 7200;
    expired.nbf = Some(now - 7200);
    assert_refused(&verifier, &es.sign(&expired).unwrap(), &["expired"]).await;
    let mut early = claims();
    early.nbf = Some(now + 3600);
    assert_refused(&verifier, &es.sign(&early).unwrap(), &["not valid yet"]).await;
    // Half the leeway past its expiry, a token still passes (clock skew between issuer and ledger).
    let mut skewed = claims();
    skewed.exp = now - 30;
    skewed.nbf = Some(now + 30);
    assert!(verifier.verify(&es.sign(&skewed).unwrap()).await.is_ok());
}

/// `alg: none` and HMAC are refused by name, before any key is looked up; so is a token whose header
/// names no key.
#[tokio::test]
async fn unsigned_and_hmac_tokens_are_refused_by_name() {
    let es = TokenSigner::es256("es-1").unwrap();
    let (_dir, _path, verifier) = file_verifier(&[&es]).await;
    let none = unsigned(
        &serde_json::json!({"alg": "none", "kid": "es-1"}),
        &claims(),
        "",
    );
    assert_refused(&verifier, &none, &["\"none\"", "RS256, ES256, EdDSA"]).await;
    // HS256 keyed with the public JWK: the classic algorithm-confusion forgery.
    let secret = es.jwk().to_string();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("es-1".into());
    let hmac = jsonwebtoken::encode(
        &header,
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_refused(&verifier, &hmac, &["\"HS256\""]).await;
    let no_kid = unsigned(&serde_json::json!({"alg": "ES256"}), &claims(), "AAAA");
    assert_refused(&verifier, &no_kid, &["kid"]).await;
    assert_refused(&verifier, "not-a-token", &["not a JWT"]).await;
}

/// RULES §3 at the edge: claims are identifiers checked like any other input.
#[tokio::test]
async fn claims_are_checked_and_named() {
    let es = TokenSigner::es256("es-1").unwrap();
    let (_dir, _path, verifier) = file_verifier(&[&es]).await;
    let bad_bin = with_wrong_check_digit(BIN);
    let mut claims_bad_bin = claims();
    claims_bad_bin.bin = Some(bad_bin.clone());
    let token = es.sign(&claims_bad_bin).unwrap();
    assert_refused(
        &verifier,
        &token,
        &[&format!("token claim bin \"{bad_bin}\""), "check digit"],
    )
    .await;
    let mut kg = claims();
    kg.bin = None;
    kg.kg_tin = Some(KG_TIN.into());
    let principal = verifier.verify(&es.sign(&kg).unwrap()).await.unwrap();
    assert_eq!(principal.organisation.to_string(), format!("TIN {KG_TIN}"));
    let mut both = claims();
    both.kg_tin = Some(KG_TIN.into());
    assert_refused(&verifier, &es.sign(&both).unwrap(), &["two organisations"]).await;
    let mut neither = claims();
    neither.bin = None;
    assert_refused(&verifier, &es.sign(&neither).unwrap(), &["no organisation"]).await;
    let mut bad_person = claims();
    bad_person.iin = Some(with_wrong_check_digit(IIN));
    assert_refused(
        &verifier,
        &es.sign(&bad_person).unwrap(),
        &["token claim iin"],
    )
    .await;
    let mut bad_role = claims();
    bad_role.role = Some("Admin".into());
    assert_refused(&verifier, &es.sign(&bad_role).unwrap(), &["\"Admin\""]).await;
}

/// A key the verifier has not seen is fetched when a token names it, at most once per interval.
#[tokio::test]
async fn an_unknown_kid_refreshes_a_jwks_file_once_per_interval() {
    let first = TokenSigner::es256("2026-01").unwrap();
    let (_dir, path, verifier) = file_verifier(&[&first]).await;
    let second = TokenSigner::ed25519("2026-02").unwrap();
    let third = TokenSigner::es256("2026-03").unwrap();
    // The provider rotates: the file now has the second key.
    write_public(&path, &jwks(&[&first, &second]).to_string()).unwrap();
    let principal = verifier.verify(&second.sign(&claims()).unwrap()).await;
    assert!(principal.is_ok(), "{principal:?}");
    // Another rotation right away: not fetched again within the interval.
    write_public(&path, &jwks(&[&second, &third]).to_string()).unwrap();
    let token = third.sign(&claims()).unwrap();
    assert_refused(&verifier, &token, &["2026-03", "at most once every 30s"]).await;
    // A verifier allowed to fetch at any time takes it.
    let eager = verifier.with_refresh_interval(Duration::ZERO);
    assert!(eager.verify(&token).await.is_ok());
    assert_eq!(eager.key_ids(), ["2026-02", "2026-03"]);
}

/// The JWKS served over HTTP on loopback: a rotation is picked up by the next token of the new key.
#[tokio::test]
async fn an_unknown_kid_refreshes_a_jwks_url() {
    let first = TokenSigner::es256("k1").unwrap();
    let second = TokenSigner::rs256("k2", rsa_key()).unwrap();
    let document = Arc::new(Mutex::new(jwks(&[&first]).to_string()));
    let fetches = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get({
            let document = Arc::clone(&document);
            let fetches = Arc::clone(&fetches);
            move || async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                document.lock().unwrap().clone()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let verifier = TokenVerifier::new(url.parse().unwrap(), DEV_ISSUER.into(), DEV_AUDIENCE.into())
        .await
        .unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    assert!(
        verifier
            .verify(&first.sign(&claims()).unwrap())
            .await
            .is_ok()
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "a known kid is served from the cache"
    );
    *document.lock().unwrap() = jwks(&[&first, &second]).to_string();
    let principal = verifier.verify(&second.sign(&claims()).unwrap()).await;
    assert!(principal.is_ok(), "{principal:?}");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_jwks_that_cannot_be_used_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let start =
        |source: JwksSource| TokenVerifier::new(source, DEV_ISSUER.into(), DEV_AUDIENCE.into());
    let absent = dir.path().join("absent.json");
    let error = format!("{:#}", start(JwksSource::File(absent)).await.err().unwrap());
    assert!(error.contains("absent.json"), "{error}");
    let hmac_only = dir.path().join("hmac.json");
    write_public(
        &hmac_only,
        r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#,
    )
    .unwrap();
    let error = format!(
        "{:#}",
        start(JwksSource::File(hmac_only)).await.err().unwrap()
    );
    assert!(error.contains("no usable key"), "{error}");
    let remote = "http://idp.example/jwks".parse().unwrap();
    let error = format!("{:#}", start(remote).await.err().unwrap());
    assert!(error.contains("use https"), "{error}");
}

/// No single-character change to a signed token yields a principal: the header, the claims and the
/// signature are all covered.
#[test]
fn no_mutation_of_a_signed_token_is_accepted() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let es = TokenSigner::es256("es-1").unwrap();
    let (_dir, _path, verifier) = runtime.block_on(file_verifier(&[&es]));
    let token = es.sign(&claims()).unwrap();
    assert!(runtime.block_on(verifier.verify(&token)).is_ok());
    let alphabet: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
        .chars()
        .collect();
    let length = token.len();
    let strategy = (0..length, proptest::sample::select(alphabet));
    TestRunner::new(Config::with_cases(256))
        .run(&strategy, |(index, replacement)| {
            let mut mutated: Vec<char> = token.chars().collect();
            prop_assume!(mutated[index] != replacement);
            mutated[index] = replacement;
            let mutated: String = mutated.into_iter().collect();
            let outcome = runtime.block_on(verifier.verify(&mutated));
            prop_assert!(
                outcome.is_err(),
                "accepted a mutation at {}: {}",
                index,
                mutated
            );
            Ok(())
        })
        .unwrap();
}
