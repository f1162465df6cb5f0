//! The outbox relay. The store writes each event to an outbox table in the same transaction as
//! the data it describes; the relay publishes what is there, oldest first, and marks it
//! published. A crash or a bus outage delays events but loses none; it can publish an event
//! twice (published, then crashed before marking), which idempotent consumers absorb.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use postern_domain::EventId;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::bus::Bus;
use crate::envelope::Envelope;
use crate::error::{BusError, chain};
use crate::shutdown::{self, Backoff};

/// How many outbox items the relay task takes per round.
pub const RELAY_BATCH: u64 = 256;
/// The first pause after a failed round; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where the relay reads events from: the store's outbox table.
#[async_trait]
pub trait OutboxSource: Send + Sync {
    /// Up to `limit` unpublished items, oldest first (the order they were committed in).
    async fn fetch_unpublished(&self, limit: u64) -> Result<Vec<OutboxItem>, BusError>;
    /// Marks these items published.
    async fn mark_published(&self, ids: &[EventId]) -> Result<(), BusError>;
}

/// One row of the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxItem {
    /// The event's id (the same as the envelope's).
    pub id: EventId,
    /// [`Envelope::encode`] of the event.
    pub payload: Vec<u8>,
}

/// Publishes up to `limit` unpublished items in order and marks those published. Stops at the
/// first publish failure: the items before it are marked, it and the ones after stay
/// unpublished for the next round, and the error is returned. An item whose payload is not a
/// valid envelope can never be published; it is logged and marked published so that it does not
/// hold up the others (its bytes stay in the outbox table). Returns how many were published.
pub async fn relay_once(
    source: &dyn OutboxSource,
    bus: &dyn Bus,
    limit: u64,
) -> Result<usize, BusError> {
    let items = source.fetch_unpublished(limit).await?;
    let mut done = Vec::with_capacity(items.len());
    let mut published = 0;
    let mut failure = None;
    for item in items {
        let envelope = match Envelope::decode(&item.payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::error!(
                    event_id = %item.id, error = %chain(&e),
                    "outbox item is not a valid envelope; skipping it"
                );
                done.push(item.id);
                continue;
            }
        };
        if let Err(e) = bus.publish(&envelope).await {
            failure = Some(e);
            break;
        }
        done.push(item.id);
        published += 1;
    }
    if !done.is_empty() {
        source.mark_published(&done).await?;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(published),
    }
}

/// Runs the relay until `shutdown` turns true (or its sender is dropped): a round of
/// [`relay_once`] whenever `wake` is notified (the store calls `notify_one` after committing an
/// event) and at least every `interval`; full batches are followed at once by another round.
/// Failures are logged and retried with exponential backoff (100 ms doubling up to 30 s).
pub fn spawn_relay(
    source: Arc<dyn OutboxSource>,
    bus: Arc<dyn Bus>,
    wake: Arc<Notify>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
        while !shutdown::is_requested(&shutdown) {
            match relay_once(source.as_ref(), bus.as_ref(), RELAY_BATCH).await {
                Ok(published) => {
                    backoff.reset();
                    if published > 0 {
                        tracing::debug!(published, "relayed outbox events");
                    }
                    if u64::try_from(published).is_ok_and(|n| n >= RELAY_BATCH) {
                        continue;
                    }
                    tokio::select! {
                        () = shutdown::requested(&mut shutdown) => break,
                        () = wake.notified() => {}
                        () = tokio::time::sleep(interval) => {}
                    }
                }
                Err(e) => {
                    let pause = backoff.next_pause();
                    tracing::warn!(
                        error = %chain(&e), retry_in_ms = pause.as_millis(),
                        "outbox relay failed; retrying"
                    );
                    if shutdown::sleep_or_stop(&mut shutdown, pause).await {
                        break;
                    }
                }
            }
        }
        tracing::debug!("outbox relay stopped");
    })
}
