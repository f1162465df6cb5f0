//! A bounded cache of verdicts per (list, query name), each kept for a lifetime chosen by
//! its state. [`postern_dns::Resolver`] does not expose answer TTLs, so the lifetimes are
//! configured ([`CacheTtls`]); the resolver underneath (hickory) also caches by the
//! records' real TTLs.

use crate::state::ListingState;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long verdicts are kept; `Duration::ZERO` keeps none of that state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTtls {
    /// Listed verdicts.
    pub listed: Duration,
    /// Clear (NXDOMAIN) verdicts.
    pub clear: Duration,
    /// Unknown verdicts (short: a refusal or timeout deserves a retry soon, but not in
    /// the same sweep).
    pub unknown: Duration,
}

/// Verdicts keyed by list id and query name.
#[derive(Debug)]
pub struct AnswerCache {
    ttls: CacheTtls,
    capacity: usize,
    entries: HashMap<(String, String), (ListingState, Instant)>,
}

impl Default for CacheTtls {
    fn default() -> Self {
        Self {
            listed: Duration::from_secs(900),
            clear: Duration::from_secs(900),
            unknown: Duration::from_secs(60),
        }
    }
}

impl AnswerCache {
    /// An empty cache of at most `capacity` verdicts.
    pub fn new(ttls: CacheTtls, capacity: usize) -> Self {
        Self {
            ttls,
            capacity,
            entries: HashMap::new(),
        }
    }

    /// The verdict for (`list_id`, `name`) if it is still fresh at `now`.
    pub fn get(&self, list_id: &str, name: &str, now: Instant) -> Option<ListingState> {
        self.entries
            .get(&(list_id.to_owned(), name.to_owned()))
            .filter(|(_, expires)| *expires > now)
            .map(|(state, _)| state.clone())
    }

    /// Keeps `state` from `now` for its state's lifetime. When full, expired entries go
    /// first, then the ones closest to expiry.
    pub fn put(&mut self, list_id: &str, name: &str, state: ListingState, now: Instant) {
        let ttl = match state {
            ListingState::Listed { .. } => self.ttls.listed,
            ListingState::Clear => self.ttls.clear,
            ListingState::Unknown { .. } => self.ttls.unknown,
        };
        if ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let key = (list_id.to_owned(), name.to_owned());
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, expires)| *expires > now);
            while self.entries.len() >= self.capacity {
                let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, expires))| *expires)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (state, now + ttl));
    }

    /// Verdicts held (fresh or not yet evicted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::UnknownReason;

    fn ttls() -> CacheTtls {
        CacheTtls {
            listed: Duration::from_secs(100),
            clear: Duration::from_secs(50),
            unknown: Duration::ZERO,
        }
    }

    #[test]
    fn verdicts_expire_by_their_states_lifetime() {
        let now = Instant::now();
        let mut cache = AnswerCache::new(ttls(), 10);
        cache.put("zen", "a", ListingState::Clear, now);
        let listed = ListingState::Listed {
            codes: vec![],
            txt: vec![],
        };
        cache.put("zen", "b", listed.clone(), now);
        assert_eq!(
            cache.get("zen", "a", now + Duration::from_secs(49)),
            Some(ListingState::Clear)
        );
        assert_eq!(cache.get("zen", "a", now + Duration::from_secs(50)), None);
        assert_eq!(
            cache.get("zen", "b", now + Duration::from_secs(99)),
            Some(listed)
        );
        // Same name, other list: not the same verdict.
        assert_eq!(cache.get("dbl", "a", now), None);
    }

    #[test]
    fn states_with_a_zero_lifetime_are_not_kept() {
        let now = Instant::now();
        let mut cache = AnswerCache::new(ttls(), 10);
        cache.put(
            "zen",
            "a",
            ListingState::Unknown {
                reason: UnknownReason::Timeout,
            },
            now,
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn a_full_cache_evicts_expired_then_soonest_to_expire() {
        let now = Instant::now();
        let mut cache = AnswerCache::new(ttls(), 2);
        cache.put("l", "clear-early", ListingState::Clear, now);
        cache.put(
            "l",
            "listed",
            ListingState::Listed {
                codes: vec![],
                txt: vec![],
            },
            now,
        );
        cache.put(
            "l",
            "clear-late",
            ListingState::Clear,
            now + Duration::from_secs(10),
        );
        assert_eq!(cache.len(), 2);
        assert!(cache.get("l", "clear-early", now).is_none());
        assert!(cache.get("l", "listed", now).is_some());
        assert!(
            cache
                .get("l", "clear-late", now + Duration::from_secs(10))
                .is_some()
        );
    }
}
