//! The result types: one bounce per recipient, its reason and the crate's errors.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;

/// One recipient of one bounce (or feedback report, or auto-reply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bounce {
    /// The recipient address the notification is about (lower-case domain).
    pub recipient: String,
    /// The domain part of [`Bounce::recipient`], lower-case.
    pub recipient_domain: String,
    /// Enhanced status code (RFC 3463), e.g. `5.1.1`, when the notification gives one.
    pub status: Option<String>,
    /// SMTP reply code (RFC 5321), e.g. 550, when the notification gives one.
    pub reply_code: Option<u16>,
    /// Diagnostic text (the remote server's reply or the MTA's explanation), one line.
    pub diagnostic: String,
    /// The remote host that answered, when known.
    pub remote_host: Option<String>,
    /// The MTA that wrote the notification, when known.
    pub reporting_mta: Option<String>,
    /// When delivery was last attempted (or the notification was written).
    pub time: Option<DateTime<Utc>>,
    /// Message-ID of the returned original message, without angle brackets.
    pub original_message_id: Option<String>,
    /// The IP address the original message was sent from, from its Received headers.
    pub sending_ip: Option<String>,
    /// The SMTP command the failure answered (`CONN`, `EHLO`, `MAIL`, `RCPT`, `DATA`).
    pub command: Option<String>,
    /// DSN action (`failed`, `delayed`, `delivered`, `relayed`, `expanded`).
    pub action: Option<String>,
    /// Provider evidence kept verbatim, e.g. Microsoft's `AS(1234)` code.
    pub evidence: Option<String>,
    /// Feedback type of an ARF report (`abuse`, `opt-out`, `auth-failure`, ...).
    pub feedback_type: Option<String>,
    /// A hard bounce: the address will not work later either.
    pub hard: bool,
    /// Why the message bounced.
    pub reason: Reason,
}

/// Bounce reasons, named as Sisimai 5 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// Rejected for failing SPF, DKIM or DMARC.
    AuthFailure,
    /// Rejected for the sending IP's or domain's reputation.
    BadReputation,
    /// Rejected because of the client IP address or host name.
    Blocked,
    /// Rejected for the format of the message's header or content.
    ContentError,
    /// Delivered (a success DSN).
    Delivered,
    /// The message exceeded a limit of the recipient.
    ExceedLimit,
    /// Delivery time expired (the message stayed queued too long).
    Expired,
    /// STARTTLS failed or was required.
    FailedStartTls,
    /// A feedback (complaint) report, RFC 5965.
    Feedback,
    /// Rejected after DATA by a filter for the recipient.
    Filtered,
    /// The mailbox has moved and mail is not forwarded.
    HasMoved,
    /// The recipient domain does not exist.
    HostUnknown,
    /// The recipient's mailbox is full.
    MailboxFull,
    /// A local mailer program failed.
    MailerError,
    /// The message is too big for the destination.
    MesgTooBig,
    /// DNS or network failure on the way.
    NetworkError,
    /// The destination does not relay for the sender.
    NoRelaying,
    /// The destination accepts no mail (null MX, no MX).
    NotAccept,
    /// The message does not comply with the RFCs.
    NotCompliantRfc,
    /// Not enough information to decide.
    OnHold,
    /// Rejected by a policy of the destination.
    PolicyViolation,
    /// Rate limited by the destination.
    RateLimited,
    /// The sender (envelope from) was rejected.
    Rejected,
    /// The sending IP has no or a bad PTR record.
    RequirePtr,
    /// A security rule of the destination rejected the message.
    SecurityError,
    /// A spam filter rejected the message.
    SpamDetected,
    /// Sending too fast.
    Speeding,
    /// The address is on a suppression list of the sending service.
    Suppressed,
    /// The recipient account is suspended or disabled.
    Suspend,
    /// A syntax error in the SMTP session.
    SyntaxError,
    /// A system error on the remote host.
    SystemError,
    /// The destination's disk is full.
    SystemFull,
    /// Too many connections to the destination.
    TooManyConn,
    /// No reason could be found.
    Undefined,
    /// The recipient's mailbox does not exist.
    UserUnknown,
    /// An out-of-office auto-reply.
    Vacation,
    /// A virus scanner rejected the message.
    VirusDetected,
}

/// Limits that keep parsing bounded whatever the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of a message that are parsed; the rest (normally the returned original
    /// message's body) is ignored.
    pub max_message_bytes: usize,
    /// Recipients reported per message; the rest are dropped.
    pub max_recipients: usize,
}

/// Why a message could not be handled at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BounceError {
    /// The input is empty.
    #[error("empty input")]
    Empty,
    /// The input has no RFC 5322 header fields.
    #[error("not an rfc 5322 message: no header fields found")]
    NotAMessage,
    /// The MIME parser failed on this input.
    #[error("the mime parser stopped on a bug: {0}")]
    ParserBug(String),
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 8 * 1024 * 1024,
            max_recipients: 50_000,
        }
    }
}

impl Reason {
    /// All reasons.
    pub const ALL: [Reason; 37] = [
        Reason::AuthFailure,
        Reason::BadReputation,
        Reason::Blocked,
        Reason::ContentError,
        Reason::Delivered,
        Reason::ExceedLimit,
        Reason::Expired,
        Reason::FailedStartTls,
        Reason::Feedback,
        Reason::Filtered,
        Reason::HasMoved,
        Reason::HostUnknown,
        Reason::MailboxFull,
        Reason::MailerError,
        Reason::MesgTooBig,
        Reason::NetworkError,
        Reason::NoRelaying,
        Reason::NotAccept,
        Reason::NotCompliantRfc,
        Reason::OnHold,
        Reason::PolicyViolation,
        Reason::RateLimited,
        Reason::Rejected,
        Reason::RequirePtr,
        Reason::SecurityError,
        Reason::SpamDetected,
        Reason::Speeding,
        Reason::Suppressed,
        Reason::Suspend,
        Reason::SyntaxError,
        Reason::SystemError,
        Reason::SystemFull,
        Reason::TooManyConn,
        Reason::Undefined,
        Reason::UserUnknown,
        Reason::Vacation,
        Reason::VirusDetected,
    ];

    /// The Sisimai name of the reason (`userunknown`, `mailboxfull`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::AuthFailure => "authfailure",
            Reason::BadReputation => "badreputation",
            Reason::Blocked => "blocked",
            Reason::ContentError => "contenterror",
            Reason::Delivered => "delivered",
            Reason::ExceedLimit => "exceedlimit",
            Reason::Expired => "expired",
            Reason::FailedStartTls => "failedstarttls",
            Reason::Feedback => "feedback",
            Reason::Filtered => "filtered",
            Reason::HasMoved => "hasmoved",
            Reason::HostUnknown => "hostunknown",
            Reason::MailboxFull => "mailboxfull",
            Reason::MailerError => "mailererror",
            Reason::MesgTooBig => "mesgtoobig",
            Reason::NetworkError => "networkerror",
            Reason::NoRelaying => "norelaying",
            Reason::NotAccept => "notaccept",
            Reason::NotCompliantRfc => "notcompliantrfc",
            Reason::OnHold => "onhold",
            Reason::PolicyViolation => "policyviolation",
            Reason::RateLimited => "ratelimited",
            Reason::Rejected => "rejected",
            Reason::RequirePtr => "requireptr",
            Reason::SecurityError => "securityerror",
            Reason::SpamDetected => "spamdetected",
            Reason::Speeding => "speeding",
            Reason::Suppressed => "suppressed",
            Reason::Suspend => "suspend",
            Reason::SyntaxError => "syntaxerror",
            Reason::SystemError => "systemerror",
            Reason::SystemFull => "systemfull",
            Reason::TooManyConn => "toomanyconn",
            Reason::Undefined => "undefined",
            Reason::UserUnknown => "userunknown",
            Reason::Vacation => "vacation",
            Reason::VirusDetected => "virusdetected",
        }
    }

    /// Parses a Sisimai reason name.
    pub fn from_name(name: &str) -> Option<Reason> {
        Reason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str().eq_ignore_ascii_case(name))
    }

    /// Hard or soft, as Sisimai decides: a missing mailbox or domain, a moved mailbox and
    /// a permanent "accepts no mail" are hard; everything else may work later.
    pub fn is_hard(self, permanent: bool) -> bool {
        match self {
            Reason::UserUnknown | Reason::HostUnknown | Reason::HasMoved => true,
            Reason::NotAccept => permanent,
            _ => false,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
