//! `createNotificationChannel`, `updateNotificationChannel`, `deleteNotificationChannel`,
//! `createNotificationRoute`, `updateNotificationRoute`, `deleteNotificationRoute`,
//! `sendTestNotification`. MSP owners and admins only.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::Utc;
use postern_store::notify::{ChannelKind, ChannelUpdate, NewChannel, NewRoute, NotifyMode};
use rand::RngCore;

use crate::context::{parse_id, tenant};
use crate::error::ApiError;
use crate::mutation::valid_name;
use crate::types::issue::Severity;
use crate::types::notify::{
    CreatedChannelPayload, NotificationChannelKind, NotificationChannelNode,
    NotificationDeliveryNode, NotificationMode, NotificationRouteNode,
};

#[derive(Default)]
pub(crate) struct NotifyMutation;

/// A channel to create.
#[derive(InputObject)]
pub(crate) struct NotificationChannelInput {
    /// Shown in lists and messages.
    name: String,
    /// How it delivers.
    kind: NotificationChannelKind,
    /// Webhook, Slack and Teams: an `https://` URL. E-mail: comma-separated addresses.
    target: String,
    /// Only this client's events reach the channel; null: every client of the MSP.
    client_id: Option<ID>,
}

/// Changes to a channel; fields left out stay as they are.
#[derive(InputObject)]
pub(crate) struct NotificationChannelUpdate {
    /// A new name.
    name: Option<String>,
    /// A new URL (`https://`) or recipient list.
    target: Option<String>,
    /// Disabled channels receive nothing (test messages excepted).
    enabled: Option<bool>,
}

/// A routing rule.
#[derive(InputObject)]
pub(crate) struct NotificationRouteInput {
    /// The channel the events go to.
    channel_id: ID,
    /// Only this client's events; null: every client (the channel's, if it has one).
    client_id: Option<ID>,
    /// The lowest severity routed. Default LOW.
    min_severity: Option<Severity>,
    /// Exact finding codes or prefixes ending in `.` or `*`; empty (default): every code.
    #[graphql(default)]
    codes: Vec<String>,
    /// Issue event kinds (`opened`, `reopened`, `verified_resolved`, `updated`,
    /// `acknowledged`, …). Default: `opened`, `reopened`, `reopened_by_user`,
    /// `verified_resolved`. An empty list: every kind.
    event_kinds: Option<Vec<String>>,
    /// Default IMMEDIATE.
    mode: Option<NotificationMode>,
    /// Seconds (at most 30 days); null: the installation's default.
    quiet_period_seconds: Option<u64>,
}

/// The event kinds a route gets when the input does not say.
const DEFAULT_EVENT_KINDS: [&str; 4] = [
    "opened",
    "reopened",
    "reopened_by_user",
    "verified_resolved",
];

#[Object]
impl NotifyMutation {
    /// Creates a notification channel. For a webhook channel the answer carries its signing
    /// secret, shown only this once.
    async fn create_notification_channel(
        &self,
        ctx: &Context<'_>,
        input: NotificationChannelInput,
    ) -> Result<CreatedChannelPayload, ApiError> {
        let db = tenant(ctx)?;
        let kind: ChannelKind = input.kind.into();
        let target = https_target(kind, &input.target)?;
        let secret = (kind == ChannelKind::Webhook).then(new_secret);
        let channel = db
            .create_notify_channel(NewChannel {
                client_id: input.client_id.as_ref().map(parse_id).transpose()?,
                name: valid_name("name", &input.name)?,
                kind,
                target,
                secret: secret.clone(),
            })
            .await?;
        tracing::info!(channel = %channel.id, kind = %kind, "notification channel created");
        Ok(CreatedChannelPayload {
            channel: NotificationChannelNode(channel),
            secret,
        })
    }

    /// Renames, retargets, enables or disables a channel.
    async fn update_notification_channel(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The channel's id.")] id: ID,
        input: NotificationChannelUpdate,
    ) -> Result<NotificationChannelNode, ApiError> {
        let db = tenant(ctx)?;
        let id = parse_id(&id)?;
        let target = match &input.target {
            Some(t) => Some(https_target(db.notify_channel(id).await?.kind, t)?),
            None => None,
        };
        let name = input
            .name
            .as_deref()
            .map(|n| valid_name("name", n))
            .transpose()?;
        let channel = db
            .update_notify_channel(
                id,
                ChannelUpdate {
                    name,
                    target,
                    enabled: input.enabled,
                },
            )
            .await?;
        Ok(NotificationChannelNode(channel))
    }

    /// Deletes a channel with its routes and delivery log.
    async fn delete_notification_channel(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The channel's id.")] id: ID,
    ) -> Result<bool, ApiError> {
        tenant(ctx)?.delete_notify_channel(parse_id(&id)?).await?;
        Ok(true)
    }

    /// Adds a routing rule to a channel.
    async fn create_notification_route(
        &self,
        ctx: &Context<'_>,
        input: NotificationRouteInput,
    ) -> Result<NotificationRouteNode, ApiError> {
        let route = tenant(ctx)?.create_notify_route(new_route(input)?).await?;
        Ok(NotificationRouteNode(route))
    }

    /// Replaces a routing rule.
    async fn update_notification_route(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The route's id.")] id: ID,
        input: NotificationRouteInput,
    ) -> Result<NotificationRouteNode, ApiError> {
        let route = tenant(ctx)?
            .update_notify_route(parse_id(&id)?, new_route(input)?)
            .await?;
        Ok(NotificationRouteNode(route))
    }

    /// Deletes a routing rule.
    async fn delete_notification_route(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The route's id.")] id: ID,
    ) -> Result<bool, ApiError> {
        tenant(ctx)?.delete_notify_route(parse_id(&id)?).await?;
        Ok(true)
    }

    /// Queues a test message for a channel; the notification service sends it within
    /// seconds. Follow its outcome in `notificationDeliveries`.
    async fn send_test_notification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The channel's id.")] channel_id: ID,
    ) -> Result<NotificationDeliveryNode, ApiError> {
        let delivery = tenant(ctx)?
            .queue_test_notification(parse_id(&channel_id)?, Utc::now())
            .await?;
        Ok(NotificationDeliveryNode(delivery))
    }
}

fn new_route(input: NotificationRouteInput) -> Result<NewRoute, ApiError> {
    Ok(NewRoute {
        channel_id: parse_id(&input.channel_id)?,
        client_id: input.client_id.as_ref().map(parse_id).transpose()?,
        min_severity: input
            .min_severity
            .map(Into::into)
            .unwrap_or(postern_domain::Severity::Low),
        codes: input.codes,
        event_kinds: input
            .event_kinds
            .unwrap_or_else(|| DEFAULT_EVENT_KINDS.map(str::to_owned).to_vec()),
        mode: input.mode.map(Into::into).unwrap_or(NotifyMode::Immediate),
        quiet_period_secs: input.quiet_period_seconds,
    })
}

/// URL channels must use `https://` through the API.
fn https_target(kind: ChannelKind, target: &str) -> Result<String, ApiError> {
    let target = target.trim();
    if kind != ChannelKind::Email && !target.starts_with("https://") {
        return Err(ApiError::bad_request("the target must be an https:// URL"));
    }
    Ok(target.to_owned())
}

/// 32 random bytes as `whsec_<hex>`.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("whsec_{hex}")
}
