//! `postern check DOMAIN --nameserver IP:PORT`: the full posture check through real DNS
//! packets, against an authoritative server on loopback serving a test zone.

#![allow(clippy::unwrap_used)]

use postern_dns::testing::LoopbackServer;
use serde_json::Value;
use std::process::{Command, Output};

/// One zone for the whole TLD, so the DMARC tree walk's `_dmarc.test` is answered too.
const ZONE: &str = r#"
example   IN MX  10 mx1.example.test.
example   IN MX  20 mx2.example.test.
mx1.example IN A 192.0.2.1
mx1.example IN AAAA 2001:db8::1
mx2.example IN CNAME mx1.example.test.
example   IN TXT "v=spf1 mx include:_spf.provider.test ?all"
_spf.provider IN TXT "v=spf1 ip4:198.51.100.0/24 a:gone.provider.test -all"
_dmarc.example IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@example.test,mailto:agg@reports.test"
s1._domainkey.example IN TXT "v=DKIM1; k=ed25519; p=Ef3ttUscl3Nw7bu6lLyRMQTSshqaFbUyVLX89dncsnE="
_smtp._tls.example IN TXT "v=TLSRPTv1; rua=mailto:tls@example.test"
"#;

fn postern_check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postern"))
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

fn check<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == kind)
        .unwrap_or_else(|| panic!("no {kind} check in {report:#}"))
}

fn codes(check: &Value) -> Vec<String> {
    let mut codes: Vec<String> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    codes
}

#[test]
fn check_prints_every_check_as_json_through_real_dns() {
    let server = LoopbackServer::builder()
        .zone("test", ZONE)
        .start()
        .unwrap();
    let ns = server.addr().to_string();
    let output = postern_check(&["example.test", "--nameserver", &ns, "--dkim-selector", "s1"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["domain"], "example.test");
    let kinds: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["mx", "spf", "dmarc", "dkim", "mta_sts", "tls_rpt", "bimi"]
    );

    let spf = check(&report, "spf");
    assert_eq!(spf["status"], "warn");
    assert_eq!(codes(spf), ["spf.neutral_all"]);
    // mx, include, a:gone: three DNS-querying terms; a:gone answers nothing: one void.
    assert_eq!(spf["details"]["dns_lookups"], 3);
    assert_eq!(spf["details"]["void_lookups"], 1);
    assert_eq!(
        spf["findings"][0]["fix"]["suggested"],
        "v=spf1 mx include:_spf.provider.test ~all"
    );

    let dmarc = check(&report, "dmarc");
    assert_eq!(dmarc["status"], "warn");
    assert_eq!(
        codes(dmarc),
        ["dmarc.policy_none", "dmarc.rua_unauthorized"]
    );
    let none = dmarc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "dmarc.policy_none")
        .unwrap();
    assert_eq!(
        none["fix"]["suggested"],
        "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.test,mailto:agg@reports.test; t=y"
    );
    assert_eq!(dmarc["details"]["org_domain"], "example.test");

    let mx = check(&report, "mx");
    assert_eq!(codes(mx), ["mx.cname"]);
    assert_eq!(mx["details"]["hosts"][0]["host"], "mx1.example.test");
    assert_eq!(
        mx["details"]["hosts"][0]["addresses"],
        serde_json::json!(["192.0.2.1", "2001:db8::1"])
    );

    assert_eq!(check(&report, "dkim")["status"], "pass");
    assert_eq!(check(&report, "tls_rpt")["status"], "pass");
    assert_eq!(check(&report, "mta_sts")["status"], "missing");
    assert_eq!(check(&report, "bimi")["status"], "missing");
    assert!(report["queries"].as_u64().unwrap() >= 15);
    assert!(server.queries() >= 15);
}

#[test]
fn server_failures_are_unknown_and_still_exit_zero() {
    let server = LoopbackServer::builder()
        .zone("test", ZONE)
        .servfail("broken.test")
        .start()
        .unwrap();
    let ns = server.addr().to_string();
    let output = postern_check(&["broken.test", "--nameserver", &ns, "--dkim-selector", "s1"]);
    assert!(output.status.success());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    for check in report["checks"].as_array().unwrap() {
        assert_eq!(check["status"], "unknown", "{check:#}");
    }
}

#[test]
fn usage_errors_exit_non_zero() {
    let output = postern_check(&["not a domain"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a domain name"));
    let output = postern_check(&["example.test", "--nameserver", "ns.example"]);
    assert!(!output.status.success());
    let output = postern_check(&[]);
    assert!(!output.status.success());
}
