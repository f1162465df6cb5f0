//! The TLS-RPT posture check (RFC 8460 §3): the `_smtp._tls.<domain>` TXT record
//! `v=TLSRPTv1; rua=...` with `mailto:` or `https:` destinations.

use super::counting::Counting;
use super::dmarc::valid_domain;
use super::tags::parse_tag_list;
use super::{CheckKind, CheckReport, CheckStatus, PostureFinding, Severity};
use postern_dns::Resolver;
use serde_json::json;

/// Checks `domain`'s TLS-RPT record.
#[tracing::instrument(name = "mailauth.posture.tlsrpt", skip_all, fields(domain = %domain))]
pub async fn check(resolver: &dyn Resolver, domain: &str) -> CheckReport {
    let counting = Counting::new(resolver);
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let name = format!("_smtp._tls.{domain}");
    let mut report = CheckReport::new(CheckKind::TlsRpt);
    let texts: Vec<String> = match counting.txt(&name).await {
        Err(error) => {
            report.status = CheckStatus::Unknown;
            report.findings.push(PostureFinding::new(
                "tlsrpt.lookup_failed",
                Severity::Info,
                format!("the TLS-RPT record could not be looked up: {error}"),
            ));
            report.queries = counting.count();
            return report.finish();
        }
        Ok(answer) => answer
            .into_records()
            .iter()
            .map(|t| String::from_utf8_lossy(&t.joined()).into_owned())
            .collect(),
    };
    report.records = texts.clone();
    let candidates: Vec<&String> = texts.iter().filter(|t| is_tlsrpt1(t)).collect();
    for text in texts.iter().filter(|t| !is_tlsrpt1(t)) {
        if text.to_ascii_lowercase().contains("tlsrptv1") {
            report.findings.push(
                PostureFinding::new(
                    "tlsrpt.not_first_version",
                    Severity::High,
                    "this record mentions TLSRPTv1 but does not start with v=TLSRPTv1; \
                     senders ignore it",
                )
                .subject(text.clone()),
            );
        }
    }
    let mut destinations = Vec::new();
    match candidates.as_slice() {
        [] => {
            if report.findings.is_empty() {
                report.status = CheckStatus::Missing;
            }
            report.findings.push(PostureFinding::new(
                "tlsrpt.missing",
                Severity::Low,
                format!(
                    "no TLS-RPT record: sending servers do not report TLS failures delivering \
                     to {domain}. Publish at {name} a TXT record \"v=TLSRPTv1; rua=mailto:\" \
                     followed by an address of yours that receives the reports"
                ),
            ));
        }
        [text] => destinations = record_findings(text, &mut report.findings),
        many => report.findings.push(PostureFinding::new(
            "tlsrpt.multiple_records",
            Severity::High,
            format!(
                "{} TLS-RPT records at {name}: senders then assume there is none (RFC 8460 \
                 §3). Keep exactly one",
                many.len()
            ),
        )),
    }
    report.details = json!({
        "name": name,
        "record": (candidates.len() == 1).then(|| candidates[0].clone()),
        "rua": destinations,
    });
    report.queries = counting.count();
    report.finish()
}

/// True when the record starts with `v=TLSRPTv1`.
fn is_tlsrpt1(text: &str) -> bool {
    let list = parse_tag_list(text);
    list.tags
        .first()
        .is_some_and(|t| t.span.start == 0 && t.name == "v" && t.value == "TLSRPTv1")
}

/// Findings about the one record; answers the valid destinations.
fn record_findings(text: &str, findings: &mut Vec<PostureFinding>) -> Vec<String> {
    let list = parse_tag_list(text);
    let finding = |code: &str, severity, message: String| {
        PostureFinding::new(code, severity, message).subject(text.to_owned())
    };
    for problem in &list.problems {
        findings.push(
            finding("tlsrpt.syntax", Severity::Medium, problem.message.clone())
                .at(problem.position),
        );
    }
    let Some(rua) = list.get("rua") else {
        findings.push(finding(
            "tlsrpt.no_rua",
            Severity::High,
            "no rua= tag: the record names nowhere to send reports".to_owned(),
        ));
        return Vec::new();
    };
    let mut valid = Vec::new();
    let mut offset = 0;
    for raw in rua.value.split(',') {
        let position = rua.value_at + offset + (raw.len() - raw.trim_start().len());
        offset += raw.len() + 1;
        let uri = raw.trim();
        match uri_problem(uri) {
            None => valid.push(uri.to_owned()),
            Some(problem) => findings.push(
                finding(
                    "tlsrpt.rua_invalid",
                    Severity::Medium,
                    format!("rua URI {uri:?}: {problem}"),
                )
                .at(position),
            ),
        }
    }
    if valid.is_empty() {
        findings.push(finding(
            "tlsrpt.no_valid_rua",
            Severity::High,
            "no usable rua URI: no report can be delivered".to_owned(),
        ));
    }
    valid
}

/// Why a TLS-RPT `rua` URI is unusable: only `mailto:` with an address and `https://`
/// with a host are (RFC 8460 §3).
fn uri_problem(uri: &str) -> Option<String> {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Some("not a URI".to_owned());
    };
    match scheme.to_ascii_lowercase().as_str() {
        "mailto" => {
            let mailbox = rest.split('?').next().unwrap_or_default();
            match mailbox.rsplit_once('@') {
                Some((local, domain)) if !local.is_empty() && valid_domain(domain) => None,
                _ => Some(format!("{mailbox:?} is not an email address")),
            }
        }
        "https" => {
            let host = rest
                .strip_prefix("//")
                .map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
            let host = host.map(|h| h.rsplit_once(':').map_or(h, |(h, _)| h));
            match host {
                Some(h) if valid_domain(h) => None,
                _ => Some("an https URI needs a host name".to_owned()),
            }
        }
        other => Some(format!("{other}: is not mailto: or https:")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_mailto_or_https() {
        assert_eq!(uri_problem("mailto:tls@example.com"), None);
        assert_eq!(uri_problem("https://reports.example.com/tlsrpt"), None);
        assert_eq!(uri_problem("https://reports.example.com:8443/x"), None);
        assert!(uri_problem("http://reports.example.com/").is_some());
        assert!(uri_problem("mailto:nobody").is_some());
        assert!(uri_problem("https:/x").is_some());
        assert!(uri_problem("garbage").is_some());
    }
}
