//! Report ingested → counters → rules evaluated → issues, against real databases with the
//! built-in plugins.

// Scenario helpers are plain async fns shared by the per-backend tests, which clippy's
// allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use postern_analysis::{RuleSet, evaluate_domain, handle_report};
use postern_bus::{Envelope, events, topics};
use postern_domain::{DomainName, IssueState, ReportId, Role, Severity, TenantScope};
use postern_ingest::{IngestSettings, Ingestor, Source};
use postern_rules::{FactsBuilder, PluginHost, RuleLimits, builtin_plugins};
use postern_store::testing::TestDb;
use postern_store::{Backend, Domain, Issue, IssueEventKind, IssueFilter, PageRequest, Store};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The built-in plugins, compiled once for every test of this binary.
fn rules() -> Arc<RuleSet> {
    static RULES: OnceLock<Arc<RuleSet>> = OnceLock::new();
    RULES
        .get_or_init(|| Arc::new(RuleSet::builtin(RuleLimits::default()).unwrap()))
        .clone()
}

/// An aggregate report of `domain` over `[begin, begin + 1 day)` publishing `policy`:
/// `pass` messages passing SPF and DKIM from one source.
fn report(domain: &str, id: &str, begin: DateTime<Utc>, policy: &str, pass: u64) -> Vec<u8> {
    let (b, e) = (
        begin.timestamp(),
        (begin + Duration::days(1)).timestamp() - 1,
    );
    format!(
        "<feedback><report_metadata><org_name>rx.example</org_name><email>a@rx.example</email><report_id>{id}</report_id>\
<date_range><begin>{b}</begin><end>{e}</end></date_range></report_metadata>\
<policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>{policy}</p></policy_published>\
<record><row><source_ip>192.0.2.1</source_ip><count>{pass}</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>\
<identifiers><header_from>{domain}</header_from></identifiers><auth_results><dkim><domain>{domain}</domain><result>pass</result></dkim>\
<spf><domain>{domain}</domain><result>pass</result></spf></auth_results></record></feedback>"
    )
    .into_bytes()
}

/// An MSP with one client owning `name`; returns the owner scope and the domain.
async fn setup(store: &Store, name: &str) -> (TenantScope, Domain) {
    let msp = store.system().create_msp("MSP", true).await.unwrap().id;
    let scope = TenantScope::msp(msp, Role::MspOwner, true);
    let t = store.tenant(scope);
    let client = t.create_client("Acme").await.unwrap();
    let (domain, _) = t
        .add_domain(client.id, &DomainName::parse(name).unwrap(), &|_, _| {
            Vec::new()
        })
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

async fn issues(store: &Store, scope: TenantScope) -> Vec<Issue> {
    let mut items = store
        .tenant(scope)
        .list_issues(&IssueFilter::default(), PageRequest::first(100))
        .await
        .unwrap()
        .items;
    items.sort_by(|a, b| a.code.cmp(&b.code));
    items
}

fn find<'a>(issues: &'a [Issue], code: &str) -> &'a Issue {
    issues
        .iter()
        .find(|i| i.code == code)
        .unwrap_or_else(|| panic!("no issue {code} among {issues:?}"))
}

/// Two weeks and more of clean traffic under p=none open `dmarc.policy_none` with its fix
/// step; publishing p=reject resolves it, verified by the next evaluation.
async fn clean_traffic_under_p_none_opens_an_issue_that_resolves_when_the_policy_moves(
    db: &TestDb,
) {
    let store = &db.store;
    let (scope, domain) = setup(store, "acme.example").await;
    let now = Utc::now();
    let rules = rules();
    let early = ingest(
        store,
        report("acme.example", "r-1", now - Duration::days(20), "none", 150),
    )
    .await;
    let late = ingest(
        store,
        report("acme.example", "r-2", now - Duration::days(3), "none", 150),
    )
    .await;
    handle_report(store, &rules, &event(early), now)
        .await
        .unwrap();
    let outcome = handle_report(store, &rules, &event(late), now)
        .await
        .unwrap()
        .unwrap();
    let open = issues(store, scope).await;
    let issue = find(&open, "dmarc.policy_none");
    // One report's day is not "for long": the second report, 17 days later, opened it.
    assert!(outcome.opened.contains(&issue.id));
    assert_eq!(issue.state, IssueState::Open);
    assert_eq!(issue.severity, Severity::Medium);
    assert_eq!(issue.domain_id, domain.id);
    let step = &issue.fix_steps[0];
    assert_eq!(step.title, "Publish p=quarantine with t=y (testing)");
    let record = step.record.as_ref().unwrap();
    assert_eq!(record.name, "_dmarc.acme.example");
    assert_eq!(record.proposed, "v=DMARC1; p=quarantine; t=y");
    assert!(!issue.verification.description.is_empty());

    // Each history entry went to the outbox as an issue.changed event.
    let changed: Vec<events::IssueChanged> = store
        .system()
        .outbox_unpublished(1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.topic == topics::ISSUE_CHANGED)
        .map(|e| Envelope::decode(&e.payload).unwrap().payload_as().unwrap())
        .collect();
    assert!(changed.iter().any(|c| c.code == "dmarc.policy_none"
        && c.kind == "opened"
        && c.to_state == "open"
        && c.issue_id == issue.id.to_string()));

    // Evaluating the same facts again changes nothing.
    let again = evaluate_domain(store, &rules, &domain, now).await.unwrap();
    assert_eq!(again, Default::default());

    // The domain moves to p=reject: the finding is gone, the issue resolves itself.
    let moved = ingest(
        store,
        report(
            "acme.example",
            "r-3",
            now - Duration::days(1),
            "reject",
            150,
        ),
    )
    .await;
    let outcome = handle_report(store, &rules, &event(moved), now)
        .await
        .unwrap()
        .unwrap();
    assert!(outcome.resolved.contains(&issue.id));
    let resolved = store.tenant(scope).issue(issue.id).await.unwrap();
    assert_eq!(resolved.state, IssueState::Resolved);
    let history = store
        .tenant(scope)
        .issue_events(issue.id, PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(
        history.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![IssueEventKind::Opened, IssueEventKind::VerifiedResolved]
    );
    assert_eq!(history[1].actor, None);
}

/// Plugins that fail (here: starved of fuel) say nothing about their findings: the issue
/// stays open although its finding would be gone, until the rules run again.
async fn a_failing_plugin_does_not_resolve_its_issues(db: &TestDb) {
    let store = &db.store;
    let (scope, domain) = setup(store, "acme.example").await;
    let now = Utc::now();
    let rules = rules();
    for (id, days_ago) in [("r-1", 20), ("r-2", 3)] {
        let report = ingest(
            store,
            report(
                "acme.example",
                id,
                now - Duration::days(days_ago),
                "none",
                150,
            ),
        )
        .await;
        handle_report(store, &rules, &event(report), now)
            .await
            .unwrap();
    }
    let issue = find(&issues(store, scope).await, "dmarc.policy_none").clone();

    // The same plugins on a host whose calls get almost no fuel: every one of them fails.
    let loader = PluginHost::new(RuleLimits::default()).unwrap();
    let plugins = builtin_plugins()
        .iter()
        .map(|p| loader.load(p.component).unwrap())
        .collect();
    let starved = PluginHost::new(RuleLimits {
        fuel: 10,
        ..RuleLimits::default()
    })
    .unwrap();
    let starved = Arc::new(RuleSet::new(starved, plugins));
    let moved = ingest(
        store,
        report(
            "acme.example",
            "r-3",
            now - Duration::days(1),
            "reject",
            150,
        ),
    )
    .await;
    let outcome = handle_report(store, &starved, &event(moved), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, Default::default());
    let kept = store.tenant(scope).issue(issue.id).await.unwrap();
    assert_eq!(kept.state, IssueState::Open);
    assert_eq!(kept.updated_at, issue.updated_at);

    // Working plugins see the new policy and resolve it.
    let outcome = evaluate_domain(store, &rules, &domain, now).await.unwrap();
    assert_eq!(outcome.resolved, vec![issue.id]);
}

/// A report from the shared corpus (p=none, 2286 sources failing SPF and DKIM) for an owned
/// domain: the issues that analysis opens from the store's counters are the findings the
/// same plugins give over the parsed report itself.
async fn a_corpus_report_gives_the_findings_of_its_own_facts(db: &TestDb) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/corpora/parsedmarc-samples/samples/aggregate/\
         !large-example.com!1711897200!1711983600.xml",
    );
    let bytes = std::fs::read(&path).unwrap();
    let store = &db.store;
    let (scope, domain) = setup(store, "example.com").await;
    let id = ingest(store, bytes).await;
    let tenant = store.tenant(scope);
    let report = tenant.report(id).await.unwrap();
    assert_eq!(report.domain_id, Some(domain.id));
    let now = report.date_end + Duration::days(1);
    let rules = rules();
    handle_report(store, &rules, &event(id), now)
        .await
        .unwrap()
        .unwrap();

    let header = tenant.aggregate_detail(id).await.unwrap().header;
    assert_eq!(header.policy.p.unwrap().as_str(), "none");
    let page = tenant
        .aggregate_records(id, PageRequest::first(postern_store::MAX_PAGE_SIZE))
        .await
        .unwrap();
    assert!(!page.has_next);
    let records: Vec<_> = page.items.into_iter().map(|r| r.record).collect();
    let mut builder = FactsBuilder::new("example.com", now.timestamp());
    builder.add_aggregate(&header, &records);
    let mut expected: Vec<(String, Severity, String)> = rules
        .evaluate(&builder.build())
        .findings
        .into_iter()
        .map(|f| (f.code, f.severity, f.title))
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let opened = issues(store, scope).await;
    assert_eq!(
        opened
            .iter()
            .map(|i| (i.code.clone(), i.severity, i.title.clone()))
            .collect::<Vec<_>>(),
        expected
    );
    let failing = find(&opened, "dmarc.failing_source");
    assert_eq!(failing.severity, Severity::High);
    assert_eq!(
        failing.title,
        "2286 source(s) send as example.com with failing SPF and DKIM"
    );
    assert_eq!(
        failing.fix_steps[0].title,
        "Find out whether these sources send for you"
    );
    for issue in &opened {
        assert_eq!(issue.state, IssueState::Open);
        assert!(
            !issue.fix_steps.is_empty(),
            "{} has no fix steps",
            issue.code
        );
    }
}

/// A TLS-RPT report from the shared corpus, assigned when its domain is added: its
/// evaluation opens `tlsrpt.failures` with a fix step per failure type, and, as no aggregate
/// report names a policy, `dmarc.no_record`.
async fn a_tls_report_with_failures_opens_a_tlsrpt_issue(db: &TestDb) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpora/tlsrpt-digest-testdata/testdata/tlsrpt_failure.eml");
    let store = &db.store;
    let id = ingest(store, std::fs::read(&path).unwrap()).await;
    let unassigned = store
        .system()
        .report_for_analysis(id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unassigned.domain_id, None);
    let rules = rules();
    let now = unassigned.date_end + Duration::days(1);
    // Unassigned: nothing to evaluate yet.
    assert_eq!(
        handle_report(store, &rules, &event(id), now).await.unwrap(),
        None
    );
    let (scope, domain) = setup(store, &unassigned.domain).await;
    let outcome = handle_report(store, &rules, &event(id), now)
        .await
        .unwrap()
        .unwrap();
    let opened = issues(store, scope).await;
    assert_eq!(outcome.opened.len(), opened.len());
    let tls = find(&opened, "tlsrpt.failures");
    assert_eq!(tls.domain_id, domain.id);
    assert!(!tls.fix_steps.is_empty());
    let totals = store
        .system()
        .domain_tls_totals(domain.id, now - Duration::days(30), now)
        .await
        .unwrap()
        .unwrap();
    assert!(totals.failed > 0);
    assert_eq!(tls.fix_steps.len(), totals.failures.len());
    assert_eq!(find(&opened, "dmarc.no_record").severity, Severity::High);
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
    clean_traffic_under_p_none_opens_an_issue_that_resolves_when_the_policy_moves,
    a_corpus_report_gives_the_findings_of_its_own_facts,
    a_failing_plugin_does_not_resolve_its_issues,
    a_tls_report_with_failures_opens_a_tlsrpt_issue,
);
