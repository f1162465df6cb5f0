//! `check_domain`: every check of one domain, side by side, over one in-memory zone.

#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use postern_dns::ZoneResolver;
use postern_mailauth::posture::mtasts::{FetchError, FetchedPolicy, PolicyFetcher, policy_url};
use postern_mailauth::posture::{CheckKind, CheckStatus, PostureOptions, check_domain};
use postern_mailauth::spf::SpfOptions;
use std::sync::{Arc, Mutex};

/// Serves one policy body for every host and remembers the hosts asked for.
struct OnePolicy {
    body: &'static str,
    asked: Mutex<Vec<String>>,
}

#[async_trait]
impl PolicyFetcher for OnePolicy {
    async fn fetch(&self, policy_host: &str) -> Result<FetchedPolicy, FetchError> {
        self.asked.lock().unwrap().push(policy_host.to_owned());
        Ok(FetchedPolicy {
            status: 200,
            content_type: Some("text/plain".to_owned()),
            body: self.body.as_bytes().to_vec(),
            url: policy_url(policy_host),
        })
    }
}

const ZONE: &str = "\
example.com MX 10 mx1.example.com\n\
example.com MX 20 mx2.example.com\n\
mx2.example.com A 192.0.2.2\n\
mx1.example.com A 192.0.2.1\n\
example.com TXT \"v=spf1 mx ?all\"\n\
_dmarc.example.com TXT \"v=DMARC1; p=none; rua=mailto:dmarc@example.com\"\n\
s1._domainkey.example.com TXT \"v=DKIM1; k=ed25519; p=Ef3ttUscl3Nw7bu6lLyRMQTSshqaFbUyVLX89dncsnE=\"\n\
_smtp._tls.example.com TXT \"v=TLSRPTv1; rua=mailto:tls@example.com\"\n\
default._bimi.example.com TXT \"v=BIMI1; l=https://example.com/logo.svg\"\n\
_mta-sts.example.com TXT \"v=STSv1; id=20261129\"\n";

/// Covers mx1 but not the domain's second MX host.
const POLICY: &str = "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 604800\n";

fn options(fetcher: Arc<OnePolicy>) -> PostureOptions {
    PostureOptions {
        fetcher,
        checked_at: Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap(),
        spf: SpfOptions::default(),
        dkim_selectors: vec!["s1".to_owned()],
    }
}

#[tokio::test]
async fn every_check_runs_and_the_report_serialises() {
    let z = ZoneResolver::from_zone_text(ZONE).unwrap();
    let fetcher = Arc::new(OnePolicy {
        body: POLICY,
        asked: Mutex::new(Vec::new()),
    });
    let report = check_domain(&z, "Example.COM.", &options(fetcher.clone())).await;
    assert_eq!(report.domain, "example.com");
    let kinds: Vec<CheckKind> = report.checks.iter().map(|c| c.check).collect();
    assert_eq!(
        kinds,
        [
            CheckKind::Mx,
            CheckKind::Spf,
            CheckKind::Dmarc,
            CheckKind::Dkim,
            CheckKind::MtaSts,
            CheckKind::TlsRpt,
            CheckKind::Bimi
        ]
    );
    let status = |k| report.check(k).unwrap().status;
    assert_eq!(status(CheckKind::Mx), CheckStatus::Pass);
    assert_eq!(status(CheckKind::Spf), CheckStatus::Warn);
    assert_eq!(status(CheckKind::Dmarc), CheckStatus::Warn);
    assert_eq!(status(CheckKind::Dkim), CheckStatus::Pass);
    assert_eq!(status(CheckKind::TlsRpt), CheckStatus::Pass);
    // MTA-STS is checked against the MX hosts the MX check found.
    assert_eq!(*fetcher.asked.lock().unwrap(), ["mta-sts.example.com"]);
    let mtasts = report.check(CheckKind::MtaSts).unwrap();
    assert!(
        mtasts
            .findings
            .iter()
            .any(|f| f.code == "mtasts.mx_not_covered"),
        "{:?}",
        mtasts.findings
    );
    // p=none is not enforcement: BIMI says so.
    let bimi = report.check(CheckKind::Bimi).unwrap();
    assert!(
        bimi.findings
            .iter()
            .any(|f| f.code == "bimi.dmarc_not_enforced")
    );
    // The report's query count is the checks' counts, and those are the queries made.
    let sum: u32 = report.checks.iter().map(|c| c.queries).sum();
    assert_eq!(report.queries, sum);
    // Every DNS query made, plus the one policy fetch.
    assert_eq!(report.queries as usize, z.queries().len() + 1);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["checked_at"], "2026-11-29T12:00:00Z");
    assert_eq!(json["checks"][1]["check"], "spf");
    assert_eq!(json["checks"][1]["details"]["dns_lookups"], 1);
    assert_eq!(json["checks"][1]["findings"][0]["code"], "spf.neutral_all");
}

#[tokio::test]
async fn a_dead_name_server_makes_every_check_unknown() {
    // The domain and every name the checks ask for time out.
    let mut text = String::from("example.com TIMEOUT\n");
    for name in [
        "_dmarc.example.com",
        "_dmarc.com",
        "s1._domainkey.example.com",
        "_smtp._tls.example.com",
        "default._bimi.example.com",
        "_mta-sts.example.com",
    ] {
        text.push_str(&format!("{name} TIMEOUT\n"));
    }
    let z = ZoneResolver::from_zone_text(&text).unwrap();
    let fetcher = Arc::new(OnePolicy {
        body: POLICY,
        asked: Mutex::new(Vec::new()),
    });
    let report = check_domain(&z, "example.com", &options(fetcher)).await;
    for check in &report.checks {
        assert_eq!(check.status, CheckStatus::Unknown, "{:?}", check.check);
    }
}
