//! DMARC failure reports: RFC 6591 ARF (`message/feedback-report`) with the RFC 9991
//! fields, and the plain-text reports some MTAs (Exim) send instead.
//!
//! mail-auth's [`Feedback::parse_arf`] reads the typed fields (dates through mail-parser,
//! `Source-IP`, the DKIM and SPF fields). It is strict in the wrong places for a report
//! store, so its result is completed from the raw fields: it refuses a report whose
//! `Feedback-Type` is not one of its six words, keeps only one `Auth-Failure` and the
//! last `Original-Rcpt-To`, and drops unknown `Delivery-Result` values.

use crate::aggregate::Problems;
use crate::rejection::{RejectReason, Rejection};
use chrono::{DateTime, Utc};
use mail_auth::report::Feedback;
use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use postern_domain::FailureReport;
use std::net::IpAddr;

/// The pieces of a message that make it a failure report.
pub(crate) struct FailureParts<'m> {
    /// The `message/feedback-report` fields.
    pub(crate) arf: &'m [u8],
    /// The original message or its headers, when included.
    pub(crate) original: Option<&'m [u8]>,
}

/// Finds the ARF part of `message`: a `message/feedback-report` part, or a message that
/// is itself a bare set of ARF fields. `None` when `message` is no ARF report.
pub(crate) fn find_arf<'m>(message: &'m Message<'m>) -> Option<FailureParts<'m>> {
    let original = original_part(message);
    for part in &message.parts {
        if part.is_content_type("message", "feedback-report") {
            return Some(FailureParts {
                arf: part.contents(),
                original,
            });
        }
    }
    // A bare feedback-report body (its fields read as the message header).
    let root = message.parts.first()?;
    let has_type = root
        .headers
        .iter()
        .any(|h| h.name.as_str().eq_ignore_ascii_case("feedback-type"));
    if has_type {
        let raw = message.raw_message.get(..root.offset_body as usize)?;
        return Some(FailureParts { arf: raw, original });
    }
    None
}

/// True when the message says it is an ARF report (`multipart/report;
/// report-type=feedback-report`).
pub(crate) fn declares_feedback_report(message: &Message<'_>) -> bool {
    message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("feedback-report"))
    })
}

/// Reads an ARF report.
pub(crate) fn parse_arf(
    message: &Message<'_>,
    parts: &FailureParts<'_>,
    max_problems: usize,
) -> Result<(FailureReport, Vec<String>), Rejection> {
    let mut problems = Problems::new(max_problems);
    let fields = arf_fields(parts.arf);
    let raw = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let all = |name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let feedback_type = raw("feedback-type")
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| Rejection::new(RejectReason::MissingField, "Feedback-Type"))?;
    let typed = Feedback::parse_arf(parts.arf);
    if typed.is_none() {
        let shown = feedback_type.clone();
        problems.add(|| format!("unknown Feedback-Type {shown:?} kept as given"));
    }
    let original = parts.original.map(Original::read);

    // RFC 5965 Arrival-Date; Received-Date is its older name. Without either, the
    // report's own Date is the best estimate (a problem says so).
    let arrival_date = match raw("arrival-date").or_else(|| raw("received-date")) {
        Some(text) => {
            let parsed = parse_date(text);
            if parsed.is_none() {
                let text = text.to_owned();
                problems.add(|| format!("Arrival-Date {text:?} not understood"));
            }
            parsed
        }
        None => {
            let sent = message
                .date()
                .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0));
            if sent.is_some() {
                problems.add(|| "no Arrival-Date; used the report's Date".to_owned());
            }
            sent
        }
    };
    let source_ip = typed.as_ref().and_then(|f| f.source_ip).or_else(|| {
        let text = raw("source-ip")?;
        let ip = parse_loose_ip(text);
        if ip.is_none() {
            let text = text.to_owned();
            problems.add(|| format!("Source-IP {text:?} is not an IP address"));
        }
        ip
    });
    if source_ip.is_none() && raw("source-ip").is_none() {
        problems.add(|| "no Source-IP".to_owned());
    }
    let reported_domain = match raw("reported-domain") {
        Some(d) => clean_domain(d),
        None => {
            let from = original.as_ref().and_then(|o| o.from_domain.clone());
            match from {
                Some(d) => {
                    problems.add(|| "no Reported-Domain; used the original From domain".into());
                    d
                }
                None => {
                    return Err(Rejection::new(
                        RejectReason::MissingField,
                        "Reported-Domain (and no From in an included original message)",
                    ));
                }
            }
        }
    };
    let auth_failure = all("auth-failure")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect();
    let text_of = |f: Option<&std::borrow::Cow<'_, str>>| f.map(|v| v.to_string());
    let report = FailureReport {
        feedback_type,
        user_agent: raw("user-agent").map(str::to_owned),
        version: raw("version").map(str::to_owned),
        arrival_date,
        source_ip,
        original_mail_from: raw("original-mail-from").map(str::to_owned),
        original_rcpt_to: all("original-rcpt-to"),
        reported_domain,
        auth_failure,
        delivery_result: raw("delivery-result").map(str::to_ascii_lowercase),
        dkim_domain: typed.as_ref().and_then(|f| text_of(f.dkim_domain.as_ref())),
        dkim_selector: typed
            .as_ref()
            .and_then(|f| text_of(f.dkim_selector.as_ref())),
        dkim_identity: typed
            .as_ref()
            .and_then(|f| text_of(f.dkim_identity.as_ref())),
        spf_dns: typed.as_ref().and_then(|f| text_of(f.spf_dns.as_ref())),
        authentication_results: all("authentication-results"),
        identity_alignment: raw("identity-alignment").map(str::to_ascii_lowercase),
        reporter: sender(message),
        original_subject: original.as_ref().and_then(|o| o.subject.clone()),
        original_message_id: original
            .as_ref()
            .and_then(|o| o.message_id.clone())
            .or_else(|| raw("message-id").map(str::to_owned)),
        original_headers: original.map(|o| o.headers),
    };
    Ok((report, problems.into_vec()))
}

/// Reads the plain-text failure reports of Exim and the like: a `multipart/report` (or a
/// message whose subject names DMARC) with a text part that has `Sender Domain:` and
/// `Sender IP Address:` lines. `None` when `message` is not such a report.
pub(crate) fn parse_plain_text(message: &Message<'_>) -> Option<(FailureReport, Vec<String>)> {
    let is_report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    }) || message
        .subject()
        .is_some_and(|s| s.to_ascii_lowercase().contains("dmarc"));
    if !is_report {
        return None;
    }
    let text = message.parts.iter().find_map(|part| match &part.body {
        PartType::Text(text)
            if text.contains("Sender Domain:") && text.contains("Sender IP Address:") =>
        {
            Some(text.as_ref())
        }
        _ => None,
    })?;
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.trim().strip_prefix(name)?;
            Some(rest.trim().to_owned()).filter(|v| !v.is_empty())
        })
    };
    let reported_domain = clean_domain(&field("Sender Domain:")?);
    let mut problems =
        vec!["no message/feedback-report part: fields read from the plain-text report".to_owned()];
    let ip_text = field("Sender IP Address:");
    let source_ip = ip_text.as_deref().and_then(parse_loose_ip);
    if source_ip.is_none() {
        problems.push(format!(
            "Sender IP Address {ip_text:?} is not an IP address"
        ));
    }
    let arrival_date = field("Received date:").and_then(|d| {
        let parsed = DateTime::parse_from_rfc2822(&d).ok();
        if parsed.is_none() {
            problems.push(format!("Received date {d:?} not understood"));
        }
        parsed.map(|d| d.with_timezone(&Utc))
    });
    let headers = text
        .find("------ This is a copy of the headers")
        .and_then(|at| text[at..].split_once('\n'))
        .map(|(_, rest)| rest.trim_start_matches(['\r', '\n']).to_owned());
    let original = headers.as_deref().map(|h| Original::read(h.as_bytes()));
    let report = FailureReport {
        feedback_type: "auth-failure".to_owned(),
        arrival_date,
        source_ip,
        reported_domain,
        auth_failure: vec!["dmarc".to_owned()],
        reporter: sender(message),
        original_subject: original.as_ref().and_then(|o| o.subject.clone()),
        original_message_id: original.as_ref().and_then(|o| o.message_id.clone()),
        original_headers: headers,
        ..FailureReport::default()
    };
    Some((report, problems))
}

/// What is read from the included original message (or its headers).
struct Original {
    from_domain: Option<String>,
    subject: Option<String>,
    message_id: Option<String>,
    headers: String,
}

impl Original {
    fn read(bytes: &[u8]) -> Original {
        let head = header_section(bytes);
        let parsed = MessageParser::new().parse_headers(head);
        let from_domain = parsed
            .as_ref()
            .and_then(|m| m.from())
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .and_then(|a| a.rsplit_once('@'))
            .map(|(_, d)| clean_domain(d))
            .filter(|d| !d.is_empty());
        Original {
            from_domain,
            subject: parsed.as_ref().and_then(|m| m.subject()).map(str::to_owned),
            message_id: parsed
                .as_ref()
                .and_then(|m| m.message_id())
                .map(str::to_owned),
            headers: String::from_utf8_lossy(head).into_owned(),
        }
    }
}

/// The included original: a `message/rfc822` part or a `text/rfc822-headers` part.
fn original_part<'m>(message: &'m Message<'m>) -> Option<&'m [u8]> {
    message.parts.iter().find_map(|part| match &part.body {
        PartType::Message(m) => Some(m.raw_message()),
        PartType::Text(t) if part.is_content_type("text", "rfc822-headers") => Some(t.as_bytes()),
        _ => None,
    })
}

/// The header section of a message: everything before the first empty line.
fn header_section(bytes: &[u8]) -> &[u8] {
    let mut line_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            let line = &bytes[line_start..i];
            if line.is_empty() || line == b"\r" {
                return &bytes[..line_start];
            }
            line_start = i + 1;
        }
    }
    bytes
}

/// The ARF fields as (name, unfolded value) pairs, in order.
fn arf_fields(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if fields.is_empty() {
                continue;
            }
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

/// The address of the report's `From`.
fn sender(message: &Message<'_>) -> Option<String> {
    message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_owned)
}

/// An RFC 5322 date (through mail-parser, which knows the obsolete zone names), or an
/// RFC 3339 one.
fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    if let HeaderValue::DateTime(d) = MessageStream::new(text.as_bytes()).parse_date() {
        return DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0);
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// An IP address possibly in brackets or followed by a port or comment.
fn parse_loose_ip(text: &str) -> Option<IpAddr> {
    let first = text.split_whitespace().next()?;
    first
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn clean_domain(d: &str) -> String {
    d.trim()
        .trim_matches(['<', '>'])
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARF: &str = "From: reporter@example.net\r\n\
Subject: report\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain\r\n\
\r\n\
hello\r\n\
--b\r\n\
Content-Type: message/feedback-report\r\n\
\r\n\
Feedback-Type: auth-failure\r\n\
Version: 1\r\n\
Auth-Failure: dmarc\r\n\
Auth-Failure: spf\r\n\
Original-Rcpt-To: a@example.com\r\n\
Original-Rcpt-To: b@example.com\r\n\
Delivery-Result: smg-policy-action\r\n\
Source-IP: [192.0.2.7]\r\n\
Arrival-Date: Mon, 01 Oct 2018 11:20:27 +0200\r\n\
Authentication-Results: mx.example.net;\r\n\
\tdmarc=fail header.from=example.com\r\n\
\r\n\
--b\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
From: Someone <someone@Example.COM>\r\n\
Subject: Hello there\r\n\
Message-ID: <m1@example.com>\r\n\
\r\n\
--b--\r\n";

    #[test]
    fn reads_the_fields_mail_auth_drops() {
        let message = MessageParser::new().parse(ARF.as_bytes()).unwrap();
        assert!(declares_feedback_report(&message));
        let parts = find_arf(&message).unwrap();
        let (report, problems) = parse_arf(&message, &parts, 10).unwrap();
        assert_eq!(report.feedback_type, "auth-failure");
        assert_eq!(report.auth_failure, vec!["dmarc", "spf"]);
        assert_eq!(
            report.original_rcpt_to,
            vec!["a@example.com", "b@example.com"]
        );
        assert_eq!(report.delivery_result.as_deref(), Some("smg-policy-action"));
        assert_eq!(report.source_ip, "192.0.2.7".parse().ok());
        assert_eq!(
            report.arrival_date.map(|d| d.to_rfc3339()),
            Some("2018-10-01T09:20:27+00:00".to_owned())
        );
        assert_eq!(
            report.authentication_results,
            vec!["mx.example.net; dmarc=fail header.from=example.com"]
        );
        // No Reported-Domain: the original From domain is used, and said so.
        assert_eq!(report.reported_domain, "example.com");
        assert_eq!(report.original_subject.as_deref(), Some("Hello there"));
        assert_eq!(
            report.original_message_id.as_deref(),
            Some("m1@example.com")
        );
        assert_eq!(report.reporter.as_deref(), Some("reporter@example.net"));
        assert!(
            problems.iter().any(|p| p.contains("Reported-Domain")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_report_without_any_domain_is_rejected() {
        let bare = "Feedback-Type: abuse\r\nUser-Agent: x/1\r\nVersion: 1\r\n";
        let message = MessageParser::new().parse(bare.as_bytes()).unwrap();
        let parts = find_arf(&message).unwrap();
        let rejection = parse_arf(&message, &parts, 10).unwrap_err();
        assert_eq!(rejection.reason, RejectReason::MissingField);
    }

    #[test]
    fn an_unknown_feedback_type_is_kept_with_a_problem() {
        let odd = "Feedback-Type: dmarc-failure\r\nReported-Domain: example.org\r\n";
        let message = MessageParser::new().parse(odd.as_bytes()).unwrap();
        let parts = find_arf(&message).unwrap();
        let (report, problems) = parse_arf(&message, &parts, 10).unwrap();
        assert_eq!(report.feedback_type, "dmarc-failure");
        assert_eq!(report.reported_domain, "example.org");
        assert!(problems.iter().any(|p| p.contains("Feedback-Type")));
    }
}
