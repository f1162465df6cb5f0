//! Repositories: [`tenant::TenantDb`] for requests, [`system::SystemDb`] for system jobs,
//! and the few writes both share.

pub(crate) mod system;
pub(crate) mod tenant;

use crate::entity::outbox;
use crate::error::StoreError;
use crate::rows::OutboxEvent;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{DatabaseTransaction, EntityTrait, IntoActiveModel};

/// Writes events to the outbox inside the caller's transaction, so they commit (or vanish)
/// with the data they describe.
pub(crate) async fn write_events(
    txn: &DatabaseTransaction,
    events: &[OutboxEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let now = now();
    // 5 columns per row; 1,000 rows stay far below both backends' bind limits.
    for chunk in events.chunks(1_000) {
        let rows = chunk.iter().map(|e| outbox::Model {
            id: e.id.as_uuid(),
            topic: e.topic.clone(),
            payload: e.payload.clone(),
            created_at: now,
            published_at: None,
        });
        outbox::Entity::insert_many(rows.map(IntoActiveModel::into_active_model))
            .exec_without_returning(txn)
            .await
            .map_err(|e| crate::error::conflict_on_unique(e, "event id already written"))?;
    }
    Ok(())
}

/// The current time at the precision both backends keep (microseconds), so a row returned
/// after a write equals the row read back later.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
