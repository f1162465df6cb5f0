//! The MTA-STS posture check (RFC 8461): the `_mta-sts.<domain>` TXT record
//! (`v=STSv1; id=...`), the policy at `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//! (fetched with certificate validation, no redirects, `text/plain`, at most 64 KiB) with
//! its `version`, `mode`, `max_age` and `mx` patterns, and whether those patterns cover
//! every MX host the domain really has.
//!
//! The HTTPS side is a [`PolicyFetcher`], so the check runs against a fake in unit tests;
//! [`HttpsPolicyFetcher`] (feature `https`) is the real one, over reqwest and rustls.
//!
//! Status: `Missing` when no record begins with `v=STSv1` (what senders then assume),
//! `Unknown` when the record could not be looked up or the fetch timed out, `Fail` when
//! senders would ignore the policy (or, in enforce mode, refuse mail to an MX it does not
//! cover), `Warn`/`Pass` otherwise.

#[cfg(feature = "https")]
mod https;
mod policy;

#[cfg(feature = "https")]
pub use https::{HttpsFetcherSettings, HttpsPolicyFetcher};
pub use policy::{MAX_AGE_LIMIT, Mode, is_text_plain, mx_matches};

use super::counting::Counting;
use super::{CheckKind, CheckReport, CheckStatus, PostureFinding, Severity};
use async_trait::async_trait;
use policy::{Policy, StsRecord};
use postern_dns::{Lookup, Resolver};
use serde_json::json;

/// Largest policy body read (RFC 8461 §3.3 lets senders cap it; 64 KiB is the usual cap).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// `max_age` below which the policy is flagged as very short (one day): senders then
/// forget it between deliveries and a downgrade attacker only has to wait.
pub const SHORT_MAX_AGE: u64 = 86_400;

/// The HTTPS response to a policy request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPolicy {
    /// HTTP status code.
    pub status: u16,
    /// The Content-Type header, if any.
    pub content_type: Option<String>,
    /// The body (at most [`MAX_POLICY_BYTES`] when a fetcher caps it).
    pub body: Vec<u8>,
    /// The URL the response came from.
    pub url: String,
}

/// Why a policy could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The TLS handshake failed: untrusted, expired or wrong-name certificate, or other TLS
    /// trouble.
    #[error("TLS: {0}")]
    Tls(String),
    /// No complete answer in time.
    #[error("timed out")]
    Timeout,
    /// The server answered with a redirect, which RFC 8461 §3.3 forbids following.
    #[error("redirect (status {status}) to {location:?}")]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// The Location header, if any.
        location: Option<String>,
    },
    /// The body is larger than the cap.
    #[error("policy larger than {limit} bytes")]
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The host could not be resolved or connected to.
    #[error("connection failed: {0}")]
    Connect(String),
    /// Any other HTTP-level failure (malformed response, connection reset mid-body).
    #[error("HTTP: {0}")]
    Http(String),
}

/// Fetches `https://<policy_host>/.well-known/mta-sts.txt`.
#[async_trait]
pub trait PolicyFetcher: Send + Sync {
    /// Fetches the policy of `policy_host` (`mta-sts.<domain>`), validating the certificate
    /// for that name and following no redirects.
    async fn fetch(&self, policy_host: &str) -> Result<FetchedPolicy, FetchError>;
}

/// The well-known URL of a policy host.
pub fn policy_url(policy_host: &str) -> String {
    format!("https://{policy_host}/.well-known/mta-sts.txt")
}

/// Checks `domain`'s MTA-STS record and policy; `mx_hosts` are the domain's real MX hosts
/// (from its MX records; empty when it has none), checked against the policy's patterns.
pub async fn check(
    resolver: &dyn Resolver,
    fetcher: &dyn PolicyFetcher,
    domain: &str,
    mx_hosts: &[String],
) -> CheckReport {
    let counting = Counting::new(resolver);
    let mut report = CheckReport::new(CheckKind::MtaSts);
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let name = format!("_mta-sts.{domain}");
    let finish = |mut report: CheckReport, counting: &Counting<'_>, fetches: u32| {
        report.queries = counting.count() + fetches;
        report.finish()
    };
    if let Some(reason) = invalid_domain(&domain) {
        report.status = CheckStatus::Missing;
        report.findings.push(PostureFinding::new(
            "mtasts.invalid_domain",
            Severity::Info,
            format!("{domain:?} is not a domain name ({reason}): it can have no MTA-STS policy"),
        ));
        return finish(report, &counting, 0);
    }
    let texts: Vec<String> = match counting.txt(&name).await {
        Err(error) => {
            report.status = CheckStatus::Unknown;
            report.findings.push(PostureFinding::new(
                "mtasts.lookup_failed",
                Severity::Info,
                format!("the MTA-STS record could not be looked up: {error}"),
            ));
            return finish(report, &counting, 0);
        }
        Ok(Lookup::Found(records)) => records
            .iter()
            .map(|t| String::from_utf8_lossy(&t.joined()).into_owned())
            .collect(),
        Ok(Lookup::NoData | Lookup::NxDomain) => Vec::new(),
    };
    report.records = texts.clone();
    let (sts, other): (Vec<&String>, Vec<&String>) =
        texts.iter().partition(|t| policy::is_sts_record(t));
    for text in other {
        report.findings.push(
            PostureFinding::new(
                "mtasts.record_ignored",
                Severity::Medium,
                format!(
                    "this TXT record at {name} does not begin with \"v=STSv1;\": senders \
                     discard it"
                ),
            )
            .subject(text.clone()),
        );
    }
    let record_text = match sts.as_slice() {
        [] => {
            report.status = CheckStatus::Missing;
            report.findings.push(PostureFinding::new(
                "mtasts.missing",
                Severity::Low,
                format!(
                    "no MTA-STS record at {name}: sending servers may deliver to {domain} \
                     over unauthenticated or downgraded TLS"
                ),
            ));
            report.details = json!({ "name": name });
            return finish(report, &counting, 0);
        }
        [one] => (*one).clone(),
        many => {
            report.findings.push(PostureFinding::new(
                "mtasts.multiple_records",
                Severity::High,
                format!(
                    "{} MTA-STS records at {name}: senders then assume there is no policy \
                     (RFC 8461 §3.1). Keep exactly one",
                    many.len()
                ),
            ));
            (*many[0]).clone()
        }
    };
    let record = policy::parse_record(&record_text);
    record_findings(&record, &record_text, &mut report.findings);

    let host = format!("mta-sts.{domain}");
    let url = policy_url(&host);
    let fetched = fetcher.fetch(&host).await;
    let mut details = json!({
        "name": name,
        "record": record_text,
        "id": record.id,
        "policy_url": url,
        "mx_hosts": mx_hosts,
    });
    let body = match fetched {
        Err(error) => {
            let (code, transient) = match &error {
                FetchError::Tls(_) => ("mtasts.policy_tls", false),
                FetchError::Timeout => ("mtasts.policy_timeout", true),
                FetchError::Redirect { .. } => ("mtasts.policy_redirect", false),
                FetchError::TooLarge { .. } => ("mtasts.policy_too_large", false),
                FetchError::Connect(_) => ("mtasts.policy_unreachable", false),
                FetchError::Http(_) => ("mtasts.policy_fetch_failed", false),
            };
            if transient {
                report.status = CheckStatus::Unknown;
            }
            report.findings.push(
                PostureFinding::new(
                    code,
                    Severity::High,
                    format!(
                        "the policy could not be fetched from {url}: {error}. Senders then \
                         have no MTA-STS policy for {domain}"
                    ),
                )
                .subject(url.clone()),
            );
            details["fetch_error"] = json!(error.to_string());
            report.details = details;
            return finish(report, &counting, 1);
        }
        Ok(response) => match response_findings(&response, &url, &mut report.findings) {
            Some(body) => body,
            None => {
                details["http_status"] = json!(response.status);
                details["content_type"] = json!(response.content_type);
                report.details = details;
                return finish(report, &counting, 1);
            }
        },
    };
    report.records.push(body.clone());
    let parsed = policy::parse_policy(&body);
    let judged = policy_findings(&parsed, &mut report.findings);
    if let Some(mode) = judged.mode {
        coverage_findings(
            &parsed,
            mode,
            mx_hosts,
            &domain,
            &mut report.findings,
            &mut details,
        );
    }
    details["policy"] = json!({
        "version": parsed.version,
        "mode": judged.mode,
        "max_age": judged.max_age,
        "mx": parsed.mx,
    });
    report.details = details;
    finish(report, &counting, 1)
}

/// Why `domain` cannot be asked for, if it cannot.
fn invalid_domain(domain: &str) -> Option<&'static str> {
    if domain.is_empty() {
        return Some("empty");
    }
    if domain.len() > 253 - "_mta-sts.".len() {
        return Some("too long");
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Some("empty label");
        }
        if label.len() > 63 {
            return Some("label longer than 63 characters");
        }
    }
    None
}

/// Findings about the TXT record's fields.
fn record_findings(record: &StsRecord, text: &str, findings: &mut Vec<PostureFinding>) {
    for (position, message) in &record.problems {
        let code = if record.id.is_none() {
            "mtasts.missing_id"
        } else if message.starts_with("id ") {
            "mtasts.invalid_id"
        } else {
            "mtasts.record_syntax"
        };
        findings.push(
            PostureFinding::new(
                code,
                Severity::High,
                format!("{message}: senders ignore an invalid MTA-STS record"),
            )
            .subject(text)
            .at(*position),
        );
    }
    if let Some(position) = record.empty_fields.first() {
        findings.push(
            PostureFinding::new(
                "mtasts.record_empty_field",
                Severity::Low,
                "empty field (\";;\"): RFC 8461's grammar allows one \";\" between fields and \
                 strict senders reject the record",
            )
            .subject(text)
            .at(*position),
        );
    }
}

/// Findings about the HTTP response; the body as text when it is worth parsing.
fn response_findings(
    response: &FetchedPolicy,
    url: &str,
    findings: &mut Vec<PostureFinding>,
) -> Option<String> {
    if response.status != 200 {
        findings.push(
            PostureFinding::new(
                "mtasts.policy_http_status",
                Severity::High,
                format!(
                    "{url} answered HTTP {} instead of 200: senders have no policy",
                    response.status
                ),
            )
            .subject(url),
        );
        return None;
    }
    if response.body.len() > MAX_POLICY_BYTES {
        findings.push(
            PostureFinding::new(
                "mtasts.policy_too_large",
                Severity::High,
                format!(
                    "the policy is {} bytes, over the {MAX_POLICY_BYTES}-byte limit senders \
                     apply",
                    response.body.len()
                ),
            )
            .subject(url),
        );
        return None;
    }
    let content_type = response.content_type.as_deref().unwrap_or("");
    if !policy::is_text_plain(content_type) {
        findings.push(
            PostureFinding::new(
                "mtasts.policy_content_type",
                Severity::High,
                format!(
                    "the policy is served as {content_type:?}; RFC 8461 §3.3 requires \
                     text/plain and senders reject anything else"
                ),
            )
            .subject(url),
        );
        return None;
    }
    match String::from_utf8(response.body.clone()) {
        Ok(body) => Some(body),
        Err(_) => {
            findings.push(
                PostureFinding::new(
                    "mtasts.policy_invalid",
                    Severity::High,
                    "the policy is not UTF-8 text",
                )
                .subject(url),
            );
            None
        }
    }
}

/// The policy's values that were valid.
struct Judged {
    mode: Option<Mode>,
    max_age: Option<u64>,
}

/// Findings about the policy's fields.
fn policy_findings(parsed: &Policy, findings: &mut Vec<PostureFinding>) -> Judged {
    let high = |code: &str, message: String| PostureFinding::new(code, Severity::High, message);
    for (line, text) in &parsed.bad_lines {
        findings.push(
            PostureFinding::new(
                "mtasts.policy_syntax",
                Severity::Medium,
                format!("policy line {line} is not \"key: value\""),
            )
            .subject(text.clone()),
        );
    }
    for key in &parsed.repeated {
        findings.push(PostureFinding::new(
            "mtasts.policy_repeated_field",
            Severity::Medium,
            format!("the policy gives {key} more than once; senders may read either"),
        ));
    }
    match parsed.version.as_deref() {
        Some("STSv1") => {}
        Some(other) => findings.push(
            high(
                "mtasts.policy_version",
                format!("version is {other:?}, not STSv1: senders ignore the policy"),
            )
            .subject(format!("version: {other}")),
        ),
        None => findings.push(high(
            "mtasts.policy_invalid",
            "the policy has no \"version: STSv1\" line: senders ignore it".to_owned(),
        )),
    }
    let mode = match parsed.mode.as_deref() {
        None => {
            findings.push(high(
                "mtasts.policy_mode_missing",
                "the policy has no mode: senders ignore it".to_owned(),
            ));
            None
        }
        Some(value) => {
            let mode = policy::parse_mode(value);
            match mode {
                None => findings.push(
                    high(
                        "mtasts.policy_mode_invalid",
                        format!(
                            "mode {value:?} is not enforce, testing or none: senders ignore \
                             the policy"
                        ),
                    )
                    .subject(format!("mode: {value}")),
                ),
                Some(Mode::Testing) => findings.push(PostureFinding::new(
                    "mtasts.mode_testing",
                    Severity::Low,
                    "mode is testing: senders report TLS failures but still deliver over \
                     unauthenticated TLS. Switch to enforce once TLS-RPT reports are clean",
                )),
                Some(Mode::None) => findings.push(PostureFinding::new(
                    "mtasts.mode_none",
                    Severity::Medium,
                    "mode is none: the domain has withdrawn MTA-STS protection",
                )),
                Some(Mode::Enforce) => {}
            }
            mode
        }
    };
    let max_age = match parsed.max_age.as_deref() {
        None => {
            findings.push(high(
                "mtasts.policy_max_age_missing",
                "the policy has no max_age: senders ignore it".to_owned(),
            ));
            None
        }
        Some(value) => match policy::parse_max_age(value) {
            None => {
                findings.push(
                    high(
                        "mtasts.policy_max_age_invalid",
                        format!("max_age {value:?} is not a number of seconds"),
                    )
                    .subject(format!("max_age: {value}")),
                );
                None
            }
            Some(age) if age > MAX_AGE_LIMIT => {
                findings.push(
                    high(
                        "mtasts.max_age_too_long",
                        format!(
                            "max_age {age} is over the {MAX_AGE_LIMIT} seconds (one year) RFC \
                             8461 allows"
                        ),
                    )
                    .subject(format!("max_age: {value}")),
                );
                None
            }
            Some(age) => {
                if age < SHORT_MAX_AGE {
                    findings.push(
                        PostureFinding::new(
                            "mtasts.max_age_short",
                            Severity::Low,
                            format!(
                                "max_age {age} is under a day: senders forget the policy \
                                 quickly. Weeks (e.g. 1209600) are usual"
                            ),
                        )
                        .subject(format!("max_age: {value}")),
                    );
                }
                Some(age)
            }
        },
    };
    for pattern in &parsed.mx {
        if let Some(problem) = policy::mx_pattern_problem(pattern) {
            findings.push(
                PostureFinding::new(
                    "mtasts.mx_pattern_invalid",
                    Severity::Medium,
                    format!("mx pattern {pattern:?}: {problem}"),
                )
                .subject(format!("mx: {pattern}")),
            );
        }
    }
    if parsed.mx.is_empty() && matches!(mode, Some(Mode::Enforce | Mode::Testing)) {
        findings.push(high(
            "mtasts.policy_no_mx",
            "the policy names no mx: in enforce or testing mode senders ignore it".to_owned(),
        ));
    }
    Judged { mode, max_age }
}

/// Findings about MX hosts the policy's patterns do not cover.
fn coverage_findings(
    parsed: &Policy,
    mode: Mode,
    mx_hosts: &[String],
    domain: &str,
    findings: &mut Vec<PostureFinding>,
    details: &mut serde_json::Value,
) {
    if mode == Mode::None || parsed.mx.is_empty() {
        return;
    }
    let uncovered: Vec<&String> = mx_hosts
        .iter()
        .filter(|host| !host.trim_end_matches('.').is_empty())
        .filter(|host| !parsed.mx.iter().any(|p| policy::mx_matches(p, host)))
        .collect();
    details["mx_not_covered"] = json!(uncovered);
    if uncovered.is_empty() {
        return;
    }
    let names = uncovered
        .iter()
        .map(|h| h.trim_end_matches('.'))
        .collect::<Vec<_>>()
        .join(", ");
    let (severity, effect) = match mode {
        Mode::Enforce => (
            Severity::High,
            "in enforce mode senders refuse to deliver to them",
        ),
        _ => (
            Severity::Medium,
            "in testing mode senders report failures; in enforce mode they would refuse to \
             deliver to them",
        ),
    };
    findings.push(
        PostureFinding::new(
            "mtasts.mx_not_covered",
            severity,
            format!(
                "MX hosts of {domain} not matched by any mx pattern of the policy: {names}; \
                 {effect}. Add an \"mx:\" line for each"
            ),
        )
        .subject(names),
    );
}

#[cfg(test)]
mod tests;
