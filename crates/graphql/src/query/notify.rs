//! `notificationChannels`, `notificationRoutes`, `notificationDeliveries`.

use async_graphql::{Context, ID, InputObject, Object};
use postern_store::notify::{ChannelId, DeliveryFilter};

use crate::connection::{Conn, CountSource, connection, page_request};
use crate::context::{parse_id, tenant};
use crate::error::ApiError;
use crate::types::notify::{
    NotificationChannelNode, NotificationDeliveryNode, NotificationDeliveryStatus,
    NotificationRouteNode,
};

#[derive(Default)]
pub(crate) struct NotifyQuery;

/// Narrows the delivery log; every field given must match.
#[derive(InputObject, Default)]
pub(crate) struct NotificationDeliveryFilter {
    /// Only deliveries of this channel.
    channel_id: Option<ID>,
    /// Only deliveries in this status.
    status: Option<NotificationDeliveryStatus>,
    /// Only deliveries about this issue.
    issue_id: Option<ID>,
}

#[Object]
impl NotifyQuery {
    /// The notification channels of the caller's MSP, newest first. MSP staff only.
    async fn notification_channels(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<Conn<NotificationChannelNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let page = db.list_notify_channels(request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::NotificationChannels,
            |c| (c.id.as_uuid(), NotificationChannelNode(c)),
        ))
    }

    /// The routing rules of the caller's MSP (of one channel, or all), oldest first.
    async fn notification_routes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the routes of this channel.")] channel_id: Option<ID>,
    ) -> Result<Vec<NotificationRouteNode>, ApiError> {
        let channel: Option<ChannelId> = channel_id.as_ref().map(parse_id).transpose()?;
        let routes = tenant(ctx)?.list_notify_routes(channel).await?;
        Ok(routes.into_iter().map(NotificationRouteNode).collect())
    }

    /// The delivery log of the caller's MSP, newest first: every notification with its
    /// status, attempts and the reason of the last failure.
    async fn notification_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Which deliveries to list.")] filter: Option<NotificationDeliveryFilter>,
    ) -> Result<Conn<NotificationDeliveryNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let filter = DeliveryFilter {
            channel: filter.channel_id.as_ref().map(parse_id).transpose()?,
            status: filter.status.map(Into::into),
            issue: filter.issue_id.as_ref().map(parse_id).transpose()?,
        };
        let page = db.list_notify_deliveries(&filter, request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::NotificationDeliveries(filter),
            |d| (d.id.as_uuid(), NotificationDeliveryNode(d)),
        ))
    }
}
