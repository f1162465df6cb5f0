//! The TLS-RPT and BIMI posture checks over in-memory zones.

#![allow(clippy::unwrap_used)]

use postern_dns::ZoneResolver;
use postern_mailauth::posture::{CheckReport, CheckStatus, bimi, tlsrpt};

fn zone(text: &str) -> ZoneResolver {
    ZoneResolver::from_zone_text(text).unwrap()
}

fn codes(report: &CheckReport) -> Vec<&str> {
    let mut codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    codes
}

#[tokio::test]
async fn tlsrpt_records_with_mailto_and_https_pass() {
    let z = zone(
        "_smtp._tls.example.com TXT \"v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.net/tls\"\n",
    );
    let report = tlsrpt::check(&z, "example.com").await;
    assert_eq!(report.status, CheckStatus::Pass, "{:?}", report.findings);
    assert_eq!(
        report.details["rua"],
        serde_json::json!(["mailto:tls@example.com", "https://r.example.net/tls"])
    );
    assert_eq!(report.queries, 1);
}

#[tokio::test]
async fn tlsrpt_problems_are_flagged() {
    let z = zone(
        "_smtp._tls.two.example TXT \"v=TLSRPTv1; rua=mailto:a@two.example\"\n\
         _smtp._tls.two.example TXT \"v=TLSRPTv1; rua=mailto:b@two.example\"\n\
         _smtp._tls.bad.example TXT \"v=TLSRPTv1; rua=http://r.example.net/,mailto:ok@bad.example\"\n\
         _smtp._tls.none.example TXT \"v=TLSRPTv1; rua=ftp://x.example\"\n\
         _smtp._tls.norua.example TXT \"v=TLSRPTv1\"\n\
         _smtp._tls.late.example TXT \"rua=mailto:a@late.example; v=TLSRPTv1\"\n\
         _smtp._tls.junk.example TXT \"v=TLSRPTv1; rua=mailto:a@junk.example; %%%; caf\\195\\169\"\n\
         _smtp._tls.slow.example TIMEOUT\n\
         _smtp._tls.broken.example SERVFAIL\n",
    );
    let cases: [(&str, &[&str], CheckStatus); 8] = [
        (
            "two.example",
            &["tlsrpt.multiple_records"],
            CheckStatus::Fail,
        ),
        ("bad.example", &["tlsrpt.rua_invalid"], CheckStatus::Warn),
        (
            "none.example",
            &["tlsrpt.no_valid_rua", "tlsrpt.rua_invalid"],
            CheckStatus::Fail,
        ),
        ("norua.example", &["tlsrpt.no_rua"], CheckStatus::Fail),
        (
            "late.example",
            &["tlsrpt.missing", "tlsrpt.not_first_version"],
            CheckStatus::Fail,
        ),
        (
            "junk.example",
            &["tlsrpt.syntax", "tlsrpt.syntax"],
            CheckStatus::Warn,
        ),
        (
            "slow.example",
            &["tlsrpt.lookup_failed"],
            CheckStatus::Unknown,
        ),
        (
            "broken.example",
            &["tlsrpt.lookup_failed"],
            CheckStatus::Unknown,
        ),
    ];
    for (domain, expected, status) in cases {
        let report = tlsrpt::check(&z, domain).await;
        assert_eq!(codes(&report), expected, "{domain}");
        assert_eq!(report.status, status, "{domain}");
    }
    let report = tlsrpt::check(&z, "absent.example").await;
    assert_eq!(report.status, CheckStatus::Missing);
    assert_eq!(codes(&report), ["tlsrpt.missing"]);
}

#[tokio::test]
async fn bimi_with_logo_evidence_and_enforced_dmarc_passes() {
    let z = zone(
        "default._bimi.example.com TXT \"v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem\"\n",
    );
    let report = bimi::check(&z, "example.com", Some(true)).await;
    assert_eq!(report.status, CheckStatus::Pass, "{:?}", report.findings);
    assert_eq!(report.details["logo"], "https://example.com/logo.svg");
    assert_eq!(report.details["evidence"], "https://example.com/vmc.pem");
}

#[tokio::test]
async fn bimi_problems_are_flagged() {
    let z = zone(
        "default._bimi.noa.example TXT \"v=BIMI1; l=https://noa.example/logo.svg\"\n\
         default._bimi.http.example TXT \"v=BIMI1; l=http://http.example/logo.png; a=\"\n\
         default._bimi.nol.example TXT \"v=BIMI1; a=https://nol.example/vmc.pem\"\n\
         default._bimi.decl.example TXT \"v=BIMI1; l=; a=;\"\n\
         default._bimi.junk.example TXT \"v=BIMI1; l=https://junk.example/l.svg; a=https://junk.example/a.pem; !!; l=x\"\n\
         default._bimi.two.example TXT \"v=BIMI1; l=https://two.example/a.svg\"\n\
         default._bimi.two.example TXT \"v=BIMI1; l=https://two.example/b.svg\"\n\
         default._bimi.slow.example TIMEOUT\n",
    );
    let report = bimi::check(&z, "noa.example", Some(true)).await;
    assert_eq!(codes(&report), ["bimi.no_evidence"]);
    assert_eq!(report.status, CheckStatus::Pass);
    let report = bimi::check(&z, "noa.example", Some(false)).await;
    assert_eq!(
        codes(&report),
        ["bimi.dmarc_not_enforced", "bimi.no_evidence"]
    );
    assert_eq!(report.status, CheckStatus::Fail);
    let report = bimi::check(&z, "noa.example", None).await;
    assert_eq!(codes(&report), ["bimi.dmarc_unknown", "bimi.no_evidence"]);
    let report = bimi::check(&z, "http.example", Some(true)).await;
    assert_eq!(
        codes(&report),
        [
            "bimi.logo_not_https",
            "bimi.logo_not_svg",
            "bimi.no_evidence"
        ]
    );
    let report = bimi::check(&z, "nol.example", Some(true)).await;
    assert_eq!(codes(&report), ["bimi.no_logo"]);
    let report = bimi::check(&z, "decl.example", Some(true)).await;
    assert_eq!(codes(&report), ["bimi.declined", "bimi.no_evidence"]);
    let report = bimi::check(&z, "junk.example", Some(true)).await;
    assert_eq!(codes(&report), ["bimi.syntax", "bimi.syntax"]);
    let report = bimi::check(&z, "two.example", Some(true)).await;
    assert_eq!(codes(&report), ["bimi.multiple_records"]);
    let report = bimi::check(&z, "slow.example", Some(true)).await;
    assert_eq!(report.status, CheckStatus::Unknown);
    let report = bimi::check(&z, "absent.example", Some(true)).await;
    assert_eq!(report.status, CheckStatus::Missing);
    assert_eq!(codes(&report), ["bimi.missing"]);
}
