//! The in-memory cache of compiled plugins: by the SHA-256 of the component's bytes, bounded
//! by a number of entries, the least recently used thrown out first. A compiled component
//! holds its machine code (a few MiB for a JavaScript or Python plugin), so a host that sees
//! many uploads over its life must not keep every one it ever compiled; a plugin thrown out is
//! compiled again (or read from the precompiled folder) when it is next needed.

use std::collections::HashMap;

/// What the cache keeps by default.
pub(crate) const DEFAULT_ENTRIES: usize = 64;

/// A least-recently-used map of bounded size. Lookups and inserts are O(1) but for the
/// eviction scan, which runs only when an insert overflows (entries are few).
pub(crate) struct Lru<V> {
    capacity: usize,
    tick: u64,
    entries: HashMap<[u8; 32], (V, u64)>,
}

impl<V: Clone> Lru<V> {
    /// An empty cache of at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
        }
    }

    /// The entry for `key`, now the most recently used.
    pub(crate) fn get(&mut self, key: &[u8; 32]) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|(value, used)| {
            *used = tick;
            value.clone()
        })
    }

    /// Keeps `value` under `key` as the most recently used, throwing out the least recently
    /// used entries beyond the capacity.
    pub(crate) fn insert(&mut self, key: [u8; 32], value: V) {
        self.tick += 1;
        self.entries.insert(key, (value, self.tick));
        while self.entries.len() > self.capacity {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| *key)
            else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// Forgets `key`.
    pub(crate) fn remove(&mut self, key: &[u8; 32]) {
        self.entries.remove(key);
    }

    /// Entries kept.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn the_least_recently_used_entry_goes_first_when_full() {
        let mut lru = Lru::new(2);
        lru.insert(key(1), "one");
        lru.insert(key(2), "two");
        assert_eq!(lru.get(&key(1)), Some("one"));
        lru.insert(key(3), "three");
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.get(&key(2)), None, "2 was the least recently used");
        assert_eq!(lru.get(&key(1)), Some("one"));
        assert_eq!(lru.get(&key(3)), Some("three"));
    }

    #[test]
    fn inserting_a_key_again_replaces_it_without_growing() {
        let mut lru = Lru::new(2);
        lru.insert(key(1), "one");
        lru.insert(key(1), "uno");
        assert_eq!(lru.len(), 1);
        assert_eq!(lru.get(&key(1)), Some("uno"));
        lru.remove(&key(1));
        assert_eq!(lru.get(&key(1)), None);
    }

    #[test]
    fn a_capacity_of_zero_still_keeps_the_latest_entry() {
        let mut lru = Lru::new(0);
        lru.insert(key(1), 1);
        lru.insert(key(2), 2);
        assert_eq!(lru.len(), 1);
        assert_eq!(lru.get(&key(2)), Some(2));
    }
}
