//! Blocklist monitoring end to end on SQLite and PostgreSQL: a loopback DNS server plays a
//! list, an MSP override points a built-in list at it (every other list switched off), and
//! the checker stores the verdicts of a configured target, the client domain and a DMARC
//! sending source; a listing opens history and a `blocklist.listed` event, a later clear
//! answer closes it with `blocklist.delisted`, and the domain's facts carry the verdicts.

// Scenario helpers are plain async fns shared by the per-backend tests.
#![allow(clippy::unwrap_used)]

use chrono::{Duration as ChronoDuration, Utc};
use postern_analysis::{BlocklistChecker, apply_report, domain_facts};
use postern_blocklist::{BlocklistMonitor, Catalogue, ListKind, MonitorSettings};
use postern_bus::{Envelope, events, topics};
use postern_dns::testing::LoopbackServer;
use postern_dns::{HickoryResolver, ResolverSettings};
use postern_domain::{DomainName, Role, TenantScope};
use postern_ingest::{IngestSettings, Ingestor, Source};
use postern_store::testing::TestDb;
use postern_store::{
    Backend, BlocklistVerdict, KeyChange, NewBlocklistTarget, PageRequest, SetBlocklistOverride,
    Store,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const LISTED_ZONE: &str = r#"
2.0.0.127      IN A   127.0.0.2
7.2.0.192      IN A   127.0.0.2
7.2.0.192      IN TXT "listed for testing"
"#;

const CLEAR_ZONE: &str = r#"
2.0.0.127      IN A   127.0.0.2
"#;

fn checker(store: &Store, server: &LoopbackServer) -> BlocklistChecker {
    let resolver = HickoryResolver::new(&ResolverSettings {
        nameservers: vec![server.addr()],
        timeout: Duration::from_millis(500),
        attempts: 1,
        ..ResolverSettings::default()
    })
    .unwrap();
    let monitor = BlocklistMonitor::new(Arc::new(resolver), MonitorSettings::default());
    BlocklistChecker::new(store.clone(), Arc::new(monitor), None, 100).unwrap()
}

/// One report of `domain` from 198.51.100.9 with `count` messages, folded into the counters.
async fn dmarc_source(store: &Store, domain: &str, count: u64) {
    let now = Utc::now();
    let (b, e) = (
        (now - ChronoDuration::days(2)).timestamp(),
        (now - ChronoDuration::days(1)).timestamp(),
    );
    let xml = format!(
        "<feedback><report_metadata><org_name>rx.example</org_name><email>a@rx.example</email><report_id>bl-1</report_id>\
<date_range><begin>{b}</begin><end>{e}</end></date_range></report_metadata>\
<policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>none</p></policy_published>\
<record><row><source_ip>198.51.100.9</source_ip><count>{count}</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>\
<identifiers><header_from>{domain}</header_from></identifiers><auth_results><dkim><domain>{domain}</domain><result>pass</result></dkim>\
<spf><domain>{domain}</domain><result>pass</result></spf></auth_results></record></feedback>"
    );
    let ingestor = Ingestor::new(
        store.clone(),
        IngestSettings::default(),
        Arc::new(tokio::sync::Notify::new()),
    );
    let outcome = ingestor
        .ingest(
            xml.into_bytes(),
            None,
            Source::Import("t".into()),
            None,
            now,
        )
        .await
        .unwrap();
    let id = outcome.items[0].report_id.unwrap();
    let event = Envelope::new(
        topics::REPORT_INGESTED,
        &events::ReportIngested {
            report_id: id.to_string(),
            ..Default::default()
        },
        None,
        None,
        now,
    );
    assert!(apply_report(store, &event).await.unwrap());
}

async fn listing_opens_and_closes_with_events_and_facts(db: &TestDb) {
    let store = &db.store;
    let msp = store.system().create_msp("MSP", false).await.unwrap().id;
    let scope = TenantScope::msp(msp, Role::MspOwner, false);
    let t = store.tenant(scope);
    let client = t.create_client("Acme").await.unwrap();
    let (domain, _) = t
        .add_domain(
            client.id,
            &DomainName::parse("acme.example").unwrap(),
            &|_, _| Vec::new(),
        )
        .await
        .unwrap();
    dmarc_source(store, "acme.example", 150).await;
    let configured = t
        .add_blocklist_target(
            client.id,
            NewBlocklistTarget {
                value: "192.0.2.7".into(),
                note: "outbound relay".into(),
            },
        )
        .await
        .unwrap();
    // One built-in IP list, pointed at the loopback zone; every other list off.
    let builtin = Catalogue::builtin().unwrap();
    let played = builtin
        .lists()
        .iter()
        .find(|l| l.kind == ListKind::Dnsbl && !l.key_required && l.ipv4)
        .unwrap()
        .clone();
    for list in builtin.lists() {
        let change = if list.id == played.id {
            SetBlocklistOverride {
                list_id: list.id.clone(),
                enabled: Some(Some(true)),
                patch: Some(Some(json!({
                    "zone": "bl.test",
                    "rate": {"per_minute": 6000, "burst": 100}
                }))),
                key: KeyChange::Keep,
            }
        } else {
            SetBlocklistOverride {
                list_id: list.id.clone(),
                enabled: Some(Some(false)),
                ..SetBlocklistOverride::default()
            }
        };
        t.set_blocklist_override(change, None).await.unwrap();
    }

    let listing = LoopbackServer::start(&[("bl.test", LISTED_ZONE)]).unwrap();
    let run = checker(store, &listing).check_msp(msp).await.unwrap();
    assert_eq!(run.listed, 1, "{run:?}");

    // The client domain and the busy DMARC source were added as found targets.
    let targets = t.blocklist_targets(Some(client.id)).await.unwrap();
    let values: Vec<&str> = targets.iter().map(|t| t.value.as_str()).collect();
    assert_eq!(values, ["192.0.2.7", "198.51.100.9", "acme.example"]);
    let source = targets.iter().find(|t| t.value == "198.51.100.9").unwrap();
    assert!(source.note.starts_with("auto:"), "{}", source.note);

    let states = t.blocklist_states(Some(configured.id)).await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].list_id, played.id);
    assert_eq!(states[0].verdict, BlocklistVerdict::Listed);
    assert_eq!(states[0].detail["txt"], json!(["listed for testing"]));
    let source_states = t.blocklist_states(Some(source.id)).await.unwrap();
    assert_eq!(source_states[0].verdict, BlocklistVerdict::Clear);
    let history = t
        .blocklist_history(configured.id, None, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(history.items.len(), 1);
    assert!(history.items[0].until.is_none());

    let pending = store.system().outbox_unpublished(100).await.unwrap();
    let listed: Vec<_> = pending
        .iter()
        .filter(|e| e.topic == topics::BLOCKLIST_LISTED)
        .collect();
    assert_eq!(listed.len(), 1);
    let envelope = Envelope::decode(&listed[0].payload).unwrap();
    assert_eq!(envelope.client_id, Some(client.id));
    let message: events::BlocklistChanged = envelope.payload_as().unwrap();
    assert_eq!(message.target, "192.0.2.7");
    assert_eq!(message.list_id, played.id);

    // The rule facts carry the listing (the configured target concerns every domain).
    let now = Utc::now();
    let facts = domain_facts(store, &domain, now - ChronoDuration::days(30), now)
        .await
        .unwrap();
    let entry = facts
        .blocklists
        .iter()
        .find(|e| e.target == "192.0.2.7")
        .unwrap();
    assert_eq!(entry.state, postern_rules::BlocklistState::Listed);
    assert_eq!(entry.return_codes, ["127.0.0.2"]);
    assert_eq!(entry.list_name, played.name);
    assert!(facts.blocklists.iter().any(|e| e.target == "198.51.100.9"));
    drop(listing);

    // The list no longer lists it: the listing closes.
    let cleared = LoopbackServer::start(&[("bl.test", CLEAR_ZONE)]).unwrap();
    let run = checker(store, &cleared).check_msp(msp).await.unwrap();
    assert_eq!((run.listed, run.delisted), (0, 1), "{run:?}");
    let history = t
        .blocklist_history(configured.id, None, PageRequest::first(10))
        .await
        .unwrap();
    assert!(history.items[0].until.is_some());
    let states = t.blocklist_states(Some(configured.id)).await.unwrap();
    assert_eq!(states[0].verdict, BlocklistVerdict::Clear);
    let pending = store.system().outbox_unpublished(100).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .filter(|e| e.topic == topics::BLOCKLIST_DELISTED)
            .count(),
        1
    );
}

async fn a_quiet_source_is_not_a_target(db: &TestDb) {
    let store = &db.store;
    let msp = store.system().create_msp("MSP", false).await.unwrap().id;
    let t = store.tenant(TenantScope::msp(msp, Role::MspOwner, false));
    let client = t.create_client("Quiet").await.unwrap();
    t.add_domain(
        client.id,
        &DomainName::parse("quiet.example").unwrap(),
        &|_, _| Vec::new(),
    )
    .await
    .unwrap();
    dmarc_source(store, "quiet.example", 99).await;
    let server = LoopbackServer::start(&[("bl.test", CLEAR_ZONE)]).unwrap();
    // Every list off: nothing is asked, but the targets are still found.
    for list in Catalogue::builtin().unwrap().lists() {
        t.set_blocklist_override(
            SetBlocklistOverride {
                list_id: list.id.clone(),
                enabled: Some(Some(false)),
                ..SetBlocklistOverride::default()
            },
            None,
        )
        .await
        .unwrap();
    }
    checker(store, &server).check_msp(msp).await.unwrap();
    let values: Vec<String> = t
        .blocklist_targets(Some(client.id))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.value)
        .collect();
    assert_eq!(values, ["quiet.example"]);
    assert_eq!(server.queries(), 0);
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario(&super::TestDb::open(super::Backend::Sqlite).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$scenario(&super::TestDb::open(super::Backend::Postgres).await).await;
            }
        }
    )*};
}

on_both_backends!(
    listing_opens_and_closes_with_events_and_facts,
    a_quiet_source_is_not_a_target,
);
