//! `ledger serve`: the writer service (issue #7 deploy, docs/commands.md). One process, the log's only
//! writer, takes JSON commands over HTTP (or HTTPS, `listener`), each through the trust boundary
//! (issue #13, docs/security.md):
//!
//! - `POST /v1/commands`: one command. 201 with the positions appended; 200 with the original result
//!   for a repeated command id with the same content; 401 without a principal (no valid client
//!   certificate or bearer token); 403 when the policy does not allow it (or the body names another
//!   actor); 409 for a command id reused with other content (`IDEMPOTENCY_KEY_REUSED`), or a conflict
//!   that retries could not resolve (or a stale `expected_version`); 422 `{rule, field, message}` on
//!   a domain refusal; 429 past the principal's rate or concurrency limit (`Retry-After`); 400 on bad
//!   JSON; 408 when the body is not sent in time; 503 while the log is still opening.
//! - `GET /healthz`: the process is up. `GET /readyz`: the log is open and answers.
//! - `GET /metrics`: Prometheus text (`metrics`): commands by outcome, events appended, refusals by
//!   rule, transaction and fsync latency; for principals with a `[[read]]` rule for `metrics`.
//!
//! The listener is bound before the log is opened (the writer reads every key stream at start), so
//! that liveness answers at once and readiness tells when commands are taken.

pub mod authn;
pub mod listener;
pub mod metrics;

use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ledger::log::{AppendOutcome, CommandId, EventLog, Position, StreamId, StreamVersion};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

pub use authn::Authenticator;
pub use listener::ConnectionIdentity;

use crate::auth::Principal;
use crate::submit::Refusal;
use crate::submit::dispatch::{Dispatcher, Outcome, SubmitError};
use crate::submit::wire::{COMMAND_BYTES_MAX, CommandEnvelope};

/// How long `/readyz` waits for the log to answer.
const READY_PROBE_MAX: Duration = Duration::from_secs(2);

/// How many commands may wait for the writer before callers wait to enqueue (back-pressure).
const JOBS_QUEUED_MAX: usize = 1024;

/// How long a client may take to send a command's body by default.
pub const BODY_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// One command handed to the writer loop, its principal, and where its result goes.
struct Job {
    principal: Principal,
    envelope: CommandEnvelope,
    reply: oneshot::Sender<Result<Outcome, SubmitError>>,
}

/// What the routes share: the log and the writer's queue once the log is open, and the trust
/// boundary's authenticator.
pub struct ServeState {
    log: OnceLock<Arc<dyn EventLog>>,
    jobs: OnceLock<mpsc::Sender<Job>>,
    authenticator: Authenticator,
    body_timeout: Duration,
    metrics: metrics::WriterMetrics,
    /// Who may read `/metrics` (the service's policy); `/metrics` is 503 until it is set.
    read_policy: OnceLock<crate::auth::Policy>,
    /// The embedded log, whose fsync latency `/metrics` shows.
    file_log: OnceLock<Arc<ledger::log::file::FileLog>>,
}

impl ServeState {
    /// A state that takes principals from client certificates only, with the default limits (what
    /// tests driving the router attach with [`ConnectionIdentity::certified`]).
    pub fn certificates_only() -> ServeState {
        let authenticator =
            Authenticator::new(None, true, crate::auth::limits::LimitSettings::default());
        ServeState::new(authenticator, BODY_TIMEOUT_DEFAULT)
    }

    pub fn new(authenticator: Authenticator, body_timeout: Duration) -> ServeState {
        ServeState {
            log: OnceLock::new(),
            jobs: OnceLock::new(),
            authenticator,
            body_timeout,
            metrics: metrics::WriterMetrics::default(),
            read_policy: OnceLock::new(),
            file_log: OnceLock::new(),
        }
    }

    /// The policy that decides who reads `/metrics`, and the embedded log whose fsyncs it times.
    pub fn observe(
        &self,
        policy: crate::auth::Policy,
        file_log: Option<Arc<ledger::log::file::FileLog>>,
    ) {
        assert!(self.read_policy.set(policy).is_ok(), "observed once");
        if let Some(file_log) = file_log {
            assert!(self.file_log.set(file_log).is_ok(), "observed once");
        }
    }

    /// Starts the writer loop on the current [`tokio::task::LocalSet`] and takes commands from then
    /// on. The writer runs on one thread: its decisions borrow the domain's calendar, key registry and
    /// uniqueness index, which are not `Sync`; commands on different streams still interleave.
    pub fn ready(&self, dispatcher: Dispatcher) {
        let (sender, receiver) = mpsc::channel(JOBS_QUEUED_MAX);
        let log_set = self.log.set(Arc::clone(dispatcher.log())).is_ok();
        assert!(log_set, "the writer is opened once");
        tokio::task::spawn_local(run_writer(Rc::new(dispatcher), receiver));
        assert!(self.jobs.set(sender).is_ok(), "the writer is opened once");
    }
}

/// Takes jobs until every sender is gone (the server stopped), each in its own local task.
async fn run_writer(dispatcher: Rc<Dispatcher>, mut receiver: mpsc::Receiver<Job>) {
    while let Some(job) = receiver.recv().await {
        let dispatcher = Rc::clone(&dispatcher);
        tokio::task::spawn_local(async move {
            let result = dispatcher.submit(&job.principal, &job.envelope).await;
            // The caller may have hung up; the command is appended (or not) all the same.
            let _ = job.reply.send(result);
        });
    }
}

/// The body of a 201 or 200 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Accepted {
    pub command_id: CommandId,
    pub stream: StreamId,
    /// The stream versions of the events, first to last.
    pub first_version: StreamVersion,
    pub last_version: StreamVersion,
    /// Where each event sits in the log.
    pub positions: Vec<Position>,
    /// True when the command id had been appended before and nothing new was appended.
    pub duplicate: bool,
}

impl Accepted {
    fn new(command_id: CommandId, outcome: AppendOutcome) -> Accepted {
        let count = u64::try_from(outcome.positions.len()).expect("event count fits in u64");
        Accepted {
            command_id,
            stream: outcome.stream,
            first_version: outcome.first_version,
            last_version: StreamVersion(outcome.first_version.0 + count.saturating_sub(1)),
            positions: outcome.positions,
            duplicate: outcome.duplicate,
        }
    }
}

/// The paths the writer serves (`schemas/openapi.json` describes each; a test compares them).
pub const ROUTES: [&str; 4] = ["/v1/commands", "/healthz", "/readyz", "/metrics"];

/// The routes of the writer service.
pub fn router(state: Arc<ServeState>) -> Router {
    Router::new()
        .route(ROUTES[0], post(post_command))
        .route(ROUTES[1], get(|| async { "ok\n" }))
        .route(ROUTES[2], get(readyz))
        .route(ROUTES[3], get(serve_metrics))
        .layer(DefaultBodyLimit::max(COMMAND_BYTES_MAX))
        .with_state(state)
}

pub(crate) fn error(
    status: StatusCode,
    rule: &str,
    field: Option<String>,
    message: String,
) -> Response {
    let body = Refusal {
        rule: rule.to_owned(),
        field,
        message,
    };
    (status, axum::Json(body)).into_response()
}

fn not_ready() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "NOT_READY",
        None,
        "the event log is still opening; retry shortly".into(),
    )
}

async fn post_command(
    State(state): State<Arc<ServeState>>,
    identity: Option<axum::Extension<ConnectionIdentity>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(jobs) = state.jobs.get() else {
        return not_ready();
    };
    let identity = identity
        .map(|axum::Extension(identity)| identity)
        .unwrap_or_default();
    let (principal, _permit) = match state.authenticator.authenticate(&identity, &headers).await {
        Ok(admitted) => admitted,
        Err(refused) => {
            state.metrics.refusal(refused_rule(&refused));
            return refused;
        }
    };
    let body = match read_body(body, state.body_timeout).await {
        Ok(body) => body,
        Err(refused) => {
            state.metrics.refusal(refused_rule(&refused));
            return refused;
        }
    };
    let envelope = match CommandEnvelope::parse(&body) {
        Ok(envelope) => envelope,
        Err(shape) => {
            let refusal = Refusal::shape(shape);
            state.metrics.refusal(&refusal.rule);
            return (StatusCode::BAD_REQUEST, axum::Json(refusal)).into_response();
        }
    };
    let command_id = envelope.command_id;
    let (reply, result) = oneshot::channel();
    let job = Job {
        principal,
        envelope,
        reply,
    };
    let started = std::time::Instant::now();
    if jobs.send(job).await.is_err() {
        return not_ready();
    }
    let Ok(result) = result.await else {
        return not_ready();
    };
    state.metrics.command(&result, started.elapsed());
    answer(command_id, result)
}

/// Reads a command's body within `timeout` and the size cap.
async fn read_body(body: Body, timeout: Duration) -> Result<axum::body::Bytes, Response> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, COMMAND_BYTES_MAX)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(failure)) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY",
            None,
            format!("the body could not be read within {COMMAND_BYTES_MAX} bytes: {failure}"),
        )),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "BODY_TIMEOUT",
            None,
            format!("the body was not received within {timeout:?}"),
        )),
    }
}

/// The HTTP answer to a decided command.
fn answer(command_id: CommandId, result: Result<Outcome, SubmitError>) -> Response {
    match result {
        Ok(Outcome::Appended(outcome)) => {
            let status = if outcome.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let accepted = Accepted::new(command_id, outcome);
            (status, axum::Json(accepted)).into_response()
        }
        Ok(Outcome::Refused(refusal)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(refusal)).into_response()
        }
        Ok(Outcome::Denied(refusal)) => {
            (StatusCode::FORBIDDEN, axum::Json(refusal)).into_response()
        }
        Ok(Outcome::Reused(refusal)) => (StatusCode::CONFLICT, axum::Json(refusal)).into_response(),
        Err(conflict @ SubmitError::Conflict { .. }) => {
            error(StatusCode::CONFLICT, "CONFLICT", None, conflict.to_string())
        }
        Err(failure) => {
            tracing::error!(%command_id, error = %failure, "command failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                None,
                format!("the writer could not handle the command: {failure}"),
            )
        }
    }
}

/// The rule a refusal before the writer names (for the refusal counters).
fn refused_rule(response: &Response) -> &'static str {
    match response.status() {
        StatusCode::UNAUTHORIZED => authn::UNAUTHENTICATED_RULE,
        StatusCode::TOO_MANY_REQUESTS => authn::RATE_LIMITED_RULE,
        StatusCode::REQUEST_TIMEOUT => "BODY_TIMEOUT",
        _ => "BODY",
    }
}

async fn serve_metrics(
    State(state): State<Arc<ServeState>>,
    identity: Option<axum::Extension<ConnectionIdentity>>,
    headers: HeaderMap,
) -> Response {
    let identity = identity
        .map(|axum::Extension(identity)| identity)
        .unwrap_or_default();
    let (principal, _permit) = match state.authenticator.authenticate(&identity, &headers).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let Some(policy) = state.read_policy.get() else {
        return not_ready();
    };
    let read = crate::auth::read_policy::ReadRequest {
        resource: "metrics",
        target: "/metrics",
        owner: None,
    };
    if let Err(denial) = policy.authorize_read(&principal, &read) {
        return error(StatusCode::FORBIDDEN, denial.rule, None, denial.message);
    }
    let fsync = state.file_log.get().map(|log| log.sync_latency());
    state.metrics.exposition(fsync).into_response()
}

async fn readyz(State(state): State<Arc<ServeState>>) -> Response {
    let Some(log) = state.log.get() else {
        return not_ready();
    };
    let probe = StreamId::new("reference/prices/KZ").expect("a valid stream id");
    match tokio::time::timeout(READY_PROBE_MAX, log.stream_version(&probe)).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(failure)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            None,
            format!("the event log does not answer: {failure}"),
        ),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            None,
            format!("the event log did not answer within {READY_PROBE_MAX:?}"),
        ),
    }
}

/// Resolves on SIGTERM (how Kubernetes and Compose stop a container) or Ctrl-C.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(failure) => {
                tracing::warn!(error = %failure, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}
