//! The DMARC posture check over in-memory zones: policy discovery, the rollout fixes,
//! legacy tags, report destinations and their authorization, broken records.

#![allow(clippy::unwrap_used)]

use postern_dns::ZoneResolver;
use postern_mailauth::posture::{CheckReport, CheckStatus, Severity, dmarc};

fn zone(text: &str) -> ZoneResolver {
    ZoneResolver::from_zone_text(text).unwrap()
}

fn codes(report: &CheckReport) -> Vec<&str> {
    let mut codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    codes
}

fn finding<'a>(
    report: &'a CheckReport,
    code: &str,
) -> &'a postern_mailauth::posture::PostureFinding {
    report
        .findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:?}", codes(report)))
}

fn suggested(report: &CheckReport, code: &str) -> String {
    finding(report, code)
        .fix
        .as_ref()
        .and_then(|f| f.suggested.clone())
        .unwrap_or_else(|| panic!("{code} has no fix"))
}

#[tokio::test]
async fn an_enforced_record_with_internal_reports_passes() {
    let z = zone("_dmarc.example.com TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@example.com\"\n");
    let report = dmarc::check(&z, "example.com").await;
    assert_eq!(report.status, CheckStatus::Pass, "{:?}", report.findings);
    assert!(report.findings.is_empty());
    assert_eq!(report.details["policy_domain"], "example.com");
    assert_eq!(report.details["org_domain"], "example.com");
    assert_eq!(report.details["enforced"], true);
    assert_eq!(report.details["tags"]["p"], "reject");
    // _dmarc.example.com, then _dmarc.com for the organizational domain.
    assert_eq!(report.queries, 2);
    assert_eq!(
        report.details["queries"],
        serde_json::json!(["_dmarc.example.com TXT", "_dmarc.com TXT"])
    );
}

#[tokio::test]
async fn the_rollout_goes_none_quarantine_reject_with_t_y() {
    let z = zone(
        "_dmarc.none.example TXT \"v=DMARC1; p=none; rua=mailto:d@none.example; fo=1\"\n\
         _dmarc.qt.example TXT \"v=DMARC1; p=quarantine; t=y; rua=mailto:d@qt.example\"\n\
         _dmarc.q.example TXT \"v=DMARC1; p=quarantine; rua=mailto:d@q.example\"\n\
         _dmarc.rt.example TXT \"v=DMARC1; p=reject; t=y; rua=mailto:d@rt.example\"\n",
    );
    let report = dmarc::check(&z, "none.example").await;
    assert_eq!(codes(&report), ["dmarc.policy_none"]);
    assert_eq!(report.findings[0].severity, Severity::Medium);
    assert_eq!(report.status, CheckStatus::Warn);
    let fix = finding(&report, "dmarc.policy_none").fix.clone().unwrap();
    assert_eq!(fix.name, "_dmarc.none.example");
    assert_eq!(fix.rtype, "TXT");
    assert_eq!(
        fix.current.as_deref(),
        Some("v=DMARC1; p=none; rua=mailto:d@none.example; fo=1")
    );
    assert_eq!(
        fix.suggested.as_deref(),
        Some("v=DMARC1; p=quarantine; rua=mailto:d@none.example; fo=1; t=y")
    );
    let report = dmarc::check(&z, "qt.example").await;
    assert_eq!(codes(&report), ["dmarc.testing"]);
    assert_eq!(
        suggested(&report, "dmarc.testing"),
        "v=DMARC1; p=quarantine; rua=mailto:d@qt.example"
    );
    assert_eq!(report.details["enforced"], false);
    let report = dmarc::check(&z, "q.example").await;
    assert_eq!(codes(&report), ["dmarc.policy_quarantine"]);
    assert_eq!(report.status, CheckStatus::Pass);
    assert_eq!(
        suggested(&report, "dmarc.policy_quarantine"),
        "v=DMARC1; p=reject; rua=mailto:d@q.example; t=y"
    );
    let report = dmarc::check(&z, "rt.example").await;
    assert_eq!(
        suggested(&report, "dmarc.testing"),
        "v=DMARC1; p=reject; rua=mailto:d@rt.example"
    );
}

#[tokio::test]
async fn pct_below_100_is_replaced_by_t_y_and_other_legacy_tags_noted() {
    let z = zone(
        "_dmarc.pct.example TXT \"v=DMARC1; p=reject; pct=25; rua=mailto:d@pct.example\"\n\
         _dmarc.full.example TXT \"v=DMARC1; p=reject; pct=100; rf=afrf; ri=3600; rua=mailto:d@full.example\"\n",
    );
    let report = dmarc::check(&z, "pct.example").await;
    assert_eq!(codes(&report), ["dmarc.pct_relied_on"]);
    assert_eq!(
        suggested(&report, "dmarc.pct_relied_on"),
        "v=DMARC1; p=reject; rua=mailto:d@pct.example; t=y"
    );
    assert_eq!(report.details["enforced"], false);
    let report = dmarc::check(&z, "full.example").await;
    assert_eq!(codes(&report), ["dmarc.legacy_tag", "dmarc.legacy_tag"]);
    assert_eq!(report.status, CheckStatus::Pass);
    assert_eq!(report.details["enforced"], true);
    let fixes: Vec<_> = report
        .findings
        .iter()
        .map(|f| f.fix.as_ref().unwrap().suggested.clone().unwrap())
        .collect();
    assert!(
        fixes.contains(
            &"v=DMARC1; p=reject; rf=afrf; ri=3600; rua=mailto:d@full.example".to_owned()
        )
    );
    assert!(fixes.contains(&"v=DMARC1; p=reject; pct=100; rua=mailto:d@full.example".to_owned()));
}

#[tokio::test]
async fn weaker_subdomain_policies_and_a_missing_rua_are_flagged() {
    let z = zone("_dmarc.example.com TXT \"v=DMARC1; p=reject; sp=none; np=quarantine\"\n");
    let report = dmarc::check(&z, "example.com").await;
    assert_eq!(
        codes(&report),
        [
            "dmarc.no_rua",
            "dmarc.nonexistent_policy_weaker",
            "dmarc.subdomain_policy_weaker"
        ]
    );
    assert_eq!(
        suggested(&report, "dmarc.subdomain_policy_weaker"),
        "v=DMARC1; p=reject; np=quarantine"
    );
    assert!(finding(&report, "dmarc.no_rua").fix.is_none());
    let z =
        zone("_dmarc.example.com TXT \"v=DMARC1; p=reject; np=none; rua=mailto:a@example.com\"\n");
    let report = dmarc::check(&z, "example.com").await;
    assert_eq!(codes(&report), ["dmarc.nonexistent_policy_weaker"]);
    assert_eq!(
        finding(&report, "dmarc.nonexistent_policy_weaker").severity,
        Severity::Low
    );
}

#[tokio::test]
async fn no_record_is_missing_without_a_placeholder_fix() {
    let z = zone("example.com A 192.0.2.1\n");
    let report = dmarc::check(&z, "example.com").await;
    assert_eq!(report.status, CheckStatus::Missing);
    assert_eq!(codes(&report), ["dmarc.missing"]);
    let missing = finding(&report, "dmarc.missing");
    assert_eq!(missing.severity, Severity::High);
    assert!(missing.fix.is_none());
    assert!(missing.message.contains("_dmarc.example.com"));
}

#[tokio::test]
async fn a_subdomain_inherits_the_org_policy_through_the_tree_walk() {
    let z = zone(
        "_dmarc.example.com TXT \"v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com\"\n",
    );
    let report = dmarc::check(&z, "a.b.c.d.mail.example.com").await;
    assert_eq!(report.details["policy_domain"], "example.com");
    assert_eq!(report.details["org_domain"], "example.com");
    assert_eq!(report.details["inherited"], true);
    assert_eq!(report.details["effective_policy"], "quarantine");
    // The walk jumps from 7 labels to 4, then climbs: 4 queries.
    let walk: Vec<_> = report.details["walk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["domain"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        walk,
        [
            "a.b.c.d.mail.example.com",
            "d.mail.example.com",
            "mail.example.com",
            "example.com",
            "com"
        ]
    );
    assert_eq!(report.queries, 5);
    assert!(codes(&report).contains(&"dmarc.inherited"));
    // Rollout advice for an inherited policy carries no fix to the org's record.
    assert!(finding(&report, "dmarc.policy_quarantine").fix.is_none());
}

#[tokio::test]
async fn external_report_destinations_need_an_authorization_record() {
    let z = zone(
        "_dmarc.example.com TXT \"v=DMARC1; p=reject; rua=mailto:a@reports.example.net,mailto:b@vendor.example.org; ruf=mailto:f@vendor.example.org\"\n\
         example.com._report._dmarc.reports.example.net TXT \"v=DMARC1\"\n",
    );
    let report = dmarc::check(&z, "example.com").await;
    assert_eq!(
        codes(&report),
        ["dmarc.rua_unauthorized", "dmarc.ruf_unauthorized"]
    );
    let fix = finding(&report, "dmarc.rua_unauthorized")
        .fix
        .clone()
        .unwrap();
    assert_eq!(fix.name, "example.com._report._dmarc.vendor.example.org");
    assert_eq!(fix.suggested.as_deref(), Some("v=DMARC1"));
    assert_eq!(fix.current, None);
    let destinations = report.details["report_destinations"].as_array().unwrap();
    assert_eq!(destinations.len(), 3);
    assert_eq!(destinations[0]["authorized"], true);
    assert_eq!(destinations[1]["authorized"], false);
    // The same destination domain is asked for once.
    let auth_queries = report.details["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q.as_str().unwrap().contains("._report._dmarc."))
        .count();
    assert_eq!(auth_queries, 2);
}

#[tokio::test]
async fn a_failed_authorization_lookup_is_noted_not_reported_unauthorized() {
    let z = zone(
        "_dmarc.example.com TXT \"v=DMARC1; p=reject; rua=mailto:a@vendor.example.org\"\n\
         example.com._report._dmarc.vendor.example.org SERVFAIL\n",
    );
    let report = dmarc::check(&z, "example.com").await;
    assert_eq!(codes(&report), ["dmarc.report_authorization_unknown"]);
    assert_eq!(report.status, CheckStatus::Pass);
    assert!(report.details["report_destinations"][0]["authorized"].is_null());
}

#[tokio::test]
async fn invalid_report_uris_are_flagged_and_dropped_in_the_fix() {
    let text = "v=DMARC1; p=reject; rua=https://example.com/r,mailto:d@example.com,mailto:d@example.com!lots";
    let z = zone(&format!("_dmarc.example.com TXT \"{text}\"\n"));
    let report = dmarc::check(&z, "example.com").await;
    assert_eq!(codes(&report), ["dmarc.rua_invalid", "dmarc.rua_invalid"]);
    let first = &report.findings[0];
    assert_eq!(first.position, Some(text.find("https").unwrap()));
    assert_eq!(
        suggested(&report, "dmarc.rua_invalid"),
        "v=DMARC1; p=reject; rua=mailto:d@example.com"
    );
}

#[tokio::test]
async fn several_records_fail_and_misplaced_versions_are_named() {
    let z = zone(
        "_dmarc.two.example TXT \"v=DMARC1; p=none\"\n\
         _dmarc.two.example TXT \"v=DMARC1; p=reject\"\n\
         _dmarc.late.example TXT \"p=reject; v=DMARC1\"\n\
         _dmarc.late.example TXT \"some-verification=abc\"\n",
    );
    let report = dmarc::check(&z, "two.example").await;
    assert_eq!(report.status, CheckStatus::Fail);
    assert_eq!(codes(&report), ["dmarc.missing", "dmarc.multiple_records"]);
    assert_eq!(report.records.len(), 2);
    let report = dmarc::check(&z, "late.example").await;
    assert_eq!(report.status, CheckStatus::Fail);
    assert_eq!(codes(&report), ["dmarc.missing", "dmarc.not_first_version"]);
}

#[tokio::test]
async fn timeouts_and_server_failures_are_unknown_not_missing() {
    let z = zone(
        "_dmarc.slow.example TIMEOUT\n\
         _dmarc.broken.example SERVFAIL\n\
         _dmarc.sub.example TXT \"v=DMARC1; p=reject; rua=mailto:d@sub.example\"\n\
         _dmarc.example SERVFAIL\n",
    );
    for domain in ["slow.example", "broken.example"] {
        let report = dmarc::check(&z, domain).await;
        assert_eq!(report.status, CheckStatus::Unknown, "{domain}");
        assert_eq!(codes(&report), ["dmarc.lookup_failed"]);
    }
    // A failure above a found policy: the policy stands, the org domain is unknown.
    let report = dmarc::check(&z, "sub.example").await;
    assert_eq!(report.status, CheckStatus::Pass);
    assert_eq!(codes(&report), ["dmarc.org_domain_unknown"]);
    assert!(report.details["org_domain"].is_null());
}

#[tokio::test]
async fn malformed_records_are_findings_not_crashes() {
    let huge = format!(
        "v=DMARC1; p=reject; rua=mailto:d@example.com; {}",
        "x=y; ".repeat(2000)
    );
    let cases: Vec<(String, &str)> = vec![
        ("v=DMARC1; %%%garbage%%%".to_owned(), "dmarc.syntax"),
        (huge, "dmarc.unknown_tag"),
        ("v=DMARC1; p=r\\195\\169ject".to_owned(), "dmarc.policy_invalid"),
        ("v=DMARC1; p=reject; p=none; rua=mailto:d@example.com".to_owned(), "dmarc.syntax"),
        ("v=DMARC1; rua=mailto:d@example.com".to_owned(), "dmarc.policy_invalid"),
        ("v=DMARC1; p=reject; adkim=x; aspf=; fo=9; pct=abc; ri=-1; rf=xml; psd=maybe; t=perhaps; rua=mailto:d@example.com".to_owned(), "dmarc.syntax"),
        ("v=DMARC1; p=reject; rua=; ruf=mailto:".to_owned(), "dmarc.ruf_invalid"),
        ("v=dmarc1; p=reject; rua=mailto:d@example.com".to_owned(), "dmarc.syntax"),
        ("\\255\\254\\000".to_owned(), "dmarc.missing"),
    ];
    for (text, code) in cases {
        // Zone-text escapes (`\DDD`) put raw, non-UTF-8 octets in the record.
        let z = zone(&format!("_dmarc.example.com TXT \"{text}\"\n"));
        let report = dmarc::check(&z, "example.com").await;
        assert!(
            codes(&report).contains(&code),
            "{text:.80}: {:?}",
            codes(&report)
        );
        assert_ne!(report.status, CheckStatus::Unknown);
    }
}

#[tokio::test]
async fn a_record_of_thousands_of_unknown_tags_gets_a_short_message() {
    let tags: String = (0..3000).map(|i| format!("x{i}=y; ")).collect();
    let z = zone(&format!(
        "_dmarc.example.com TXT \"v=DMARC1; p=reject; rua=mailto:d@example.com; {tags}\"\n"
    ));
    let report = dmarc::check(&z, "example.com").await;
    let unknown = finding(&report, "dmarc.unknown_tag");
    assert!(
        unknown.message.contains("and 2990 more"),
        "{}",
        unknown.message
    );
    assert!(unknown.message.len() < 200);
}

#[test]
fn parse_dmarc_is_public_and_keeps_problems() {
    let record = dmarc::parse_dmarc("v=DMARC1; p=quarantine; sp=reject; psd=y; t=n").unwrap();
    assert_eq!(record.policy, Some(dmarc::DmarcPolicy::Quarantine));
    assert_eq!(record.psd, Some(dmarc::Psd::Yes));
    assert!(record.is_enforced());
    assert!(dmarc::parse_dmarc("v=spf1 -all").is_err());
}
