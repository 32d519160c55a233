//! Who is asking, for every request (issue #13 §2, §6): a bearer token when the request carries one,
//! otherwise the client certificate of its connection; then the principal's rate and concurrency
//! limits. No principal, no command: 401 in the refusal shape.

use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::OwnedSemaphorePermit;

use super::listener::ConnectionIdentity;
use crate::auth::Principal;
use crate::auth::limits::{LimitSettings, Limiter, Throttled};
use crate::auth::mask::mask_identifiers;
use crate::auth::token::TokenVerifier;
use crate::submit::Refusal;

/// The rule of a request without a valid principal.
pub const UNAUTHENTICATED_RULE: &str = "UNAUTHENTICATED";
/// The rule of a request past its principal's limits.
pub const RATE_LIMITED_RULE: &str = "RATE_LIMITED";

/// Authenticates requests and applies the per-principal limits.
pub struct Authenticator {
    tokens: Option<TokenVerifier>,
    certificates: bool,
    limiter: Limiter,
}

impl Authenticator {
    /// `tokens`: the verifier of bearer tokens, if tokens are accepted; `certificates`: whether client
    /// certificates are verified (a CA is configured).
    pub fn new(
        tokens: Option<TokenVerifier>,
        certificates: bool,
        limits: LimitSettings,
    ) -> Authenticator {
        Authenticator {
            tokens,
            certificates,
            limiter: Limiter::new(limits),
        }
    }

    /// The principal of a request and its place in flight (held until the answer), or the refusal.
    pub async fn authenticate(
        &self,
        identity: &ConnectionIdentity,
        headers: &HeaderMap,
    ) -> Result<(Principal, OwnedSemaphorePermit), Response> {
        let principal = self.principal(identity, headers).await.map_err(|message| {
            tracing::info!(peer = ?identity.peer, reason = %mask_identifiers(&message), "request refused: no principal");
            self.unauthenticated(message)
        })?;
        let key = format!("{}|{:?}", principal.organisation, principal.person);
        match self.limiter.admit(&key, Instant::now()) {
            Ok(permit) => Ok((principal, permit)),
            Err(throttled) => Err(throttled_response(&principal, throttled)),
        }
    }

    /// Charges an admitted request's principal for `commands` more commands (the rest of a batch),
    /// or refuses the request with 429.
    pub fn charge(&self, principal: &Principal, commands: u32) -> Result<(), Box<Response>> {
        let key = format!("{}|{:?}", principal.organisation, principal.person);
        self.limiter
            .charge(&key, Instant::now(), commands)
            .map_err(|throttled| Box::new(throttled_response(principal, throttled)))
    }

    async fn principal(
        &self,
        identity: &ConnectionIdentity,
        headers: &HeaderMap,
    ) -> Result<Principal, String> {
        if let Some(authorization) = headers.get(header::AUTHORIZATION) {
            let text = authorization
                .to_str()
                .map_err(|_| "the Authorization header is not ASCII".to_owned())?;
            let token = text
                .strip_prefix("Bearer ")
                .or_else(|| text.strip_prefix("bearer "))
                .ok_or_else(|| "the Authorization header is not a Bearer token".to_owned())?;
            let Some(verifier) = &self.tokens else {
                return Err("this service does not accept bearer tokens (no --jwks)".to_owned());
            };
            return verifier
                .verify(token.trim())
                .await
                .map_err(|failure| failure.message);
        }
        match &identity.certificate {
            Some(Ok(principal)) => Ok(principal.clone()),
            Some(Err(failure)) => Err(failure.message.clone()),
            None if self.certificates || self.tokens.is_some() => Err(
                "no principal: present a client certificate or an Authorization: Bearer token"
                    .to_owned(),
            ),
            None => Err("this service is configured with no way to authenticate (neither --client-ca nor --jwks)".to_owned()),
        }
    }

    fn unauthenticated(&self, message: String) -> Response {
        let refusal = Refusal {
            rule: UNAUTHENTICATED_RULE.into(),
            field: None,
            message,
        };
        let mut response = (StatusCode::UNAUTHORIZED, axum::Json(refusal)).into_response();
        if self.tokens.is_some() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The 429 answer to a principal over its limits.
fn throttled_response(principal: &Principal, throttled: Throttled) -> Response {
    tracing::info!(%principal, reason = throttled.reason, "request refused: limit");
    let refusal = Refusal {
        rule: RATE_LIMITED_RULE.into(),
        field: None,
        message: format!(
            "{principal} is over its {} limit; retry after {} s",
            throttled.reason,
            throttled.retry_after.as_secs()
        ),
    };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(refusal)).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(throttled.retry_after.as_secs()),
    );
    response
}
