//! Consumer-group behaviour, checked on both transports (in-process and Redis Streams).
// Test code: the scenarios are plain async fns (one per transport is generated), so
// clippy's allow-unwrap-in-tests does not see them as tests.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[macro_use]
#[path = "support/harness.rs"]
mod harness;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use harness::{Harness, Transport, fast_settings, next_within, report_event, wait_until};
use postern_bus::events::DomainAdded;
use postern_bus::{BusSettings, Envelope, HandlerError, run_consumer, topics};
use postern_domain::{ClientId, EventId, MspId};
use tokio::sync::watch;

/// Longer than `claim_idle` (200 ms): nothing left pending would still be hidden.
const QUIET: Duration = Duration::from_millis(500);
const LIMIT: Duration = Duration::from_secs(3);

on_both_transports!(
    a_published_event_arrives_with_its_payload_and_trace_context,
    every_group_gets_every_event_including_those_published_before_it_was_created,
    consumers_of_one_group_share_the_events_each_event_going_to_one,
    an_event_taken_by_a_consumer_that_dies_is_delivered_again_to_another_after_claim_idle,
    an_idempotent_handler_applies_a_redelivered_event_once,
    a_handler_that_keeps_failing_gets_max_attempts_then_the_event_is_dead_lettered,
    an_event_whose_consumers_keep_dying_is_dead_lettered_after_max_attempts,
);

async fn a_published_event_arrives_with_its_payload_and_trace_context(transport: Transport) {
    let h = Harness::new(transport, fast_settings()).await;
    let mut sub = h
        .bus
        .subscribe(topics::DOMAIN_ADDED, "analysis", "c1")
        .await
        .unwrap();
    let message = DomainAdded {
        domain_id: uuid::Uuid::now_v7().to_string(),
        name: "example.com".to_owned(),
        assigned_report_ids: vec![uuid::Uuid::now_v7().to_string()],
    };
    let sent = Envelope::new(
        topics::DOMAIN_ADDED,
        &message,
        Some(MspId::new()),
        Some(ClientId::new()),
        Utc::now(),
    )
    .with_trace_context(BTreeMap::from([(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )]));
    h.bus.publish(&sent).await.unwrap();

    let delivery = next_within(sub.as_mut(), LIMIT).await.unwrap();
    assert_eq!(delivery.attempt, 1);
    assert_eq!(delivery.envelope, sent);
    assert_eq!(
        delivery.envelope.payload_as::<DomainAdded>().unwrap(),
        message
    );
    sub.ack(&delivery).await.unwrap();
    assert!(next_within(sub.as_mut(), QUIET).await.is_none());
    h.finish().await;
}

async fn every_group_gets_every_event_including_those_published_before_it_was_created(
    transport: Transport,
) {
    let h = Harness::new(transport, fast_settings()).await;
    let topic = topics::REPORT_INGESTED;
    let early = report_event(topic, "early.example");
    h.bus.publish(&early).await.unwrap();
    let mut analysis = h.bus.subscribe(topic, "analysis", "a1").await.unwrap();
    let mut notify = h.bus.subscribe(topic, "notify", "n1").await.unwrap();
    let later: Vec<Envelope> = (0..3)
        .map(|i| report_event(topic, &format!("d{i}.example")))
        .collect();
    for event in &later {
        h.bus.publish(event).await.unwrap();
    }
    let expected: Vec<EventId> = std::iter::once(&early)
        .chain(&later)
        .map(|e| e.id)
        .collect();

    for sub in [&mut analysis, &mut notify] {
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            let delivery = next_within(sub.as_mut(), LIMIT).await.unwrap();
            sub.ack(&delivery).await.unwrap();
            got.push(delivery.envelope.id);
        }
        assert_eq!(got, expected, "each group gets every event, in order");
        assert!(next_within(sub.as_mut(), QUIET).await.is_none());
    }
    h.finish().await;
}

async fn consumers_of_one_group_share_the_events_each_event_going_to_one(transport: Transport) {
    let h = Harness::new(transport, fast_settings()).await;
    let topic = topics::REPORT_INGESTED;
    let mut c1 = h.bus.subscribe(topic, "analysis", "c1").await.unwrap();
    let mut c2 = h.bus.subscribe(topic, "analysis", "c2").await.unwrap();
    let sent: Vec<Envelope> = (0..6)
        .map(|i| report_event(topic, &format!("d{i}.example")))
        .collect();
    for event in &sent {
        h.bus.publish(event).await.unwrap();
    }

    // Take turns without acknowledging: an event one consumer holds is not given to the other.
    let mut taken = Vec::new();
    for _ in 0..sent.len() / 2 {
        for (name, sub) in [("c1", &mut c1), ("c2", &mut c2)] {
            let delivery = next_within(sub.as_mut(), LIMIT).await.unwrap();
            assert_eq!(delivery.attempt, 1);
            taken.push((name, delivery));
        }
    }
    let ids: Vec<EventId> = taken.iter().map(|(_, d)| d.envelope.id).collect();
    let expected: Vec<EventId> = sent.iter().map(|e| e.id).collect();
    assert_eq!(ids, expected, "each event went to exactly one consumer");
    assert!(taken.iter().any(|(name, _)| *name == "c1"));
    assert!(taken.iter().any(|(name, _)| *name == "c2"));

    for (name, delivery) in &taken {
        let sub = if *name == "c1" { &mut c1 } else { &mut c2 };
        sub.ack(delivery).await.unwrap();
    }
    // Acknowledged events are never delivered again, to either consumer.
    assert!(next_within(c1.as_mut(), QUIET).await.is_none());
    assert!(
        next_within(c2.as_mut(), Duration::from_millis(50))
            .await
            .is_none()
    );
    h.finish().await;
}

async fn an_event_taken_by_a_consumer_that_dies_is_delivered_again_to_another_after_claim_idle(
    transport: Transport,
) {
    let settings = fast_settings();
    let h = Harness::new(transport, settings).await;
    let topic = topics::REPORT_INGESTED;
    let mut doomed = h.bus.subscribe(topic, "analysis", "doomed").await.unwrap();
    let mut survivor = h
        .bus
        .subscribe(topic, "analysis", "survivor")
        .await
        .unwrap();
    let sent = report_event(topic, "example.com");
    h.bus.publish(&sent).await.unwrap();

    let first = next_within(doomed.as_mut(), LIMIT).await.unwrap();
    let taken_at = tokio::time::Instant::now();
    assert_eq!(first.envelope.id, sent.id);
    drop(doomed); // dies without acknowledging

    let again = next_within(survivor.as_mut(), LIMIT).await.unwrap();
    assert!(
        taken_at.elapsed() >= settings.claim_idle,
        "redelivered after {:?}, before claim_idle",
        taken_at.elapsed()
    );
    assert_eq!(again.envelope, sent);
    assert_eq!(again.attempt, 2);
    survivor.ack(&again).await.unwrap();

    let mut late = h.bus.subscribe(topic, "analysis", "late").await.unwrap();
    assert!(next_within(late.as_mut(), QUIET).await.is_none());
    h.finish().await;
}

async fn an_idempotent_handler_applies_a_redelivered_event_once(transport: Transport) {
    let h = Harness::new(transport, fast_settings()).await;
    let topic = topics::REPORT_INGESTED;
    let applied: Arc<Mutex<HashSet<EventId>>> = Arc::default();
    let applications = Arc::new(Mutex::new(Vec::<EventId>::new()));
    let calls = Arc::new(Mutex::new(Vec::<(EventId, u32)>::new()));
    // The handler: apply to an in-memory "database" keyed by event id; applying twice is a
    // no-op, as with the store's processed_event table.
    let apply = {
        let applied = Arc::clone(&applied);
        let applications = Arc::clone(&applications);
        move |envelope: &Envelope| {
            if applied.lock().unwrap().insert(envelope.id) {
                applications.lock().unwrap().push(envelope.id);
            }
        }
    };

    let first = report_event(topic, "first.example");
    let second = report_event(topic, "second.example");
    h.bus.publish(&first).await.unwrap();

    // A consumer applies the first event, then dies before acknowledging it.
    let mut crashing = h
        .bus
        .subscribe(topic, "analysis", "crashing")
        .await
        .unwrap();
    let delivery = next_within(crashing.as_mut(), LIMIT).await.unwrap();
    apply(&delivery.envelope);
    calls
        .lock()
        .unwrap()
        .push((delivery.envelope.id, delivery.attempt));
    drop(crashing);
    h.bus.publish(&second).await.unwrap();

    // Its replacement runs the consumer loop with the same handler.
    let sub = h
        .bus
        .subscribe(topic, "analysis", "replacement")
        .await
        .unwrap();
    let (stop, shutdown) = watch::channel(false);
    let handler = {
        let calls = Arc::clone(&calls);
        move |envelope: Envelope| {
            let apply = apply.clone();
            let calls = Arc::clone(&calls);
            async move {
                calls.lock().unwrap().push((envelope.id, 0));
                apply(&envelope);
                Ok::<(), HandlerError>(())
            }
        }
    };
    let consumer = tokio::spawn(run_consumer(sub, handler, shutdown));
    wait_until(LIMIT, "the redelivery", || calls.lock().unwrap().len() == 3).await;
    tokio::time::sleep(QUIET).await;
    stop.send_replace(true);
    consumer.await.unwrap();

    let calls: Vec<EventId> = calls.lock().unwrap().iter().map(|(id, _)| *id).collect();
    assert_eq!(
        calls.iter().filter(|id| **id == first.id).count(),
        2,
        "the first event was delivered twice"
    );
    assert_eq!(*applications.lock().unwrap(), [first.id, second.id]);
    // Both were acknowledged: nothing is left for anyone in the group.
    let mut late = h.bus.subscribe(topic, "analysis", "late").await.unwrap();
    assert!(next_within(late.as_mut(), QUIET).await.is_none());
    h.finish().await;
}

async fn a_handler_that_keeps_failing_gets_max_attempts_then_the_event_is_dead_lettered(
    transport: Transport,
) {
    let settings = BusSettings {
        claim_idle: Duration::from_millis(100),
        max_attempts: 3,
        ..fast_settings()
    };
    let h = Harness::new(transport, settings).await;
    let topic = topics::REPORT_INGESTED;
    let poison = report_event(topic, "poison.example");
    let fine = report_event(topic, "fine.example");
    h.bus.publish(&poison).await.unwrap();
    h.bus.publish(&fine).await.unwrap();

    let attempts = Arc::new(Mutex::new(Vec::<EventId>::new()));
    let handler = {
        let attempts = Arc::clone(&attempts);
        let poison = poison.id;
        move |envelope: Envelope| {
            let attempts = Arc::clone(&attempts);
            async move {
                attempts.lock().unwrap().push(envelope.id);
                if envelope.id == poison {
                    return Err::<(), HandlerError>("row violates a constraint".into());
                }
                Ok(())
            }
        }
    };
    let sub = h.bus.subscribe(topic, "analysis", "c1").await.unwrap();
    let (stop, shutdown) = watch::channel(false);
    let consumer = tokio::spawn(run_consumer(sub, handler, shutdown));

    let bus = Arc::clone(&h.bus);
    let deadline = tokio::time::Instant::now() + LIMIT;
    let dead = loop {
        let dead = bus.dead_letters(topic, 10).await.unwrap();
        if !dead.is_empty() {
            break dead;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing was dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(QUIET).await;
    stop.send_replace(true);
    consumer.await.unwrap();

    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].envelope().unwrap(), poison);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].group, "analysis");
    assert_eq!(dead[0].consumer, "c1");
    assert!(
        dead[0].reason.contains("row violates a constraint"),
        "{}",
        dead[0].reason
    );
    let attempts = attempts.lock().unwrap().clone();
    assert_eq!(attempts.iter().filter(|id| **id == poison.id).count(), 3);
    assert_eq!(attempts.iter().filter(|id| **id == fine.id).count(), 1);
    let mut late = h.bus.subscribe(topic, "analysis", "late").await.unwrap();
    assert!(next_within(late.as_mut(), QUIET).await.is_none());
    h.finish().await;
}

async fn an_event_whose_consumers_keep_dying_is_dead_lettered_after_max_attempts(
    transport: Transport,
) {
    let settings = BusSettings {
        claim_idle: Duration::from_millis(100),
        max_attempts: 2,
        ..fast_settings()
    };
    let h = Harness::new(transport, settings).await;
    let topic = topics::REPORT_INGESTED;
    let poison = report_event(topic, "crash.example");
    h.bus.publish(&poison).await.unwrap();

    for (attempt, consumer) in [(1, "c1"), (2, "c2")] {
        let mut sub = h.bus.subscribe(topic, "analysis", consumer).await.unwrap();
        let delivery = next_within(sub.as_mut(), LIMIT).await.unwrap();
        assert_eq!(delivery.envelope.id, poison.id);
        assert_eq!(delivery.attempt, attempt);
        drop(sub); // the event crashes the process every time
    }
    let mut third = h.bus.subscribe(topic, "analysis", "c3").await.unwrap();
    assert!(next_within(third.as_mut(), QUIET).await.is_none());

    let dead = h.bus.dead_letters(topic, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].envelope().unwrap().id, poison.id);
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(
        h.bus.dead_letters(topics::DOMAIN_ADDED, 10).await.unwrap(),
        []
    );
    h.finish().await;
}
