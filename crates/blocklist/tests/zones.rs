//! The monitor against lists played by in-memory zones (`postern_dns::ZoneResolver`): a
//! list that lists with codes and TXT, one that answers clear, ones that refuse, time
//! out, fail or answer nonsense, and the rate limit, cache, concurrency bound and keys.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly where it cannot go on"
)]

use async_trait::async_trait;
use postern_blocklist::{
    Blocklist, BlocklistMonitor, Catalogue, ListHealth, ListKey, ListKind, ListOverride,
    ListingState, MonitorSettings, Observation, Target, UnknownReason,
};
use postern_dns::{DnsError, Lookup, Record, RecordType, Resolver, ZoneResolver};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Lists on test zones, in the catalogue format.
const CATALOGUE: &str = r#"
[[list]]
id = "good"
name = "A list that works"
zone = "good.bl.test"
kind = "dnsbl"
ipv6 = true
rate = { per_minute = 6000, burst = 100 }
delisting_url = "https://good.bl.test/remove"
codes = [
  { code = "127.0.0.2", meaning = "spam source" },
  { code = "127.0.0.4-127.0.0.7", meaning = "infected host" },
]

[[list]]
id = "refusing"
name = "Healthy but refusing one query"
zone = "refusing.bl.test"
kind = "dnsbl"
rate = { per_minute = 6000, burst = 100 }

[[list]]
id = "open-resolver"
name = "Refuses every query from our resolver"
zone = "open.bl.test"
kind = "dnsbl"
rate = { per_minute = 6000, burst = 100 }

[[list]]
id = "slow"
name = "Times out"
zone = "slow.bl.test"
kind = "dnsbl"
rate = { per_minute = 6000, burst = 100 }

[[list]]
id = "broken"
name = "SERVFAIL"
zone = "broken.bl.test"
kind = "dnsbl"
rate = { per_minute = 6000, burst = 100 }

[[list]]
id = "garbage"
name = "Healthy, but one answer is garbage"
zone = "garbage.bl.test"
kind = "dnsbl"
rate = { per_minute = 6000, burst = 100 }

[[list]]
id = "dead"
name = "Answers NXDOMAIN for everything"
zone = "dead.bl.test"
kind = "dnsbl"
rate = { per_minute = 6000, burst = 100 }

[[list]]
id = "wildcard"
name = "Lists everything, 127.0.0.1 included"
zone = "wild.bl.test"
kind = "dnsbl"
rate = { per_minute = 6000, burst = 100 }

[[list]]
id = "domains"
name = "A domain list"
zone = "dom.bl.test"
kind = "domain"
rate = { per_minute = 6000, burst = 100 }
codes = [{ code = "127.0.1.2", meaning = "spam domain" }]

[[list]]
id = "keyed"
name = "Needs a key"
zone = "keyed.bl.test"
kind = "dnsbl"
key_required = true
keyed_zone = "{key}.dq.bl.test"
rate = { per_minute = 6000, burst = 100 }
"#;

/// The zones playing those lists. Targets: 192.0.2.10 listed on `good` (two codes, TXT),
/// 192.0.2.11 clear everywhere, 2001:db8::10 listed on `good`, example.com on `domains`.
const ZONES: &str = r#"
# good: RFC 5782 test entries, a listing with two codes and a TXT reason, IPv6.
2.0.0.127.good.bl.test A 127.0.0.2
10.2.0.192.good.bl.test A 127.0.0.2
10.2.0.192.good.bl.test A 127.0.0.4
10.2.0.192.good.bl.test TXT "Listed: spam seen 2026-11-28, see https://good.bl.test/q?192.0.2.10"
0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.good.bl.test A 127.0.0.2
# refusing: healthy, refuses 192.0.2.10 (excessive queries).
2.0.0.127.refusing.bl.test A 127.0.0.2
10.2.0.192.refusing.bl.test A 127.255.255.255
# open-resolver: every query answered 127.255.255.254.
2.0.0.127.open.bl.test A 127.255.255.254
1.0.0.127.open.bl.test A 127.255.255.254
10.2.0.192.open.bl.test A 127.255.255.254
11.2.0.192.open.bl.test A 127.255.255.254
# slow and broken.
slow.bl.test TIMEOUT
broken.bl.test SERVFAIL
# garbage: healthy, answers 10.0.0.1 for 192.0.2.10 (an NXDOMAIN-rewriting resolver).
2.0.0.127.garbage.bl.test A 127.0.0.2
10.2.0.192.garbage.bl.test A 10.0.0.1
# wildcard: the RFC 5782 entry that must not be listed is.
2.0.0.127.wild.bl.test A 127.0.0.2
1.0.0.127.wild.bl.test A 127.0.0.2
10.2.0.192.wild.bl.test A 127.0.0.2
11.2.0.192.wild.bl.test A 127.0.0.2
# dead: nothing at all.
# domains: RFC 5782 domain test entry, a listed domain.
test.dom.bl.test A 127.0.1.2
example.com.dom.bl.test A 127.0.1.2
example.com.dom.bl.test TXT "spam domain"
# keyed: answers only under the key's zone.
2.0.0.127.sekret.dq.bl.test A 127.0.0.2
10.2.0.192.sekret.dq.bl.test A 127.0.0.3
"#;

fn zones() -> ZoneResolver {
    let mut zone = ZoneResolver::from_zone_text(ZONES).unwrap();
    // A TIMEOUT/SERVFAIL entry only covers its own name: cover the names asked for.
    for name in [
        "2.0.0.127.slow.bl.test",
        "1.0.0.127.slow.bl.test",
        "10.2.0.192.slow.bl.test",
    ] {
        zone.add_entry(name, postern_dns::ZoneEntry::Timeout);
    }
    for name in [
        "2.0.0.127.broken.bl.test",
        "1.0.0.127.broken.bl.test",
        "10.2.0.192.broken.bl.test",
    ] {
        zone.add_entry(name, postern_dns::ZoneEntry::ServFail);
    }
    zone
}

fn catalogue() -> Catalogue {
    Catalogue::from_toml(CATALOGUE).unwrap()
}

fn targets(list: &[&str]) -> Vec<Target> {
    list.iter().map(|t| Target::parse(t).unwrap()).collect()
}

fn find<'a>(obs: &'a [Observation], target: &str, list: &str) -> &'a ListingState {
    let target = Target::parse(target).unwrap();
    &obs.iter()
        .find(|o| o.target == target && o.list_id == list)
        .unwrap_or_else(|| panic!("no observation of {target} on {list}"))
        .state
}

fn unknown_reason(state: &ListingState) -> &UnknownReason {
    match state {
        ListingState::Unknown { reason } => reason,
        other => panic!("expected unknown, got {other:?}"),
    }
}

#[tokio::test]
async fn each_list_behaviour_gives_its_verdict_and_nothing_broken_reads_clear() {
    let resolver = Arc::new(zones());
    let monitor = BlocklistMonitor::new(resolver.clone(), MonitorSettings::default());
    let lists = catalogue().enabled();
    let obs = monitor
        .check(
            &lists,
            &targets(&["192.0.2.10", "192.0.2.11", "example.com"]),
        )
        .await;

    // good: listed with both codes, meanings and TXT; the other address clear.
    let ListingState::Listed { codes, txt } = find(&obs, "192.0.2.10", "good") else {
        panic!("not listed");
    };
    let got: Vec<(String, Vec<String>)> = codes
        .iter()
        .map(|c| (c.code.to_string(), c.meanings.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("127.0.0.2".to_owned(), vec!["spam source".to_owned()]),
            ("127.0.0.4".to_owned(), vec!["infected host".to_owned()]),
        ]
    );
    assert_eq!(txt.len(), 1);
    assert!(txt[0].starts_with("Listed: spam seen"));
    assert_eq!(find(&obs, "192.0.2.11", "good"), &ListingState::Clear);

    // refusing: healthy, so the clear address is clear, the refused one unknown.
    assert_eq!(find(&obs, "192.0.2.11", "refusing"), &ListingState::Clear);
    let reason = unknown_reason(find(&obs, "192.0.2.10", "refusing"));
    assert!(
        matches!(reason, UnknownReason::Refused { .. }),
        "{reason:?}"
    );
    assert!(reason.to_string().contains("excessive"), "{reason}");

    // open-resolver, slow, broken and dead fail their health check: every verdict unknown,
    // including the address no list has (it would have read clear).
    for list in ["open-resolver", "slow", "broken", "dead", "wildcard"] {
        for target in ["192.0.2.10", "192.0.2.11"] {
            let reason = unknown_reason(find(&obs, target, list));
            assert!(
                matches!(reason, UnknownReason::Unhealthy { .. }),
                "{target} on {list}: {reason:?}"
            );
        }
    }
    let open = unknown_reason(find(&obs, "192.0.2.11", "open-resolver")).to_string();
    assert!(open.contains("open resolver"), "{open}");
    let slow = unknown_reason(find(&obs, "192.0.2.11", "slow")).to_string();
    assert!(slow.contains("timed out"), "{slow}");
    let broken = unknown_reason(find(&obs, "192.0.2.11", "broken")).to_string();
    assert!(broken.contains("SERVFAIL"), "{broken}");

    // garbage: healthy, but 10.0.0.1 is not an answer.
    assert_eq!(
        unknown_reason(find(&obs, "192.0.2.10", "garbage")),
        &UnknownReason::Nonsense {
            answers: vec!["10.0.0.1".parse().unwrap()]
        }
    );

    // The domain is checked on the domain list only; the IPs never on it.
    let ListingState::Listed { codes, txt } = find(&obs, "example.com", "domains") else {
        panic!("domain not listed");
    };
    assert_eq!(codes[0].meanings, vec!["spam domain".to_owned()]);
    assert_eq!(txt, &vec!["spam domain".to_owned()]);
    assert!(
        !obs.iter()
            .any(|o| o.list_id == "domains" && o.target != Target::parse("example.com").unwrap())
    );
    assert!(
        !obs.iter()
            .any(|o| o.list_id != "domains" && o.target == Target::parse("example.com").unwrap())
    );

    // keyed: no key, so unknown, and nothing was asked under its zones.
    assert_eq!(
        unknown_reason(find(&obs, "192.0.2.10", "keyed")),
        &UnknownReason::KeyMissing
    );
    assert!(
        !resolver
            .queries()
            .iter()
            .any(|(name, _)| name.contains("keyed") || name.contains("dq.bl.test"))
    );
    let wild = unknown_reason(find(&obs, "192.0.2.10", "wildcard")).to_string();
    assert!(
        wild.contains("127.0.0.1 should be clear and was listed"),
        "{wild}"
    );
    // One observation per applicable pair: 2 IPs × 9 IP lists + 1 domain × 1 domain list.
    assert_eq!(obs.len(), 19);
}

#[tokio::test]
async fn ipv6_targets_use_nibble_names_on_lists_that_answer_ipv6() {
    let monitor = BlocklistMonitor::new(Arc::new(zones()), MonitorSettings::default());
    let obs = monitor
        .check(&catalogue().enabled(), &targets(&["2001:db8::10"]))
        .await;
    // Only `good` answers IPv6.
    assert_eq!(obs.len(), 1);
    assert!(obs[0].state.is_listed(), "{:?}", obs[0].state);
}

#[tokio::test]
async fn a_key_moves_the_list_to_its_keyed_zone() {
    let (lists, problems) = catalogue().with_overrides(&[ListOverride {
        list_id: "keyed".into(),
        key: Some(ListKey::new("sekret").unwrap()),
        ..Default::default()
    }]);
    assert!(problems.is_empty());
    let keyed: Vec<Blocklist> = lists
        .enabled()
        .into_iter()
        .filter(|l| l.id == "keyed")
        .collect();
    let monitor = BlocklistMonitor::new(Arc::new(zones()), MonitorSettings::default());
    assert_eq!(monitor.health(&keyed[0]).await, ListHealth::Healthy);
    let obs = monitor.check(&keyed, &targets(&["192.0.2.10"])).await;
    let ListingState::Listed { codes, .. } = &obs[0].state else {
        panic!("not listed: {:?}", obs[0].state);
    };
    assert_eq!(codes[0].code.to_string(), "127.0.0.3");
}

#[tokio::test]
async fn a_second_check_is_answered_from_the_cache() {
    let resolver = Arc::new(zones());
    let monitor = BlocklistMonitor::new(resolver.clone(), MonitorSettings::default());
    let lists: Vec<Blocklist> = catalogue()
        .enabled()
        .into_iter()
        .filter(|l| l.id == "good")
        .collect();
    let t = targets(&["192.0.2.10", "192.0.2.11"]);
    let first = monitor.check(&lists, &t).await;
    let asked = resolver.queries().len();
    // Health (2 A) + 2 targets (2 A) + one TXT for the listing.
    assert_eq!(asked, 5, "{:?}", resolver.queries());
    let second = monitor.check(&lists, &t).await;
    assert_eq!(first, second);
    assert_eq!(resolver.queries().len(), asked);
}

#[tokio::test]
async fn a_cache_of_zero_lifetime_asks_again() {
    let resolver = Arc::new(zones());
    let mut settings = MonitorSettings::default();
    settings.cache.clear = Duration::ZERO;
    settings.cache.listed = Duration::ZERO;
    let monitor = BlocklistMonitor::new(resolver.clone(), settings);
    let lists: Vec<Blocklist> = catalogue()
        .enabled()
        .into_iter()
        .filter(|l| l.id == "good")
        .collect();
    let t = targets(&["192.0.2.11"]);
    monitor.check(&lists, &t).await;
    let asked = resolver.queries().len();
    monitor.check(&lists, &t).await;
    // The health verdict is reused; the target is asked again.
    assert_eq!(resolver.queries().len(), asked + 1);
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_spaces_queries_to_one_list() {
    let (lists, problems) = catalogue().with_overrides(&[ListOverride {
        list_id: "good".into(),
        patch: Some(postern_blocklist::ListPatch {
            rate: Some(postern_blocklist::RateLimit {
                per_minute: 60,
                burst: 2,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    assert!(problems.is_empty());
    let good: Vec<Blocklist> = lists
        .enabled()
        .into_iter()
        .filter(|l| l.id == "good")
        .collect();
    let monitor = BlocklistMonitor::new(Arc::new(zones()), MonitorSettings::default());
    let start = tokio::time::Instant::now();
    // 2 health queries + 6 clear targets = 8 queries: a burst of 2, then one a second.
    let t: Vec<Target> = (20..26)
        .map(|n| Target::parse(&format!("192.0.2.{n}")).unwrap())
        .collect();
    let obs = monitor.check(&good, &t).await;
    assert!(obs.iter().all(|o| o.state == ListingState::Clear));
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_secs(6), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(7), "{elapsed:?}");
}

/// Counts lookups in flight; each takes a little while.
struct Gauge {
    inner: ZoneResolver,
    now: AtomicUsize,
    max: AtomicUsize,
}

#[async_trait]
impl Resolver for Gauge {
    async fn query(&self, name: &str, rtype: RecordType) -> Result<Lookup<Record>, DnsError> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let answer = self.inner.query(name, rtype).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        answer
    }
}

#[tokio::test]
async fn queries_in_flight_stay_within_the_bound() {
    let gauge = Arc::new(Gauge {
        inner: zones(),
        now: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
    });
    let settings = MonitorSettings {
        max_concurrent: 3,
        ..MonitorSettings::default()
    };
    let monitor = BlocklistMonitor::new(gauge.clone(), settings);
    let lists: Vec<Blocklist> = catalogue()
        .enabled()
        .into_iter()
        .filter(|l| ["good", "refusing", "garbage"].contains(&l.id.as_str()))
        .collect();
    let t: Vec<Target> = (30..50)
        .map(|n| Target::parse(&format!("192.0.2.{n}")).unwrap())
        .collect();
    let obs = monitor.check(&lists, &t).await;
    assert_eq!(obs.len(), 60);
    let max = gauge.max.load(Ordering::SeqCst);
    assert!(max <= 3, "{max} in flight");
    assert!(max >= 2, "the check never ran queries side by side");
}

#[tokio::test]
async fn the_builtin_catalogue_kinds_are_what_they_claim() {
    let c = Catalogue::builtin().unwrap();
    assert_eq!(c.get("dnswl").unwrap().kind, ListKind::Dnswl);
    assert_eq!(c.get("surbl").unwrap().kind, ListKind::Domain);
    assert!(c.lists().iter().all(|l| l.delisting_url.is_some()));
}

#[tokio::test(start_paused = true)]
async fn a_failed_health_check_is_asked_again_after_its_lifetime() {
    let resolver = Arc::new(zones());
    let settings = MonitorSettings {
        health_ttl: Duration::from_secs(600),
        ..MonitorSettings::default()
    };
    let monitor = BlocklistMonitor::new(resolver.clone(), settings);
    let dead: Vec<Blocklist> = catalogue()
        .enabled()
        .into_iter()
        .filter(|l| l.id == "dead")
        .collect();
    let t = targets(&["192.0.2.11"]);
    monitor.check(&dead, &t).await;
    monitor.check(&dead, &t).await;
    // Two test entries asked once; the target never (the list is unhealthy).
    assert_eq!(resolver.queries().len(), 2, "{:?}", resolver.queries());
    tokio::time::advance(Duration::from_secs(601)).await;
    let obs = monitor.check(&dead, &t).await;
    assert_eq!(resolver.queries().len(), 4);
    assert!(matches!(
        unknown_reason(&obs[0].state),
        UnknownReason::Unhealthy { .. }
    ));
}

#[tokio::test]
async fn a_target_too_long_for_a_zone_is_unknown_and_spares_the_others() {
    let monitor = BlocklistMonitor::new(Arc::new(zones()), MonitorSettings::default());
    let long = format!(
        "{}.{}.{}.{}.com",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(55)
    );
    let lists: Vec<Blocklist> = catalogue()
        .enabled()
        .into_iter()
        .filter(|l| l.id == "domains")
        .collect();
    let obs = monitor
        .check(&lists, &targets(&[long.as_str(), "example.com"]))
        .await;
    assert!(matches!(
        unknown_reason(&obs[0].state),
        UnknownReason::InvalidQuery { .. }
    ));
    assert!(obs[1].state.is_listed());
}
