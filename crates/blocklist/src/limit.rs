//! Per-list rate limits: a token bucket per list (per zone asked, so a keyed zone has its
//! own), so many targets never hammer a list.

use crate::catalogue::RateLimit;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A token bucket: `burst` tokens, refilled continuously at `per_minute / 60` a second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

/// Buckets by name (the monitor uses the zone asked), made on first use and rebuilt when
/// the limit changes.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (RateLimit, TokenBucket)>>,
}

impl TokenBucket {
    /// A full bucket at `now`. A limit of 0 is read as 1.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        let capacity = f64::from(limit.burst.max(1));
        Self {
            capacity,
            per_second: f64::from(limit.per_minute.max(1)) / 60.0,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes a token at `now`, or says how long to wait until one is there.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        }
    }
}

impl RateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until the bucket `key` (limited by `limit`) gives a token.
    pub async fn acquire(&self, key: &str, limit: RateLimit) {
        loop {
            let wait = {
                let Ok(mut buckets) = self.buckets.lock() else {
                    // A panicked holder cannot leave a bucket half-updated in a way that
                    // matters more than not limiting at all; go on unlimited.
                    return;
                };
                let now = Instant::now();
                let entry = buckets
                    .entry(key.to_owned())
                    .or_insert_with(|| (limit, TokenBucket::new(limit, now)));
                if entry.0 != limit {
                    *entry = (limit, TokenBucket::new(limit, now));
                }
                match entry.1.try_take(now) {
                    Ok(()) => return,
                    Err(wait) => wait,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_minute: u32, burst: u32) -> RateLimit {
        RateLimit { per_minute, burst }
    }

    #[test]
    fn a_full_bucket_gives_its_burst_then_makes_callers_wait() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(limit(60, 3), start);
        for _ in 0..3 {
            assert_eq!(bucket.try_take(start), Ok(()));
        }
        let wait = bucket.try_take(start).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
    }

    #[test]
    fn tokens_refill_at_the_rate_and_never_beyond_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(limit(120, 2), start);
        bucket.try_take(start).unwrap();
        bucket.try_take(start).unwrap();
        // 120/min = 2/s: one token after 0.5 s.
        assert!(bucket.try_take(start + Duration::from_millis(400)).is_err());
        assert!(bucket.try_take(start + Duration::from_millis(500)).is_ok());
        // A long pause refills to the burst only.
        let later = start + Duration::from_secs(3600);
        assert!(bucket.try_take(later).is_ok());
        assert!(bucket.try_take(later).is_ok());
        assert!(bucket.try_take(later).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spaces_queries_of_one_list_but_not_of_another() {
        let limiter = RateLimiter::new();
        let start = Instant::now();
        for _ in 0..4 {
            limiter.acquire("slow", limit(60, 2)).await;
        }
        // Two at once, then one a second.
        assert!(start.elapsed() >= Duration::from_secs(2));
        assert!(start.elapsed() < Duration::from_secs(3));
        let other = Instant::now();
        limiter.acquire("other", limit(60, 1)).await;
        assert_eq!(other.elapsed(), Duration::ZERO);
    }
}
