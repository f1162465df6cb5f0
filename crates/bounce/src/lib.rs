//! Bounce parsing and classification: delivery status notifications (RFC 3464), the
//! non-standard bounce messages of common MTAs and mailbox providers, feedback reports
//! (RFC 5965) and auto-replies (RFC 3834), each recipient turned into one [`Bounce`]
//! with a reason from a vocabulary compatible with Sisimai 5.
//!
//! Pure: bytes in, bounces out, no I/O, no clock. Line endings (CRLF, LF, CR) are
//! normalised before parsing; MIME parts in any transfer encoding and charset are decoded
//! by mail-parser, whose panics are caught. The reason comes from the structure of the
//! notification (enhanced status code, SMTP reply code, the SMTP command that failed, the
//! DSN action) and from the diagnostic texts providers document, never from sample
//! names. Input size and recipient count are bounded by [`Limits`].
//!
//! [`triage`] groups a window's stored bounces (by recipient domain and its provider family,
//! by campaign and by sending address) for the analysis service's rules and the benchmark.

mod bounce;
mod classify;
mod dsn;
mod esp;
mod event;
mod mbox;
mod message;
mod normalize;
mod ses;
mod smtp;
mod text;
mod triage;

pub use bounce::{Bounce, BounceError, Limits, Reason};
pub use esp::{
    Esp, EspError, EspPayload, SnsMessage, SnsSignatureVersion, SnsSigned, parse_mailgun,
    parse_postmark, parse_sendgrid, parse_ses, sns_signed, sns_string_to_sign, sns_url_allowed,
    verify_mailgun, verify_sendgrid, verify_sns,
};
pub use event::{DeliveryEvent, DeliveryKind};
pub use mbox::{looks_like_mbox, split_mbox};
pub use triage::{
    DomainGroup, KeyGroup, MxInfo, ProviderFamily, ReasonTally, Triage, TriageKind, TriageRecord,
    triage,
};

/// Parses one message and returns one [`Bounce`] per recipient it reports on, or an
/// empty list when the message is not a bounce, feedback report or auto-reply.
pub fn classify_message(bytes: &[u8]) -> Result<Vec<Bounce>, BounceError> {
    classify_message_with(bytes, &Limits::default())
}

/// Splits a file into messages (an mbox file into its messages, anything else is one
/// message) and classifies each; results are in message order. The CLI and the service
/// use this for files.
pub fn classify_file(bytes: &[u8]) -> Vec<Result<Vec<Bounce>, BounceError>> {
    if looks_like_mbox(bytes) {
        let messages = split_mbox(&normalize::line_endings(bytes));
        if messages.is_empty() {
            return vec![Err(BounceError::Empty)];
        }
        messages.iter().map(|m| classify_message(m)).collect()
    } else {
        vec![classify_message(bytes)]
    }
}

/// [`classify_message`] with explicit limits.
pub fn classify_message_with(bytes: &[u8], limits: &Limits) -> Result<Vec<Bounce>, BounceError> {
    message::classify(bytes, limits)
}

/// Classifies one SMTP failure given without a bounce message (an MTA log line, an ESP
/// event): the enhanced status (`5.1.1`), the reply code (550), the remote server's text, the
/// failed command (`RCPT`, `DATA`, ...) and the recipient's domain. Returns the reason and
/// whether the bounce is hard. The same classifier as [`classify_message`].
pub fn classify_reply(
    status: Option<&str>,
    reply_code: Option<u16>,
    diagnostic: &str,
    command: Option<&str>,
    recipient_domain: &str,
) -> (Reason, bool) {
    let temporary = status.map_or_else(
        || reply_code.is_some_and(|c| (400..500).contains(&c)),
        |s| s.starts_with('4'),
    );
    let reason = classify::reason(&classify::Evidence {
        status,
        diagnostic,
        diagnostic_type: Some("smtp"),
        action: Some(if temporary { "delayed" } else { "failed" }),
        command,
        remote_host: None,
        recipient_domain,
        vague: false,
    });
    let permanent = status.map_or_else(
        || reply_code.is_some_and(|c| c >= 500),
        |s| s.starts_with('5'),
    );
    (reason, reason.is_hard(permanent))
}
