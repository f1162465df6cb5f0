//! [`BlocklistMonitor`]: checks targets against lists through a [`Resolver`], each list
//! behind its health check, its rate limit, a verdict cache and a bound on concurrent
//! queries.

use crate::cache::{AnswerCache, CacheTtls};
use crate::catalogue::{Blocklist, ListKind};
use crate::limit::RateLimiter;
use crate::query::{Target, reversed};
use crate::state::{ListingState, UnknownReason, interpret};
use futures::StreamExt;
use postern_dns::{Lookup, Resolver};
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{Instrument, debug, info_span, warn};

/// How a [`BlocklistMonitor`] behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSettings {
    /// How long verdicts are reused.
    pub cache: CacheTtls,
    /// Verdicts the cache holds at most.
    pub cache_capacity: usize,
    /// Queries in flight at once, over all lists.
    pub max_concurrent: usize,
    /// How long a list's health verdict is reused before its test entries are asked again.
    pub health_ttl: Duration,
    /// Ask for the TXT reason of each listing.
    pub fetch_txt: bool,
}

/// Whether a list answers its RFC 5782 test entries as it should.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "health")]
pub enum ListHealth {
    /// The listed test entry is listed and the clear one is not.
    Healthy,
    /// It is not; every verdict of the list is unknown until it is again.
    Unhealthy {
        /// What the test entries answered.
        detail: String,
    },
}

/// One list's verdict on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// What was checked.
    pub target: Target,
    /// The list's catalogue id.
    pub list_id: String,
    /// What the list lists (a listing on a DNSWL is good news).
    pub kind: ListKind,
    /// The verdict.
    pub state: ListingState,
}

/// Checks targets against lists. Share one per process: its rate limits, cache and health
/// verdicts are what keep the query volume bounded.
pub struct BlocklistMonitor {
    resolver: Arc<dyn Resolver>,
    settings: MonitorSettings,
    limiter: RateLimiter,
    cache: Mutex<AnswerCache>,
    /// By (list id, zone queried): the verdict and when it was made. Keyed zones of
    /// different MSPs are checked apart.
    health: Mutex<HashMap<(String, String), (ListHealth, Instant)>>,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            cache: CacheTtls::default(),
            cache_capacity: 100_000,
            max_concurrent: 32,
            health_ttl: Duration::from_secs(3600),
            fetch_txt: true,
        }
    }
}

impl BlocklistMonitor {
    /// A monitor asking `resolver`.
    pub fn new(resolver: Arc<dyn Resolver>, settings: MonitorSettings) -> Self {
        Self {
            cache: Mutex::new(AnswerCache::new(settings.cache, settings.cache_capacity)),
            resolver,
            settings,
            limiter: RateLimiter::new(),
            health: Mutex::new(HashMap::new()),
        }
    }

    /// Checks every target against every enabled list that answers for it (IPv4/IPv6
    /// addresses on IP lists of that family, domains on domain lists). One observation per
    /// applicable (target, list) pair, in target order then list order. A list that needs a
    /// missing key or fails its health check gives unknown verdicts without querying the
    /// targets.
    pub async fn check(&self, lists: &[Blocklist], targets: &[Target]) -> Vec<Observation> {
        let span = info_span!(
            "blocklist.monitor.check",
            lists = lists.len(),
            targets = targets.len()
        );
        async move {
            let lists: Vec<&Blocklist> = lists.iter().filter(|l| l.enabled).collect();
            let used: Vec<&Blocklist> = lists
                .iter()
                .copied()
                .filter(|l| targets.iter().any(|t| t.applies_to(l)))
                .collect();
            // The futures are built before the streams run (no closure is held across an
            // await), so the whole future is provably `Send` for callers that box it.
            let gating: Vec<_> = used.iter().map(|list| self.named_gate(list)).collect();
            let gates: HashMap<&str, Result<String, UnknownReason>> = futures::stream::iter(gating)
                .buffer_unordered(self.settings.max_concurrent.max(1))
                .collect()
                .await;
            let mut asks = Vec::new();
            for target in targets {
                for list in lists.iter().copied().filter(|l| target.applies_to(l)) {
                    let gate = gates.get(list.id.as_str()).cloned();
                    asks.push(self.observe(target, list, gate));
                }
            }
            futures::stream::iter(asks)
                .buffered(self.settings.max_concurrent.max(1))
                .collect()
                .await
        }
        .instrument(span)
        .await
    }

    /// The list's id with its gate.
    async fn named_gate<'a>(
        &self,
        list: &'a Blocklist,
    ) -> (&'a str, Result<String, UnknownReason>) {
        (list.id.as_str(), self.gate(list).await)
    }

    /// One list's verdict on one target, through the list's gate (`None`: gated here, its
    /// health verdict is cached).
    async fn observe(
        &self,
        target: &Target,
        list: &Blocklist,
        gate: Option<Result<String, UnknownReason>>,
    ) -> Observation {
        let gate = match gate {
            Some(gate) => gate,
            None => self.gate(list).await,
        };
        let state = match gate {
            Ok(zone) => self.verdict(list, &zone, target).await,
            Err(reason) => ListingState::Unknown { reason },
        };
        Observation {
            target: target.clone(),
            list_id: list.id.clone(),
            kind: list.kind,
            state,
        }
    }

    /// The list's health: its listed test entry must be listed and its clear one must be
    /// NXDOMAIN (RFC 5782 §5). Reused for the configured time.
    pub async fn health(&self, list: &Blocklist) -> ListHealth {
        match list.query_zone() {
            Some(zone) => self.health_under(list, &zone).await,
            None => ListHealth::Unhealthy {
                detail: UnknownReason::KeyMissing.to_string(),
            },
        }
    }

    /// The zone to query, or why the list's verdicts are all unknown.
    async fn gate(&self, list: &Blocklist) -> Result<String, UnknownReason> {
        let zone = list.query_zone().ok_or(UnknownReason::KeyMissing)?;
        match self.health_under(list, &zone).await {
            ListHealth::Healthy => Ok(zone),
            ListHealth::Unhealthy { detail } => Err(UnknownReason::Unhealthy { detail }),
        }
    }

    async fn health_under(&self, list: &Blocklist, zone: &str) -> ListHealth {
        let now = Instant::now();
        if let Ok(health) = self.health.lock()
            && let Some((verdict, at)) = health.get(&(list.id.clone(), zone.to_owned()))
            && now.saturating_duration_since(*at) < self.settings.health_ttl
        {
            return verdict.clone();
        }
        let (listed_entry, clear_entry) = test_entries(list);
        // Asked afresh, never from the cache: the point is to see the list answer now.
        let listed = self
            .query(list, &probe_name(&listed_entry, zone), false)
            .await;
        let clear = self
            .query(list, &probe_name(&clear_entry, zone), false)
            .await;
        let verdict = match (&listed, &clear) {
            (ListingState::Listed { .. }, ListingState::Clear) => ListHealth::Healthy,
            _ => ListHealth::Unhealthy {
                detail: format!(
                    "test entry {listed_entry} should be listed and was {}; {clear_entry} should be clear and was {}",
                    describe(&listed),
                    describe(&clear)
                ),
            },
        };
        if let ListHealth::Unhealthy { detail } = &verdict {
            warn!(list = %list.id, %detail, "blocklist failed its health check");
        }
        if let Ok(mut health) = self.health.lock() {
            health.insert(
                (list.id.clone(), zone.to_owned()),
                (verdict.clone(), Instant::now()),
            );
        }
        verdict
    }

    async fn verdict(&self, list: &Blocklist, zone: &str, target: &Target) -> ListingState {
        match target.query_name(zone) {
            Ok(name) => self.ask(list, &name, self.settings.fetch_txt).await,
            Err(error) => ListingState::Unknown {
                reason: UnknownReason::InvalidQuery {
                    detail: error.to_string(),
                },
            },
        }
    }

    /// The verdict of `list` on `name`: from the cache, else asked (and cached).
    async fn ask(&self, list: &Blocklist, name: &str, txt: bool) -> ListingState {
        if let Some(state) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&list.id, name, Instant::now()))
        {
            return state;
        }
        let state = self.query(list, name, txt).await;
        if let Ok(mut cache) = self.cache.lock() {
            cache.put(&list.id, name, state.clone(), Instant::now());
        }
        state
    }

    /// Asks `list` about `name` within the list's rate limit (and for its TXT reasons when
    /// listed and `txt`).
    async fn query(&self, list: &Blocklist, name: &str, txt: bool) -> ListingState {
        // One bucket per zone asked: the public zone is shared by every MSP, a keyed zone
        // (whose limit is the key's) is its own.
        let bucket = list.query_zone().unwrap_or_else(|| list.id.clone());
        self.limiter.acquire(&bucket, list.rate).await;
        let mut state = interpret(list, self.resolver.a(name).await);
        if txt && let ListingState::Listed { txt: reasons, .. } = &mut state {
            self.limiter.acquire(&bucket, list.rate).await;
            match self.resolver.txt(name).await {
                Ok(Lookup::Found(records)) => {
                    *reasons = records
                        .iter()
                        .map(|r| String::from_utf8_lossy(&r.joined()).into_owned())
                        .collect();
                }
                Ok(_) => {}
                Err(error) => debug!(list = %list.id, %error, "blocklist txt lookup failed"),
            }
        }
        state
    }
}

/// The entries that must be listed and must not be: the list's own, else RFC 5782's.
fn test_entries(list: &Blocklist) -> (String, String) {
    let (listed, clear) = match list.kind {
        ListKind::Domain => ("test", "invalid"),
        _ if list.ipv4 => ("127.0.0.2", "127.0.0.1"),
        _ => ("::ffff:7f00:2", "::ffff:7f00:1"),
    };
    (
        list.test_listed
            .clone()
            .unwrap_or_else(|| listed.to_owned()),
        list.test_clear.clone().unwrap_or_else(|| clear.to_owned()),
    )
}

/// The query name of a test entry: reversed when it is an address, else `<entry>.<zone>`.
fn probe_name(entry: &str, zone: &str) -> String {
    match entry.parse::<IpAddr>() {
        Ok(ip) => format!("{}.{zone}", reversed(ip)),
        Err(_) => format!(
            "{}.{zone}",
            entry.trim_end_matches('.').to_ascii_lowercase()
        ),
    }
}

fn describe(state: &ListingState) -> String {
    match state {
        ListingState::Listed { codes, .. } => {
            let codes: Vec<String> = codes.iter().map(|c| c.code.to_string()).collect();
            format!("listed ({})", codes.join(", "))
        }
        ListingState::Clear => "clear".to_owned(),
        ListingState::Unknown { reason } => format!("unknown ({reason})"),
    }
}

/// RFC 5782's IPv4 test addresses, for callers building test zones.
pub const TEST_LISTED_V4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// RFC 5782's IPv4 address that must not be listed.
pub const TEST_CLEAR_V4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// RFC 5782's IPv6 test address (`::FFFF:7F00:2`).
pub const TEST_LISTED_V6: Ipv6Addr = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_use_rfc_5782_entries_unless_the_list_names_its_own() {
        let c = crate::Catalogue::builtin().unwrap();
        let zen = c.get("spamhaus-zen").unwrap();
        let (listed, clear) = test_entries(zen);
        assert_eq!(
            probe_name(&listed, "zen.spamhaus.org"),
            "2.0.0.127.zen.spamhaus.org"
        );
        assert_eq!(
            probe_name(&clear, "zen.spamhaus.org"),
            "1.0.0.127.zen.spamhaus.org"
        );
        let dbl = c.get("spamhaus-dbl").unwrap();
        let (listed, clear) = test_entries(dbl);
        assert_eq!(
            probe_name(&listed, "dbl.spamhaus.org"),
            "dbltest.com.dbl.spamhaus.org"
        );
        assert_eq!(
            probe_name(&clear, "dbl.spamhaus.org"),
            "invalid.dbl.spamhaus.org"
        );
        let mut v6_only = zen.clone();
        v6_only.ipv4 = false;
        let (listed, _) = test_entries(&v6_only);
        assert_eq!(listed.parse::<Ipv6Addr>().unwrap(), TEST_LISTED_V6);
        assert!(probe_name(&listed, "z.example").starts_with("2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0"));
    }
}
