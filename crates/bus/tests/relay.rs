//! The outbox relay, against a fake outbox and both transports.
// Test code: the scenarios are plain async fns (one per transport is generated), so
// clippy's allow-unwrap-in-tests does not see them as tests.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[macro_use]
#[path = "support/harness.rs"]
mod harness;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use harness::{Harness, Transport, fast_settings, next_within, report_event, wait_until};
use postern_bus::{
    Bus, BusError, DeadLetter, Envelope, OutboxItem, OutboxSource, Subscription, Tail, relay_once,
    spawn_relay, topics,
};
use postern_domain::EventId;
use tokio::sync::{Notify, watch};

const LIMIT: Duration = Duration::from_secs(3);
const QUIET: Duration = Duration::from_millis(300);

/// An outbox table in memory: items in commit order, each published or not.
#[derive(Default)]
struct FakeOutbox {
    rows: Mutex<Vec<(OutboxItem, bool)>>,
    fail_fetch: Mutex<bool>,
}

/// A bus whose publish fails for the calls numbered in `fail_calls` (0-based), then forwards.
struct FlakyBus {
    inner: Arc<dyn Bus>,
    calls: AtomicUsize,
    fail_calls: Vec<usize>,
}

impl FakeOutbox {
    fn with(events: &[Envelope]) -> Self {
        let outbox = Self::default();
        for event in events {
            outbox.add(event);
        }
        outbox
    }

    fn add(&self, event: &Envelope) {
        self.add_raw(event.id, event.encode());
    }

    fn add_raw(&self, id: EventId, payload: Vec<u8>) {
        self.rows
            .lock()
            .unwrap()
            .push((OutboxItem { id, payload }, false));
    }

    fn unpublished(&self) -> Vec<EventId> {
        let rows = self.rows.lock().unwrap();
        rows.iter()
            .filter(|(_, published)| !published)
            .map(|(item, _)| item.id)
            .collect()
    }
}

#[async_trait]
impl OutboxSource for FakeOutbox {
    async fn fetch_unpublished(&self, limit: u64) -> Result<Vec<OutboxItem>, BusError> {
        if *self.fail_fetch.lock().unwrap() {
            return Err(BusError::Source("database is down".to_owned()));
        }
        let rows = self.rows.lock().unwrap();
        Ok(rows
            .iter()
            .filter(|(_, published)| !published)
            .take(usize::try_from(limit).unwrap())
            .map(|(item, _)| item.clone())
            .collect())
    }

    async fn mark_published(&self, ids: &[EventId]) -> Result<(), BusError> {
        let mut rows = self.rows.lock().unwrap();
        for (item, published) in rows.iter_mut() {
            if ids.contains(&item.id) {
                *published = true;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Bus for FlakyBus {
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_calls.contains(&call) {
            return Err(BusError::Closed);
        }
        self.inner.publish(envelope).await
    }

    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        consumer: &str,
    ) -> Result<Box<dyn Subscription>, BusError> {
        self.inner.subscribe(topic, group, consumer).await
    }

    async fn dead_letters(&self, topic: &str, limit: usize) -> Result<Vec<DeadLetter>, BusError> {
        self.inner.dead_letters(topic, limit).await
    }

    async fn tail(&self, topic: &str) -> Result<Box<dyn Tail>, BusError> {
        self.inner.tail(topic).await
    }
}

fn events(n: usize) -> Vec<Envelope> {
    (0..n)
        .map(|i| report_event(topics::REPORT_INGESTED, &format!("d{i}.example")))
        .collect()
}

/// Reads `n` events from the subscription, acknowledging each, and returns their ids.
async fn receive(sub: &mut dyn Subscription, n: usize) -> Vec<EventId> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let delivery = next_within(sub, LIMIT).await.unwrap();
        sub.ack(&delivery).await.unwrap();
        ids.push(delivery.envelope.id);
    }
    ids
}

on_both_transports!(
    relay_once_publishes_unpublished_items_in_order_and_marks_them_published,
    a_failing_bus_leaves_the_failed_item_and_those_after_it_unpublished,
    relay_once_takes_at_most_limit_items_oldest_first,
    the_relay_task_publishes_on_wake_retries_through_bus_errors_and_stops_on_shutdown,
);

async fn relay_once_publishes_unpublished_items_in_order_and_marks_them_published(
    transport: Transport,
) {
    let h = Harness::new(transport, fast_settings()).await;
    let mut sub = h
        .bus
        .subscribe(topics::REPORT_INGESTED, "analysis", "c1")
        .await
        .unwrap();
    let sent = events(4);
    let outbox = FakeOutbox::with(&sent);

    let published = relay_once(&outbox, h.bus.as_ref(), 100).await.unwrap();

    assert_eq!(published, 4);
    assert_eq!(outbox.unpublished(), []);
    let expected: Vec<EventId> = sent.iter().map(|e| e.id).collect();
    assert_eq!(receive(sub.as_mut(), 4).await, expected);
    // A second round finds nothing to do.
    assert_eq!(relay_once(&outbox, h.bus.as_ref(), 100).await.unwrap(), 0);
    assert!(next_within(sub.as_mut(), QUIET).await.is_none());
    h.finish().await;
}

async fn a_failing_bus_leaves_the_failed_item_and_those_after_it_unpublished(transport: Transport) {
    let h = Harness::new(transport, fast_settings()).await;
    let mut sub = h
        .bus
        .subscribe(topics::REPORT_INGESTED, "analysis", "c1")
        .await
        .unwrap();
    let sent = events(3);
    let outbox = FakeOutbox::with(&sent);
    let ids: Vec<EventId> = sent.iter().map(|e| e.id).collect();

    let down = FlakyBus {
        inner: Arc::clone(&h.bus),
        calls: AtomicUsize::new(0),
        fail_calls: vec![0],
    };
    assert!(relay_once(&outbox, &down, 100).await.is_err());
    assert_eq!(
        outbox.unpublished(),
        ids,
        "nothing published, nothing marked"
    );

    let flaky = FlakyBus {
        inner: Arc::clone(&h.bus),
        calls: AtomicUsize::new(0),
        fail_calls: vec![1],
    };
    assert!(relay_once(&outbox, &flaky, 100).await.is_err());
    assert_eq!(outbox.unpublished(), ids[1..], "only the first went out");

    assert_eq!(relay_once(&outbox, h.bus.as_ref(), 100).await.unwrap(), 2);
    assert_eq!(outbox.unpublished(), []);
    assert_eq!(receive(sub.as_mut(), 3).await, ids, "still in outbox order");
    assert!(next_within(sub.as_mut(), QUIET).await.is_none());
    h.finish().await;
}

async fn relay_once_takes_at_most_limit_items_oldest_first(transport: Transport) {
    let h = Harness::new(transport, fast_settings()).await;
    let sent = events(5);
    let outbox = FakeOutbox::with(&sent);
    // An item whose bytes are not an envelope is skipped (and marked) instead of blocking.
    let garbage = EventId::new();
    outbox.add_raw(garbage, vec![0xff, 0x00, 0x13]);
    let ids: Vec<EventId> = sent.iter().map(|e| e.id).collect();

    assert_eq!(relay_once(&outbox, h.bus.as_ref(), 2).await.unwrap(), 2);
    let mut rest = ids[2..].to_vec();
    rest.push(garbage);
    assert_eq!(outbox.unpublished(), rest);
    assert_eq!(relay_once(&outbox, h.bus.as_ref(), 10).await.unwrap(), 3);
    assert_eq!(outbox.unpublished(), []);

    let mut sub = h
        .bus
        .subscribe(topics::REPORT_INGESTED, "late-group", "c1")
        .await
        .unwrap();
    assert_eq!(receive(sub.as_mut(), 5).await, ids);
    assert!(next_within(sub.as_mut(), QUIET).await.is_none());
    h.finish().await;
}

async fn the_relay_task_publishes_on_wake_retries_through_bus_errors_and_stops_on_shutdown(
    transport: Transport,
) {
    let h = Harness::new(transport, fast_settings()).await;
    let mut sub = h
        .bus
        .subscribe(topics::REPORT_INGESTED, "analysis", "c1")
        .await
        .unwrap();
    let outbox = Arc::new(FakeOutbox::default());
    let flaky: Arc<dyn Bus> = Arc::new(FlakyBus {
        inner: Arc::clone(&h.bus),
        calls: AtomicUsize::new(0),
        fail_calls: vec![1, 2],
    });
    let wake = Arc::new(Notify::new());
    let (stop, shutdown) = watch::channel(false);
    // A long interval: only `wake` (and the retries) can make it publish in time.
    let relay = spawn_relay(
        Arc::clone(&outbox) as Arc<dyn OutboxSource>,
        flaky,
        Arc::clone(&wake),
        Duration::from_secs(60),
        shutdown,
    );

    let sent = events(3);
    outbox.add(&sent[0]);
    wake.notify_one();
    assert_eq!(receive(sub.as_mut(), 1).await, [sent[0].id]);

    // The next two publish calls fail; the relay backs off and retries by itself.
    outbox.add(&sent[1]);
    outbox.add(&sent[2]);
    wake.notify_one();
    assert_eq!(receive(sub.as_mut(), 2).await, [sent[1].id, sent[2].id]);
    wait_until(LIMIT, "all items marked", || {
        outbox.unpublished().is_empty()
    })
    .await;

    // A failing outbox source does not stop it either.
    *outbox.fail_fetch.lock().unwrap() = true;
    let late = report_event(topics::REPORT_INGESTED, "late.example");
    outbox.add(&late);
    wake.notify_one();
    tokio::time::sleep(Duration::from_millis(150)).await;
    *outbox.fail_fetch.lock().unwrap() = false;
    assert_eq!(receive(sub.as_mut(), 1).await, [late.id]);

    stop.send_replace(true);
    tokio::time::timeout(LIMIT, relay).await.unwrap().unwrap();
    h.finish().await;
}
