//! ESP webhook payloads turned into [`DeliveryEvent`]s: Amazon SES (through SNS),
//! SendGrid's event webhook, Mailgun and Postmark, each read as its provider documents it,
//! plus the signature checks the providers offer (Mailgun HMAC-SHA256, SendGrid ECDSA
//! P-256, SNS RSA signatures of SES notifications against their certificate; Postmark is
//! checked by HTTP basic auth in the service).
//!
//! Pure: bytes and an explicit `now` in, events out. One event that cannot be read is a
//! problem of the payload, not an error of it; the rest are still returned. Events that
//! are no delivery outcome (opens, clicks, sends) are skipped.

mod mailgun;
mod postmark;
mod sendgrid;
mod ses;

use crate::bounce::{Bounce, Reason};
use crate::classify::{self, Evidence};
use crate::event::{DeliveryEvent, DeliveryKind};
use crate::smtp;
use chrono::{DateTime, Utc};

pub use mailgun::{parse_mailgun, verify_mailgun};
pub use postmark::parse_postmark;
pub use sendgrid::{parse_sendgrid, verify_sendgrid};
pub use ses::{
    SnsMessage, SnsSignatureVersion, SnsSigned, parse_ses, sns_signed, sns_string_to_sign,
    sns_url_allowed, verify_sns,
};

/// The ESPs whose webhooks are understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Esp {
    Ses,
    SendGrid,
    Mailgun,
    Postmark,
}

/// What one webhook post held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EspPayload {
    pub events: Vec<DeliveryEvent>,
    /// Events that could not be read, and why (with their position).
    pub problems: Vec<String>,
    /// Events that are no delivery outcome (opens, clicks, sends), skipped.
    pub skipped: usize,
    /// For SES: the SNS envelope (its type, topic and, for a subscription confirmation,
    /// the URL that confirms it).
    pub sns: Option<SnsMessage>,
}

/// Why a webhook post was not usable at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EspError {
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    /// The JSON is not shaped as the provider documents it.
    #[error("the payload is not a {esp} webhook: {detail}")]
    Shape { esp: &'static str, detail: String },
    /// A signature is missing, malformed or does not verify.
    #[error("signature check failed: {0}")]
    Signature(String),
}

impl Esp {
    /// Every ESP.
    pub const ALL: [Esp; 4] = [Esp::Ses, Esp::SendGrid, Esp::Mailgun, Esp::Postmark];

    /// The lower-case name used in URLs and stored with events.
    pub fn as_str(self) -> &'static str {
        match self {
            Esp::Ses => "ses",
            Esp::SendGrid => "sendgrid",
            Esp::Mailgun => "mailgun",
            Esp::Postmark => "postmark",
        }
    }

    /// The ESP named `name` (`ses`, `sendgrid`, `mailgun`, `postmark`).
    pub fn from_name(name: &str) -> Option<Esp> {
        Esp::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(name))
    }

    /// Parses a webhook body of this ESP.
    pub fn parse(self, body: &[u8], now: DateTime<Utc>) -> Result<EspPayload, EspError> {
        match self {
            Esp::Ses => parse_ses(body, now),
            Esp::SendGrid => parse_sendgrid(body, now),
            Esp::Mailgun => parse_mailgun(body, now),
            Esp::Postmark => parse_postmark(body, now),
        }
    }
}

/// What a provider says about one failed (or delayed) recipient.
#[derive(Default)]
pub(crate) struct Failure<'a> {
    pub recipient: &'a str,
    /// The remote server's reply or the provider's explanation.
    pub diagnostic: &'a str,
    /// Enhanced status code given apart from the diagnostic.
    pub status: Option<&'a str>,
    /// SMTP reply code given apart from the diagnostic.
    pub reply_code: Option<u16>,
    /// The provider calls it permanent (`Some(true)`) or temporary (`Some(false)`).
    pub permanent: Option<bool>,
    /// The reason the provider's documented type means, overriding the text.
    pub reason: Option<Reason>,
    pub remote_host: Option<String>,
    pub reporting_mta: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    pub sending_ip: Option<String>,
}

/// The classified bounce of one failed recipient: the provider's documented type when it
/// names a reason, else the crate's classification of the status code and reply text.
pub(crate) fn bounce(f: Failure<'_>) -> Bounce {
    let diagnostic = f
        .diagnostic
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let status = f
        .status
        .and_then(smtp::find_status)
        .filter(|s| !s.ends_with(".0.0") || smtp::find_status(&diagnostic).is_none())
        .or_else(|| smtp::find_status(&diagnostic));
    let reply_code = f.reply_code.or_else(|| smtp::find_reply_code(&diagnostic));
    let recipient = normalise_address(f.recipient);
    let recipient_domain = recipient
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .unwrap_or_default();
    let permanent = f.permanent.unwrap_or_else(|| {
        status.as_deref().map_or_else(
            || reply_code.is_some_and(|c| c >= 500),
            |s| s.starts_with('5'),
        )
    });
    let command = smtp::find_command(&diagnostic);
    let reason = f.reason.unwrap_or_else(|| {
        classify::reason(&Evidence {
            status: status.as_deref(),
            diagnostic: &diagnostic,
            diagnostic_type: Some("smtp"),
            action: Some(if permanent { "failed" } else { "delayed" }),
            command,
            remote_host: f.remote_host.as_deref(),
            recipient_domain: &recipient_domain,
            vague: false,
        })
    });
    Bounce {
        recipient,
        recipient_domain,
        status,
        reply_code,
        evidence: smtp::find_as_code(&diagnostic),
        diagnostic,
        remote_host: f.remote_host,
        reporting_mta: f.reporting_mta,
        time: f.time,
        original_message_id: f.message_id,
        sending_ip: f.sending_ip,
        command: command.map(str::to_owned),
        action: Some(if permanent { "failed" } else { "delayed" }.to_owned()),
        feedback_type: None,
        hard: reason.is_hard(permanent),
        reason,
    }
}

/// A complaint as a bounce row: reason `feedback`, never hard.
pub(crate) fn complaint(
    recipient: &str,
    feedback_type: Option<String>,
    time: DateTime<Utc>,
    message_id: Option<String>,
) -> Bounce {
    let recipient = normalise_address(recipient);
    Bounce {
        recipient_domain: recipient
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default(),
        recipient,
        status: None,
        reply_code: None,
        diagnostic: "the recipient reported the message as spam".to_owned(),
        remote_host: None,
        reporting_mta: None,
        time: Some(time),
        original_message_id: message_id,
        sending_ip: None,
        command: None,
        action: None,
        evidence: None,
        feedback_type: Some(feedback_type.unwrap_or_else(|| "abuse".to_owned())),
        hard: false,
        reason: Reason::Feedback,
    }
}

/// One event, with the fields every provider fills the same way.
pub(crate) fn event(
    kind: DeliveryKind,
    provider: &'static str,
    recipient: &str,
    time: DateTime<Utc>,
) -> DeliveryEvent {
    DeliveryEvent {
        kind,
        recipient: normalise_address(recipient),
        sender: None,
        time,
        bounce: None,
        message_id: None,
        sending_ip: None,
        campaign: None,
        provider,
        provider_event_id: None,
    }
}

/// `Name <a@B.Example>` or `a@B.Example` → `a@b.example`.
pub(crate) fn normalise_address(address: &str) -> String {
    let address = address.trim();
    let address = match (address.rfind('<'), address.rfind('>')) {
        (Some(start), Some(end)) if start < end => &address[start + 1..end],
        _ => address,
    };
    match address.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => address.to_owned(),
    }
}

/// A Message-ID without angle brackets and white space.
pub(crate) fn message_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// An RFC 3339 / ISO 8601 time, or `None`.
pub(crate) fn rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Seconds since the epoch (with a fraction), or `None`.
pub(crate) fn unix(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() {
        return None;
    }
    // Whole milliseconds: the providers give at most microseconds.
    #[allow(clippy::cast_possible_truncation)]
    let millis = (seconds * 1000.0).round() as i64;
    DateTime::from_timestamp_millis(millis)
}

/// Fails with `Shape` unless the JSON value is what the provider sends.
pub(crate) fn shape(esp: &'static str, detail: impl Into<String>) -> EspError {
    EspError::Shape {
        esp,
        detail: detail.into(),
    }
}

pub(crate) fn json(body: &[u8]) -> Result<serde_json::Value, EspError> {
    serde_json::from_slice(body).map_err(|e| EspError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_lose_display_names_and_lower_their_domain() {
        assert_eq!(
            normalise_address("Alice <Alice@Example.COM>"),
            "Alice@example.com"
        );
        assert_eq!(normalise_address(" bob@B.example "), "bob@b.example");
    }

    #[test]
    fn failures_are_classified_from_their_reply_text() {
        let b = bounce(Failure {
            recipient: "x@example.org",
            diagnostic: "smtp; 550 5.1.1 <x@example.org>: Recipient address rejected: User unknown",
            ..Failure::default()
        });
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert_eq!(b.reply_code, Some(550));
        assert_eq!(b.reason, Reason::UserUnknown);
        assert!(b.hard);
        let b = bounce(Failure {
            recipient: "y@example.org",
            diagnostic: "452 4.2.2 The email account that you tried to reach is over quota",
            ..Failure::default()
        });
        assert_eq!(b.reason, Reason::MailboxFull);
        assert!(!b.hard);
    }

    #[test]
    fn names_round_trip() {
        for esp in Esp::ALL {
            assert_eq!(Esp::from_name(esp.as_str()), Some(esp));
        }
        assert_eq!(Esp::from_name("SendGrid"), Some(Esp::SendGrid));
        assert_eq!(Esp::from_name("sparkpost"), None);
    }
}
