//! The SPF posture check over in-memory zones: counts in the details, severities mapped,
//! the `~all` fix for `+all` and `?all`, failures as unknown.

#![allow(clippy::unwrap_used)]

use postern_dns::ZoneResolver;
use postern_mailauth::posture::{CheckReport, CheckStatus, Severity, spf};
use postern_mailauth::spf::SpfOptions;

fn zone(text: &str) -> ZoneResolver {
    ZoneResolver::from_zone_text(text).unwrap()
}

async fn run(z: &ZoneResolver, domain: &str) -> CheckReport {
    spf::check(z, domain, &SpfOptions::default()).await
}

fn codes(report: &CheckReport) -> Vec<&str> {
    let mut codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    codes
}

#[tokio::test]
async fn a_good_record_passes_with_its_counts_in_the_details() {
    let z = zone(
        "example.com TXT \"v=spf1 mx include:_spf.example.net -all\"\n\
         example.com MX 10 mx.example.com\n\
         mx.example.com A 192.0.2.1\n\
         _spf.example.net TXT \"v=spf1 ip4:198.51.100.0/24 a:gone.example.net ~all\"\n",
    );
    let report = run(&z, "example.com").await;
    assert_eq!(report.status, CheckStatus::Pass, "{:?}", report.findings);
    assert_eq!(report.records, ["v=spf1 mx include:_spf.example.net -all"]);
    assert_eq!(report.details["dns_lookups"], 3);
    assert_eq!(report.details["void_lookups"], 1);
    assert_eq!(report.details["dns_lookup_limit"], 10);
    let terms = report.details["terms"].as_array().unwrap();
    let gone = terms
        .iter()
        .find(|t| t["term"] == "a:gone.example.net")
        .unwrap();
    assert_eq!(
        (gone["void_lookups"].as_u64(), gone["depth"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(report.queries >= 4, "{}", report.queries);
}

#[tokio::test]
async fn plus_all_and_neutral_all_get_the_same_record_with_softfail() {
    let z = zone(
        "plus.example TXT \"v=spf1 ip4:192.0.2.1 +all\"\n\
         neutral.example TXT \"v=spf1 ip4:192.0.2.1 ?all\"\n\
         inc.example TXT \"v=spf1 include:plus.example -all\"\n",
    );
    let report = run(&z, "plus.example").await;
    assert_eq!(codes(&report), ["spf.plus_all"]);
    assert_eq!(report.findings[0].severity, Severity::High);
    assert_eq!(report.status, CheckStatus::Fail);
    let fix = report.findings[0].fix.clone().unwrap();
    assert_eq!(fix.name, "plus.example");
    assert_eq!(fix.current.as_deref(), Some("v=spf1 ip4:192.0.2.1 +all"));
    assert_eq!(fix.suggested.as_deref(), Some("v=spf1 ip4:192.0.2.1 ~all"));
    let report = run(&z, "neutral.example").await;
    assert_eq!(codes(&report), ["spf.neutral_all"]);
    assert_eq!(report.findings[0].severity, Severity::Medium);
    assert_eq!(
        report.findings[0]
            .fix
            .as_ref()
            .unwrap()
            .suggested
            .as_deref(),
        Some("v=spf1 ip4:192.0.2.1 ~all")
    );
    // In someone else's included record there is nothing to publish at this domain.
    let report = run(&z, "inc.example").await;
    let plus = report
        .findings
        .iter()
        .find(|f| f.code == "spf.plus_all")
        .unwrap();
    assert!(plus.fix.is_none());
    assert!(plus.message.contains("plus.example"));
    assert_eq!(plus.subject.as_deref(), Some("v=spf1 ip4:192.0.2.1 +all"));
}

#[tokio::test]
async fn too_many_lookups_are_high_with_the_count() {
    let mut text = String::from("big.example TXT \"v=spf1");
    for i in 0..11 {
        text.push_str(&format!(" a:h{i}.example"));
    }
    text.push_str(" -all\"\n");
    for i in 0..11 {
        text.push_str(&format!("h{i}.example A 192.0.2.{i}\n"));
    }
    let report = run(&zone(&text), "big.example").await;
    assert_eq!(codes(&report), ["spf.too_many_lookups"]);
    assert_eq!(report.details["dns_lookups"], 11);
    assert_eq!(report.status, CheckStatus::Fail);
}

#[tokio::test]
async fn no_record_is_missing_and_has_no_invented_fix() {
    let report = run(&zone("example.com A 192.0.2.1\n"), "example.com").await;
    assert_eq!(report.status, CheckStatus::Missing);
    assert_eq!(codes(&report), ["spf.missing"]);
    assert!(report.findings[0].fix.is_none());
}

#[tokio::test]
async fn timeouts_and_server_failures_are_unknown_not_missing() {
    let z = zone("slow.example TIMEOUT\nbroken.example SERVFAIL\n");
    for domain in ["slow.example", "broken.example"] {
        let report = run(&z, domain).await;
        assert_eq!(report.status, CheckStatus::Unknown, "{domain}");
        assert_eq!(codes(&report), ["spf.lookup_failed"]);
    }
}

#[tokio::test]
async fn malformed_records_are_findings_not_crashes() {
    let huge = format!("v=spf1 {} -all", "ip4:192.0.2.1 ".repeat(400));
    let cases = [
        ("v=spf1 %%%garbage%%% -all".to_owned(), "spf.syntax"),
        (huge, "spf.record_too_long"),
        (
            "v=spf1 a:caf\\195\\169.example -all".to_owned(),
            "spf.syntax",
        ),
        (
            "v=spf1 redirect=a.example redirect=b.example".to_owned(),
            "spf.syntax",
        ),
    ];
    for (text, code) in cases {
        let z = zone(&format!("example.com TXT \"{text}\"\n"));
        let report = run(&z, "example.com").await;
        assert!(
            codes(&report).contains(&code),
            "{text:.60}: {:?}",
            codes(&report)
        );
        assert_ne!(report.status, CheckStatus::Unknown);
    }
    // Without v=spf1 the record is not SPF at all.
    let z = zone("example.com TXT \"ip4:192.0.2.1 -all\"\n");
    assert_eq!(run(&z, "example.com").await.status, CheckStatus::Missing);
}
