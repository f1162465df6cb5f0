//! What a notification looks like on each channel kind, and the webhook signature. Pure
//! functions of the stored [`Notice`].
//!
//! * Webhook: a JSON object (`type` `issue.changed`, `test` or `digest`) signed with
//!   `Postern-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//!   Receivers recompute the HMAC over the exact body bytes and reject stale `t`.
//! * Slack: `{"text": …, "blocks": [header, section, context]}` (Block Kit, `mrkdwn`).
//! * Teams: an Office 365 connector `MessageCard` with a title, a summary and facts.
//! * E-mail: a subject and a plain-text body.

use hmac::{Hmac, Mac};
use postern_store::notify::{DeliveryId, DigestNotice, IssueNotice, Notice, TestNotice};
use serde_json::{Value, json};
use sha2::Sha256;

/// The header that carries the webhook signature.
pub const SIGNATURE_HEADER: &str = "Postern-Signature";

/// `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret's UTF-8 bytes>`.
/// (HMAC takes keys of any length; the error exists only in the trait's signature.)
pub fn signature(
    secret: &str,
    unix: i64,
    body: &[u8],
) -> Result<String, hmac::digest::InvalidLength> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "t={unix},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// The webhook body of a delivery.
pub fn webhook_body(delivery: DeliveryId, notice: &Notice) -> Value {
    match notice {
        Notice::Issue(n) => {
            let mut body = issue_json(n);
            if let Value::Object(map) = &mut body {
                map.insert("type".into(), json!("issue.changed"));
                map.insert("delivery_id".into(), json!(delivery.to_string()));
            }
            body
        }
        Notice::Test(t) => json!({
            "type": "test",
            "delivery_id": delivery.to_string(),
            "msp": { "name": t.msp },
            "channel": t.channel,
            "requested_at": t.requested_at,
        }),
        Notice::Digest(d) => json!({
            "type": "digest",
            "delivery_id": delivery.to_string(),
            "msp": { "name": d.msp },
            "channel": d.channel,
            "day": d.day,
            "events": d.events.iter().map(issue_json).collect::<Vec<_>>(),
        }),
    }
}

fn issue_json(n: &IssueNotice) -> Value {
    json!({
        "event_id": n.event_id.to_string(),
        "occurred_at": n.occurred_at,
        "msp": { "id": n.msp_id.to_string(), "name": n.msp },
        "client": { "id": n.client_id.to_string(), "name": n.client },
        "domain": n.domain,
        "issue": {
            "id": n.issue_id.to_string(),
            "code": n.code,
            "severity": n.severity.as_str(),
            "title": n.title,
            "state": n.to_state,
        },
        "change": {
            "kind": n.event_kind,
            "from_state": if n.from_state.is_empty() { Value::Null } else { json!(n.from_state) },
            "to_state": n.to_state,
        },
        "actor": n.actor,
    })
}

/// A one-line summary: `[high] example.com: DMARC policy is none — opened (Acme)`.
pub fn summary(notice: &Notice) -> String {
    match notice {
        Notice::Issue(n) => format!(
            "[{}] {}: {} — {} ({})",
            n.severity,
            n.domain,
            n.title,
            what_happened(n),
            n.client
        ),
        Notice::Test(t) => format!("Postern test message for channel \"{}\"", t.channel),
        Notice::Digest(d) => format!(
            "Postern daily digest for {}: {} issue event{}",
            d.day,
            d.events.len(),
            if d.events.len() == 1 { "" } else { "s" }
        ),
    }
}

fn what_happened(n: &IssueNotice) -> String {
    let kind = n.event_kind.replace('_', " ");
    if n.from_state.is_empty() || n.from_state == n.to_state {
        kind
    } else {
        format!("{kind}, {} → {}", n.from_state, n.to_state)
    }
}

/// The lines of detail every text rendering shares.
fn detail_lines(n: &IssueNotice) -> Vec<(&'static str, String)> {
    vec![
        ("Client", n.client.clone()),
        ("Domain", n.domain.clone()),
        ("Code", n.code.clone()),
        ("Severity", n.severity.to_string()),
        ("Change", what_happened(n)),
        ("State", n.to_state.clone()),
        (
            "By",
            n.actor.clone().unwrap_or_else(|| "Postern analysis".into()),
        ),
        (
            "At",
            n.occurred_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        ),
        ("Issue", n.issue_id.to_string()),
    ]
}

/// Slack's incoming-webhook body.
pub fn slack_body(notice: &Notice) -> Value {
    let text = summary(notice);
    let details = match notice {
        Notice::Issue(n) => detail_lines(n)
            .into_iter()
            .map(|(k, v)| format!("*{k}:* {}", slack_escape(&v)))
            .collect::<Vec<_>>()
            .join("\n"),
        Notice::Test(t) => format!(
            "This channel of *{}* receives Postern notifications.",
            slack_escape(&t.msp)
        ),
        Notice::Digest(d) => digest_lines(d)
            .iter()
            .map(|l| format!("• {}", slack_escape(l)))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    json!({
        "text": text,
        "blocks": [
            { "type": "header", "text": { "type": "plain_text", "text": truncate(&text, 150) } },
            { "type": "section", "text": { "type": "mrkdwn", "text": truncate(&details, 3000) } },
            { "type": "context", "elements": [ { "type": "mrkdwn", "text": "Sent by Postern" } ] },
        ],
    })
}

/// Teams' incoming-webhook body (a MessageCard).
pub fn teams_body(notice: &Notice) -> Value {
    let text = summary(notice);
    let (color, section) = match notice {
        Notice::Issue(n) => (
            severity_color(n),
            json!({
                "activityTitle": n.title,
                "facts": detail_lines(n).into_iter()
                    .map(|(k, v)| json!({ "name": k, "value": v }))
                    .collect::<Vec<_>>(),
            }),
        ),
        Notice::Test(t) => (
            "2E86C1",
            json!({ "text": format!("This channel of {} receives Postern notifications.", t.msp) }),
        ),
        Notice::Digest(d) => ("2E86C1", json!({ "text": digest_lines(d).join("\n\n") })),
    };
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": text,
        "themeColor": color,
        "title": text,
        "sections": [section],
    })
}

/// An e-mail's subject and plain-text body.
pub fn email(notice: &Notice) -> (String, String) {
    let subject = format!("[Postern] {}", summary(notice));
    let body = match notice {
        Notice::Issue(n) => {
            let mut lines = vec![n.title.clone(), String::new()];
            lines.extend(
                detail_lines(n)
                    .into_iter()
                    .map(|(k, v)| format!("{k}: {v}")),
            );
            lines.join("\n")
        }
        Notice::Test(TestNotice { msp, channel, .. }) => format!(
            "This is a test message for the notification channel \"{channel}\" of {msp}.\nIf you can read it, the channel works."
        ),
        Notice::Digest(d) => {
            let mut lines = vec![summary(notice), String::new()];
            lines.extend(digest_lines(d).into_iter().map(|l| format!("- {l}")));
            lines.join("\n")
        }
    };
    (
        strip_newlines(&subject),
        format!("{body}\n\n-- \nSent by Postern\n"),
    )
}

fn digest_lines(d: &DigestNotice) -> Vec<String> {
    d.events
        .iter()
        .map(|n| {
            format!(
                "{} [{}] {} / {}: {} — {}",
                n.occurred_at.format("%H:%M"),
                n.severity,
                n.client,
                n.domain,
                n.title,
                what_happened(n)
            )
        })
        .collect()
}

fn severity_color(n: &IssueNotice) -> &'static str {
    match n.severity {
        postern_domain::Severity::Critical => "C0392B",
        postern_domain::Severity::High => "E67E22",
        postern_domain::Severity::Medium => "F1C40F",
        postern_domain::Severity::Low => "3498DB",
        postern_domain::Severity::Info => "95A5A6",
    }
}

/// Slack mrkdwn needs `&`, `<` and `>` escaped.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn strip_newlines(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use postern_domain::{ClientId, EventId, IssueId, MspId, Severity};

    fn notice() -> IssueNotice {
        IssueNotice {
            event_id: EventId::new(),
            msp_id: MspId::new(),
            msp: "Acme MSP".into(),
            client_id: ClientId::new(),
            client: "Shop <&> Co".into(),
            domain: "shop.example".into(),
            issue_id: IssueId::new(),
            code: "dmarc.policy_none".into(),
            severity: Severity::High,
            title: "DMARC policy is none".into(),
            event_kind: "reopened".into(),
            from_state: "resolved".into(),
            to_state: "open".into(),
            actor: None,
            occurred_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 29, 10, 0, 0)
                .unwrap(),
        }
    }

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        let sign = |k: &str, t: i64, b: &[u8]| signature(k, t, b).unwrap();
        let s = sign("secret", 1_700_000_000, b"{}");
        let (t, v1) = s.split_once(',').unwrap();
        assert_eq!(t, "t=1700000000");
        assert_eq!(v1.len(), 3 + 64);
        assert_ne!(s, sign("secret2", 1_700_000_000, b"{}"));
        assert_ne!(s, sign("secret", 1_700_000_001, b"{}"));
        assert_ne!(s, sign("secret", 1_700_000_000, b"{ }"));
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") (Wikipedia).
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn webhook_body_describes_the_change_without_links() {
        let n = notice();
        let body = webhook_body(DeliveryId::new(), &Notice::Issue(n.clone()));
        assert_eq!(body["type"], "issue.changed");
        assert_eq!(body["msp"]["name"], "Acme MSP");
        assert_eq!(body["client"]["name"], "Shop <&> Co");
        assert_eq!(body["domain"], "shop.example");
        assert_eq!(body["issue"]["id"], n.issue_id.to_string());
        assert_eq!(body["issue"]["severity"], "high");
        assert_eq!(body["change"]["kind"], "reopened");
        assert_eq!(body["change"]["from_state"], "resolved");
        assert_eq!(body["actor"], Value::Null);
        assert!(!body.to_string().contains("http"));
    }

    #[test]
    fn slack_body_has_text_and_escaped_blocks() {
        let body = slack_body(&Notice::Issue(notice()));
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .contains("DMARC policy is none")
        );
        let section = body["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(section.contains("Shop &lt;&amp;&gt; Co"), "{section}");
        assert_eq!(body["blocks"][0]["type"], "header");
    }

    #[test]
    fn teams_body_is_a_message_card_with_facts() {
        let body = teams_body(&Notice::Issue(notice()));
        assert_eq!(body["@type"], "MessageCard");
        assert_eq!(body["themeColor"], "E67E22");
        let facts = body["sections"][0]["facts"].as_array().unwrap();
        assert!(
            facts
                .iter()
                .any(|f| f["name"] == "Code" && f["value"] == "dmarc.policy_none")
        );
    }

    #[test]
    fn email_subject_is_one_line() {
        let mut n = notice();
        n.title = "evil\r\nBcc: someone@example.com".into();
        let (subject, body) = email(&Notice::Issue(n));
        assert!(
            !subject.contains('\n') && !subject.contains('\r'),
            "{subject}"
        );
        assert!(body.contains("Code: dmarc.policy_none"));
    }
}
