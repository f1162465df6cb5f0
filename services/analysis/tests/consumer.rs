//! The `report.ingested` consumer against real databases and both bus transports.

// Scenario helpers are plain async fns shared by the per-backend tests, which clippy's
// allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use postern_bus::{Bus, BusSettings, Envelope, InProcessBus, RedisBus, events, topics};
use postern_domain::{DomainName, ReportId, Role, TenantScope};
use postern_ingest::{IngestSettings, Ingestor, Source};
use postern_store::testing::TestDb;
use postern_store::{Backend, Domain, Store};
use std::sync::Arc;
use std::time::Duration;

fn report(domain: &str, id: &str, pass: u64, fail: u64) -> Vec<u8> {
    format!(
        "<feedback><report_metadata><org_name>rx.example</org_name><email>a@rx.example</email><report_id>{id}</report_id>\
<date_range><begin>1767225600</begin><end>1767311999</end></date_range></report_metadata>\
<policy_published><domain>{domain}</domain><p>none</p></policy_published>\
<record><row><source_ip>192.0.2.1</source_ip><count>{pass}</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>\
<identifiers><header_from>{domain}</header_from></identifiers><auth_results><spf><domain>{domain}</domain><result>pass</result></spf></auth_results></record>\
<record><row><source_ip>203.0.113.9</source_ip><count>{fail}</count><policy_evaluated><disposition>quarantine</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>\
<identifiers><header_from>{domain}</header_from></identifiers><auth_results><spf><domain>x.example</domain><result>fail</result></spf></auth_results></record></feedback>"
    )
    .into_bytes()
}

/// An MSP with one client owning `acme.example`; returns the owner scope and the domain.
async fn setup(store: &Store) -> (TenantScope, Domain) {
    let msp = store.system().create_msp("MSP", true).await.unwrap().id;
    let scope = TenantScope::msp(msp, Role::MspOwner, true);
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
    (scope, domain)
}

async fn ingest(store: &Store, bytes: Vec<u8>) -> ReportId {
    let ing = Ingestor::new(
        store.clone(),
        IngestSettings::default(),
        Arc::new(tokio::sync::Notify::new()),
    );
    let outcome = ing
        .ingest(bytes, None, Source::Import("t".into()), None, Utc::now())
        .await
        .unwrap();
    outcome.items[0].report_id.unwrap()
}

fn event(report: ReportId) -> Envelope {
    Envelope::new(
        topics::REPORT_INGESTED,
        &events::ReportIngested {
            report_id: report.to_string(),
            ..Default::default()
        },
        None,
        None,
        Utc::now(),
    )
}

async fn summary_messages(store: &Store, scope: TenantScope, domain: &Domain) -> (u64, u64, u64) {
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    let s = store
        .tenant(scope)
        .domain_summary(domain.id, from, to)
        .await
        .unwrap();
    (s.messages, s.dmarc_pass, s.disposition_quarantine)
}

async fn applying_the_same_event_twice_counts_once(db: &TestDb) {
    let (scope, domain) = setup(&db.store).await;
    let id = ingest(&db.store, report("acme.example", "r1", 10, 4)).await;
    let e = event(id);
    assert!(postern_analysis::apply_report(&db.store, &e).await.unwrap());
    assert!(!postern_analysis::apply_report(&db.store, &e).await.unwrap());
    assert_eq!(
        summary_messages(&db.store, scope, &domain).await,
        (14, 10, 4)
    );
    // Another event for another report adds to the same day.
    let id2 = ingest(&db.store, report("acme.example", "r2", 1, 1)).await;
    assert!(
        postern_analysis::apply_report(&db.store, &event(id2))
            .await
            .unwrap()
    );
    assert_eq!(
        summary_messages(&db.store, scope, &domain).await,
        (16, 11, 5)
    );
    let sources = db
        .store
        .tenant(scope)
        .domain_sources(
            domain.id,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(sources.len(), 2);
    assert_eq!(sources[0].source_ip.to_string(), "192.0.2.1");
    assert_eq!(sources[0].messages, 11);
}

async fn unassigned_reports_are_not_counted_anywhere(db: &TestDb) {
    let (scope, domain) = setup(&db.store).await;
    let id = ingest(&db.store, report("nobody.example", "r1", 10, 4)).await;
    assert!(
        !postern_analysis::apply_report(&db.store, &event(id))
            .await
            .unwrap()
    );
    assert_eq!(summary_messages(&db.store, scope, &domain).await, (0, 0, 0));
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn applying_the_same_event_twice_counts_once() {
        let db = super::TestDb::open(super::Backend::Sqlite).await;
        super::applying_the_same_event_twice_counts_once(&db).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unassigned_reports_are_not_counted_anywhere() {
        let db = super::TestDb::open(super::Backend::Sqlite).await;
        super::unassigned_reports_are_not_counted_anywhere(&db).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn applying_the_same_event_twice_counts_once() {
        let db = super::TestDb::open(super::Backend::Postgres).await;
        super::applying_the_same_event_twice_counts_once(&db).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unassigned_reports_are_not_counted_anywhere() {
        let db = super::TestDb::open(super::Backend::Postgres).await;
        super::unassigned_reports_are_not_counted_anywhere(&db).await;
    }
}

/// The consumer loop over a bus: an event published twice (as a redelivery would) is
/// applied once, and the counters appear without any direct call.
async fn consumer_applies_published_events_once(db: &TestDb, bus: Arc<dyn Bus>) {
    let (scope, domain) = setup(&db.store).await;
    let id = ingest(&db.store, report("acme.example", "c1", 6, 2)).await;
    let e = event(id);
    bus.publish(&e).await.unwrap();
    bus.publish(&e).await.unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let rules = Arc::new(postern_analysis::RuleSet::builtin(Default::default()).unwrap());
    let task = tokio::spawn(postern_analysis::run_consumer(
        db.store.clone(),
        bus.clone(),
        postern_analysis::Evaluator::new(db.store.clone(), rules),
        "c-1".into(),
        shutdown,
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if summary_messages(&db.store, scope, &domain).await.0 == 8 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "consumer never applied the event"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(summary_messages(&db.store, scope, &domain).await, (8, 6, 2));
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_on_in_process_bus_and_sqlite() {
    let db = TestDb::open(Backend::Sqlite).await;
    consumer_applies_published_events_once(
        &db,
        Arc::new(InProcessBus::new(BusSettings::default())),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_on_redis_streams_and_postgres() {
    let db = TestDb::open(Backend::Postgres).await;
    let url =
        std::env::var("POSTERN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let ns = format!("postern-analysis-test-{}", uuid_like());
    let bus = RedisBus::connect(&url, &ns, BusSettings::default())
        .await
        .unwrap();
    consumer_applies_published_events_once(&db, Arc::new(bus)).await;
}

fn uuid_like() -> String {
    ReportId::new().to_string()
}

/// A resolver that knows one name, has none for another address and fails for a third.
struct FakeResolver;

#[async_trait::async_trait]
impl postern_analysis::ReverseResolver for FakeResolver {
    async fn reverse(&self, ip: std::net::IpAddr) -> Result<Option<String>, String> {
        match ip.to_string().as_str() {
            "192.0.2.1" => Ok(Some("mail.acme.example".into())),
            "203.0.113.9" => Err("timed out".into()),
            _ => Ok(None),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_dns_names_sources_and_a_failing_lookup_is_not_fatal() {
    let db = TestDb::open(Backend::Sqlite).await;
    let (scope, domain) = setup(&db.store).await;
    let id = ingest(&db.store, report("acme.example", "n1", 3, 1)).await;
    postern_analysis::apply_report(&db.store, &event(id))
        .await
        .unwrap();
    let looked_up = postern_analysis::resolve_pending(&db.store, &FakeResolver, 4, 100)
        .await
        .unwrap();
    assert_eq!(looked_up, 2);
    // Nothing is pending right after a pass, failures included (they are retried later).
    assert_eq!(
        postern_analysis::resolve_pending(&db.store, &FakeResolver, 4, 100)
            .await
            .unwrap(),
        0
    );
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let sources = db
        .store
        .tenant(scope)
        .domain_sources(domain.id, from, from + chrono::Duration::days(1), 10)
        .await
        .unwrap();
    let names: Vec<_> = sources
        .iter()
        .map(|s| (s.source_ip.to_string(), s.reverse_dns.clone()))
        .collect();
    assert!(
        names.contains(&("192.0.2.1".into(), Some("mail.acme.example".into()))),
        "{names:?}"
    );
    assert!(names.contains(&("203.0.113.9".into(), None)), "{names:?}");
}
