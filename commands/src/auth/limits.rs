//! Per-principal limits (issue #13 §6): a token bucket of requests per second and a cap on requests in
//! flight, so that one client cannot take the writer from the others. Refusals are 429 with
//! `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many principals the limiter remembers; past this, the idle ones are forgotten.
const PRINCIPALS_MAX: usize = 10_000;

/// Micro-tokens per token: the bucket counts in millionths so that its arithmetic stays in integers.
const MICRO: u64 = 1_000_000;

/// The limits of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// Sustained requests per second per principal.
    pub rate_per_second: u32,
    /// Requests a principal may make at once above the sustained rate.
    pub burst: u32,
    /// Requests of one principal being handled at the same time.
    pub concurrent: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            rate_per_second: 2_000,
            burst: 4_000,
            concurrent: 256,
        }
    }
}

/// A refused request: how long to wait before retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
    pub reason: &'static str,
}

struct Bucket {
    micro_tokens: u64,
    refilled: Instant,
    in_flight: Arc<Semaphore>,
}

/// The limiter, keyed by principal (organisation and person).
pub struct Limiter {
    settings: LimitSettings,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub fn new(settings: LimitSettings) -> Limiter {
        assert!(
            settings.rate_per_second > 0,
            "a rate limit of zero refuses everything"
        );
        assert!(
            settings.concurrent > 0,
            "a concurrency limit of zero refuses everything"
        );
        Limiter {
            settings,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request's token and a place in flight for `principal`, or says how long to wait. The
    /// permit is held until the request is answered.
    pub fn admit(&self, principal: &str, now: Instant) -> Result<OwnedSemaphorePermit, Throttled> {
        self.admit_weighted(principal, now, 1)
    }

    /// Takes `commands` tokens and one place in flight for `principal`, or says how long to wait.
    pub fn admit_weighted(
        &self,
        principal: &str,
        now: Instant,
        commands: u32,
    ) -> Result<OwnedSemaphorePermit, Throttled> {
        self.take(principal, now, commands, true)
            .map(|permit| permit.expect("a permit was asked for"))
    }

    /// Takes `commands` more tokens for a request already admitted (the rest of a batch: a batch of
    /// N commands costs as much of the rate as N requests). A batch larger than the burst could never
    /// be admitted and is refused as such.
    pub fn charge(&self, principal: &str, now: Instant, commands: u32) -> Result<(), Throttled> {
        self.take(principal, now, commands, false).map(drop)
    }

    fn take(
        &self,
        principal: &str,
        now: Instant,
        commands: u32,
        in_flight: bool,
    ) -> Result<Option<OwnedSemaphorePermit>, Throttled> {
        let weight = u64::from(commands) * MICRO;
        if weight > u64::from(self.settings.burst.max(1)) * MICRO {
            return Err(Throttled {
                retry_after: Duration::from_secs(1),
                reason: "burst (send smaller batches)",
            });
        }
        let mut buckets = self.buckets.lock().expect("limiter lock");
        if buckets.len() >= PRINCIPALS_MAX && !buckets.contains_key(principal) {
            self.forget_idle(&mut buckets, now);
        }
        let settings = self.settings;
        let bucket = buckets
            .entry(principal.to_owned())
            .or_insert_with(|| Bucket {
                micro_tokens: u64::from(settings.burst.max(1)) * MICRO,
                refilled: now,
                in_flight: Arc::new(Semaphore::new(
                    usize::try_from(settings.concurrent).expect("u32 fits in usize"),
                )),
            });
        self.refill(bucket, now);
        if bucket.micro_tokens < weight {
            let missing = weight - bucket.micro_tokens;
            let micros = missing.div_ceil(u64::from(self.settings.rate_per_second));
            return Err(Throttled {
                retry_after: Duration::from_micros(micros).max(Duration::from_secs(1)),
                reason: "rate",
            });
        }
        let permit = if in_flight {
            let permit = Arc::clone(&bucket.in_flight)
                .try_acquire_owned()
                .map_err(|_| Throttled {
                    retry_after: Duration::from_secs(1),
                    reason: "concurrency",
                })?;
            Some(permit)
        } else {
            None
        };
        bucket.micro_tokens -= weight;
        Ok(permit)
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.refilled);
        let elapsed_micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let capacity = u64::from(self.settings.burst.max(1)) * MICRO;
        let added = elapsed_micros.saturating_mul(u64::from(self.settings.rate_per_second));
        bucket.micro_tokens = bucket.micro_tokens.saturating_add(added).min(capacity);
        bucket.refilled = now;
    }

    /// Drops principals whose bucket is full and who have nothing in flight: forgetting them changes
    /// nothing, since a new bucket starts full.
    fn forget_idle(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let capacity = u64::from(self.settings.burst.max(1)) * MICRO;
        let concurrent = usize::try_from(self.settings.concurrent).expect("u32 fits in usize");
        buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.refilled);
            let elapsed_micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            let tokens = bucket.micro_tokens.saturating_add(
                elapsed_micros.saturating_mul(u64::from(self.settings.rate_per_second)),
            );
            tokens < capacity || bucket.in_flight.available_permits() < concurrent
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_served_then_throttled_then_refilled() {
        let limiter = Limiter::new(LimitSettings {
            rate_per_second: 10,
            burst: 3,
            concurrent: 100,
        });
        let start = Instant::now();
        let permits: Vec<_> = (0..3)
            .map(|_| limiter.admit("BIN 1", start).expect("within the burst"))
            .collect();
        let throttled = limiter.admit("BIN 1", start).unwrap_err();
        assert_eq!(throttled.reason, "rate");
        assert!(throttled.retry_after >= Duration::from_secs(1));
        // Another principal has its own bucket.
        assert!(limiter.admit("BIN 2", start).is_ok());
        // 100 ms at 10/s brings one token back.
        assert!(
            limiter
                .admit("BIN 1", start + Duration::from_millis(100))
                .is_ok()
        );
        drop(permits);
    }

    #[test]
    fn requests_in_flight_are_capped_until_answered() {
        let limiter = Limiter::new(LimitSettings {
            rate_per_second: 1_000,
            burst: 1_000,
            concurrent: 2,
        });
        let now = Instant::now();
        let first = limiter.admit("p", now).unwrap();
        let _second = limiter.admit("p", now).unwrap();
        assert_eq!(limiter.admit("p", now).unwrap_err().reason, "concurrency");
        drop(first);
        assert!(limiter.admit("p", now).is_ok());
    }
}
