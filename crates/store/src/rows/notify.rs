//! Notification rows: channels, routes, the delivery log and what a delivery carries
//! ([`Notice`], stored as JSON and rendered per channel kind when it is sent).

use chrono::{DateTime, NaiveDate, Utc};
use postern_domain::{ClientId, EventId, IssueId, MspId, Severity};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! notify_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an id read from storage or an API argument.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

notify_id!(
    /// A notification channel.
    ChannelId
);
notify_id!(
    /// A routing rule.
    RouteId
);
notify_id!(
    /// One entry of the delivery log.
    DeliveryId
);

macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stable lower-case name (storage and API).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Parses a name written by [`as_str`](Self::as_str).
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words!(
    /// How a channel delivers.
    ChannelKind {
        /// HTTPS POST of a signed JSON body (`Postern-Signature`).
        Webhook => "webhook",
        /// E-mail through the configured SMTP relay.
        Email => "email",
        /// A Slack-compatible incoming webhook (`text` + `blocks`).
        Slack => "slack",
        /// A Microsoft Teams incoming webhook (MessageCard).
        Teams => "teams"
    }
);

words!(
    /// Where a delivery is.
    DeliveryStatus {
        /// Waiting for its (next) attempt.
        Pending => "pending",
        /// The receiver accepted it.
        Delivered => "delivered",
        /// Every attempt failed (or it could not be sent at all); `last_error` says why.
        Failed => "failed",
        /// Not sent on purpose (quiet period); `last_error` says why.
        Suppressed => "suppressed"
    }
);

words!(
    /// When a route's events are sent.
    NotifyMode {
        /// One message per event, as it happens.
        Immediate => "immediate",
        /// Collected and sent as one message per channel and day.
        Digest => "digest"
    }
);

words!(
    /// What a delivery carries.
    DeliveryKind {
        /// One issue event.
        Event => "event",
        /// A test message (`sendTestNotification`).
        Test => "test",
        /// A daily digest.
        Digest => "digest"
    }
);

/// A channel as the API shows it: never with its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Channel {
    pub id: ChannelId,
    pub msp_id: MspId,
    /// `Some`: only this client's events are routed to it.
    pub client_id: Option<ClientId>,
    pub name: String,
    pub kind: ChannelKind,
    /// The URL, or the e-mail recipients (comma-separated).
    pub target: String,
    /// Webhook channels: a signing secret exists (its value is shown only at creation).
    pub has_secret: bool,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A channel to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewChannel {
    pub client_id: Option<ClientId>,
    pub name: String,
    pub kind: ChannelKind,
    pub target: String,
    /// The webhook signing secret (made by the caller from a CSPRNG); `None` for other kinds.
    pub secret: Option<String>,
}

/// Changes to a channel; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelUpdate {
    pub name: Option<String>,
    pub target: Option<String>,
    pub enabled: Option<bool>,
}

/// A channel with what it takes to send to it (system jobs only).
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelTarget {
    pub channel: Channel,
    /// The webhook signing secret.
    pub secret: Option<String>,
}

impl fmt::Debug for ChannelTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelTarget")
            .field("channel", &self.channel)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A routing rule: which issue events of the MSP (or one client) go to a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    pub id: RouteId,
    pub msp_id: MspId,
    /// `Some`: only this client's events (else the channel's client, or every client).
    pub client_id: Option<ClientId>,
    pub channel_id: ChannelId,
    /// The lowest severity routed.
    pub min_severity: Severity,
    /// Exact codes (`dmarc.policy_none`) or prefixes ending in `.` or `*` (`dmarc.`,
    /// `spf.*`); empty: every code.
    pub codes: Vec<String>,
    /// Issue event kinds (`opened`, `verified_resolved`, …); empty: every kind.
    pub event_kinds: Vec<String>,
    pub mode: NotifyMode,
    /// Seconds; `None`: the service's configured default.
    pub quiet_period_secs: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A route to create, or the new content of one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRoute {
    pub channel_id: ChannelId,
    pub client_id: Option<ClientId>,
    pub min_severity: Severity,
    pub codes: Vec<String>,
    pub event_kinds: Vec<String>,
    pub mode: NotifyMode,
    pub quiet_period_secs: Option<u64>,
}

/// A route with its channel (system jobs: routing an event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTarget {
    pub route: Route,
    pub channel: Channel,
}

/// One entry of the delivery log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub msp_id: MspId,
    pub client_id: Option<ClientId>,
    pub channel_id: ChannelId,
    pub kind: DeliveryKind,
    pub issue_id: Option<IssueId>,
    pub event_id: Option<EventId>,
    /// The issue event kind (`opened`, …) of an event delivery.
    pub event_kind: Option<String>,
    pub code: Option<String>,
    pub severity: Option<Severity>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// Why the last attempt failed or why it was suppressed.
    pub last_error: Option<String>,
    /// The HTTP status or SMTP reply code of the last attempt.
    pub response_code: Option<u16>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Narrows the delivery log; every field given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub channel: Option<ChannelId>,
    pub status: Option<DeliveryStatus>,
    pub issue: Option<IssueId>,
}

/// A delivery claimed for sending, with its channel and payload.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub delivery: Delivery,
    pub target: ChannelTarget,
    pub notice: Notice,
}

/// A delivery to log for an event (pending, or suppressed with its reason).
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedDelivery {
    pub channel: ChannelId,
    pub status: DeliveryStatus,
    /// Suppressed: why.
    pub reason: Option<String>,
    pub notice: IssueNotice,
}

/// An event to keep for a channel's digest.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedDigestItem {
    pub channel: ChannelId,
    pub notice: IssueNotice,
}

/// What the receiver was last told about an issue on a channel (for the quiet period).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastNotice {
    pub at: DateTime<Utc>,
    /// The issue event kind.
    pub event_kind: String,
    /// The state the issue went to.
    pub to_state: String,
    pub severity: Severity,
}

/// How a send attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Accepted, with the receiver's status / reply code.
    Delivered { response_code: Option<u16> },
    /// Failed; try again at `next_attempt_at`.
    Retry {
        error: String,
        response_code: Option<u16>,
        next_attempt_at: DateTime<Utc>,
    },
    /// Failed for good.
    Failed {
        error: String,
        response_code: Option<u16>,
    },
}

/// What a delivery carries, stored as JSON and rendered for the channel's kind when sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// One value per delivery, mostly the issue variant: boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Notice {
    Issue(IssueNotice),
    Test(TestNotice),
    Digest(DigestNotice),
}

/// One issue event as a notification tells it (names, not links).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IssueNotice {
    pub event_id: EventId,
    pub msp_id: MspId,
    pub msp: String,
    pub client_id: ClientId,
    pub client: String,
    pub domain: String,
    pub issue_id: IssueId,
    pub code: String,
    pub severity: Severity,
    pub title: String,
    /// The issue event kind (`opened`, `verified_resolved`, …).
    pub event_kind: String,
    /// Empty for `opened`.
    pub from_state: String,
    pub to_state: String,
    /// Who did it: a user's name and e-mail address; `None`: Postern's analysis.
    pub actor: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// A test message for a channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestNotice {
    pub msp: String,
    pub channel: String,
    pub requested_at: DateTime<Utc>,
}

/// A channel's daily digest: the events routed to it since the previous one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigestNotice {
    pub msp: String,
    pub channel: String,
    pub day: NaiveDate,
    pub events: Vec<IssueNotice>,
}

/// The names an issue notification needs, read from the issue's own row (system jobs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueContext {
    pub msp_id: MspId,
    pub msp: String,
    pub client_id: ClientId,
    pub client: String,
    pub domain: String,
    pub title: String,
}
