//! Tails and live feeds, checked on both transports (in-process and Redis Streams): every
//! process sees every event, unlike the consumers of a group.
// Test code: the scenarios are plain async fns (one per transport is generated), so
// clippy's allow-unwrap-in-tests does not see them as tests.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[macro_use]
#[path = "support/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{Harness, Transport, fast_settings, next_within, report_event};
use postern_bus::{Envelope, LiveFeed, Tail, topics};
use postern_domain::EventId;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::watch;

const QUIET: Duration = Duration::from_millis(500);
const LIMIT: Duration = Duration::from_secs(3);

on_both_transports!(
    every_tail_gets_every_event_published_after_it_opened_and_none_from_before,
    live_feeds_of_two_processes_each_get_every_event,
);

/// The next event of a tail, or `None` if none arrives within `wait`.
async fn tail_within(tail: &mut dyn Tail, wait: Duration) -> Option<Envelope> {
    match tokio::time::timeout(wait, tail.next()).await {
        Ok(envelope) => Some(envelope.unwrap()),
        Err(_elapsed) => None,
    }
}

async fn every_tail_gets_every_event_published_after_it_opened_and_none_from_before(
    transport: Transport,
) {
    let h = Harness::new(transport, fast_settings()).await;
    let topic = topics::ISSUE_CHANGED;
    let early = report_event(topic, "early.example");
    h.bus.publish(&early).await.unwrap();
    let mut first = h.bus.tail(topic).await.unwrap();
    let mut second = h.bus.tail(topic).await.unwrap();
    let mut group = h.bus.subscribe(topic, "notify", "n1").await.unwrap();
    let later: Vec<Envelope> = (0..3)
        .map(|i| report_event(topic, &format!("d{i}.example")))
        .collect();
    for event in &later {
        h.bus.publish(event).await.unwrap();
    }
    let expected: Vec<EventId> = later.iter().map(|e| e.id).collect();

    for tail in [&mut first, &mut second] {
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            got.push(tail_within(tail.as_mut(), LIMIT).await.unwrap());
        }
        assert_eq!(got, later, "each tail gets every later event, in order");
        assert!(tail_within(tail.as_mut(), QUIET).await.is_none());
    }
    // Tails take nothing from the groups: the group still gets all four.
    let mut grouped = Vec::new();
    for _ in 0..=expected.len() {
        let delivery = next_within(group.as_mut(), LIMIT).await.unwrap();
        group.ack(&delivery).await.unwrap();
        grouped.push(delivery.envelope.id);
    }
    assert_eq!(grouped[0], early.id);
    assert_eq!(grouped[1..], expected[..]);
    h.finish().await;
}

async fn live_feeds_of_two_processes_each_get_every_event(transport: Transport) {
    let h = Harness::new(transport, fast_settings()).await;
    let topic = topics::ISSUE_CHANGED;
    let (stop, shutdown) = watch::channel(false);
    let (one, two) = (LiveFeed::new(16), LiveFeed::new(16));
    let one_task = one
        .follow(Arc::clone(&h.bus), topic, shutdown.clone())
        .await
        .unwrap();
    let two_task = two
        .follow(Arc::clone(&h.bus), topic, shutdown)
        .await
        .unwrap();
    let mut receivers = [one.subscribe(), one.subscribe(), two.subscribe()];
    let sent: Vec<Envelope> = (0..3)
        .map(|i| report_event(topic, &format!("d{i}.example")))
        .collect();
    for event in &sent {
        h.bus.publish(event).await.unwrap();
    }
    for receiver in &mut receivers {
        for event in &sent {
            let got = tokio::time::timeout(LIMIT, receiver.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(*got, *event);
        }
        assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
    }
    stop.send_replace(true);
    for task in [one_task, two_task] {
        tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();
    }
    // The feed's sender is still here: its subscribers wait rather than fail.
    assert!(matches!(receivers[0].try_recv(), Err(TryRecvError::Empty)));
    h.finish().await;
}
