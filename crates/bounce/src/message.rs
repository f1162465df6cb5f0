//! One message in, bounces out: MIME structure, DSN parts, feedback reports, free text,
//! auto-replies and the returned original message.

use crate::bounce::{Bounce, BounceError, Limits, Reason};
use crate::classify::{self, Evidence};
use crate::normalize::{line_endings, one_line};
use crate::{dsn, smtp, text};
use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What the parts of a message hold.
#[derive(Default)]
struct Gathered {
    delivery_status: Vec<String>,
    feedback_report: Option<String>,
    human: String,
    original: Option<Original>,
}

/// The returned original message, as far as it came back.
#[derive(Default, Clone)]
struct Original {
    /// Microsoft's complaint feed (JMRP) names the complaining recipient here.
    complainant: Option<String>,
    message_id: Option<String>,
    from: Option<String>,
    to: Vec<String>,
    sending_ip: Option<String>,
}

/// Facts about the bounce message itself.
struct Envelope {
    from: String,
    to: Vec<String>,
    subject: String,
    date: Option<DateTime<Utc>>,
    failed_recipients: Vec<String>,
}

/// One recipient before classification.
#[derive(Default)]
struct Draft {
    recipient: String,
    vague: bool,
    command: Option<&'static str>,
    action: Option<String>,
    status: Option<String>,
    diagnostic: String,
    diagnostic_type: Option<String>,
    remote_host: Option<String>,
    reporting_mta: Option<String>,
    time: Option<DateTime<Utc>>,
    feedback_type: Option<String>,
    reason: Option<Reason>,
}

pub(crate) fn classify(bytes: &[u8], limits: &Limits) -> Result<Vec<Bounce>, BounceError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BounceError::Empty);
    }
    let bytes = &bytes[..bytes.len().min(limits.max_message_bytes)];
    let bytes = skip_mbox_separator(bytes);
    let normalized = line_endings(bytes);
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        let message = MessageParser::new().parse(&normalized[..])?;
        Some(from_message(&message, limits))
    }));
    match parsed {
        Ok(Some(bounces)) => Ok(bounces),
        Ok(None) => Err(BounceError::NotAMessage),
        Err(panic) => Err(BounceError::ParserBug(
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default(),
        )),
    }
}

fn skip_mbox_separator(bytes: &[u8]) -> &[u8] {
    if crate::looks_like_mbox(bytes)
        && let Some(end) = bytes.iter().position(|&b| b == b'\n')
    {
        return &bytes[end + 1..];
    }
    bytes
}

fn from_message(message: &Message<'_>, limits: &Limits) -> Vec<Bounce> {
    from_message_at(message, limits, 0)
}

fn from_message_at(message: &Message<'_>, limits: &Limits, depth: usize) -> Vec<Bounce> {
    let envelope = envelope(message);
    let mut gathered = Gathered::default();
    gather(message, &mut gathered);
    if gathered.human.trim().is_empty() && gathered.delivery_status.is_empty() {
        // Broken MIME (a boundary the parser could not see): read the raw body.
        let raw = message.raw_message();
        let start = (message.root_part().offset_body as usize).min(raw.len());
        gathered.human = String::from_utf8_lossy(&raw[start..]).into_owned();
    }
    // A bounce forwarded inside another notification: read the inner one.
    if gathered.delivery_status.is_empty() && depth < 3 {
        for part in &message.parts {
            if let PartType::Message(inner) = &part.body
                && inner.parts.iter().any(|p| {
                    p.content_type().is_some_and(|c| {
                        c.ctype().eq_ignore_ascii_case("message")
                            && c.subtype()
                                .is_some_and(|s| s.eq_ignore_ascii_case("delivery-status"))
                    })
                })
            {
                return from_message_at(inner, limits, depth + 1);
            }
        }
    }
    if gathered.delivery_status.is_empty()
        && let Some(at) = inline_delivery_status(&gathered.human)
    {
        gathered
            .delivery_status
            .push(gathered.human[at..].to_owned());
    }
    if gathered.original.is_none() {
        gathered.original = inline_original(&gathered.human);
    }
    let original = gathered.original.clone().unwrap_or_default();

    let drafts = if let Some(report) = &gathered.feedback_report {
        feedback(report, &original, limits)
    } else if let Some(notified) = crate::ses::parse(&gathered.human, limits.max_recipients) {
        from_ses(notified)
    } else if envelope.subject.eq_ignore_ascii_case("unsubscribe")
        && gathered.human.contains("sent this email to unsubscribe")
    {
        // Apple Mail's one-click unsubscribe message: an opt-out report.
        feedback(
            &format!(
                "Feedback-Type: opt-out\nOriginal-Rcpt-To: {}\n",
                envelope.from
            ),
            &original,
            limits,
        )
    } else if let Some(complainant) = &original.complainant {
        feedback(
            &format!("Feedback-Type: abuse\nOriginal-Rcpt-To: {complainant}\n"),
            &original,
            limits,
        )
    } else if !gathered.delivery_status.is_empty() {
        let drafts = from_dsn(&gathered, &envelope, limits);
        if drafts.is_empty() {
            from_text(&gathered, &envelope, &original, limits, true)
        } else {
            drafts
        }
    } else if is_bounce(&envelope, &gathered.human) {
        from_text(&gathered, &envelope, &original, limits, false)
    } else if is_auto_reply(message, &envelope) {
        vacation(&envelope, &gathered.human)
    } else {
        Vec::new()
    };
    drafts
        .into_iter()
        .map(|d| finish(d, &envelope, &original, &gathered))
        .collect()
}

fn envelope(message: &Message<'_>) -> Envelope {
    let failed_recipients = message
        .header_raw("X-Failed-Recipients")
        .map(|v| text::addresses(v).into_iter().map(|(_, _, a)| a).collect())
        .unwrap_or_default();
    Envelope {
        from: first_address(message.from()).unwrap_or_default(),
        to: all_addresses(message.to()),
        subject: message.subject().unwrap_or_default().to_owned(),
        date: message
            .date()
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        failed_recipients,
    }
}

fn first_address(address: Option<&Address<'_>>) -> Option<String> {
    all_addresses(address).into_iter().next()
}

fn all_addresses(address: Option<&Address<'_>>) -> Vec<String> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|a| a.address())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Collects delivery-status texts, feedback reports, readable text and the original
/// message from the parts of the top-level message.
fn gather(message: &Message<'_>, out: &mut Gathered) {
    for part in &message.parts {
        let (ctype, subtype) = part
            .content_type()
            .map(|c| {
                (
                    c.ctype().to_ascii_lowercase(),
                    c.subtype().unwrap_or_default().to_ascii_lowercase(),
                )
            })
            .unwrap_or_else(|| ("text".into(), "plain".into()));
        match &part.body {
            PartType::Multipart(_) => {}
            PartType::Message(inner) => {
                if out.original.is_none() {
                    out.original = Some(original_of(inner));
                }
            }
            PartType::Text(text) | PartType::Html(text) => {
                let text = text.as_ref();
                match (ctype.as_str(), subtype.as_str()) {
                    ("message", "delivery-status" | "global-delivery-status")
                    | ("text", "delivery-status") => out.delivery_status.push(text.to_owned()),
                    ("message", "feedback-report") => out.feedback_report = Some(text.to_owned()),
                    ("text", "rfc822-headers") | ("message", "rfc822-headers") => {
                        if out.original.is_none() {
                            out.original = original_from_text(text);
                        }
                    }
                    ("text", "html") => {
                        if out.human.is_empty() {
                            out.human.push_str(&strip_html(text));
                        }
                    }
                    _ => {
                        out.human.push_str(text);
                        out.human.push('\n');
                    }
                }
            }
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                let text = line_endings(text.as_bytes()).into_owned();
                let text = String::from_utf8_lossy(&text).into_owned();
                match (ctype.as_str(), subtype.as_str()) {
                    ("message", "delivery-status" | "global-delivery-status") => {
                        out.delivery_status.push(text)
                    }
                    ("message", "feedback-report") => out.feedback_report = Some(text),
                    ("message", "rfc822-headers" | "global-headers" | "partial")
                        if out.original.is_none() =>
                    {
                        out.original = original_from_text(&text);
                    }
                    _ => {}
                }
            }
        }
    }
}

fn from_ses(notified: Vec<crate::ses::SesRecipient>) -> Vec<Draft> {
    use crate::ses::SesKind;
    notified
        .into_iter()
        .map(|r| {
            let suppressed = r.detail.as_deref().is_some_and(|d| {
                d.contains("Suppressed") || d.contains("OnAccountSuppressionList")
            });
            let reason = match r.kind {
                SesKind::Complaint => Some(Reason::Feedback),
                SesKind::Delivery => Some(Reason::Delivered),
                SesKind::Bounce if suppressed => Some(Reason::Suppressed),
                SesKind::Bounce => None,
            };
            Draft {
                recipient: clean_address(&r.address),
                action: r.action,
                status: r.status,
                diagnostic: one_line(
                    r.diagnostic
                        .split_once(';')
                        .filter(|(k, _)| !k.contains(' '))
                        .map_or(r.diagnostic.as_str(), |(_, v)| v.trim()),
                ),
                diagnostic_type: Some("SMTP".to_owned()),
                reporting_mta: r.reporting_mta.map(|m| {
                    m.split_once(';')
                        .map_or(m.clone(), |(_, v)| v.trim().to_owned())
                }),
                time: r
                    .timestamp
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
                feedback_type: (r.kind == SesKind::Complaint)
                    .then(|| r.detail.clone().unwrap_or_default()),
                reason,
                ..Draft::default()
            }
        })
        .collect()
}

/// Where DSN fields start in readable text, for notifications whose delivery-status
/// part is not marked as one.
fn inline_delivery_status(human: &str) -> Option<usize> {
    let at = human
        .find("\nFinal-Recipient:")
        .or_else(|| human.find("\nFinal-recipient:"))?;
    let rest = &human[at..];
    (rest.contains("\nAction:") || rest.contains("\nStatus:")).then_some(at + 1)
}

fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn original_of(inner: &Message<'_>) -> Original {
    let sending_ip = inner
        .received_all()
        .filter_map(|r| r.from_ip())
        .find(|ip| !ip.is_loopback())
        .map(|ip| ip.to_string());
    Original {
        complainant: inner
            .header_raw("X-HmXmrOriginalRecipient")
            .map(|v| v.trim().to_owned()),
        message_id: inner.message_id().map(str::to_owned),
        from: first_address(inner.from()),
        to: all_addresses(inner.to()),
        sending_ip,
    }
}

fn original_from_text(text: &str) -> Option<Original> {
    let text = text.trim_start_matches(['\n', ' ']);
    let parsed = MessageParser::new().parse_headers(text.as_bytes())?;
    let original = original_of(&parsed);
    (original.message_id.is_some() || original.from.is_some() || !original.to.is_empty())
        .then_some(original)
}

fn inline_original(human: &str) -> Option<Original> {
    let start = text::original_start(human)?;
    let rest = &human[start..];
    // skip the marker line itself and blank lines up to the header block
    let header_at = rest
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .find(|&i| {
            let line = rest[i..].lines().next().unwrap_or_default();
            line.split_once(':')
                .is_some_and(|(n, _)| !n.is_empty() && !n.contains(' '))
        })
        .unwrap_or(0);
    let first = rest.lines().next().unwrap_or_default();
    let from = if first
        .split_once(':')
        .is_some_and(|(n, _)| !n.is_empty() && !n.contains(' '))
    {
        0
    } else {
        header_at
    };
    original_from_text(&rest[from..])
}

/// Whether a message without DSN parts is a bounce: sent by a mailer daemon, with a
/// bounce subject, or naming failed recipients.
fn is_bounce(envelope: &Envelope, human: &str) -> bool {
    if !envelope.failed_recipients.is_empty() {
        return true;
    }
    let from = envelope.from.to_ascii_lowercase();
    let local = from.split('@').next().unwrap_or_default();
    let daemon = [
        "mailer-daemon",
        "postmaster",
        "post_master",
        "mail-daemon",
        "maildelivery",
        "mailerdaemon",
        "mdaemon",
        "bounce",
        "noreply",
        "no-reply",
        "mailer",
        "mail-notification",
        "mailadmin",
    ]
    .iter()
    .any(|d| local.starts_with(d))
        || from.is_empty();
    let subject = envelope.subject.to_ascii_lowercase();
    let bounce_subject = [
        "undeliver",
        "returned mail",
        "delivery status",
        "failure notice",
        "delivery fail",
        "mail delivery",
        "non-delivery",
        "nondeliver",
        "non delivery",
        "not delivered",
        "could not be delivered",
        "delivery has failed",
        "delivery problem",
        "mail system error",
        "warning: could not send",
        "delivery notification",
        "failed delivery",
        "returned to sender",
        "delivery report",
        "rejected",
        "mail failure",
        "unzustellbar",
        "non remis",
        "error sending",
        "delivery error",
        "message blocked",
        "not member",
        "loop alert",
        "bounce",
        "permanent error",
        "delayed mail",
        "delivery delayed",
        "notification",
        "unable to deliver",
        "message you sent",
        "error",
        "failed",
        "エラー",
        "送信",
        "配信",
        "mensaje no entregado",
    ]
    .iter()
    .any(|s| subject.contains(s));
    let lower = human.to_ascii_lowercase();
    let bounce_text = [
        "could not be delivered",
        "couldn't be delivered",
        "wasn't delivered",
        "was not delivered",
        "undeliverable",
        "delivery to the following recipient",
        "permanent error",
        "permanent fatal error",
        "following address(es) failed",
        "unable to deliver",
        "delivery has failed",
        "i'm afraid i wasn't able to deliver",
        "was not able to deliver",
        "delivery failed",
        "returned to sender",
        "message was rejected",
        "following recipients",
        "said:",
        "user unknown",
        "not be delivered",
        "has not been delivered",
        "not yet been delivered",
        "error has occurred",
        "list of recipients",
        "not a member",
        "did not reach the following recipient",
        "delivery errors",
        "delivery problems",
        "no such user",
        "failed to deliver",
        "delivery of your message",
        "mailbox",
    ]
    .iter()
    .any(|s| lower.contains(s));
    let telling_subject = [
        "undeliver",
        "returned mail",
        "delivery status notification",
        "failure notice",
        "mail delivery failed",
        "delivery failure",
        "non-delivery",
        "nondeliver",
        "loop alert",
        "are not member",
    ]
    .iter()
    .any(|s| subject.contains(s));
    telling_subject
        || (daemon && (bounce_subject || bounce_text))
        || (bounce_subject && bounce_text)
}

fn is_auto_reply(message: &Message<'_>, envelope: &Envelope) -> bool {
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    let subject = envelope.subject.to_ascii_lowercase();
    let auto_subject = [
        "auto",
        "out of office",
        "out of the office",
        "vacation",
        "abwesen",
        "absence",
        "away",
        "自動",
        "不在",
    ]
    .iter()
    .any(|s| subject.contains(s));
    let auto_submitted = header("Auto-Submitted")
        .is_some_and(|v| v.starts_with("auto-replied") || v.starts_with("auto-generated"));
    let x_auto = header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("X-Auto-Response-Suppress").is_some() && auto_subject
        || header("Precedence").is_some_and(|v| v == "auto_reply");
    let auto_reply_subject = [
        "auto reply",
        "auto-reply",
        "autoreply",
        "automatic reply",
        "auto:",
        "out of office",
        "out of the office",
        "abwesenheit",
        "réponse automatique",
        "自動応答",
        "不在",
    ]
    .iter()
    .any(|s| subject.contains(s));
    let replied = header("Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied"));
    (auto_submitted && auto_subject) || x_auto || auto_reply_subject || replied
}

fn vacation(envelope: &Envelope, human: &str) -> Vec<Draft> {
    let Some(recipient) = Some(envelope.from.clone()).filter(|f| !f.is_empty()) else {
        return Vec::new();
    };
    let lower = human.to_lowercase();
    // An auto-reply saying the mailbox is no longer used is a suspended account.
    let gone = [
        "no longer in use",
        "no longer active",
        "no longer monitored",
        "is no longer available",
    ]
    .iter()
    .any(|s| lower.contains(s));
    vec![Draft {
        recipient,
        diagnostic: one_line(&human.chars().take(400).collect::<String>()),
        reason: Some(if gone {
            Reason::Suspend
        } else {
            Reason::Vacation
        }),
        ..Draft::default()
    }]
}

fn feedback(report: &str, original: &Original, limits: &Limits) -> Vec<Draft> {
    let mut kind = None;
    let mut recipients = Vec::new();
    let mut arrival = None;
    let mut source = None;
    for line in report.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "feedback-type" => kind = Some(value.to_ascii_lowercase()),
            "original-rcpt-to" | "removal-recipient" => {
                recipients.extend(text::addresses(value).into_iter().map(|(_, _, a)| a));
            }
            "arrival-date" | "received-date" => arrival = parse_date(value),
            "reporting-mta" => {
                source = Some(
                    value
                        .split_once(';')
                        .map_or(value, |(_, v)| v.trim())
                        .to_owned(),
                )
            }
            _ => {}
        }
    }
    if recipients.is_empty() {
        recipients.clone_from(&original.to);
    }
    if recipients.is_empty() {
        recipients.push("undisclosed-recipients@invalid".to_owned());
    }
    recipients.truncate(limits.max_recipients);
    recipients
        .into_iter()
        .map(|recipient| Draft {
            recipient,
            feedback_type: kind.clone(),
            time: arrival,
            reporting_mta: source.clone(),
            reason: Some(Reason::Feedback),
            ..Draft::default()
        })
        .collect()
}

fn from_dsn(gathered: &Gathered, envelope: &Envelope, limits: &Limits) -> Vec<Draft> {
    let mut drafts = Vec::new();
    for part in &gathered.delivery_status {
        let parsed = dsn::parse(part, limits.max_recipients.saturating_sub(drafts.len()));
        let arrival = parsed.message.arrival_date.as_deref().and_then(parse_date);
        for r in parsed.recipients {
            let Some(recipient) = r
                .final_recipient
                .clone()
                .or_else(|| r.original_recipient.clone())
            else {
                continue;
            };
            let recipient = clean_address(&recipient);
            if !recipient.contains('@') {
                continue;
            }
            let mut diagnostic = r
                .diagnostic
                .clone()
                .or_else(|| r.status_comment.clone())
                .unwrap_or_default();
            if diagnostic.trim().is_empty() || diagnostic.trim().len() < 8 {
                // The readable part often says more than an empty Diagnostic-Code.
                let found = text::recipients(&human_section(&gathered.human), &[], 500);
                if let Some(f) = found
                    .iter()
                    .find(|f| f.address.eq_ignore_ascii_case(&recipient))
                {
                    diagnostic = strip_address(&f.paragraph, &recipient);
                    if let Some(reply) = &f.reply {
                        diagnostic = format!("{reply} {diagnostic}");
                    }
                }
                if diagnostic.trim().len() < 8 {
                    diagnostic = human_section(&gathered.human);
                }
            }
            drafts.push(Draft {
                recipient,
                action: r.action.clone(),
                status: r.status.clone(),
                diagnostic: one_line(&diagnostic),
                diagnostic_type: r.diagnostic_type.clone(),
                remote_host: r.remote_mta.clone(),
                reporting_mta: parsed.message.reporting_mta.clone(),
                time: r
                    .last_attempt
                    .as_deref()
                    .and_then(parse_date)
                    .or(arrival)
                    .or(envelope.date),
                ..Draft::default()
            });
        }
    }
    drafts
}

/// The explanatory part of the readable text: everything before the returned message.
fn human_section(human: &str) -> String {
    match text::original_start(human) {
        Some(at) => human[..at].to_owned(),
        None => human.to_owned(),
    }
}

/// `empty_report`: the message had a delivery-status part that named no recipient, so a
/// recipient without text of its own has no known reason at all.
fn from_text(
    gathered: &Gathered,
    envelope: &Envelope,
    original: &Original,
    limits: &Limits,
    empty_report: bool,
) -> Vec<Draft> {
    let section = human_section(&gathered.human);
    let mut exclude: Vec<String> = envelope.to.iter().map(|a| a.to_ascii_lowercase()).collect();
    exclude.push(envelope.from.to_ascii_lowercase());
    if let Some(from) = &original.from {
        exclude.push(from.to_ascii_lowercase());
    }
    let mut found = text::recipients(&section, &exclude, limits.max_recipients);
    if !envelope.failed_recipients.is_empty() {
        let listed: Vec<_> = envelope
            .failed_recipients
            .iter()
            .map(|address| {
                let paragraph = found
                    .iter()
                    .find(|f| f.address.eq_ignore_ascii_case(address))
                    .map(|f| f.paragraph.clone())
                    .unwrap_or_default();
                text::Found {
                    address: address.clone(),
                    paragraph,
                    reply: None,
                    command: None,
                }
            })
            .collect();
        found = listed;
    }
    if found.is_empty() {
        // Some bounces name the recipient only in prose; take the first address that
        // is not the sender's, else the returned message's recipient.
        let address = text::addresses(&section)
            .into_iter()
            .map(|(_, _, a)| a)
            .find(|a| !exclude.contains(&a.to_ascii_lowercase()) && !is_daemon(a))
            .or_else(|| original.to.first().cloned());
        if let Some(address) = address {
            found.push(text::Found {
                address,
                paragraph: String::new(),
                reply: None,
                command: None,
            });
        }
    }
    let whole = one_line(&section);
    let only_one = found.len() == 1;
    found
        .into_iter()
        .take(limits.max_recipients)
        .map(|f| {
            let mut paragraph = one_line(&strip_address(&f.paragraph, &f.address));
            if let Some(reply) = &f.reply
                && !paragraph.contains(reply.as_str())
            {
                paragraph = format!("{reply} {paragraph}");
            }
            // Gmail: "... The error that the other server returned was: 550 5.1.1 ..."
            const GMAIL: &str = "the error that the other server returned was:";
            if let Some(at) = whole.to_ascii_lowercase().find(GMAIL) {
                paragraph = whole[at + GMAIL.len()..].trim().to_owned();
            }
            let coded =
                |t: &str| smtp::find_reply_code(t).is_some() || smtp::find_status(t).is_some();
            let mut vague = false;
            if paragraph.len() < 12 || (only_one && !coded(&paragraph) && coded(&whole)) {
                vague = empty_report && paragraph.len() < 12;
                paragraph = whole.clone();
            }
            Draft {
                recipient: clean_address(&f.address),
                status: None,
                command: f.command,
                vague,
                diagnostic: paragraph,
                time: envelope.date,
                ..Draft::default()
            }
        })
        .collect()
}

fn is_daemon(address: &str) -> bool {
    let lower = address.to_ascii_lowercase();
    ["mailer-daemon@", "postmaster@", "mail-daemon@"]
        .iter()
        .any(|d| lower.starts_with(d))
}

fn strip_address(paragraph: &str, address: &str) -> String {
    let trimmed = paragraph.trim_start();
    let trimmed =
        trimmed.trim_start_matches(|c: char| c == '<' || c == '*' || c == '-' || c.is_whitespace());
    match trimmed.get(..address.len()) {
        Some(head) if head.eq_ignore_ascii_case(address) => trimmed[address.len()..]
            .trim_start_matches(['>', ':', '.', ' '])
            .to_owned(),
        _ => paragraph.to_owned(),
    }
}

fn clean_address(address: &str) -> String {
    let a = address
        .trim()
        .trim_matches(|c: char| c == '<' || c == '>' || c == '"' || c == '\'');
    match a.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => a.to_owned(),
    }
}

fn parse_date(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    let value = value.split(" (").next().unwrap_or(value);
    if let Ok(d) = DateTime::parse_from_rfc2822(value) {
        return Some(d.with_timezone(&Utc));
    }
    let header = format!("Date: {value}\n\n");
    let parsed = MessageParser::new().parse_headers(header.as_bytes())?;
    match parsed.header("Date")? {
        HeaderValue::DateTime(d) => DateTime::from_timestamp(d.to_timestamp(), 0),
        _ => None,
    }
}

fn finish(mut d: Draft, envelope: &Envelope, original: &Original, gathered: &Gathered) -> Bounce {
    d.diagnostic = join_continuations(&d.diagnostic);
    // A success code in free text (a transcript) is not a delivery report.
    let diag_status =
        smtp::all_statuses(&d.diagnostic).find(|s| !s.starts_with("2.") || d.action.is_some());
    let mut status = d
        .status
        .as_deref()
        .and_then(smtp::find_status)
        .filter(|s| !s.starts_with("2.") || d.reason.is_none());
    if let Some(found) = &diag_status {
        let generic = status
            .as_deref()
            .is_none_or(|s| s.ends_with(".0.0") || s != found);
        let same_class = status
            .as_deref()
            .is_none_or(|s| s.as_bytes().first() == found.as_bytes().first());
        if generic && same_class && d.reason.is_none() {
            status = Some(found.clone());
        }
    }
    let reply_code = smtp::find_reply_code(&d.diagnostic);
    let section = human_section(&gathered.human);
    let command = d
        .command
        .or_else(|| smtp::find_command(&d.diagnostic))
        .or_else(|| smtp::transcript_command(&section))
        .or_else(|| smtp::find_command(&one_line(&section)))
        .map(str::to_owned);
    let evidence = smtp::find_as_code(&d.diagnostic);
    let remote_host = d
        .remote_host
        .clone()
        .or_else(|| remote_host_in(&d.diagnostic));
    let recipient_domain = d
        .recipient
        .rsplit_once('@')
        .map(|(_, dom)| dom.to_ascii_lowercase())
        .unwrap_or_default();
    let reason = d.reason.unwrap_or_else(|| {
        classify::reason(&Evidence {
            status: status.as_deref(),
            diagnostic: &d.diagnostic,
            diagnostic_type: d.diagnostic_type.as_deref(),
            action: d.action.as_deref(),
            command: command.as_deref(),
            remote_host: remote_host.as_deref(),
            recipient_domain: &recipient_domain,
            vague: d.vague,
        })
    });
    let permanent = status.as_deref().map_or_else(
        || reply_code.map_or(d.action.as_deref() == Some("failed"), |c| c >= 500),
        |s| s.starts_with('5'),
    );
    Bounce {
        recipient_domain,
        recipient: d.recipient,
        status,
        reply_code,
        diagnostic: d.diagnostic,
        remote_host,
        reporting_mta: d.reporting_mta,
        time: d.time.or(envelope.date),
        original_message_id: original.message_id.clone(),
        sending_ip: original.sending_ip.clone(),
        command,
        action: d.action,
        evidence,
        feedback_type: d.feedback_type,
        hard: reason.is_hard(permanent),
        reason,
    }
}

/// Joins a multi-line SMTP reply (`550-5.7.1 first line 550-5.7.1 second`) into one
/// text: the repeated code prefixes of continuation lines are dropped.
fn join_continuations(diagnostic: &str) -> String {
    let words: Vec<&str> = diagnostic.split(' ').collect();
    let is_code =
        |w: &str| w.len() == 4 && w.ends_with('-') && w[..3].bytes().all(|b| b.is_ascii_digit());
    let is_code_status = |w: &str| {
        w.len() > 4
            && w.as_bytes()[3] == b'-'
            && w[..3].bytes().all(|b| b.is_ascii_digit())
            && smtp::find_status(&w[4..]).is_some()
    };
    if !words.iter().any(|w| is_code(w) || is_code_status(w)) {
        return diagnostic.to_owned();
    }
    let mut first_code: Option<&str> = None;
    let mut first_status: Option<String> = None;
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let (code, rest) = if is_code(w) {
            (Some(&w[..3]), None)
        } else if is_code_status(w) {
            (Some(&w[..3]), Some(w[4..].to_owned()))
        } else if w.len() == 3 && w.bytes().all(|b| b.is_ascii_digit()) && first_code == Some(w) {
            (Some(w), None)
        } else {
            (None, None)
        };
        match code {
            Some(_) if first_code.is_some() => {
                // a continuation: drop the code and a repeated status after it
                if rest.is_none()
                    && words
                        .get(i + 1)
                        .is_some_and(|n| Some(n.to_string()) == first_status)
                {
                    i += 1;
                }
            }
            Some(c) => {
                first_code = Some(c);
                out.push(c.to_owned());
                if let Some(r) = rest {
                    first_status = Some(r.clone());
                    out.push(r);
                } else if let Some(n) = words
                    .get(i + 1)
                    .filter(|n| smtp::find_status(n).as_deref() == Some(**n))
                {
                    first_status = Some((*n).to_owned());
                    out.push((*n).to_owned());
                    i += 1;
                }
            }
            None => out.push(w.to_owned()),
        }
        i += 1;
    }
    out.join(" ")
}

/// `host mx.example.org[192.0.2.1] said:` and similar.
fn remote_host_in(diagnostic: &str) -> Option<String> {
    let lower = diagnostic.to_ascii_lowercase();
    let at = lower.find("host ")?;
    let rest = &diagnostic[at + 5..];
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect();
    (name.contains('.') && name.len() > 3).then_some(name)
}
