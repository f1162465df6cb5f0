//! MSP rule plugins in analysis, against real databases: an uploaded plugin runs for its own
//! MSP's domains only, a built-in switched off for one client stops there only, and a
//! hostile uploaded plugin becomes a stored `plugin_failed` record while the other rules'
//! issues still appear.

// Scenario helpers are plain async fns shared by the per-backend tests, which clippy's
// allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use postern_analysis::{RuleSet, evaluate_domain};
use postern_bus::{Envelope, events, topics};
use postern_domain::{DomainName, Role, TenantScope};
use postern_ingest::{IngestSettings, Ingestor, Source};
use postern_rules::{RuleLimits, testing};
use postern_store::testing::TestDb;
use postern_store::{
    Backend, Domain, Issue, IssueFilter, NewRulePlugin, PageRequest, PluginFailureFilter, Store,
};
use std::sync::{Arc, OnceLock};

/// The built-in plugins, compiled once for every test of this binary.
fn rules() -> Arc<RuleSet> {
    static RULES: OnceLock<Arc<RuleSet>> = OnceLock::new();
    RULES
        .get_or_init(|| Arc::new(RuleSet::builtin(RuleLimits::default()).unwrap()))
        .clone()
}

/// An aggregate report of `domain` over `[begin, begin + 1 day)` under p=none: `pass`
/// messages passing SPF and DKIM from one source.
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

/// An MSP owner scope and a new client of it.
async fn msp(store: &Store, name: &str) -> TenantScope {
    let msp = store.system().create_msp(name, false).await.unwrap().id;
    TenantScope::msp(msp, Role::MspOwner, false)
}

/// A client of `scope`'s MSP owning `name`, with two weeks and more of clean p=none traffic
/// folded into its counters (enough for `dmarc.policy_none`).
async fn domain_with_traffic(store: &Store, scope: TenantScope, name: &str) -> Domain {
    let t = store.tenant(scope);
    let client = t.create_client(name).await.unwrap();
    let (domain, _) = t
        .add_domain(client.id, &DomainName::parse(name).unwrap(), &|_, _| {
            Vec::new()
        })
        .await
        .unwrap();
    let now = Utc::now();
    let ingestor = Ingestor::new(
        store.clone(),
        IngestSettings::default(),
        Arc::new(tokio::sync::Notify::new()),
    );
    for (id, days_ago) in [("r-1", 20), ("r-2", 3)] {
        let bytes = report(
            name,
            &format!("{name}-{id}"),
            now - Duration::days(days_ago),
            150,
        );
        let outcome = ingestor
            .ingest(bytes, None, Source::Import("t".into()), None, now)
            .await
            .unwrap();
        let report = outcome.items[0].report_id.unwrap();
        let event = Envelope::new(
            topics::REPORT_INGESTED,
            &events::ReportIngested {
                report_id: report.to_string(),
                ..Default::default()
            },
            None,
            None,
            now,
        );
        postern_analysis::apply_report(store, &event).await.unwrap();
    }
    domain
}

/// Uploads `component` for `scope`'s MSP as the host describes it.
async fn upload(store: &Store, scope: TenantScope, component: &[u8]) {
    let plugin = rules().inspect(component).unwrap();
    store
        .tenant(scope)
        .upload_rule_plugin(
            NewRulePlugin {
                rule_id: plugin.info().id.clone(),
                version: plugin.info().version.clone(),
                title: plugin.info().title.clone(),
                reads: plugin.info().reads.clone(),
                sha256: plugin.sha256_hex(),
                component: component.to_vec(),
                enabled: true,
            },
            None,
        )
        .await
        .unwrap();
}

async fn codes(store: &Store, scope: TenantScope, domain: &Domain) -> Vec<String> {
    let filter = IssueFilter {
        domain: Some(domain.id),
        ..IssueFilter::default()
    };
    let issues: Vec<Issue> = store
        .tenant(scope)
        .list_issues(&filter, PageRequest::first(100))
        .await
        .unwrap()
        .items;
    let mut codes: Vec<String> = issues.into_iter().map(|i| i.code).collect();
    codes.sort();
    codes
}

async fn an_uploaded_plugin_runs_for_its_own_msps_domains_only(db: &TestDb) {
    let store = &db.store;
    let (a, b) = (msp(store, "A").await, msp(store, "B").await);
    let a_domain = domain_with_traffic(store, a, "a.example").await;
    let b_domain = domain_with_traffic(store, b, "b.example").await;
    upload(store, a, testing::GOOD).await;
    let now = Utc::now();
    evaluate_domain(store, &rules(), &a_domain, now)
        .await
        .unwrap();
    evaluate_domain(store, &rules(), &b_domain, now)
        .await
        .unwrap();
    let a_codes = codes(store, a, &a_domain).await;
    let b_codes = codes(store, b, &b_domain).await;
    assert!(
        a_codes.contains(&"test.source_seen".to_owned()),
        "{a_codes:?}"
    );
    assert!(
        a_codes.contains(&"dmarc.policy_none".to_owned()),
        "{a_codes:?}"
    );
    assert!(
        !b_codes.contains(&"test.source_seen".to_owned()),
        "{b_codes:?}"
    );
    assert!(
        b_codes.contains(&"dmarc.policy_none".to_owned()),
        "{b_codes:?}"
    );

    // Switched off MSP-wide, it no longer runs: its issue is left alone (not "verified").
    store
        .tenant(a)
        .set_rule_enabled("test.good", false, None, false, None)
        .await
        .unwrap();
    let outcome = evaluate_domain(store, &rules(), &a_domain, now)
        .await
        .unwrap();
    assert!(outcome.resolved.is_empty(), "{outcome:?}");
}

async fn a_built_in_switched_off_for_one_client_stops_there_only(db: &TestDb) {
    let store = &db.store;
    let a = msp(store, "A").await;
    let one = domain_with_traffic(store, a, "one.example").await;
    let two = domain_with_traffic(store, a, "two.example").await;
    store
        .tenant(a)
        .set_rule_enabled("dmarc.policy", true, Some(one.client_id), false, None)
        .await
        .unwrap();
    let now = Utc::now();
    evaluate_domain(store, &rules(), &one, now).await.unwrap();
    evaluate_domain(store, &rules(), &two, now).await.unwrap();
    assert!(
        !codes(store, a, &one)
            .await
            .contains(&"dmarc.policy_none".to_owned())
    );
    assert!(
        codes(store, a, &two)
            .await
            .contains(&"dmarc.policy_none".to_owned())
    );

    // The client's setting beats an MSP-wide one.
    store
        .tenant(a)
        .set_rule_enabled("dmarc.policy", true, None, false, None)
        .await
        .unwrap();
    store
        .tenant(a)
        .set_rule_enabled("dmarc.policy", true, Some(one.client_id), true, None)
        .await
        .unwrap();
    evaluate_domain(store, &rules(), &one, now).await.unwrap();
    assert!(
        codes(store, a, &one)
            .await
            .contains(&"dmarc.policy_none".to_owned())
    );
}

async fn a_hostile_uploaded_plugin_is_recorded_and_the_others_still_run(db: &TestDb) {
    let store = &db.store;
    let a = msp(store, "A").await;
    let domain = domain_with_traffic(store, a, "acme.example").await;
    upload(store, a, testing::PANIC).await;
    upload(store, a, testing::GOOD).await;
    let now = Utc::now();
    evaluate_domain(store, &rules(), &domain, now)
        .await
        .unwrap();
    let codes = codes(store, a, &domain).await;
    assert!(codes.contains(&"test.source_seen".to_owned()), "{codes:?}");
    assert!(codes.contains(&"dmarc.policy_none".to_owned()), "{codes:?}");
    let failures = store
        .tenant(a)
        .list_plugin_failures(&PluginFailureFilter::default(), PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].rule_id, "test.panic");
    assert_eq!(failures[0].kind, "trap");
    assert_eq!(failures[0].domain_id, domain.id);
    assert_eq!(failures[0].client_id, domain.client_id);
    assert!(
        failures[0].reason.starts_with("trapped"),
        "{}",
        failures[0].reason
    );
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = super::TestDb::open(super::Backend::Sqlite).await;
                super::$scenario(&db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = super::TestDb::open(super::Backend::Postgres).await;
                super::$scenario(&db).await;
            }
        }
    )*};
}

on_both_backends!(
    an_uploaded_plugin_runs_for_its_own_msps_domains_only,
    a_built_in_switched_off_for_one_client_stops_there_only,
    a_hostile_uploaded_plugin_is_recorded_and_the_others_still_run,
);
