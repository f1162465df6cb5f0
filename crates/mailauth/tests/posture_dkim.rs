//! The DKIM posture check over in-memory zones: key sizes read from real DER keys
//! (generated with openssl), revoked and testing keys, hash restrictions, broken records.

#![allow(clippy::unwrap_used)]

use postern_dns::ZoneResolver;
use postern_mailauth::posture::{CheckStatus, Severity, dkim};
use serde_json::Value;

// `openssl genrsa N | openssl rsa -pubout -outform DER | base64`
const RSA_512: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMRSJ5TUV2VMJlU2BuY+UhUqQy3vpILynpEGnoh/A0kcE0sLh8bQd0tpUVZbfVHrtHjjawWdhkSSpPb+pn2l4jcCAwEAAQ==";
const RSA_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC/yKuUKo/7umtovwZNyNsQKfWUyBYv7CrAYzIY+QIuWBo4nXP9NmJBa7VcQE9ckYSk7ZvTWsbp5YUGJqzbcMQWXYJl4Y4QofIhQOlVp7OZRUNF0wTsBDnfin7GAUh/R/aZDP7ksQ83zQf2aBCqUGIhqwwuIz6ErNJ1jDqBxUBHVQIDAQAB";
const RSA_2048: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3FbOyw5A3B5E2r+qTVYIX6guMkhxp1Vd/EFux674MTvIrFG0jGzWLaexe7PzodaJZx8wCpcKXuIAofZu5WQasVYr1V8HZgeUiwuoZTdS2wM1rCecnioexyEaMZ70tp3kGWKI8+qcMrFwYFsOZ63Hf6Jknx/gFQOFqTQ873C8/bJnTf8TDep3RhvE/sktJCoOJM1hRltxO9NLSseVuN0kkBiNsrUI+kj/tO0If/U7N2TGg9rlZBxymCahGJKKTPzFYi/A9aNJdj1DOEdsBa+n0UfeU/0PmYntG3wJOq7t+Wqoc2gJqssiTOoP3LEmYSPSOlMh06kTRFe5ucDncWFl+wIDAQAB";
// The 1024-bit key as a bare PKCS#1 RSAPublicKey (`openssl rsa -RSAPublicKey_out`).
const RSA_1024_PKCS1: &str = "MIGJAoGBAL/Iq5Qqj/u6a2i/Bk3I2xAp9ZTIFi/sKsBjMhj5Ai5YGjidc/02YkFrtVxAT1yRhKTtm9NaxunlhQYmrNtwxBZdgmXhjhCh8iFA6VWns5lFQ0XTBOwEOd+KfsYBSH9H9pkM/uSxDzfNB/ZoEKpQYiGrDC4jPoSs0nWMOoHFQEdVAgMBAAE=";
// The 32 raw octets of an ed25519 public key (RFC 8463).
const ED25519: &str = "Ef3ttUscl3Nw7bu6lLyRMQTSshqaFbUyVLX89dncsnE=";

fn zone(text: &str) -> ZoneResolver {
    ZoneResolver::from_zone_text(text).unwrap()
}

fn selectors(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn codes(report: &postern_mailauth::posture::CheckReport) -> Vec<&str> {
    let mut codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    codes
}

fn bits(report: &postern_mailauth::posture::CheckReport, selector: &str) -> Option<u64> {
    report.details["selectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["selector"] == selector)
        .and_then(|s| s["key_bits"].as_u64())
}

#[tokio::test]
async fn a_2048_bit_key_and_an_ed25519_key_pass() {
    let (a, b) = RSA_2048.split_at(200);
    let z = zone(&format!(
        "s1._domainkey.example.com TXT \"v=DKIM1; k=rsa; p={a}\" \"{b}\"\n\
         ed._domainkey.example.com TXT \"v=DKIM1; k=ed25519; p={ED25519}\"\n"
    ));
    let report = dkim::check(&z, "example.com", &selectors(&["s1", "ed"])).await;
    assert_eq!(report.status, CheckStatus::Pass, "{:?}", report.findings);
    assert_eq!(bits(&report, "s1"), Some(2048));
    assert_eq!(bits(&report, "ed"), Some(256));
    assert_eq!(report.queries, 2);
}

#[tokio::test]
async fn short_keys_are_flagged_by_size() {
    let z = zone(&format!(
        "old._domainkey.example.com TXT \"v=DKIM1; p={RSA_512}\"\n\
         mid._domainkey.example.com TXT \"p={RSA_1024}\"\n\
         raw._domainkey.example.com TXT \"v=DKIM1; k=rsa; p={RSA_1024_PKCS1}\"\n"
    ));
    let report = dkim::check(&z, "example.com", &selectors(&["old"])).await;
    assert_eq!(codes(&report), ["dkim.key_too_short"]);
    assert_eq!(report.findings[0].severity, Severity::High);
    assert_eq!(report.status, CheckStatus::Fail);
    assert_eq!(bits(&report, "old"), Some(512));
    let report = dkim::check(&z, "example.com", &selectors(&["mid", "raw"])).await;
    assert_eq!(codes(&report), ["dkim.key_weak", "dkim.key_weak"]);
    assert_eq!(report.status, CheckStatus::Warn);
    assert_eq!(bits(&report, "mid"), Some(1024));
    assert_eq!(bits(&report, "raw"), Some(1024));
}

#[tokio::test]
async fn revoked_testing_and_sha1_only_keys_are_flagged() {
    let z = zone(&format!(
        "gone._domainkey.example.com TXT \"v=DKIM1; p=\"\n\
         test._domainkey.example.com TXT \"v=DKIM1; t=y:s; p={RSA_2048}\"\n\
         sha1._domainkey.example.com TXT \"v=DKIM1; h=sha1; p={RSA_2048}\"\n"
    ));
    let report = dkim::check(&z, "example.com", &selectors(&["gone"])).await;
    assert_eq!(codes(&report), ["dkim.revoked"]);
    let report = dkim::check(&z, "example.com", &selectors(&["test"])).await;
    assert_eq!(codes(&report), ["dkim.testing"]);
    let report = dkim::check(&z, "example.com", &selectors(&["sha1"])).await;
    assert_eq!(codes(&report), ["dkim.sha1_only"]);
    let fix = report.findings[0].fix.as_ref().unwrap();
    assert_eq!(fix.name, "sha1._domainkey.example.com");
    assert_eq!(
        fix.suggested.as_deref(),
        Some(format!("v=DKIM1; h=sha256; p={RSA_2048}").as_str())
    );
}

#[tokio::test]
async fn missing_keys_and_no_selectors() {
    let z = zone("example.com A 192.0.2.1\n");
    let report = dkim::check(&z, "example.com", &selectors(&["s1"])).await;
    assert_eq!(report.status, CheckStatus::Missing);
    assert_eq!(codes(&report), ["dkim.key_missing"]);
    let report = dkim::check(&z, "example.com", &[]).await;
    assert_eq!(report.status, CheckStatus::Unknown);
    assert_eq!(codes(&report), ["dkim.no_selectors"]);
    assert!(report.findings[0].message.contains("aggregate reports"));
    assert_eq!(report.queries, 0);
}

#[tokio::test]
async fn timeouts_and_server_failures_are_unknown_not_missing() {
    let z = zone(
        "slow._domainkey.example.com TIMEOUT\n\
         bad._domainkey.example.com SERVFAIL\n",
    );
    let report = dkim::check(&z, "example.com", &selectors(&["slow", "bad"])).await;
    assert_eq!(report.status, CheckStatus::Unknown);
    assert_eq!(codes(&report), ["dkim.lookup_failed", "dkim.lookup_failed"]);
}

#[tokio::test]
async fn malformed_records_are_findings_not_crashes() {
    let huge = "A".repeat(5000);
    let z = zone(&format!(
        "garbage._domainkey.example.com TXT \"%%% not a tag list %%%\"\n\
         huge._domainkey.example.com TXT \"v=DKIM1; p={huge}\"\n\
         utf8._domainkey.example.com TXT \"v=DKIM1; n=caf\\195\\169; p=\\255\\254\"\n\
         dup._domainkey.example.com TXT \"v=DKIM1; p={RSA_2048}; p={RSA_512}\"\n\
         late._domainkey.example.com TXT \"k=rsa; v=DKIM1; p={RSA_2048}\"\n\
         nov._domainkey.example.com TXT \"k=rsa; p=bm90IGEga2V5\"\n\
         kx._domainkey.example.com TXT \"v=DKIM1; k=dsa; p={RSA_2048}\"\n\
         edbad._domainkey.example.com TXT \"v=DKIM1; k=ed25519; p={RSA_512}\"\n\
         two._domainkey.example.com TXT \"v=DKIM1; p={RSA_2048}\"\n\
         two._domainkey.example.com TXT \"v=DKIM1; p={RSA_1024}\"\n"
    ));
    let cases = [
        ("garbage", "dkim.syntax"),
        ("huge", "dkim.key_invalid"),
        ("utf8", "dkim.syntax"),
        ("dup", "dkim.syntax"),
        ("late", "dkim.syntax"),
        ("nov", "dkim.key_invalid"),
        ("kx", "dkim.unknown_key_type"),
        ("edbad", "dkim.key_invalid"),
        ("two", "dkim.multiple_records"),
    ];
    for (selector, code) in cases {
        let report = dkim::check(&z, "example.com", &selectors(&[selector])).await;
        assert!(
            codes(&report).contains(&code),
            "{selector}: {:?}",
            codes(&report)
        );
        assert_eq!(report.status, CheckStatus::Fail, "{selector}");
    }
    // The duplicate p= keeps the first key.
    let report = dkim::check(&z, "example.com", &selectors(&["dup"])).await;
    assert_eq!(bits(&report, "dup"), Some(2048));
    let syntax = report
        .findings
        .iter()
        .find(|f| f.code == "dkim.syntax")
        .unwrap();
    assert!(syntax.position.is_some());
    assert!(matches!(report.details, Value::Object(_)));
}
