//! The outbox relay's side: unpublished events, oldest first, and marking them published.

use super::SystemDb;
use crate::entity::outbox;
use crate::error::StoreError;
use crate::rows::OutboxEvent;
use chrono::{DateTime, Utc};
use postern_domain::EventId;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

impl SystemDb {
    /// Up to `limit` events not yet published, oldest first.
    pub async fn outbox_unpublished(&self, limit: u64) -> Result<Vec<OutboxEvent>, StoreError> {
        let txn = self.read().await?;
        let rows = outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(limit.min(crate::rows::MAX_PAGE_SIZE))
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows
            .into_iter()
            .map(|m| OutboxEvent {
                id: EventId::from_uuid(m.id),
                topic: m.topic,
                payload: m.payload,
            })
            .collect())
    }

    /// Marks events published at `now` (already published ones keep their time).
    pub async fn outbox_mark_published(
        &self,
        ids: &[EventId],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let txn = self.write().await?;
        for chunk in ids.chunks(1_000) {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::PublishedAt, Expr::value(now))
                .filter(
                    outbox::Column::Id
                        .is_in(chunk.iter().map(|id| id.as_uuid()).collect::<Vec<Uuid>>()),
                )
                .filter(outbox::Column::PublishedAt.is_null())
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }
}
