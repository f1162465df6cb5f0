//! The store's outbox as a source for the bus relay.

use async_trait::async_trait;
use chrono::Utc;
use postern_bus::{BusError, OutboxItem, OutboxSource};
use postern_domain::EventId;
use postern_store::Store;

/// Reads unpublished events from the outbox table and marks them published.
#[derive(Clone)]
pub struct StoreOutbox(pub Store);

#[async_trait]
impl OutboxSource for StoreOutbox {
    async fn fetch_unpublished(&self, limit: u64) -> Result<Vec<OutboxItem>, BusError> {
        let events = self
            .0
            .system()
            .outbox_unpublished(limit)
            .await
            .map_err(|e| BusError::Source(e.to_string()))?;
        Ok(events
            .into_iter()
            .map(|e| OutboxItem {
                id: e.id,
                payload: e.payload,
            })
            .collect())
    }

    async fn mark_published(&self, ids: &[EventId]) -> Result<(), BusError> {
        self.0
            .system()
            .outbox_mark_published(ids, Utc::now())
            .await
            .map_err(|e| BusError::Source(e.to_string()))
    }
}
