//! What analysis reads to build a domain's facts: counters, sources, the newest published
//! policy and TLS totals, per domain and never another domain's.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, aggregate, at, event, header, records};
use chrono::NaiveDate;
use postern_domain::{
    EventId, Finding, RawInputId, ReportId, RequestedPolicy, Severity, TlsFailureDetail, TlsPolicy,
    TlsPolicyType, TlsReport, Verification,
};
use postern_store::{DailySummary, Domain, SourceDelta, SystemDb, TlsFailureTotal, TlsTotals};

on_both_backends!(
    system_summary_and_sources_match_the_tenant_view_of_the_domain,
    latest_policy_is_the_newest_aggregate_reports,
    tls_totals_add_up_the_domains_reports_in_the_window,
    issue_codes_are_listed_per_domain_whatever_their_state,
);

fn summary(messages: u64) -> DailySummary {
    DailySummary {
        messages,
        dmarc_pass: messages - 1,
        dmarc_fail: 1,
        spf_aligned_pass: messages - 1,
        dkim_aligned_pass: 2,
        disposition_none: messages,
        ..DailySummary::default()
    }
}

fn delta(messages: u64) -> SourceDelta {
    SourceDelta {
        messages,
        dmarc_pass: messages,
        spf_aligned_pass: messages,
        dkim_aligned_pass: 0,
        first_seen: at(3, 0),
        last_seen: at(4, 0),
    }
}

async fn apply(sys: &SystemDb, domain: &Domain, day: u32, messages: u64, ip: &str) {
    let date = NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
    sys.apply_aggregates(
        "analysis",
        EventId::new(),
        domain,
        &[(date, summary(messages))],
        &[(date, ip.parse().unwrap(), delta(messages))],
    )
    .await
    .unwrap();
}

async fn system_summary_and_sources_match_the_tenant_view_of_the_domain(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    apply(&sys, &w.a1_domain, 3, 10, "192.0.2.1").await;
    apply(&sys, &w.a1_domain, 4, 30, "192.0.2.2").await;
    apply(&sys, &w.a1_domain, 20, 5, "192.0.2.3").await;
    apply(&sys, &w.b1_domain, 3, 1000, "192.0.2.1").await;

    let d = w.a1_domain.id;
    let system = sys
        .domain_summary_system(d, at(1, 0), at(10, 0))
        .await
        .unwrap();
    let mut expected = summary(10);
    expected.add(&summary(30));
    assert_eq!(system, expected);
    let tenant = db.tenant(w.a1_admin());
    assert_eq!(
        tenant.domain_summary(d, at(1, 0), at(10, 0)).await.unwrap(),
        system
    );

    let sources = sys
        .domain_sources_system(d, at(1, 0), at(10, 0), 10)
        .await
        .unwrap();
    assert_eq!(
        sources
            .iter()
            .map(|s| (s.source_ip.to_string(), s.messages))
            .collect::<Vec<_>>(),
        vec![("192.0.2.2".to_owned(), 30), ("192.0.2.1".to_owned(), 10)]
    );
    assert_eq!(
        tenant
            .domain_sources(d, at(1, 0), at(10, 0), 10)
            .await
            .unwrap(),
        sources
    );
    assert_eq!(
        sys.domain_sources_system(d, at(1, 0), at(10, 0), 1)
            .await
            .unwrap()
            .len(),
        1
    );
    // A domain without data has zero counters and no sources.
    assert_eq!(
        sys.domain_summary_system(w.a2_domain.id, at(1, 0), at(30, 0))
            .await
            .unwrap(),
        DailySummary::default()
    );
    assert!(
        sys.domain_sources_system(w.a2_domain.id, at(1, 0), at(30, 0), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn latest_policy_is_the_newest_aggregate_reports(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    assert_eq!(sys.latest_policy(w.a1_domain.id).await.unwrap(), None);

    let mut older = header("a1.example", "r-old", "org", 3);
    older.policy.p = Some(RequestedPolicy::None);
    let mut newer = header("a1.example", "r-new", "org", 8);
    newer.policy.p = Some(RequestedPolicy::Quarantine);
    newer.policy.testing = Some(false);
    // Stored newest first: arrival order does not decide, the report period does.
    aggregate(&sys, Some(&w.a1_domain), &newer, &records(2)).await;
    aggregate(&sys, Some(&w.a1_domain), &older, &records(2)).await;
    let mut other = header("b1.example", "r-b", "org", 20);
    other.policy.p = Some(RequestedPolicy::Reject);
    aggregate(&sys, Some(&w.b1_domain), &other, &records(1)).await;

    let policy = sys.latest_policy(w.a1_domain.id).await.unwrap().unwrap();
    assert_eq!(policy, newer.policy);
    assert_eq!(
        sys.latest_policy(w.b1_domain.id).await.unwrap().unwrap().p,
        Some(RequestedPolicy::Reject)
    );
    assert_eq!(sys.latest_policy(w.a2_domain.id).await.unwrap(), None);
}

fn failure(result_type: &str, sessions: u64) -> TlsFailureDetail {
    TlsFailureDetail {
        result_type: result_type.into(),
        sending_mta_ip: None,
        receiving_mx_hostname: Some("mx1.example".into()),
        receiving_mx_helo: None,
        receiving_ip: None,
        failed_session_count: sessions,
        additional_information: None,
        failure_reason_code: None,
    }
}

fn tls_report(domain: &str, id: &str, day: u32, failures: Vec<TlsFailureDetail>) -> TlsReport {
    let failed = failures.iter().map(|f| f.failed_session_count).sum();
    TlsReport {
        organization_name: "Big Mail".into(),
        date_begin: at(day, 0),
        date_end: at(day + 1, 0),
        contact_info: None,
        report_id: id.into(),
        policies: vec![
            TlsPolicy {
                policy_type: TlsPolicyType::Sts,
                policy_string: vec!["version: STSv1".into()],
                policy_domain: domain.into(),
                mx_host: vec!["mx1.example".into()],
                total_successful_session_count: 100,
                total_failure_session_count: failed,
                failure_details: failures,
            },
            TlsPolicy {
                policy_type: TlsPolicyType::NoPolicyFound,
                policy_string: Vec::new(),
                policy_domain: domain.into(),
                mx_host: Vec::new(),
                total_successful_session_count: 5,
                total_failure_session_count: 0,
                failure_details: Vec::new(),
            },
        ],
    }
}

async fn store_tls(sys: &SystemDb, domain: &Domain, report: &TlsReport) {
    let (raw, _): (RawInputId, _) = sys
        .store_raw_input(report.report_id.as_bytes(), "test", None, at(20, 0))
        .await
        .unwrap();
    sys.insert_tls_report(
        ReportId::new(),
        raw,
        Some(domain),
        report,
        at(20, 0),
        event("report.ingested"),
    )
    .await
    .unwrap();
}

async fn tls_totals_add_up_the_domains_reports_in_the_window(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    assert_eq!(
        sys.domain_tls_totals(w.a1_domain.id, at(1, 0), at(30, 0))
            .await
            .unwrap(),
        None
    );
    let first = tls_report(
        "a1.example",
        "t-1",
        3,
        vec![
            failure("certificate-expired", 7),
            failure("starttls-not-supported", 3),
        ],
    );
    let second = tls_report(
        "a1.example",
        "t-2",
        5,
        vec![failure("starttls-not-supported", 6)],
    );
    let outside = tls_report(
        "a1.example",
        "t-3",
        25,
        vec![failure("sts-policy-invalid", 9)],
    );
    let elsewhere = tls_report(
        "b1.example",
        "t-b",
        3,
        vec![failure("certificate-expired", 50)],
    );
    store_tls(&sys, &w.a1_domain, &first).await;
    store_tls(&sys, &w.a1_domain, &second).await;
    store_tls(&sys, &w.a1_domain, &outside).await;
    store_tls(&sys, &w.b1_domain, &elsewhere).await;

    let totals = sys
        .domain_tls_totals(w.a1_domain.id, at(1, 0), at(10, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        totals,
        TlsTotals {
            reports: 2,
            successful: 210,
            failed: 16,
            failures: vec![
                TlsFailureTotal {
                    result_type: "starttls-not-supported".into(),
                    sessions: 9,
                },
                TlsFailureTotal {
                    result_type: "certificate-expired".into(),
                    sessions: 7,
                },
            ],
        }
    );
    // A window that ends before any report begins sees none.
    assert_eq!(
        sys.domain_tls_totals(w.a1_domain.id, at(1, 0), at(2, 0))
            .await
            .unwrap(),
        None
    );
    // No TLS report for a domain without any.
    assert_eq!(
        sys.domain_tls_totals(w.a2_domain.id, at(1, 0), at(30, 0))
            .await
            .unwrap(),
        None
    );
}

fn finding(code: &str) -> Finding {
    Finding {
        code: code.into(),
        severity: Severity::Low,
        title: code.into(),
        explanation: String::new(),
        evidence: Vec::new(),
        fix_steps: Vec::new(),
        verification: Verification {
            description: "gone".into(),
        },
    }
}

async fn issue_codes_are_listed_per_domain_whatever_their_state(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    assert!(
        sys.domain_issue_codes(w.a1_domain.id)
            .await
            .unwrap()
            .is_empty()
    );
    let findings = [finding("tlsrpt.failures"), finding("dmarc.policy_none")];
    sys.reconcile_findings(&w.a1_domain, &[], &findings, at(3, 0), &|_, _| Vec::new())
        .await
        .unwrap();
    sys.reconcile_findings(
        &w.b1_domain,
        &[],
        &[finding("dmarc.no_record")],
        at(3, 0),
        &|_, _| Vec::new(),
    )
    .await
    .unwrap();
    // tlsrpt.failures is resolved: still listed.
    sys.reconcile_findings(
        &w.a1_domain,
        &["tlsrpt.".to_owned()],
        &findings[1..],
        at(4, 0),
        &|_, _| Vec::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        sys.domain_issue_codes(w.a1_domain.id).await.unwrap(),
        vec!["dmarc.policy_none".to_owned(), "tlsrpt.failures".to_owned()]
    );
    assert_eq!(
        sys.domain_issue_codes(w.b1_domain.id).await.unwrap(),
        vec!["dmarc.no_record".to_owned()]
    );
}
