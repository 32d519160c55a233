//! Durable appends through the embedded log with group commit, and beside them, in the same run, the
//! raw baseline: the same bytes with the same fsync cadence written to a plain file without encoding,
//! chaining or indexing. The measurement code is `ledger_benches::append`, shared with
//! `ledger bench append`.
//!
//! Back of the envelope (see `ledger_benches::append`): ~450 framed bytes per event; with ~0.3 ms per
//! `fdatasync` and ~1,000 events per sync round the raw baseline writes well over 1M events/s; the
//! ledger, CPU-bound on 2 cores, is expected at a few hundred thousand events/s, at least half of raw.
//! Measured numbers are in `docs/embedded-log.md`.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ledger_benches::append::{AppendConfig, run_ledger, run_raw};

/// Events per measured iteration: enough for many sync rounds, small enough for criterion's budget.
const EVENTS_PER_ITERATION: u64 = 50_000;

fn config(dir: &std::path::Path) -> AppendConfig {
    AppendConfig {
        events: EVENTS_PER_ITERATION,
        ..AppendConfig::new(dir.to_path_buf())
    }
}

fn append(criterion: &mut Criterion) {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = criterion.benchmark_group("append");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(EVENTS_PER_ITERATION));
    // The raw baseline replays the bytes and sync rounds of the most recent ledger run.
    let last_run = std::sync::Mutex::new(None);
    group.bench_function("ledger_group_commit", |bencher| {
        bencher.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let run = runtime
                    .block_on(run_ledger(&config(scratch.path()), &|_| {}))
                    .expect("ledger run");
                total += run.elapsed;
                *last_run.lock().unwrap() = Some(run);
            }
            total
        });
    });
    group.bench_function("raw_same_bytes_same_fsyncs", |bencher| {
        bencher.iter_custom(|iterations| {
            let run = last_run
                .lock()
                .unwrap()
                .expect("the ledger bench ran first");
            let path = scratch.path().join("raw.bin");
            (0..iterations)
                .map(|_| {
                    run_raw(&path, run.stats.bytes, run.stats.batches)
                        .expect("raw run")
                        .elapsed
                })
                .sum()
        });
    });
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
