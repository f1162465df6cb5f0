//! The MTA-STS check over an in-memory zone and a fake fetcher.

use super::*;
use postern_dns::ZoneResolver;
use std::sync::Mutex;

/// Answers every fetch with the same result and remembers the hosts asked for.
struct FakeFetcher {
    answer: Result<FetchedPolicy, FetchError>,
    asked: Mutex<Vec<String>>,
}

impl FakeFetcher {
    fn policy(body: &str) -> Self {
        Self::response(200, "text/plain", body.as_bytes().to_vec())
    }

    fn response(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            answer: Ok(FetchedPolicy {
                status,
                content_type: Some(content_type.to_owned()),
                body,
                url: policy_url("mta-sts.example.com"),
            }),
            asked: Mutex::new(Vec::new()),
        }
    }

    fn error(error: FetchError) -> Self {
        Self {
            answer: Err(error),
            asked: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl PolicyFetcher for FakeFetcher {
    async fn fetch(&self, policy_host: &str) -> Result<FetchedPolicy, FetchError> {
        self.asked.lock().unwrap().push(policy_host.to_owned());
        self.answer.clone()
    }
}

const GOOD: &str =
    "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.mail.example.net\nmax_age: 604800\n";

fn zone(records: &[&str]) -> ZoneResolver {
    let mut zone = ZoneResolver::new();
    for text in records {
        zone.add_txt("_mta-sts.example.com", text);
    }
    zone
}

fn hosts(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn codes(report: &CheckReport) -> Vec<&str> {
    report.findings.iter().map(|f| f.code.as_str()).collect()
}

#[tokio::test]
async fn a_good_policy_covering_every_mx_passes() {
    let fetcher = FakeFetcher::policy(GOOD);
    let report = check(
        &zone(&["v=STSv1; id=20240101T000000"]),
        &fetcher,
        "Example.com.",
        &hosts(&["mx1.example.com", "a.mail.example.net."]),
    )
    .await;
    assert_eq!(report.status, CheckStatus::Pass, "{:?}", report.findings);
    assert_eq!(*fetcher.asked.lock().unwrap(), ["mta-sts.example.com"]);
    assert_eq!(report.queries, 2);
    assert_eq!(report.details["policy"]["mode"], "enforce");
    assert_eq!(report.details["policy"]["max_age"], 604800);
    assert_eq!(report.records.len(), 2);
}

#[tokio::test]
async fn an_uncovered_mx_in_enforce_mode_fails_and_names_the_host() {
    let report = check(
        &zone(&["v=STSv1; id=1"]),
        &FakeFetcher::policy(GOOD),
        "example.com",
        &hosts(&[
            "mx1.example.com",
            "backup.example.org",
            "x.y.mail.example.net",
        ]),
    )
    .await;
    assert_eq!(report.status, CheckStatus::Fail);
    let finding = &report.findings[0];
    assert_eq!(finding.code, "mtasts.mx_not_covered");
    assert_eq!(finding.severity, Severity::High);
    assert_eq!(
        finding.subject.as_deref(),
        Some("backup.example.org, x.y.mail.example.net")
    );
}

#[tokio::test]
async fn an_uncovered_mx_in_testing_mode_is_a_warning() {
    let body = GOOD.replace("enforce", "testing");
    let report = check(
        &zone(&["v=STSv1; id=1"]),
        &FakeFetcher::policy(&body),
        "example.com",
        &hosts(&["other.example.org"]),
    )
    .await;
    assert_eq!(report.status, CheckStatus::Warn);
    assert!(codes(&report).contains(&"mtasts.mx_not_covered"));
    assert!(codes(&report).contains(&"mtasts.mode_testing"));
}

#[tokio::test]
async fn no_record_is_missing_and_nothing_is_fetched() {
    let fetcher = FakeFetcher::policy(GOOD);
    let report = check(&zone(&[]), &fetcher, "example.com", &[]).await;
    assert_eq!(report.status, CheckStatus::Missing);
    assert!(fetcher.asked.lock().unwrap().is_empty());
    assert_eq!(codes(&report), ["mtasts.missing"]);
}

#[tokio::test]
async fn a_record_not_starting_with_the_version_is_ignored_as_senders_do() {
    let report = check(
        &zone(&["id=1; v=STSv1;"]),
        &FakeFetcher::policy(GOOD),
        "example.com",
        &[],
    )
    .await;
    assert_eq!(report.status, CheckStatus::Missing);
    assert!(codes(&report).contains(&"mtasts.record_ignored"));
}

#[tokio::test]
async fn two_records_fail() {
    let report = check(
        &zone(&["v=STSv1; id=1", "v=STSv1; id=2"]),
        &FakeFetcher::policy(GOOD),
        "example.com",
        &[],
    )
    .await;
    assert_eq!(report.status, CheckStatus::Fail);
    assert!(codes(&report).contains(&"mtasts.multiple_records"));
}

#[tokio::test]
async fn bad_ids_fail_with_a_position() {
    for (record, code) in [
        ("v=STSv1; id=2024-01-01", "mtasts.invalid_id"),
        ("v=STSv1;", "mtasts.missing_id"),
    ] {
        let report = check(
            &zone(&[record]),
            &FakeFetcher::policy(GOOD),
            "example.com",
            &[],
        )
        .await;
        assert_eq!(report.status, CheckStatus::Fail, "{record}");
        let finding = report.findings.iter().find(|f| f.code == code).unwrap();
        assert!(finding.position.is_some());
    }
}

#[tokio::test]
async fn a_dns_timeout_is_unknown() {
    let mut zone = ZoneResolver::new();
    zone.add_entry("_mta-sts.example.com", postern_dns::ZoneEntry::Timeout);
    let report = check(&zone, &FakeFetcher::policy(GOOD), "example.com", &[]).await;
    assert_eq!(report.status, CheckStatus::Unknown);
    assert_eq!(codes(&report), ["mtasts.lookup_failed"]);
}

#[tokio::test]
async fn fetch_errors_fail_except_a_timeout_which_is_unknown() {
    let cases = [
        (
            FetchError::Tls("expired".into()),
            "mtasts.policy_tls",
            CheckStatus::Fail,
        ),
        (
            FetchError::Redirect {
                status: 301,
                location: Some("https://elsewhere/".into()),
            },
            "mtasts.policy_redirect",
            CheckStatus::Fail,
        ),
        (
            FetchError::TooLarge { limit: 65536 },
            "mtasts.policy_too_large",
            CheckStatus::Fail,
        ),
        (
            FetchError::Connect("refused".into()),
            "mtasts.policy_unreachable",
            CheckStatus::Fail,
        ),
        (
            FetchError::Timeout,
            "mtasts.policy_timeout",
            CheckStatus::Unknown,
        ),
    ];
    for (error, code, status) in cases {
        let report = check(
            &zone(&["v=STSv1; id=1"]),
            &FakeFetcher::error(error),
            "example.com",
            &[],
        )
        .await;
        assert_eq!(report.status, status, "{code}");
        assert_eq!(report.findings[0].code, code);
    }
}

#[tokio::test]
async fn http_status_content_type_and_size_are_checked() {
    let cases = [
        (
            FakeFetcher::response(404, "text/plain", GOOD.into()),
            "mtasts.policy_http_status",
        ),
        (
            FakeFetcher::response(200, "text/html", GOOD.into()),
            "mtasts.policy_content_type",
        ),
        (
            FakeFetcher::response(200, "text/plain", vec![b'a'; MAX_POLICY_BYTES + 1]),
            "mtasts.policy_too_large",
        ),
    ];
    for (fetcher, code) in cases {
        let report = check(&zone(&["v=STSv1; id=1"]), &fetcher, "example.com", &[]).await;
        assert_eq!(report.status, CheckStatus::Fail, "{code}");
        assert_eq!(codes(&report), [code]);
    }
}

#[tokio::test]
async fn policy_fields_are_judged() {
    let cases = [
        (
            "version: STSv1\nmode: enforce\nmax_age: 86400\n",
            "mtasts.policy_no_mx",
            CheckStatus::Fail,
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n",
            "mtasts.max_age_too_long",
            CheckStatus::Fail,
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: xxx\n",
            "mtasts.policy_max_age_invalid",
            CheckStatus::Fail,
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 3600\n",
            "mtasts.max_age_short",
            CheckStatus::Warn,
        ),
        (
            "version: STSv1\nmode: doubt\nmx: a.example\nmax_age: 86400\n",
            "mtasts.policy_mode_invalid",
            CheckStatus::Fail,
        ),
        (
            "version: STSv1\nmx: a.example\nmax_age: 86400\n",
            "mtasts.policy_mode_missing",
            CheckStatus::Fail,
        ),
        (
            "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 86400\n",
            "mtasts.policy_version",
            CheckStatus::Fail,
        ),
        (
            "version: STSv1\nmode: none\nmax_age: 86400\n",
            "mtasts.mode_none",
            CheckStatus::Warn,
        ),
        (
            "version: STSv1\nmode: enforce\nmx: *a.example\nmax_age: 86400\n",
            "mtasts.mx_pattern_invalid",
            CheckStatus::Warn,
        ),
        ("garbage", "mtasts.policy_invalid", CheckStatus::Fail),
    ];
    for (body, code, status) in cases {
        let report = check(
            &zone(&["v=STSv1; id=1"]),
            &FakeFetcher::policy(body),
            "example.com",
            &[],
        )
        .await;
        assert_eq!(report.status, status, "{body:?}: {:?}", codes(&report));
        assert!(
            codes(&report).contains(&code),
            "{body:?}: {:?}",
            codes(&report)
        );
    }
}

#[tokio::test]
async fn an_invalid_domain_has_no_policy() {
    let report = check(&zone(&[]), &FakeFetcher::policy(GOOD), ".example.com", &[]).await;
    assert_eq!(report.status, CheckStatus::Missing);
    assert_eq!(codes(&report), ["mtasts.invalid_domain"]);
}
