//! `ledger read`: the reader service (issue #14 §3). It follows the log into its own views
//! ([`follow`]) and serves them, and the events themselves, through the same trust boundary as the
//! writer (`crate::serve::listener`, `crate::serve::Authenticator`, the one `Policy` with its
//! `[[read]]` rules):
//!
//! - `GET /v1/events` ([`feed`]): Server-Sent Events or NDJSON, catch-up then live, resumable with
//!   `Last-Event-ID` or `?after=`, filtered server-side to what the principal may see.
//! - `GET /v1/contracts`, `/v1/contracts/{id}`, `/v1/registries/{contract}/{period}`,
//!   `/v1/acts/{contract}/{period}`, `/v1/deadlines`, `/v1/budgets/{country}/{year}` ([`query`]) and
//!   `/v1/history` ([`history`]): what the CLI prints for the same views.
//! - every answer carries `X-Ledger-Checkpoint` ([`progress`]); `?min_position=…&wait=…` waits for
//!   the views to apply a write's positions first (read-your-writes).
//! - `/healthz`, `/readyz` (the views caught up with the log as it was at start), `/metrics`.

// The routes' helpers return the answer to send as their error: built once per request, never in a
// loop, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod access;
pub mod feed;
pub mod follow;
pub mod history;
pub mod metrics;
pub mod openapi;
pub mod owners;
pub mod params;
pub mod progress;
pub mod query;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use ledger::log::EventLog;
use ledger::public::CloudEvents;
use projector::{ProjectorReader, SledReader};
use tokio::sync::{OwnedSemaphorePermit, watch};

use crate::auth::{Policy, Principal};
use crate::pseudonym::Pseudonymizer;
use crate::serve::{Authenticator, ConnectionIdentity, error};
use params::{MinPosition, Params};
use progress::{CHECKPOINT_HEADER, Checkpoint, ViewProgress};

/// The public forms the reader renders events in: as recorded, and with patients pseudonymized when
/// it has a key.
pub struct Forms {
    pub clear: CloudEvents,
    pseudonymized: Option<(CloudEvents, Pseudonymizer)>,
}

impl Forms {
    pub fn new(clear: CloudEvents, pseudonymizer: Option<Pseudonymizer>) -> Forms {
        let pseudonymized = pseudonymizer.map(|pseudonymizer| {
            let form = clear.clone().with_data_map(Arc::new(pseudonymizer.clone()));
            (form, pseudonymizer)
        });
        Forms {
            clear,
            pseudonymized,
        }
    }

    pub fn pseudonymizer(&self) -> Option<&Pseudonymizer> {
        self.pseudonymized.as_ref().map(|(_, key)| key)
    }

    /// The form for a reader who sees patients as `patients` says (the caller checked that a
    /// pseudonymizer exists when one is needed).
    pub fn form(&self, patients: crate::auth::read_policy::Patients) -> &CloudEvents {
        match (patients, &self.pseudonymized) {
            (crate::auth::read_policy::Patients::Clear, _) => &self.clear,
            (crate::auth::read_policy::Patients::Pseudonymized, Some((form, _))) => form,
            (crate::auth::read_policy::Patients::Pseudonymized, None) => {
                unreachable!("Viewer::patients refuses pseudonymized reads without a key")
            }
        }
    }
}

/// What the reader's routes share.
pub struct ReadState {
    pub log: Arc<dyn EventLog>,
    pub views: ProjectorReader<SledReader>,
    pub progress: Arc<ViewProgress>,
    pub policy: Policy,
    pub authenticator: Authenticator,
    pub forms: Forms,
    /// How often an idle feed sends a heartbeat.
    pub heartbeat: Duration,
    /// The longest a request waits for its `min_position` (`wait` is capped at it).
    pub wait_max: Duration,
    /// Turns true when the service stops: open feeds end.
    pub stopping: watch::Receiver<bool>,
    pub metrics: metrics::ReadMetrics,
}

/// A request admitted by the trust boundary, after its `min_position` was applied.
pub struct Admitted {
    pub principal: Principal,
    /// The principal's place in flight (its concurrency limit), held until the answer is sent.
    pub permit: OwnedSemaphorePermit,
    /// The views' checkpoint the answer reflects at least.
    pub checkpoint: Checkpoint,
}

impl ReadState {
    /// Authenticates the request, then waits for its `min_position` (if any) to be applied.
    pub async fn admit(
        &self,
        identity: Option<axum::Extension<ConnectionIdentity>>,
        headers: &HeaderMap,
        params: &mut Params,
    ) -> Result<Admitted, Response> {
        let identity = identity
            .map(|axum::Extension(identity)| identity)
            .unwrap_or_default();
        let (principal, permit) = self.authenticator.authenticate(&identity, headers).await?;
        let wanted = MinPosition::take(params, self.progress.partitions())?;
        if !wanted.positions.is_empty() {
            let timeout = Duration::from_secs(wanted.wait_seconds).min(self.wait_max);
            if !self.progress.wait_applied(&wanted.positions, timeout).await {
                let checkpoint = self.progress.current();
                let positions: Vec<String> =
                    wanted.positions.iter().map(ToString::to_string).collect();
                let mut refused = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "NOT_CAUGHT_UP",
                    Some("min_position".into()),
                    format!(
                        "the views have not applied {} within {} s (checkpoint {}); retry, or wait longer with ?wait=",
                        positions.join(","),
                        timeout.as_secs(),
                        checkpoint.header()
                    ),
                );
                refused
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(1));
                return Err(with_checkpoint(refused, &checkpoint));
            }
        }
        Ok(Admitted {
            principal,
            permit,
            checkpoint: self.progress.current(),
        })
    }
}

/// Sets the `X-Ledger-Checkpoint` header of `response` to `checkpoint`.
pub fn with_checkpoint(mut response: Response, checkpoint: &Checkpoint) -> Response {
    let value = HeaderValue::from_str(&checkpoint.header()).expect("digits, colons and commas");
    response.headers_mut().insert(CHECKPOINT_HEADER, value);
    response
}

/// The paths the reader serves (`schemas/openapi.json` describes each; a test compares them).
pub const ROUTES: [&str; 11] = [
    "/v1/events",
    "/v1/contracts",
    "/v1/contracts/{contract}",
    "/v1/registries/{contract}/{period}",
    "/v1/acts/{contract}/{period}",
    "/v1/deadlines",
    "/v1/budgets/{country}/{year}",
    "/v1/history",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// The routes of the reader service.
pub fn router(state: Arc<ReadState>) -> Router {
    let handlers: [MethodRouter<Arc<ReadState>>; ROUTES.len()] = [
        get(feed::events),
        get(query::contracts),
        get(query::contract),
        get(query::registry),
        get(query::act),
        get(query::deadlines),
        get(query::budgets),
        get(history::history),
        get(|| async { "ok\n" }),
        get(readyz),
        get(metrics::reader),
    ];
    let routes = ROUTES
        .iter()
        .zip(handlers)
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        });
    routes
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            checkpoint_on_every_answer,
        ))
        .with_state(state)
}

/// Answers that did not set the checkpoint (refusals before admission, health) get the current one.
async fn checkpoint_on_every_answer(
    State(state): State<Arc<ReadState>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if response.headers().contains_key(CHECKPOINT_HEADER) {
        return response;
    }
    with_checkpoint(response, &state.progress.current())
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        None,
        format!("no route {}; see schemas/openapi.json", uri.path()),
    )
}

async fn readyz(State(state): State<Arc<ReadState>>) -> Response {
    if state.progress.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            None,
            format!(
                "the views are catching up with the log (checkpoint {})",
                state.progress.current().header()
            ),
        )
    }
}
