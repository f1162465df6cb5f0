//! The monitor through real DNS packets: hickory-resolver asking an authoritative server on
//! loopback (`postern_dns::testing::LoopbackServer`) whose zones play a list that lists
//! (codes and TXT), answers clear, refuses (127.255.255.254), answers garbage, stays silent
//! (the client times out) and fails (SERVFAIL).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly where it cannot go on"
)]

use postern_blocklist::{
    BlocklistMonitor, Catalogue, ListingState, MonitorSettings, Target, UnknownReason,
};
use postern_dns::testing::LoopbackServer;
use postern_dns::{HickoryResolver, ResolverSettings};
use std::sync::Arc;
use std::time::Duration;

const CATALOGUE: &str = r#"
[[list]]
id = "played"
name = "A list played on loopback"
zone = "bl.test"
kind = "dnsbl"
rate = { per_minute = 6000, burst = 100 }
codes = [
  { code = "127.0.0.2", meaning = "spam source" },
  { code = "127.0.0.3", meaning = "snowshoe" },
]

[[list]]
id = "silent"
name = "Never answers"
zone = "silent.test"
kind = "dnsbl"
rate = { per_minute = 6000, burst = 100 }

[[list]]
id = "failing"
name = "SERVFAIL"
zone = "failing.test"
kind = "dnsbl"
rate = { per_minute = 6000, burst = 100 }

[[list]]
id = "open"
name = "Refuses our resolver"
zone = "open.test"
kind = "dnsbl"
rate = { per_minute = 6000, burst = 100 }

[[list]]
id = "uri"
name = "A domain list"
zone = "uri.test"
kind = "domain"
rate = { per_minute = 6000, burst = 100 }
"#;

const BL_ZONE: &str = r#"
2.0.0.127      IN A   127.0.0.2
2.0.0.127      IN TXT "test entry"
10.2.0.192     IN A   127.0.0.2
10.2.0.192     IN A   127.0.0.3
10.2.0.192     IN TXT "Listed since 2026-11-20: https://bl.test/lookup?ip=192.0.2.10"
12.2.0.192     IN A   127.255.255.255
13.2.0.192     IN A   10.0.0.1
"#;

const OPEN_ZONE: &str = r#"
2.0.0.127      IN A   127.255.255.254
10.2.0.192     IN A   127.255.255.254
"#;

const URI_ZONE: &str = r#"
test           IN A   127.0.0.2
spammy.example IN A   127.0.0.2
"#;

fn start() -> LoopbackServer {
    LoopbackServer::builder()
        .zone("bl.test", BL_ZONE)
        .zone("open.test", OPEN_ZONE)
        .zone("uri.test", URI_ZONE)
        .silent("silent.test")
        .servfail("failing.test")
        .start()
        .unwrap()
}

fn resolver(server: &LoopbackServer) -> HickoryResolver {
    HickoryResolver::new(&ResolverSettings {
        nameservers: vec![server.addr()],
        timeout: Duration::from_millis(300),
        attempts: 1,
        ..ResolverSettings::default()
    })
    .unwrap()
}

fn state<'a>(
    obs: &'a [postern_blocklist::Observation],
    target: &str,
    list: &str,
) -> &'a ListingState {
    let target = Target::parse(target).unwrap();
    &obs.iter()
        .find(|o| o.target == target && o.list_id == list)
        .unwrap()
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dns_answers_become_listed_clear_or_unknown() {
    let server = start();
    let monitor = BlocklistMonitor::new(Arc::new(resolver(&server)), MonitorSettings::default());
    let lists = Catalogue::from_toml(CATALOGUE).unwrap().enabled();
    let targets: Vec<Target> = [
        "192.0.2.10",
        "192.0.2.11",
        "192.0.2.12",
        "192.0.2.13",
        "spammy.example",
        "fine.example",
    ]
    .iter()
    .map(|t| Target::parse(t).unwrap())
    .collect();
    let obs = monitor.check(&lists, &targets).await;

    let ListingState::Listed { codes, txt } = state(&obs, "192.0.2.10", "played") else {
        panic!("not listed: {:?}", state(&obs, "192.0.2.10", "played"));
    };
    let meanings: Vec<&str> = codes
        .iter()
        .flat_map(|c| c.meanings.iter().map(String::as_str))
        .collect();
    assert_eq!(meanings, ["spam source", "snowshoe"]);
    assert_eq!(
        txt,
        &vec!["Listed since 2026-11-20: https://bl.test/lookup?ip=192.0.2.10".to_owned()]
    );
    assert_eq!(state(&obs, "192.0.2.11", "played"), &ListingState::Clear);
    assert!(matches!(
        state(&obs, "192.0.2.12", "played"),
        ListingState::Unknown {
            reason: UnknownReason::Refused { .. }
        }
    ));
    assert!(matches!(
        state(&obs, "192.0.2.13", "played"),
        ListingState::Unknown {
            reason: UnknownReason::Nonsense { .. }
        }
    ));

    // Silent, failing and open-resolver-refusing lists: every verdict unknown, with why.
    for (list, words) in [
        ("silent", "timed out"),
        ("failing", "failed"),
        ("open", "open resolver"),
    ] {
        for target in ["192.0.2.10", "192.0.2.11"] {
            let ListingState::Unknown { reason } = state(&obs, target, list) else {
                panic!("{target} on {list} is not unknown");
            };
            assert!(reason.to_string().contains(words), "{list}: {reason}");
        }
    }

    assert!(state(&obs, "spammy.example", "uri").is_listed());
    assert_eq!(state(&obs, "fine.example", "uri"), &ListingState::Clear);
    assert!(server.queries() > 0);
}
