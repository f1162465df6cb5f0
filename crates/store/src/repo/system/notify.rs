//! The notification service's side of channels, routes and the delivery log: routing an
//! issue event, logging what was planned, claiming due deliveries, recording attempts and
//! building daily digests. The delivery log is the retry queue: a pending row with a
//! `next_attempt_at` survives restarts, and a claim is a lease on that column.

use super::SystemDb;
use crate::entity::{
    client, domain, from_json, issue, msp, notify_channel, notify_delivery, notify_digest_item,
    notify_route, to_json,
};
use crate::error::StoreError;
use crate::repo::now;
use crate::rows::notify::{
    AttemptOutcome, Channel, ChannelId, ChannelTarget, Delivery, DeliveryId, DeliveryKind,
    DeliveryStatus, DigestNotice, DueDelivery, IssueContext, IssueNotice, LastNotice, Notice,
    PlannedDelivery, PlannedDigestItem, Route, RouteTarget,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use postern_domain::{ClientId, IssueId, MspId};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement, TryInsertResult,
};
use std::collections::HashMap;

/// The advisory-lock key of an issue's notification planning (a namespace in the high bits
/// so it never meets the migration lock).
fn issue_lock_key(issue: IssueId) -> i64 {
    let bytes = issue.as_uuid().into_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..16]);
    (i64::from_be_bytes(low) & 0x00ff_ffff_ffff_ffff) | (0x4e << 56)
}

/// What each channel was last told about `issue` (suppressed rows do not count).
async fn last_notices(
    txn: &DatabaseTransaction,
    channels: &[ChannelId],
    issue: IssueId,
) -> Result<HashMap<ChannelId, LastNotice>, StoreError> {
    let mut out = HashMap::new();
    for channel in channels {
        let row = notify_delivery::Entity::find()
            .filter(notify_delivery::Column::ChannelId.eq(channel.as_uuid()))
            .filter(notify_delivery::Column::IssueId.eq(issue.as_uuid()))
            .filter(notify_delivery::Column::Kind.eq(DeliveryKind::Event.as_str()))
            .filter(notify_delivery::Column::Status.ne(DeliveryStatus::Suppressed.as_str()))
            .order_by_desc(notify_delivery::Column::Id)
            .one(txn)
            .await?;
        if let Some(row) = row
            && let Notice::Issue(notice) = from_json::<Notice>("notification", row.payload)?
        {
            out.insert(
                *channel,
                LastNotice {
                    at: row.created_at,
                    event_kind: notice.event_kind,
                    to_state: notice.to_state,
                    severity: notice.severity,
                },
            );
        }
    }
    Ok(out)
}

/// Most events one digest message lists; the rest wait for the next digest.
pub const MAX_DIGEST_EVENTS: u64 = 500;

impl SystemDb {
    /// The routes that may apply to an event of (`msp`, `client`), each with its (enabled)
    /// channel: routes of the MSP for every client or this one, on channels for every
    /// client or this one.
    pub async fn notify_routes_for(
        &self,
        msp: MspId,
        client: ClientId,
    ) -> Result<Vec<RouteTarget>, StoreError> {
        let for_client = |col: notify_channel::Column| {
            Condition::any()
                .add(col.is_null())
                .add(col.eq(client.as_uuid()))
        };
        let txn = self.read().await?;
        let channels = notify_channel::Entity::find()
            .filter(notify_channel::Column::MspId.eq(msp.as_uuid()))
            .filter(notify_channel::Column::Enabled.eq(true))
            .filter(for_client(notify_channel::Column::ClientId))
            .all(&txn)
            .await?;
        let routes = notify_route::Entity::find()
            .filter(notify_route::Column::MspId.eq(msp.as_uuid()))
            .filter(
                Condition::any()
                    .add(notify_route::Column::ClientId.is_null())
                    .add(notify_route::Column::ClientId.eq(client.as_uuid())),
            )
            .order_by_asc(notify_route::Column::Id)
            .all(&txn)
            .await?;
        txn.commit().await?;
        let channels: HashMap<_, Channel> = channels
            .into_iter()
            .map(|m| Channel::try_from(m).map(|c| (c.id, c)))
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for row in routes {
            let route = Route::try_from(row)?;
            if let Some(channel) = channels.get(&route.channel_id) {
                out.push(RouteTarget {
                    route,
                    channel: channel.clone(),
                });
            }
        }
        Ok(out)
    }

    /// The names a notification about `issue` shows; `None` when the issue is gone.
    pub async fn notify_issue_context(
        &self,
        issue: IssueId,
    ) -> Result<Option<IssueContext>, StoreError> {
        let txn = self.read().await?;
        let Some(row) = issue::Entity::find_by_id(issue.as_uuid()).one(&txn).await? else {
            txn.commit().await?;
            return Ok(None);
        };
        let msp = msp::Entity::find_by_id(row.msp_id).one(&txn).await?;
        let client = client::Entity::find_by_id(row.client_id).one(&txn).await?;
        let domain = domain::Entity::find_by_id(row.domain_id).one(&txn).await?;
        txn.commit().await?;
        let (Some(msp), Some(client), Some(domain)) = (msp, client, domain) else {
            return Ok(None);
        };
        Ok(Some(IssueContext {
            msp_id: MspId::from_uuid(msp.id),
            msp: msp.name,
            client_id: ClientId::from_uuid(client.id),
            client: client.name,
            domain: domain.name,
            title: row.title,
        }))
    }

    /// What each of `channels` last told about `issue` (its newest event delivery that was
    /// not suppressed); channels that never did are absent.
    pub async fn notify_last_notices(
        &self,
        channels: &[ChannelId],
        issue: IssueId,
    ) -> Result<HashMap<ChannelId, LastNotice>, StoreError> {
        let txn = self.read().await?;
        let out = last_notices(&txn, channels, issue).await?;
        txn.commit().await?;
        Ok(out)
    }

    /// Logs what one issue event causes, in one transaction: a delivery per channel
    /// (pending, due now, or suppressed with its reason) and the digest items. Idempotent:
    /// a (channel, event) pair that is already logged is left alone, so a redelivered event
    /// changes nothing. Returns how many deliveries were newly queued as pending.
    ///
    /// `planned_from` is what [`SystemDb::notify_last_notices`] answered when the plan (and
    /// its quiet-period decisions) was made. The check and the log are one step: the
    /// transaction takes a per-issue lock (PostgreSQL advisory lock; SQLite writes are
    /// serialised anyway) and reads the last notices again; if another process logged a
    /// notice for this issue on one of these channels meanwhile, nothing is written and
    /// `None` is returned, so the caller plans again from the new state instead of telling a
    /// channel twice within its quiet period.
    pub async fn record_notifications(
        &self,
        planned_from: &HashMap<ChannelId, LastNotice>,
        deliveries: &[PlannedDelivery],
        digest: &[PlannedDigestItem],
    ) -> Result<Option<usize>, StoreError> {
        let txn = self.write().await?;
        if let Some(issue) = deliveries.first().map(|d| d.notice.issue_id) {
            if self.store.backend() == crate::Backend::Postgres {
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_advisory_xact_lock($1)",
                    [issue_lock_key(issue).into()],
                ))
                .await?;
            }
            let mut channels: Vec<ChannelId> = deliveries.iter().map(|d| d.channel).collect();
            channels.sort_by_key(|c| c.as_uuid());
            channels.dedup();
            let now_last = last_notices(&txn, &channels, issue).await?;
            let changed = channels
                .iter()
                .any(|c| now_last.get(c) != planned_from.get(c));
            if changed {
                txn.rollback().await?;
                return Ok(None);
            }
        }
        let now = now();
        let mut queued = 0;
        for planned in deliveries {
            let n = &planned.notice;
            let pending = planned.status == DeliveryStatus::Pending;
            let row = notify_delivery::Model {
                id: DeliveryId::new().as_uuid(),
                msp_id: n.msp_id.as_uuid(),
                client_id: Some(n.client_id.as_uuid()),
                channel_id: planned.channel.as_uuid(),
                kind: DeliveryKind::Event.as_str().to_owned(),
                dedup_key: format!("event:{}", n.event_id),
                issue_id: Some(n.issue_id.as_uuid()),
                event_id: Some(n.event_id.as_uuid()),
                event_kind: Some(n.event_kind.clone()),
                code: Some(n.code.clone()),
                severity: Some(n.severity.as_str().to_owned()),
                status: planned.status.as_str().to_owned(),
                attempts: 0,
                last_error: planned.reason.clone(),
                response_code: None,
                payload: to_json("notification", &Notice::Issue(n.clone()))?,
                created_at: now,
                updated_at: now,
                next_attempt_at: pending.then_some(now),
                delivered_at: None,
            };
            let result = notify_delivery::Entity::insert(row.into_active_model())
                .on_conflict_do_nothing_on(DELIVERY_KEY)
                .exec_without_returning(&txn)
                .await?;
            if pending && matches!(result, TryInsertResult::Inserted(k) if k > 0) {
                queued += 1;
            }
        }
        for item in digest {
            let n = &item.notice;
            let row = notify_digest_item::Model {
                id: uuid::Uuid::now_v7(),
                msp_id: n.msp_id.as_uuid(),
                client_id: n.client_id.as_uuid(),
                channel_id: item.channel.as_uuid(),
                event_id: n.event_id.as_uuid(),
                issue_id: n.issue_id.as_uuid(),
                payload: to_json("notification", n)?,
                created_at: now,
                delivery_id: None,
            };
            notify_digest_item::Entity::insert(row.into_active_model())
                .on_conflict_do_nothing_on([
                    notify_digest_item::Column::ChannelId,
                    notify_digest_item::Column::EventId,
                ])
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(Some(queued))
    }

    /// Claims up to `limit` pending deliveries that are due at `now`, oldest due first:
    /// each claim moves its `next_attempt_at` to `now + lease`, so another sender (or this
    /// one after a crash) takes it over only when the lease ran out. Deliveries whose
    /// channel is gone are skipped.
    pub async fn claim_due_notify_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let txn = self.write().await?;
        let rows = notify_delivery::Entity::find()
            .filter(notify_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(notify_delivery::Column::NextAttemptAt.lte(now))
            .order_by_asc(notify_delivery::Column::NextAttemptAt)
            .limit(limit)
            .all(&txn)
            .await?;
        let until = now + lease;
        let mut claimed = Vec::new();
        for mut row in rows {
            let result = notify_delivery::Entity::update_many()
                .col_expr(notify_delivery::Column::NextAttemptAt, Expr::value(until))
                .filter(notify_delivery::Column::Id.eq(row.id))
                .filter(notify_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
                .filter(notify_delivery::Column::NextAttemptAt.eq(row.next_attempt_at))
                .exec(&txn)
                .await?;
            if result.rows_affected != 1 {
                continue;
            }
            row.next_attempt_at = Some(until);
            let Some(channel) = notify_channel::Entity::find_by_id(row.channel_id)
                .one(&txn)
                .await?
            else {
                continue;
            };
            let notice: Notice = from_json("notification", row.payload.clone())?;
            claimed.push(DueDelivery {
                delivery: Delivery::try_from(row)?,
                target: ChannelTarget::try_from(channel)?,
                notice,
            });
        }
        txn.commit().await?;
        Ok(claimed)
    }

    /// Records the outcome of attempt number `attempts` of a delivery.
    pub async fn finish_notify_attempt(
        &self,
        id: DeliveryId,
        attempts: u32,
        outcome: &AttemptOutcome,
    ) -> Result<Delivery, StoreError> {
        let txn = self.write().await?;
        let mut row = notify_delivery::Entity::find_by_id(id.as_uuid())
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let now = now();
        row.attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        row.updated_at = now;
        let code = |c: &Option<u16>| c.map(i32::from);
        match outcome {
            AttemptOutcome::Delivered { response_code } => {
                row.status = DeliveryStatus::Delivered.as_str().to_owned();
                row.response_code = code(response_code);
                row.last_error = None;
                row.next_attempt_at = None;
                row.delivered_at = Some(now);
            }
            AttemptOutcome::Retry {
                error,
                response_code,
                next_attempt_at,
            } => {
                row.status = DeliveryStatus::Pending.as_str().to_owned();
                row.response_code = code(response_code);
                row.last_error = Some(error.clone());
                row.next_attempt_at = Some(*next_attempt_at);
            }
            AttemptOutcome::Failed {
                error,
                response_code,
            } => {
                row.status = DeliveryStatus::Failed.as_str().to_owned();
                row.response_code = code(response_code);
                row.last_error = Some(error.clone());
                row.next_attempt_at = None;
            }
        }
        // A model's own active model is all `Unchanged`: set what changed explicitly.
        let changes = notify_delivery::ActiveModel {
            status: Set(row.status.clone()),
            attempts: Set(row.attempts),
            last_error: Set(row.last_error.clone()),
            response_code: Set(row.response_code),
            updated_at: Set(row.updated_at),
            next_attempt_at: Set(row.next_attempt_at),
            delivered_at: Set(row.delivered_at),
            ..Default::default()
        };
        notify_delivery::Entity::update_many()
            .set(changes)
            .filter(notify_delivery::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Delivery::try_from(row)
    }

    /// Channels with digest items created before `before` that no digest has summarised.
    pub async fn notify_digest_channels(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<ChannelId>, StoreError> {
        let txn = self.read().await?;
        let ids: Vec<uuid::Uuid> = notify_digest_item::Entity::find()
            .select_only()
            .column(notify_digest_item::Column::ChannelId)
            .filter(notify_digest_item::Column::DeliveryId.is_null())
            .filter(notify_digest_item::Column::CreatedAt.lt(before))
            .distinct()
            .into_tuple()
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(ids.into_iter().map(ChannelId::from_uuid).collect())
    }

    /// Queues `channel`'s digest for `day`: one pending delivery listing the items created
    /// before `before` that no digest has summarised yet (oldest first, at most
    /// [`MAX_DIGEST_EVENTS`]), which it then owns. `None` when there is nothing to send or
    /// the channel already has a digest for `day`.
    pub async fn queue_notify_digest(
        &self,
        channel: ChannelId,
        day: NaiveDate,
        before: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let txn = self.write().await?;
        let Some(channel_row) = notify_channel::Entity::find_by_id(channel.as_uuid())
            .one(&txn)
            .await?
        else {
            txn.commit().await?;
            return Ok(None);
        };
        let items = notify_digest_item::Entity::find()
            .filter(notify_digest_item::Column::ChannelId.eq(channel.as_uuid()))
            .filter(notify_digest_item::Column::DeliveryId.is_null())
            .filter(notify_digest_item::Column::CreatedAt.lt(before))
            .order_by_asc(notify_digest_item::Column::CreatedAt)
            .order_by_asc(notify_digest_item::Column::Id)
            .limit(MAX_DIGEST_EVENTS)
            .all(&txn)
            .await?;
        if items.is_empty() {
            txn.commit().await?;
            return Ok(None);
        }
        let msp_name = msp::Entity::find_by_id(channel_row.msp_id)
            .one(&txn)
            .await?
            .map(|m| m.name)
            .unwrap_or_default();
        let events = items
            .iter()
            .map(|i| from_json::<IssueNotice>("digest item", i.payload.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let notice = Notice::Digest(DigestNotice {
            msp: msp_name,
            channel: channel_row.name.clone(),
            day,
            events,
        });
        let delivery = self
            .insert_digest_delivery(&txn, &channel_row, day, &notice)
            .await?;
        let Some(delivery) = delivery else {
            txn.commit().await?;
            return Ok(None);
        };
        notify_digest_item::Entity::update_many()
            .col_expr(
                notify_digest_item::Column::DeliveryId,
                Expr::value(delivery.id),
            )
            .filter(notify_digest_item::Column::Id.is_in(items.iter().map(|i| i.id)))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Delivery::try_from(delivery).map(Some)
    }

    async fn insert_digest_delivery(
        &self,
        txn: &DatabaseTransaction,
        channel: &notify_channel::Model,
        day: NaiveDate,
        notice: &Notice,
    ) -> Result<Option<notify_delivery::Model>, StoreError> {
        let now = now();
        let row = notify_delivery::Model {
            id: DeliveryId::new().as_uuid(),
            msp_id: channel.msp_id,
            client_id: channel.client_id,
            channel_id: channel.id,
            kind: DeliveryKind::Digest.as_str().to_owned(),
            dedup_key: format!("digest:{day}"),
            issue_id: None,
            event_id: None,
            event_kind: None,
            code: None,
            severity: None,
            status: DeliveryStatus::Pending.as_str().to_owned(),
            attempts: 0,
            last_error: None,
            response_code: None,
            payload: to_json("notification", notice)?,
            created_at: now,
            updated_at: now,
            next_attempt_at: Some(now),
            delivered_at: None,
        };
        let result = notify_delivery::Entity::insert(row.clone().into_active_model())
            .on_conflict_do_nothing_on(DELIVERY_KEY)
            .exec_without_returning(txn)
            .await?;
        Ok(matches!(result, TryInsertResult::Inserted(k) if k > 0).then_some(row))
    }
}

/// The delivery log's uniqueness: one entry per (channel, dedup key).
const DELIVERY_KEY: [notify_delivery::Column; 2] = [
    notify_delivery::Column::ChannelId,
    notify_delivery::Column::DedupKey,
];
