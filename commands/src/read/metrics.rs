//! The reader's `/metrics` (issue #14 §3): per partition where the views stand, where the log ends
//! and the lag between them; whether the views caught up; open feeds and events sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ledger::log::PartitionId;

use super::ReadState;
use super::access::internal;
use crate::auth::read_policy::ReadRequest;
use crate::serve::ConnectionIdentity;
use crate::serve::metrics::Exposition;

/// What the reader counts while it serves.
#[derive(Default)]
pub struct ReadMetrics {
    feeds_opened: AtomicU64,
    feeds_closed: AtomicU64,
    events_sent: AtomicU64,
}

impl ReadMetrics {
    pub fn feed_opened(&self) {
        self.feeds_opened.fetch_add(1, Ordering::Relaxed);
    }

    pub fn feed_closed(&self) {
        self.feeds_closed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn event_sent(&self) {
        self.events_sent.fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn reader(
    State(state): State<Arc<ReadState>>,
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
    let read = ReadRequest {
        resource: "metrics",
        target: "/metrics",
        owner: None,
    };
    if let Err(denial) = state.policy.authorize_read(&principal, &read) {
        return crate::serve::error(StatusCode::FORBIDDEN, denial.rule, None, denial.message);
    }
    match exposition(&state).await {
        Ok(out) => out.into_response(),
        Err(failure) => internal(failure),
    }
}

async fn exposition(state: &ReadState) -> anyhow::Result<Exposition> {
    let checkpoint = state.progress.current();
    let mut applied = Vec::new();
    let mut ends = Vec::new();
    let mut lags = Vec::new();
    for (index, next) in checkpoint.0.iter().enumerate() {
        let partition = u32::try_from(index).expect("partition fits in u32");
        let end = state.log.end_offset(PartitionId(partition)).await?;
        let label = format!("partition=\"{partition}\"");
        applied.push((label.clone(), next.0.to_string()));
        ends.push((label.clone(), end.0.to_string()));
        lags.push((label, end.0.saturating_sub(next.0).to_string()));
    }
    let mut out = Exposition::default();
    out.samples(
        "ledger_reader_checkpoint_offset",
        "gauge",
        "The views' checkpoint per partition: every record below this offset is applied.",
        &applied,
    );
    out.samples(
        "ledger_reader_log_end_offset",
        "gauge",
        "The end of each partition of the log as the reader sees it.",
        &ends,
    );
    out.samples(
        "ledger_reader_lag_records",
        "gauge",
        "Projector lag per partition: offsets between the log's end and the views' checkpoint.",
        &lags,
    );
    out.single(
        "ledger_reader_ready",
        "gauge",
        "1 once the views caught up with the log as it was when the reader started.",
        u64::from(state.progress.is_ready()),
    );
    let metrics = &state.metrics;
    let opened = metrics.feeds_opened.load(Ordering::Relaxed);
    let closed = metrics.feeds_closed.load(Ordering::Relaxed);
    out.single(
        "ledger_reader_feeds_open",
        "gauge",
        "Event feeds (/v1/events) open now.",
        opened.saturating_sub(closed),
    );
    out.single(
        "ledger_reader_feed_events_total",
        "counter",
        "Events sent on the feeds.",
        metrics.events_sent.load(Ordering::Relaxed),
    );
    Ok(out)
}
