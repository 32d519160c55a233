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
//! - `POST /v1/commands:batch`: `{"commands": [...]}`, up to [`COMMANDS_PER_CALL_MAX`] commands, each
//!   through the same trust boundary; 200 with `{"results": [{"status", "body"}, ...]}`, one per
//!   command in order, `status` and `body` being what `POST /v1/commands` would have answered for it
//!   (201/200/400/403/409/422). The request as a whole is 401 without a principal, 429 when its
//!   principal's rate cannot take all its commands (a batch of N costs N requests), 400 when it is not
//!   such an object, an element is not a JSON object, or it holds no or more commands than allowed.
//! - `GET /healthz`: the process is up. `GET /readyz`: the log is open and answers.
//! - `GET /metrics`: Prometheus text (`metrics`): commands by outcome, events appended, refusals by
//!   rule, transaction and fsync latency; for principals with a `[[read]]` rule for `metrics`.
//!
//! The listener is bound before the log is opened (the writer reads every key stream at start), so
//! that liveness answers at once and readiness tells when commands are taken.
//!
//! The writer drains its queue into batches (issue #16 §2): whatever commands wait when it is free
//! are decided together by [`Dispatcher::submit_many`], so dispensings from many connections share
//! one group commit; a few batches may be in flight at once (one deciding while another commits).

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
use crate::submit::dispatch::{
    Answer, COMMANDS_PER_CALL_MAX, Dispatcher, Outcome, Submission, SubmitError,
};
use crate::submit::wire::{COMMAND_BYTES_MAX, CommandEnvelope};

/// How long `/readyz` waits for the log to answer.
const READY_PROBE_MAX: Duration = Duration::from_secs(2);

/// How many requests may wait for the writer before callers wait to enqueue (back-pressure).
const JOBS_QUEUED_MAX: usize = 1024;

/// The most queued requests the writer takes into one batch.
const JOBS_PER_BATCH_MAX: usize = 1024;

/// Batches decided or committed at the same time: while one waits for its commit, the next is
/// decided (batches on the same contracts wait for each other's locks).
const BATCHES_IN_FLIGHT_MAX: usize = 4;

/// The largest batch body accepted, in bytes.
pub const BATCH_BYTES_MAX: usize = 32 * 1024 * 1024;

/// How long a client may take to send a command's body by default.
pub const BODY_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// One request's commands handed to the writer loop, their principal, and where their results go.
struct Job {
    principal: Principal,
    envelopes: Vec<CommandEnvelope>,
    reply: oneshot::Sender<Vec<Answer>>,
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
    pub fn ready(&self, dispatcher: impl Into<Rc<Dispatcher>>) {
        let dispatcher = dispatcher.into();
        let (sender, receiver) = mpsc::channel(JOBS_QUEUED_MAX);
        let log_set = self.log.set(Arc::clone(dispatcher.log())).is_ok();
        assert!(log_set, "the writer is opened once");
        tokio::task::spawn_local(run_writer(dispatcher, receiver));
        assert!(self.jobs.set(sender).is_ok(), "the writer is opened once");
    }
}

/// Takes jobs until every sender is gone (the server stopped): whatever waits when a batch may start
/// becomes one batch, decided in its own local task.
async fn run_writer(dispatcher: Rc<Dispatcher>, mut receiver: mpsc::Receiver<Job>) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(BATCHES_IN_FLIGHT_MAX));
    loop {
        let permit = Arc::clone(&in_flight)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut jobs = Vec::new();
        if receiver.recv_many(&mut jobs, JOBS_PER_BATCH_MAX).await == 0 {
            return;
        }
        let dispatcher = Rc::clone(&dispatcher);
        tokio::task::spawn_local(async move {
            decide_batch(&dispatcher, jobs).await;
            drop(permit);
        });
    }
}

/// Decides the commands of every job together and answers each job with its own results.
async fn decide_batch(dispatcher: &Dispatcher, jobs: Vec<Job>) {
    let submissions: Vec<Submission<'_>> = jobs
        .iter()
        .flat_map(|job| {
            job.envelopes.iter().map(|envelope| Submission {
                principal: &job.principal,
                envelope,
            })
        })
        .collect();
    let mut answers = dispatcher.submit_many(&submissions).await.into_iter();
    drop(submissions);
    for job in jobs {
        let mine: Vec<Answer> = answers.by_ref().take(job.envelopes.len()).collect();
        // The caller may have hung up; the commands are appended (or not) all the same.
        let _ = job.reply.send(mine);
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
pub const ROUTES: [&str; 5] = [
    "/v1/commands",
    "/v1/commands:batch",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// The routes of the writer service.
pub fn router(state: Arc<ServeState>) -> Router {
    Router::new()
        .route(ROUTES[0], post(post_command))
        .route(ROUTES[1], post(post_batch))
        .route(ROUTES[2], get(|| async { "ok\n" }))
        .route(ROUTES[3], get(readyz))
        .route(ROUTES[4], get(serve_metrics))
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
    let Some(mut answers) = decide(&state, jobs, principal, vec![envelope]).await else {
        return not_ready();
    };
    let (status, body) = answered(command_id, answers.pop().expect("one answer per command"));
    (status, axum::Json(body)).into_response()
}

/// Hands one request's commands to the writer and waits for their answers (`None`: not ready).
/// Counts each answer in the writer's metrics.
async fn decide(
    state: &ServeState,
    jobs: &mpsc::Sender<Job>,
    principal: Principal,
    envelopes: Vec<CommandEnvelope>,
) -> Option<Vec<Answer>> {
    let (reply, answers) = oneshot::channel();
    let job = Job {
        principal,
        envelopes,
        reply,
    };
    let started = std::time::Instant::now();
    jobs.send(job).await.ok()?;
    let answers = answers.await.ok()?;
    let elapsed = started.elapsed();
    for answer in &answers {
        state.metrics.command(answer, elapsed);
    }
    Some(answers)
}

/// A batch request: the commands, in order.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    commands: Vec<serde_json::Value>,
}

/// One command's answer in a batch: what `POST /v1/commands` would have answered for it.
#[derive(Debug, Serialize)]
pub struct BatchResult {
    pub status: u16,
    pub body: Answered,
}

async fn post_batch(
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
    let refused = |response: Response| {
        state.metrics.refusal(refused_rule(&response));
        response
    };
    let body = match read_limited(body, state.body_timeout, BATCH_BYTES_MAX).await {
        Ok(body) => body,
        Err(response) => return refused(response),
    };
    let commands = match batch_commands(&body) {
        Ok(commands) => commands,
        Err(response) => return refused(*response),
    };
    let count = u32::try_from(commands.len()).expect("at most COMMANDS_PER_CALL_MAX");
    if let Err(response) = state
        .authenticator
        .charge(&principal, count.saturating_sub(1))
    {
        return refused(*response);
    }
    let (results, envelopes) = read_envelopes(&state, commands);
    let ids: Vec<CommandId> = envelopes
        .iter()
        .map(|envelope| envelope.command_id)
        .collect();
    let answers = if envelopes.is_empty() {
        Vec::new()
    } else {
        match decide(&state, jobs, principal, envelopes).await {
            Some(answers) => answers,
            None => return not_ready(),
        }
    };
    let mut decided = ids.into_iter().zip(answers);
    let results: Vec<BatchResult> = results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                let (command_id, answer) = decided.next().expect("one answer per command");
                let (status, body) = answered(command_id, answer);
                BatchResult {
                    status: status.as_u16(),
                    body,
                }
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "results": results })).into_response()
}

/// The batch's commands as envelopes, and a slot per command: `None` for one to decide, the 400
/// answer for one that is not a command.
fn read_envelopes(
    state: &ServeState,
    commands: Vec<serde_json::Value>,
) -> (Vec<Option<BatchResult>>, Vec<CommandEnvelope>) {
    let mut results = Vec::with_capacity(commands.len());
    let mut envelopes = Vec::with_capacity(commands.len());
    for value in commands {
        match CommandEnvelope::from_value(value) {
            Ok(envelope) => {
                results.push(None);
                envelopes.push(envelope);
            }
            Err(shape) => {
                let refusal = Refusal::shape(shape);
                state.metrics.refusal(&refusal.rule);
                results.push(Some(BatchResult {
                    status: StatusCode::BAD_REQUEST.as_u16(),
                    body: Answered::Refused(refusal),
                }));
            }
        }
    }
    (results, envelopes)
}

/// The commands of a batch body, or the 400 answer.
fn batch_commands(body: &[u8]) -> Result<Vec<serde_json::Value>, Box<Response>> {
    let request: BatchRequest = serde_json::from_slice(body).map_err(|failure| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "JSON",
            Some("commands".into()),
            format!("a batch is {{\"commands\": [command, ...]}}: {failure}"),
        ))
    })?;
    if let Some(index) = request.commands.iter().position(|item| !item.is_object()) {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "JSON",
            Some(format!("commands[{index}]")),
            "every element of a batch is a command, a JSON object".into(),
        )));
    }
    if request.commands.is_empty() || request.commands.len() > COMMANDS_PER_CALL_MAX {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "BATCH_SIZE",
            Some("commands".into()),
            format!(
                "the batch holds {} commands; a batch holds 1 to {COMMANDS_PER_CALL_MAX}",
                request.commands.len()
            ),
        )));
    }
    Ok(request.commands)
}

/// Reads a command's body within `timeout` and the size cap.
async fn read_body(body: Body, timeout: Duration) -> Result<axum::body::Bytes, Response> {
    read_limited(body, timeout, COMMAND_BYTES_MAX).await
}

/// Reads a body within `timeout` and `limit` bytes.
async fn read_limited(
    body: Body,
    timeout: Duration,
    limit: usize,
) -> Result<axum::body::Bytes, Response> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(failure)) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY",
            None,
            format!("the body could not be read within {limit} bytes: {failure}"),
        )),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "BODY_TIMEOUT",
            None,
            format!("the body was not received within {timeout:?}"),
        )),
    }
}

/// The body of an answer to one command: its positions, or the refusal.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answered {
    Accepted(Accepted),
    Refused(Refusal),
}

/// The HTTP status and body of a decided command.
fn answered(command_id: CommandId, result: Result<Outcome, SubmitError>) -> (StatusCode, Answered) {
    match result {
        Ok(Outcome::Appended(outcome)) => {
            let status = if outcome.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (
                status,
                Answered::Accepted(Accepted::new(command_id, outcome)),
            )
        }
        Ok(Outcome::Refused(refusal)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, Answered::Refused(refusal))
        }
        Ok(Outcome::Denied(refusal)) => (StatusCode::FORBIDDEN, Answered::Refused(refusal)),
        Ok(Outcome::Reused(refusal)) => (StatusCode::CONFLICT, Answered::Refused(refusal)),
        Err(conflict @ SubmitError::Conflict { .. }) => (
            StatusCode::CONFLICT,
            Answered::Refused(Refusal {
                rule: "CONFLICT".into(),
                field: None,
                message: conflict.to_string(),
            }),
        ),
        Err(failure) => {
            tracing::error!(%command_id, error = %failure, "command failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Answered::Refused(Refusal {
                    rule: "INTERNAL".into(),
                    field: None,
                    message: format!("the writer could not handle the command: {failure}"),
                }),
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
        // A batch body that is no batch (its answer names `JSON` or `BATCH_SIZE`).
        StatusCode::BAD_REQUEST => "BATCH",
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
