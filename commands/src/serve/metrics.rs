//! `/metrics` in the Prometheus text format (issue #14 §3), on both services: the writer's appends,
//! refusals by rule, transaction and fsync latency; the reader's lag per partition (`crate::read`).
//! Counting costs the writer's request path a few relaxed atomic adds; only a refusal takes a lock
//! (its rule is named by data, so the set of rules is open).
//!
//! Reading `/metrics` is a read like any other: a principal with a `[[read]]` rule for `metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledger::log::file::latency::{BUCKET_BOUNDS_MICROS, LatencyHistogram, LatencySnapshot};

use crate::submit::dispatch::{Outcome, SubmitError};

/// The media type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A Prometheus text exposition being written.
#[derive(Default)]
pub struct Exposition(String);

/// `123456` µs as `0.123456` seconds (decimal text, no float arithmetic).
pub fn seconds(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

impl Exposition {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    /// A metric with one sample per label set (`labels` is `key="value",…` or empty).
    pub fn samples(&mut self, name: &str, kind: &str, help: &str, samples: &[(String, String)]) {
        self.header(name, kind, help);
        for (labels, value) in samples {
            if labels.is_empty() {
                let _ = writeln!(self.0, "{name} {value}");
            } else {
                let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
            }
        }
    }

    /// One unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.samples(name, kind, help, &[(String::new(), value.to_string())]);
    }

    /// A histogram in seconds from a latency snapshot.
    pub fn histogram(&mut self, name: &str, help: &str, snapshot: &LatencySnapshot) {
        self.header(name, "histogram", help);
        let mut cumulative = 0;
        for (index, count) in snapshot.buckets.iter().enumerate() {
            cumulative += count;
            let bound = BUCKET_BOUNDS_MICROS
                .get(index)
                .map_or_else(|| "+Inf".to_owned(), |micros| seconds(*micros));
            let _ = writeln!(self.0, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(self.0, "{name}_sum {}", seconds(snapshot.sum_micros));
        let _ = writeln!(self.0, "{name}_count {}", snapshot.count);
    }

    pub fn into_response(self) -> Response {
        let mut response = (StatusCode::OK, self.0).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        response
    }
}

/// Escapes a label value (backslash, quote, newline).
pub fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The outcomes of a command, in the order of the counters.
const OUTCOMES: [&str; 7] = [
    "appended",
    "duplicate",
    "refused",
    "denied",
    "reused",
    "conflict",
    "failed",
];

/// What the writer service counts.
#[derive(Default)]
pub struct WriterMetrics {
    commands: [AtomicU64; OUTCOMES.len()],
    events_appended: AtomicU64,
    /// From handing a command to the writer until its answer: decide and append (one transaction).
    transaction: LatencyHistogram,
    refusals: Mutex<BTreeMap<String, u64>>,
}

impl WriterMetrics {
    /// Counts a decided command and how long it took.
    pub fn command(&self, result: &Result<Outcome, SubmitError>, elapsed: Duration) {
        self.transaction.observe(elapsed);
        let (outcome, rule) = match result {
            Ok(Outcome::Appended(appended)) if appended.duplicate => (1, None),
            Ok(Outcome::Appended(appended)) => {
                let events = u64::try_from(appended.positions.len()).expect("fits in u64");
                self.events_appended.fetch_add(events, Ordering::Relaxed);
                (0, None)
            }
            Ok(Outcome::Refused(refusal)) => (2, Some(refusal.rule.as_str())),
            Ok(Outcome::Denied(refusal)) => (3, Some(refusal.rule.as_str())),
            Ok(Outcome::Reused(refusal)) => (4, Some(refusal.rule.as_str())),
            Err(SubmitError::Conflict { .. }) => (5, Some("CONFLICT")),
            Err(_) => (6, Some("INTERNAL")),
        };
        self.commands[outcome].fetch_add(1, Ordering::Relaxed);
        if let Some(rule) = rule {
            self.refusal(rule);
        }
    }

    /// Counts a request refused before it reached the writer (401, 429, 400, 408, 413).
    pub fn refusal(&self, rule: &str) {
        let mut refusals = self.refusals.lock().expect("refusal counters");
        *refusals.entry(rule.to_owned()).or_default() += 1;
    }

    /// The writer's metrics, and the embedded log's fsync latency when there is one.
    pub fn exposition(&self, fsync: Option<LatencySnapshot>) -> Exposition {
        let mut out = Exposition::default();
        let commands: Vec<(String, String)> = OUTCOMES
            .iter()
            .zip(&self.commands)
            .map(|(outcome, count)| {
                (
                    format!("outcome=\"{outcome}\""),
                    count.load(Ordering::Relaxed).to_string(),
                )
            })
            .collect();
        out.samples(
            "ledger_writer_commands_total",
            "counter",
            "Commands decided, by outcome.",
            &commands,
        );
        out.single(
            "ledger_writer_events_appended_total",
            "counter",
            "Events appended to the log.",
            self.events_appended.load(Ordering::Relaxed),
        );
        let refusals: Vec<(String, String)> = self
            .refusals
            .lock()
            .expect("refusal counters")
            .iter()
            .map(|(rule, count)| (format!("rule=\"{}\"", label(rule)), count.to_string()))
            .collect();
        out.samples(
            "ledger_writer_refusals_total",
            "counter",
            "Requests and commands refused, by the rule named in the refusal.",
            &refusals,
        );
        out.histogram(
            "ledger_writer_transaction_seconds",
            "Time from taking a command to its answer: decide and append, one transaction.",
            &self.transaction.snapshot(),
        );
        if let Some(fsync) = fsync {
            out.histogram(
                "ledger_log_fsync_seconds",
                "Time of each group-commit sync round of the embedded log (fdatasync of the files it touched).",
                &fsync,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_in_seconds() {
        let histogram = LatencyHistogram::default();
        histogram.observe(Duration::from_micros(40));
        histogram.observe(Duration::from_millis(3));
        let mut out = Exposition::default();
        out.histogram("x_seconds", "help", &histogram.snapshot());
        let text = out.0;
        assert!(
            text.contains("x_seconds_bucket{le=\"0.000050\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_bucket{le=\"0.002500\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_bucket{le=\"0.005000\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("x_seconds_bucket{le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("x_seconds_sum 0.003040\n"), "{text}");
        assert!(text.contains("x_seconds_count 2\n"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
