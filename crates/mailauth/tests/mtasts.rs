//! The MTA-STS check through real DNS packets (`postern_dns::testing::LoopbackServer`) and
//! real HTTPS (a local TLS server with a test CA generated here), against the vectors of
//! `../shared/corpora/mta-sts-vectors` (reconstructed from postfix-mta-sts-resolver's
//! integration tests and stalwart mail-auth's record tests) and a few cases of our own.
//!
//! Mapping of postfix-mta-sts-resolver's results: VALID → Pass or Warn, NONE → Missing,
//! FETCH_ERROR → Fail — except `blackhole.loc`, whose DNS never answers: a posture check
//! cannot tell a dead name server from a broken policy, so it answers Unknown, never Fail.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use postern_dns::testing::LoopbackServer;
use postern_dns::{HickoryResolver, ResolverSettings, ZoneResolver};
use postern_mailauth::posture::mtasts::{
    self, FetchError, FetchedPolicy, HttpsFetcherSettings, HttpsPolicyFetcher, PolicyFetcher,
};
use postern_mailauth::posture::{CheckReport, CheckStatus};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto::ring};

fn vectors_dir() -> PathBuf {
    std::env::var_os("POSTERN_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"))
        .join("mta-sts-vectors")
}

fn load(file: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A certificate authority made for one test run.
struct TestCa {
    key: KeyPair,
    params: CertificateParams,
    der: CertificateDer<'static>,
}

impl TestCa {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Postern test CA");
        let der = params.self_signed(&key).unwrap().der().clone();
        Self { key, params, der }
    }

    /// A leaf certificate for `names`, optionally expired a long time ago.
    fn issue(&self, names: &[&str], expired: bool) -> (Vec<CertificateDer<'static>>, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (vec![cert.der().clone()], key.serialize_der())
    }
}

/// What the policy server answers to every request.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
    chunked: bool,
    location: Option<String>,
}

impl Answer {
    fn policy(body: &str) -> Self {
        Self {
            status: 200,
            content_type: Some("text/plain".into()),
            body: body.as_bytes().to_vec(),
            chunked: false,
            location: None,
        }
    }
}

/// An HTTPS server on loopback presenting `chain`, answering `answer` to any request.
async fn https_server(
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
    answer: Answer,
) -> SocketAddr {
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(&response_bytes(&answer)).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

fn response_bytes(answer: &Answer) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", answer.status).into_bytes();
    if let Some(ct) = &answer.content_type {
        out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
    }
    if let Some(location) = &answer.location {
        out.extend_from_slice(format!("Location: {location}\r\n").as_bytes());
    }
    if answer.chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for chunk in answer.body.chunks(4096) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else {
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", answer.body.len()).as_bytes());
        out.extend_from_slice(&answer.body);
    }
    out
}

fn fetcher(ca: &TestCa, routes: &[(String, SocketAddr)]) -> HttpsPolicyFetcher {
    HttpsPolicyFetcher::new(&HttpsFetcherSettings {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        extra_roots: vec![ca.der.to_vec()],
        only_extra_roots: true,
        resolve: routes.to_vec(),
        ..HttpsFetcherSettings::default()
    })
    .unwrap()
}

fn resolver(server: &LoopbackServer) -> HickoryResolver {
    HickoryResolver::new(&ResolverSettings {
        nameservers: vec![server.addr()],
        timeout: Duration::from_millis(400),
        attempts: 1,
        ..ResolverSettings::default()
    })
    .unwrap()
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn codes(report: &CheckReport) -> Vec<&str> {
    report.findings.iter().map(|f| f.code.as_str()).collect()
}

/// One policy domain set up on loopback: its TXT record in DNS and its HTTPS server.
async fn serve_policy(
    ca: &TestCa,
    domain: &str,
    cert_names: &[&str],
    expired: bool,
    answer: Answer,
) -> (String, SocketAddr) {
    let (chain, key) = ca.issue(cert_names, expired);
    let addr = https_server(chain, key, answer).await;
    (format!("mta-sts.{domain}"), addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_postfix_mta_sts_resolver_vector_gets_the_expected_verdict() {
    let data = load("postfix-mta-sts-resolver-vectors.json");
    let vectors = data["resolver_vectors"].as_array().unwrap();
    let trusted = TestCa::new();
    let untrusted = TestCa::new();
    let mut dns = LoopbackServer::builder();
    let mut zoned = std::collections::BTreeSet::new();
    let mut routes = Vec::new();
    for v in vectors {
        let query = v["query_domain"].as_str().unwrap();
        let domain = query.trim_end_matches('.');
        if domain.starts_with('.') || !zoned.insert(domain.to_owned()) {
            continue;
        }
        let zone = match (domain, v["dns_txt__mta-sts"].as_str()) {
            ("blackhole.loc", _) => {
                dns = dns.silent(domain);
                continue;
            }
            ("no-data.loc", _) => "_mta-sts IN A 127.0.0.1\n".to_owned(),
            (_, None) => "mta-sts IN A 127.0.0.1\n".to_owned(),
            (_, Some(txt)) => format!("_mta-sts IN TXT {}\n", quoted(txt)),
        };
        dns = dns.zone(domain, &zone);
        let Some(server) = v["policy_server"].as_object() else {
            continue;
        };
        let note = server["cert"].as_str().unwrap_or("");
        let host = format!("mta-sts.{domain}");
        let (ca, names): (&TestCa, Vec<&str>) = if note.contains("untrusted") {
            (&untrusted, vec![host.as_str()])
        } else if note.contains("NOT cover") {
            (&trusted, vec![domain])
        } else {
            (&trusted, vec![host.as_str()])
        };
        let answer = Answer {
            status: u16::try_from(server["http_status"].as_u64().unwrap()).unwrap(),
            content_type: server["content_type"].as_str().map(str::to_owned),
            body: server["body"].as_str().unwrap().as_bytes().to_vec(),
            chunked: domain.starts_with("chunked"),
            location: None,
        };
        routes.push(serve_policy(ca, domain, &names, false, answer).await);
    }
    let dns = dns.start().unwrap();
    let resolver = resolver(&dns);
    let fetcher = fetcher(&trusted, &routes);
    let mx_hosts = vec!["mail.loc".to_owned()];
    let mut misses = Vec::new();
    for v in vectors {
        let query = v["query_domain"].as_str().unwrap();
        let expected = v["expected_fetch_result"].as_str().unwrap();
        let report = mtasts::check(&resolver, &fetcher, query, &mx_hosts).await;
        let ok = match expected {
            "VALID" => matches!(report.status, CheckStatus::Pass | CheckStatus::Warn),
            "NONE" => report.status == CheckStatus::Missing,
            "FETCH_ERROR" if query == "blackhole.loc" => report.status == CheckStatus::Unknown,
            "FETCH_ERROR" if query.starts_with("bad-cert") => {
                report.status == CheckStatus::Fail && codes(&report) == ["mtasts.policy_tls"]
            }
            "FETCH_ERROR" => report.status == CheckStatus::Fail,
            other => panic!("unknown expectation {other}"),
        };
        println!(
            "{:<24} {:<12} {:<8} {}",
            query,
            expected,
            format!("{:?}", report.status),
            codes(&report).join(" ")
        );
        if !ok {
            misses.push(query.to_owned());
        }
    }
    println!(
        "{} of {} vectors as expected",
        vectors.len() - misses.len(),
        vectors.len()
    );
    assert!(misses.is_empty(), "vectors off: {misses:?}");
}

/// A fetcher that serves one fixed good policy, for the TXT-record vectors.
struct GoodPolicy;

#[async_trait::async_trait]
impl PolicyFetcher for GoodPolicy {
    async fn fetch(&self, policy_host: &str) -> Result<FetchedPolicy, FetchError> {
        Ok(FetchedPolicy {
            status: 200,
            content_type: Some("text/plain".into()),
            body: b"version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 86400\n".to_vec(),
            url: mtasts::policy_url(policy_host),
        })
    }
}

#[tokio::test]
async fn txt_record_vectors_read_the_same_id() {
    let postfix = load("postfix-mta-sts-resolver-vectors.json");
    let stalwart = load("stalwart-mail-auth-record-vectors.json");
    let mut cases: Vec<(String, Option<String>)> = Vec::new();
    for v in postfix["txt_record_parse_vectors"].as_array().unwrap() {
        let id = v["expected_tags"]["id"].as_str().map(str::to_owned);
        cases.push((v["txt"].as_str().unwrap().to_owned(), id));
    }
    for v in stalwart["mta_sts_txt_record"].as_array().unwrap() {
        let id = v["expected"]["id"].as_str().map(str::to_owned);
        cases.push((v["txt"].as_str().unwrap().to_owned(), id));
    }
    assert_eq!(cases.len(), 11);
    for (txt, id) in cases {
        let mut zone = ZoneResolver::new();
        zone.add_txt("_mta-sts.example.loc", &txt);
        let report = mtasts::check(&zone, &GoodPolicy, "example.loc", &[]).await;
        match id {
            Some(id) => {
                assert_eq!(report.details["id"], id.as_str(), "{txt:?}");
                assert_ne!(report.status, CheckStatus::Missing, "{txt:?}");
                assert_ne!(
                    report.status,
                    CheckStatus::Fail,
                    "{txt:?}: {:?}",
                    codes(&report)
                );
            }
            None => assert_eq!(report.status, CheckStatus::Missing, "{txt:?}"),
        }
    }
}

#[test]
fn content_type_vectors_agree() {
    let data = load("postfix-mta-sts-resolver-vectors.json");
    let vectors = data["content_type_vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 11);
    for v in vectors {
        let ct = v["content_type"].as_str().unwrap();
        assert_eq!(
            mtasts::is_text_plain(ct),
            v["is_text_plain"].as_bool().unwrap(),
            "{ct}"
        );
    }
}

const GOOD: &str = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n";

/// Runs the check for `example.com` against one policy server.
async fn check_served(
    cert_names: &[&str],
    expired: bool,
    answer: Answer,
    mx_hosts: &[&str],
) -> CheckReport {
    let ca = TestCa::new();
    let route = serve_policy(&ca, "example.com", cert_names, expired, answer).await;
    let dns =
        LoopbackServer::start(&[("example.com", "_mta-sts IN TXT \"v=STSv1; id=1\"\n")]).unwrap();
    let hosts: Vec<String> = mx_hosts.iter().map(|s| (*s).to_owned()).collect();
    mtasts::check(
        &resolver(&dns),
        &fetcher(&ca, &[route]),
        "example.com",
        &hosts,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_policy_over_real_https_passes() {
    let report = check_served(
        &["mta-sts.example.com"],
        false,
        Answer::policy(GOOD),
        &["mail.example.com"],
    )
    .await;
    assert_eq!(report.status, CheckStatus::Pass, "{:?}", codes(&report));
    assert_eq!(report.queries, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_fails_with_a_tls_reason() {
    let report = check_served(&["mta-sts.example.com"], true, Answer::policy(GOOD), &[]).await;
    assert_eq!(report.status, CheckStatus::Fail);
    assert_eq!(codes(&report), ["mtasts.policy_tls"]);
    assert!(
        report.findings[0]
            .message
            .to_lowercase()
            .contains("expired"),
        "{}",
        report.findings[0].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_host_fails_with_a_tls_reason() {
    let report = check_served(&["www.example.com"], false, Answer::policy(GOOD), &[]).await;
    assert_eq!(report.status, CheckStatus::Fail);
    assert_eq!(codes(&report), ["mtasts.policy_tls"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed_and_fails() {
    let answer = Answer {
        status: 301,
        content_type: None,
        body: Vec::new(),
        chunked: false,
        location: Some("https://elsewhere.example.net/.well-known/mta-sts.txt".into()),
    };
    let report = check_served(&["mta-sts.example.com"], false, answer, &[]).await;
    assert_eq!(report.status, CheckStatus::Fail);
    assert_eq!(codes(&report), ["mtasts.policy_redirect"]);
    assert!(report.findings[0].message.contains("elsewhere.example.net"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_of_65_kib_fails_whether_its_length_is_announced_or_not() {
    let mut body = GOOD.as_bytes().to_vec();
    body.resize(65 * 1024, b'#');
    for chunked in [false, true] {
        let answer = Answer {
            chunked,
            body: body.clone(),
            ..Answer::policy("")
        };
        let report = check_served(&["mta-sts.example.com"], false, answer, &[]).await;
        assert_eq!(report.status, CheckStatus::Fail, "chunked {chunked}");
        assert_eq!(
            codes(&report),
            ["mtasts.policy_too_large"],
            "chunked {chunked}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_content_type_fails() {
    let answer = Answer {
        content_type: Some("application/octet-stream".into()),
        ..Answer::policy(GOOD)
    };
    let report = check_served(&["mta-sts.example.com"], false, answer, &[]).await;
    assert_eq!(report.status, CheckStatus::Fail);
    assert_eq!(codes(&report), ["mtasts.policy_content_type"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mx_the_policy_does_not_cover_is_named() {
    let report = check_served(
        &["mta-sts.example.com"],
        false,
        Answer::policy(GOOD),
        &["mail.example.com", "mx.backup-provider.net"],
    )
    .await;
    assert_eq!(report.status, CheckStatus::Fail);
    assert_eq!(codes(&report), ["mtasts.mx_not_covered"]);
    assert_eq!(
        report.findings[0].subject.as_deref(),
        Some("mx.backup-provider.net")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_txt_is_missing_and_a_dns_timeout_is_unknown() {
    let dns = LoopbackServer::builder()
        .zone("example.com", "@ IN A 192.0.2.1\n")
        .silent("slow.example.org")
        .start()
        .unwrap();
    let resolver = resolver(&dns);
    let report = mtasts::check(&resolver, &GoodPolicy, "example.com", &[]).await;
    assert_eq!(report.status, CheckStatus::Missing);
    let report = mtasts::check(&resolver, &GoodPolicy, "slow.example.org", &[]).await;
    assert_eq!(report.status, CheckStatus::Unknown);
    assert_eq!(codes(&report), ["mtasts.lookup_failed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_policy_host_fails() {
    // A port with nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let ca = TestCa::new();
    let dns =
        LoopbackServer::start(&[("example.com", "_mta-sts IN TXT \"v=STSv1; id=1\"\n")]).unwrap();
    let fetcher = fetcher(&ca, &[("mta-sts.example.com".to_owned(), addr)]);
    let report = mtasts::check(&resolver(&dns), &fetcher, "example.com", &[]).await;
    assert_eq!(report.status, CheckStatus::Fail);
    assert_eq!(codes(&report), ["mtasts.policy_unreachable"]);
}

#[tokio::test]
async fn a_policy_host_that_resolves_inside_the_network_is_not_fetched() {
    // No pins: `localhost` resolves to loopback, which the fetcher refuses to reach.
    let fetcher = HttpsPolicyFetcher::new(&HttpsFetcherSettings::default()).unwrap();
    let error = fetcher.fetch("localhost").await.unwrap_err();
    let text = format!("{error:?} {error}");
    assert!(text.contains("internal addresses"), "{text}");
}
