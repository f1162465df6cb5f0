//! SMTP TLS reports (RFC 8460 §4): a JSON object, read leniently field by field.
//!
//! Not mail-auth's `TlsReport::parse_json`: it accepts a policy without `policy-domain`
//! (an empty string) and an unknown `policy-type` without a word, while Postern routes
//! TLS reports by policy domain and has to say what it dropped.

use crate::aggregate::Problems;
use crate::rejection::{RejectReason, Rejection};
use chrono::{DateTime, Utc};
use postern_domain::{TlsFailureDetail, TlsPolicy, TlsPolicyType, TlsReport};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// What became of a JSON input.
#[derive(Debug)]
pub(crate) enum TlsParsed {
    Report(TlsReport, Vec<String>),
    Rejected(Rejection),
    /// Valid JSON that is not a TLS report (no `organization-name`, `policies` or
    /// `report-id`).
    NotReport(String),
}

/// Parses a TLS report from JSON bytes. Invalid UTF-8 is replaced (and noted).
pub(crate) fn parse(bytes: &[u8], max_problems: usize) -> TlsParsed {
    let mut problems = Problems::new(max_problems);
    let text = String::from_utf8_lossy(bytes);
    if let std::borrow::Cow::Owned(_) = text {
        problems.add(|| "invalid UTF-8 replaced with U+FFFD".to_owned());
    }
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            return TlsParsed::Rejected(Rejection::new(
                RejectReason::InvalidJson,
                format!("not valid JSON: {e}"),
            ));
        }
    };
    let Some(report) = value.as_object() else {
        return TlsParsed::NotReport("the JSON is not an object".to_owned());
    };
    let is_tls = ["organization-name", "policies", "report-id", "date-range"]
        .iter()
        .any(|k| report.contains_key(*k));
    if !is_tls {
        return TlsParsed::NotReport("the JSON object has no TLS report fields".to_owned());
    }
    match read_report(report, &mut problems) {
        Ok(report) => TlsParsed::Report(report, problems.into_vec()),
        Err(rejection) => TlsParsed::Rejected(rejection),
    }
}

fn missing(what: &str) -> Rejection {
    Rejection::new(RejectReason::MissingField, what.to_owned())
}

fn read_report(o: &Map<String, Value>, problems: &mut Problems) -> Result<TlsReport, Rejection> {
    let organization_name =
        text(o, "organization-name").ok_or_else(|| missing("organization-name"))?;
    let report_id = text(o, "report-id").ok_or_else(|| missing("report-id"))?;
    let range = o
        .get("date-range")
        .and_then(Value::as_object)
        .ok_or_else(|| missing("date-range"))?;
    let date_begin = datetime(range, "start-datetime")?;
    let date_end = datetime(range, "end-datetime")?;
    let contact_info = text(o, "contact-info");
    let listed = o
        .get("policies")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("policies"))?;
    let mut policies = Vec::with_capacity(listed.len());
    let mut first_skip = None;
    for (i, entry) in listed.iter().enumerate() {
        match read_policy(entry, i + 1, problems) {
            Ok(policy) => policies.push(policy),
            Err(rejection) => {
                let detail = rejection.detail.clone();
                problems.add(|| format!("{detail}; policy skipped"));
                first_skip.get_or_insert(rejection);
            }
        }
    }
    if policies.is_empty() {
        return Err(match first_skip {
            Some(r) => Rejection::new(r.reason, format!("no usable policy; first: {}", r.detail)),
            None => missing("policies (the list is empty)"),
        });
    }
    Ok(TlsReport {
        organization_name,
        date_begin,
        date_end,
        contact_info,
        report_id,
        policies,
    })
}

fn read_policy(entry: &Value, n: usize, problems: &mut Problems) -> Result<TlsPolicy, Rejection> {
    let policy = entry
        .get("policy")
        .and_then(Value::as_object)
        .ok_or_else(|| missing(&format!("policy {n}: policy")))?;
    let policy_domain = text(policy, "policy-domain")
        .ok_or_else(|| missing(&format!("policy {n}: policy-domain")))?;
    let raw_type =
        text(policy, "policy-type").ok_or_else(|| missing(&format!("policy {n}: policy-type")))?;
    let policy_type = TlsPolicyType::parse(&raw_type).ok_or_else(|| {
        Rejection::new(
            RejectReason::InvalidField,
            format!("policy {n}: unknown policy-type {raw_type:?}"),
        )
    })?;
    let summary = entry.get("summary").and_then(Value::as_object);
    if summary.is_none() {
        problems.add(|| format!("policy {n}: no summary; session counts read as 0"));
    }
    let count = |key: &str, problems: &mut Problems| match summary.and_then(|s| s.get(key)) {
        None => 0,
        Some(v) => v.as_u64().unwrap_or_else(|| {
            let (key, v) = (key.to_owned(), v.to_string());
            problems.add(|| format!("policy {n}: {key} {v} is not a count; read as 0"));
            0
        }),
    };
    let total_successful_session_count = count("total-successful-session-count", problems);
    let total_failure_session_count = count("total-failure-session-count", problems);
    let details = entry
        .get("failure-details")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut failure_details = Vec::with_capacity(details.len());
    for (j, d) in details.iter().enumerate() {
        let Some(d) = d.as_object() else {
            problems.add(|| format!("policy {n}: failure detail {} is not an object", j + 1));
            continue;
        };
        let Some(result_type) = text(d, "result-type") else {
            problems.add(|| format!("policy {n}: failure detail {} has no result-type", j + 1));
            continue;
        };
        let mut ip = |key: &str| {
            let raw = text(d, key)?;
            let parsed = raw.parse::<IpAddr>().ok();
            if parsed.is_none() {
                let key = key.to_owned();
                problems.add(|| format!("policy {n}: {key} {raw:?} is not an IP address"));
            }
            parsed
        };
        let sending_mta_ip = ip("sending-mta-ip");
        let receiving_ip = ip("receiving-ip");
        let failed_session_count = d
            .get("failed-session-count")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        failure_details.push(TlsFailureDetail {
            result_type,
            sending_mta_ip,
            receiving_mx_hostname: text(d, "receiving-mx-hostname"),
            receiving_mx_helo: text(d, "receiving-mx-helo"),
            receiving_ip,
            failed_session_count,
            additional_information: text(d, "additional-information"),
            failure_reason_code: text(d, "failure-reason-code"),
        });
    }
    Ok(TlsPolicy {
        policy_type,
        policy_string: strings(policy.get("policy-string")),
        policy_domain,
        mx_host: strings(policy.get("mx-host")),
        total_successful_session_count,
        total_failure_session_count,
        failure_details,
    })
}

/// A non-empty trimmed string field.
fn text(o: &Map<String, Value>, key: &str) -> Option<String> {
    let s = o.get(key)?.as_str()?.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A list of strings; a single string counts as a list of one (seen for `mx-host`).
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn datetime(range: &Map<String, Value>, key: &str) -> Result<DateTime<Utc>, Rejection> {
    let raw = text(range, key).ok_or_else(|| missing(&format!("date-range/{key}")))?;
    DateTime::parse_from_rfc3339(&raw)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            Rejection::new(
                RejectReason::InvalidField,
                format!("date-range/{key} {raw:?} is not an RFC 3339 date-time: {e}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"organization-name":"Org","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-01T23:59:59Z"},"report-id":"r1","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1"],"policy-domain":"example.com","mx-host":"mx.example.com"},"summary":{"total-successful-session-count":5,"total-failure-session-count":1},"failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","failed-session-count":1},{"result-type":"x","sending-mta-ip":"nope"}]}]}"#;

    #[test]
    fn reads_a_report_and_notes_bad_addresses() {
        let TlsParsed::Report(report, problems) = parse(GOOD.as_bytes(), 10) else {
            panic!("not parsed");
        };
        assert_eq!(report.policies.len(), 1);
        let p = &report.policies[0];
        assert_eq!(p.policy_domain, "example.com");
        assert_eq!(p.mx_host, vec!["mx.example.com".to_owned()]);
        assert_eq!(p.total_successful_session_count, 5);
        assert_eq!(p.failure_details.len(), 2);
        assert_eq!(p.failure_details[1].sending_mta_ip, None);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn a_policy_without_domain_is_skipped_and_none_left_rejects() {
        let one_bad = GOOD.replace(
            r#""policies":["#,
            r#""policies":[{"policy":{"policy-type":"no-policy-found"},"summary":{}},"#,
        );
        let TlsParsed::Report(report, problems) = parse(one_bad.as_bytes(), 10) else {
            panic!("not parsed");
        };
        assert_eq!(report.policies.len(), 1);
        assert!(problems.iter().any(|p| p.contains("policy-domain")));

        let none_left = GOOD.replace("\"policy-domain\":\"example.com\",", "");
        match parse(none_left.as_bytes(), 10) {
            TlsParsed::Rejected(r) => {
                assert_eq!(r.reason, RejectReason::MissingField);
                assert!(r.detail.contains("policy-domain"), "{}", r.detail);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_or_foreign_json_is_told_apart() {
        assert!(
            matches!(parse(b"{\"a\":", 10), TlsParsed::Rejected(r) if r.reason == RejectReason::InvalidJson)
        );
        assert!(matches!(parse(b"{\"a\":1}", 10), TlsParsed::NotReport(_)));
        let no_range = GOOD.replace("\"date-range\"", "\"x\"");
        assert!(
            matches!(parse(no_range.as_bytes(), 10), TlsParsed::Rejected(r) if r.detail == "date-range")
        );
    }
}
