//! The MX posture check over in-memory zones.

#![allow(clippy::unwrap_used)]

use postern_dns::ZoneResolver;
use postern_mailauth::posture::{CheckReport, CheckStatus, mx};

fn zone(text: &str) -> ZoneResolver {
    ZoneResolver::from_zone_text(text).unwrap()
}

fn codes(report: &CheckReport) -> Vec<&str> {
    let mut codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    codes
}

#[tokio::test]
async fn resolvable_hosts_pass_and_are_listed_by_preference() {
    let z = zone(
        "example.com MX 20 mx2.example.com\n\
         example.com MX 10 mx1.example.com\n\
         mx1.example.com A 192.0.2.1\n\
         mx1.example.com AAAA 2001:db8::1\n\
         mx2.example.com A 192.0.2.2\n",
    );
    let report = mx::check(&z, "example.com").await;
    assert_eq!(report.status, CheckStatus::Pass, "{:?}", report.findings);
    assert_eq!(
        report.details["hosts"],
        serde_json::json!([
            {"preference": 10, "host": "mx1.example.com", "addresses": ["192.0.2.1", "2001:db8::1"]},
            {"preference": 20, "host": "mx2.example.com", "addresses": ["192.0.2.2"]},
        ])
    );
    assert_eq!(
        report.records,
        ["10 mx1.example.com.", "20 mx2.example.com."]
    );
    // MX, then CNAME, A and AAAA per host.
    assert_eq!(report.queries, 7);
}

#[tokio::test]
async fn a_null_mx_passes_with_a_note() {
    let z = zone("example.com MX 0 .\n");
    let report = mx::check(&z, "example.com").await;
    assert_eq!(report.status, CheckStatus::Pass);
    assert_eq!(codes(&report), ["mx.null_mx"]);
    assert_eq!(report.details["null_mx"], true);
    assert_eq!(report.details["hosts"], serde_json::json!([]));
    let z =
        zone("example.com MX 0 .\nexample.com MX 10 mx.example.com\nmx.example.com A 192.0.2.1\n");
    let report = mx::check(&z, "example.com").await;
    assert_eq!(codes(&report), ["mx.null_mx_mixed"]);
    assert_eq!(report.details["null_mx"], false);
}

#[tokio::test]
async fn unresolvable_ip_literal_and_cname_targets_are_flagged() {
    let z = zone(
        "example.com MX 10 gone.example.com\n\
         example.com MX 20 192.0.2.7\n\
         example.com MX 30 alias.example.com\n\
         alias.example.com CNAME real.example.com\n\
         real.example.com A 192.0.2.3\n",
    );
    let report = mx::check(&z, "example.com").await;
    assert_eq!(
        codes(&report),
        ["mx.cname", "mx.ip_literal", "mx.unresolvable"]
    );
    assert_eq!(report.status, CheckStatus::Fail);
    let hosts = report.details["hosts"].as_array().unwrap();
    assert_eq!(hosts[2]["addresses"], serde_json::json!(["192.0.2.3"]));
}

#[tokio::test]
async fn no_mx_and_no_domain_are_missing() {
    let z = zone("example.com A 192.0.2.1\n");
    let report = mx::check(&z, "example.com").await;
    assert_eq!(report.status, CheckStatus::Missing);
    assert_eq!(codes(&report), ["mx.missing"]);
    let report = mx::check(&z, "nowhere.example").await;
    assert_eq!(report.status, CheckStatus::Missing);
    assert_eq!(codes(&report), ["mx.domain_missing"]);
}

#[tokio::test]
async fn timeouts_and_server_failures_are_unknown_not_missing() {
    let z = zone(
        "slow.example TIMEOUT\n\
         broken.example SERVFAIL\n\
         half.example MX 10 mx.half.example\n\
         mx.half.example TIMEOUT\n",
    );
    for domain in ["slow.example", "broken.example", "half.example"] {
        let report = mx::check(&z, domain).await;
        assert_eq!(report.status, CheckStatus::Unknown, "{domain}");
        assert!(codes(&report).contains(&"mx.lookup_failed"));
    }
}
