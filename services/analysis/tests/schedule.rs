//! When rules run: the scheduled walk over every tenant's domains, the debounce of report
//! bursts, and the flush of pending evaluations at shutdown.

// Scenario helpers are plain async fns shared by the per-backend tests, which clippy's
// allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use postern_analysis::{Evaluator, RuleSet, apply_report, evaluate_all};
use postern_bus::{Envelope, events, topics};
use postern_domain::{DomainName, Role, TenantScope};
use postern_ingest::{IngestSettings, Ingestor, Source};
use postern_rules::RuleLimits;
use postern_store::testing::TestDb;
use postern_store::{Backend, Domain, IssueFilter, PageRequest, Store};
use std::sync::{Arc, OnceLock};

fn rules() -> Arc<RuleSet> {
    static RULES: OnceLock<Arc<RuleSet>> = OnceLock::new();
    RULES
        .get_or_init(|| Arc::new(RuleSet::builtin(RuleLimits::default()).unwrap()))
        .clone()
}

/// An aggregate report of `domain` for the day starting `begin` under p=none, `pass`
/// clean messages from one source.
fn report(domain: &str, id: &str, begin: DateTime<Utc>, pass: u64) -> Vec<u8> {
    let (b, e) = (
        begin.timestamp(),
        (begin + Duration::days(1)).timestamp() - 1,
    );
    format!(
        "<feedback><report_metadata><org_name>rx.example</org_name><email>a@rx.example</email><report_id>{id}</report_id>\
<date_range><begin>{b}</begin><end>{e}</end></date_range></report_metadata>\
<policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>none</p></policy_published>\
<record><row><source_ip>192.0.2.1</source_ip><count>{pass}</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>\
<identifiers><header_from>{domain}</header_from></identifiers><auth_results><dkim><domain>{domain}</domain><result>pass</result></dkim>\
<spf><domain>{domain}</domain><result>pass</result></spf></auth_results></record></feedback>"
    )
    .into_bytes()
}

/// A new MSP with one client owning `name`, whose clean p=none traffic over three weeks is
/// folded into the counters (no evaluation yet).
async fn tenant_with_p_none(store: &Store, name: &str) -> (TenantScope, Domain) {
    let msp = store.system().create_msp("MSP", false).await.unwrap().id;
    let scope = TenantScope::msp(msp, Role::MspOwner, false);
    let t = store.tenant(scope);
    let client = t.create_client("Acme").await.unwrap();
    let (domain, _) = t
        .add_domain(client.id, &DomainName::parse(name).unwrap(), &|_, _| {
            Vec::new()
        })
        .await
        .unwrap();
    let ingestor = Ingestor::new(
        store.clone(),
        IngestSettings::default(),
        Arc::new(tokio::sync::Notify::new()),
    );
    let now = Utc::now();
    for (n, days) in [20, 3].into_iter().enumerate() {
        let outcome = ingestor
            .ingest(
                report(
                    name,
                    &format!("{name}-{n}"),
                    now - Duration::days(days),
                    150,
                ),
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
    (scope, domain)
}

async fn codes(store: &Store, scope: TenantScope) -> Vec<String> {
    let mut codes: Vec<String> = store
        .tenant(scope)
        .list_issues(&IssueFilter::default(), PageRequest::first(100))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.code)
        .collect();
    codes.sort();
    codes
}

/// The scheduled walk reaches the domains of every tenant, each evaluated once.
async fn the_scheduled_walk_evaluates_every_domain_of_every_tenant(db: &TestDb) {
    let (a, _) = tenant_with_p_none(&db.store, "a.example").await;
    let (b, _) = tenant_with_p_none(&db.store, "b.example").await;
    assert!(codes(&db.store, a).await.is_empty());
    let evaluator = Evaluator::new(db.store.clone(), rules());
    let (_stop, mut shutdown) = tokio::sync::watch::channel(false);
    assert_eq!(evaluate_all(&evaluator, &mut shutdown).await.unwrap(), 2);
    for scope in [a, b] {
        assert!(
            codes(&db.store, scope)
                .await
                .contains(&"dmarc.policy_none".to_owned()),
            "{:?}",
            codes(&db.store, scope).await
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_walk_evaluates_every_domain_of_every_tenant_on_sqlite() {
    let db = TestDb::open(Backend::Sqlite).await;
    the_scheduled_walk_evaluates_every_domain_of_every_tenant(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_walk_evaluates_every_domain_of_every_tenant_on_postgres() {
    let db = TestDb::open(Backend::Postgres).await;
    the_scheduled_walk_evaluates_every_domain_of_every_tenant(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_requests_is_evaluated_once_after_the_delay() {
    let db = TestDb::open(Backend::Sqlite).await;
    let (scope, domain) = tenant_with_p_none(&db.store, "a.example").await;
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let delay = std::time::Duration::from_millis(400);
    let (evaluator, _worker) =
        Evaluator::new(db.store.clone(), rules()).with_debounce(delay, shutdown);
    let asked = tokio::time::Instant::now();
    for _ in 0..5 {
        evaluator.request(&domain).await;
    }
    assert!(codes(&db.store, scope).await.is_empty(), "evaluated early");
    let deadline = asked + std::time::Duration::from_secs(10);
    while codes(&db.store, scope).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never evaluated");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(asked.elapsed() >= delay);
    // One evaluation: each issue has exactly one history entry (opened).
    let t = db.store.tenant(scope);
    let issues = t
        .list_issues(&IssueFilter::default(), PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert!(!issues.is_empty());
    for issue in issues {
        assert_eq!(
            t.count_issue_events(issue.id).await.unwrap(),
            1,
            "{}",
            issue.code
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_evaluations_run_before_the_worker_stops() {
    let db = TestDb::open(Backend::Sqlite).await;
    let (scope, domain) = tenant_with_p_none(&db.store, "a.example").await;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let (evaluator, worker) = Evaluator::new(db.store.clone(), rules())
        .with_debounce(std::time::Duration::from_secs(3600), shutdown);
    evaluator.request(&domain).await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert!(!codes(&db.store, scope).await.is_empty());
}
