//! Notification channels, routes and the delivery log.

use async_graphql::{Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use postern_store::notify::{Channel, Delivery, Route};

use crate::context::to_id;
use crate::types::issue::Severity;

pub(crate) struct NotificationChannelNode(pub(crate) Channel);
pub(crate) struct NotificationRouteNode(pub(crate) Route);
pub(crate) struct NotificationDeliveryNode(pub(crate) Delivery);

/// How a channel delivers.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_store::notify::ChannelKind")]
pub(crate) enum NotificationChannelKind {
    /// HTTPS POST of a JSON body signed with `Postern-Signature: t=<unix>,v1=<hex
    /// HMAC-SHA256(secret, "<t>.<body>")>`.
    Webhook,
    /// E-mail through the installation's SMTP relay; the target lists the recipients.
    Email,
    /// A Slack-compatible incoming webhook URL.
    Slack,
    /// A Microsoft Teams incoming webhook URL (MessageCard).
    Teams,
}

/// Where a delivery is.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_store::notify::DeliveryStatus")]
pub(crate) enum NotificationDeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// The receiver accepted it.
    Delivered,
    /// Every attempt failed, or it could not be sent; `lastError` says why.
    Failed,
    /// Held back by the quiet period; `lastError` says why.
    Suppressed,
}

/// When a route's events are sent.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_store::notify::NotifyMode")]
pub(crate) enum NotificationMode {
    /// One message per event, as it happens.
    Immediate,
    /// One message per channel and day listing the day's events.
    Digest,
}

/// What a delivery carries.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_store::notify::DeliveryKind")]
pub(crate) enum NotificationDeliveryKind {
    /// One issue event.
    Event,
    /// A test message.
    Test,
    /// A daily digest.
    Digest,
}

/// A channel created by `createNotificationChannel`.
#[derive(SimpleObject)]
#[graphql(name = "CreatedNotificationChannel")]
pub(crate) struct CreatedChannelPayload {
    /// The new channel.
    pub(crate) channel: NotificationChannelNode,
    /// Webhook channels: the signing secret, shown only in this answer. Verify
    /// `Postern-Signature` with it. Null for other kinds.
    pub(crate) secret: Option<String>,
}

/// Where an MSP's notifications go.
#[Object(name = "NotificationChannel")]
impl NotificationChannelNode {
    /// The channel's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The client whose events alone it receives; null: every client of the MSP.
    async fn client_id(&self) -> Option<ID> {
        self.0.client_id.map(to_id)
    }

    /// Shown in lists and messages.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// How it delivers.
    async fn kind(&self) -> NotificationChannelKind {
        self.0.kind.into()
    }

    /// E-mail channels: the recipients. URL channels: only the scheme and host (the URL
    /// of an incoming webhook is itself a credential).
    async fn target(&self) -> String {
        match self.0.kind {
            postern_store::notify::ChannelKind::Email => self.0.target.clone(),
            _ => redact_url(&self.0.target),
        }
    }

    /// Whether a signing secret exists (it is shown only when the channel is created).
    async fn has_secret(&self) -> bool {
        self.0.has_secret
    }

    /// Disabled channels receive nothing (test messages excepted).
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Which issue events go to a channel, and how.
#[Object(name = "NotificationRoute")]
impl NotificationRouteNode {
    /// The route's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The channel the events go to.
    async fn channel_id(&self) -> ID {
        to_id(self.0.channel_id)
    }

    /// Only this client's events; null: the channel's client, or every client.
    async fn client_id(&self) -> Option<ID> {
        self.0.client_id.map(to_id)
    }

    /// The lowest severity routed.
    async fn min_severity(&self) -> Severity {
        self.0.min_severity.into()
    }

    /// Exact finding codes or prefixes ending in `.` or `*`; empty: every code.
    async fn codes(&self) -> &[String] {
        &self.0.codes
    }

    /// Issue event kinds (`opened`, `reopened`, `verified_resolved`, …); empty: every kind.
    async fn event_kinds(&self) -> &[String] {
        &self.0.event_kinds
    }

    /// Immediately or in the daily digest.
    async fn mode(&self) -> NotificationMode {
        self.0.mode.into()
    }

    /// Seconds within which the same issue is not notified again on the channel unless it
    /// got worse (reopened after a resolution, or a higher severity); null: the
    /// installation's default.
    async fn quiet_period_seconds(&self) -> Option<u64> {
        self.0.quiet_period_secs
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// One entry of the delivery log.
#[Object(name = "NotificationDelivery")]
impl NotificationDeliveryNode {
    /// The delivery's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The channel it goes to.
    async fn channel_id(&self) -> ID {
        to_id(self.0.channel_id)
    }

    /// What it carries.
    async fn kind(&self) -> NotificationDeliveryKind {
        self.0.kind.into()
    }

    /// The issue the event was about (event deliveries).
    async fn issue_id(&self) -> Option<ID> {
        self.0.issue_id.map(to_id)
    }

    /// The `issue.changed` event (event deliveries).
    async fn event_id(&self) -> Option<ID> {
        self.0.event_id.map(to_id)
    }

    /// The issue event kind (`opened`, …).
    async fn event_kind(&self) -> Option<&str> {
        self.0.event_kind.as_deref()
    }

    /// The finding code (event deliveries).
    async fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }

    /// The severity the event reported (event deliveries).
    async fn severity(&self) -> Option<Severity> {
        self.0.severity.map(Into::into)
    }

    /// Where it is.
    async fn status(&self) -> NotificationDeliveryStatus {
        self.0.status.into()
    }

    /// Attempts made so far.
    async fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// Why the last attempt failed (HTTP status, SMTP reply, connect error) or why it was
    /// suppressed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// The HTTP status or SMTP reply code of the last attempt.
    async fn response_code(&self) -> Option<u16> {
        self.0.response_code
    }

    /// When it was logged.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Pending: when the next attempt is due.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }

    /// When the receiver accepted it.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
}

/// `https://host/…`: the URL without its path and query.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    format!("{scheme}://{host}/…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_path_or_credentials() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact_url("https://u:p@h.example:8443/x?y"),
            "https://h.example:8443/…"
        );
    }
}
