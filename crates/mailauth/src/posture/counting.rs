//! A [`Resolver`] wrapper that counts and logs the queries a check makes.

use async_trait::async_trait;
use postern_dns::{DnsError, Lookup, Record, RecordType, Resolver};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// Passes every query to the wrapped resolver and remembers it (`NAME TYPE`), so a check
/// can report how many queries it made and which.
pub(crate) struct Counting<'a> {
    inner: &'a dyn Resolver,
    count: AtomicU32,
    log: Mutex<Vec<String>>,
}

impl<'a> Counting<'a> {
    /// Wraps `inner` with an empty log.
    pub(crate) fn new(inner: &'a dyn Resolver) -> Self {
        Self {
            inner,
            count: AtomicU32::new(0),
            log: Mutex::new(Vec::new()),
        }
    }

    /// Queries made so far.
    pub(crate) fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// The queries made so far, as `name TYPE`, in order.
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Resolver for Counting<'_> {
    async fn query(&self, name: &str, rtype: RecordType) -> Result<Lookup<Record>, DnsError> {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut log) = self.log.lock() {
            log.push(format!("{} {rtype}", name.trim_end_matches('.')));
        }
        self.inner.query(name, rtype).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_dns::ZoneResolver;

    #[tokio::test]
    async fn every_query_is_counted_and_logged() {
        let zone = ZoneResolver::from_zone_text("example.com A 192.0.2.1\n").unwrap();
        let counting = Counting::new(&zone);
        counting.a("example.com").await.unwrap();
        counting.txt("_dmarc.example.com.").await.unwrap();
        assert_eq!(counting.count(), 2);
        assert_eq!(counting.log(), ["example.com A", "_dmarc.example.com TXT"]);
    }
}
