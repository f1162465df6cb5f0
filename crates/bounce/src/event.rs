//! Delivery outcomes that arrive without a bounce message: ESP webhook events (Amazon SES,
//! SendGrid, Mailgun, Postmark) and MTA log lines (Postfix). They carry sent volume
//! (`Delivered`) as well as bounces, deferrals and complaints.

use crate::Bounce;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What happened to one message for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// Accepted by the recipient's server (counts as sent volume).
    Delivered,
    /// Refused for good (or given up on): `bounce` says why.
    Bounced,
    /// Temporarily refused; will be retried: `bounce` says why.
    Deferred,
    /// The recipient marked the message as spam.
    Complained,
}

/// One delivery outcome for one recipient, from an ESP event or a log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryEvent {
    pub kind: DeliveryKind,
    /// The recipient address (lower-case domain).
    pub recipient: String,
    /// The sender address (envelope sender or From), when the event names it; its domain
    /// routes the event to the client that owns it.
    pub sender: Option<String>,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// For `Bounced` and `Deferred` (and a `Complained` with feedback details): the
    /// classified bounce, with recipient, status, reply code, diagnostic and reason.
    pub bounce: Option<Bounce>,
    /// Message-ID of the message, without angle brackets, when known.
    pub message_id: Option<String>,
    /// The IP address the message was sent from, when known.
    pub sending_ip: Option<String>,
    /// Campaign, tag or category the sender gave the message (ESP tag, configured header).
    pub campaign: Option<String>,
    /// Who reported it: `ses`, `sendgrid`, `mailgun`, `postmark`, `postfix`.
    pub provider: &'static str,
    /// The provider's id of the event (for de-duplication), when it has one.
    pub provider_event_id: Option<String>,
}
