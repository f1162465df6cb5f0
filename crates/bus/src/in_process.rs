//! The in-process transport: tokio and a mutex-guarded log per topic, with the same consumer
//! group semantics as Redis Streams (see [`crate::Bus`]). Used by `postern up`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::bus::{Bus, BusSettings, DeadLetter, Delivery, Handle, Subscription, Tail};
use crate::envelope::Envelope;
use crate::error::BusError;

/// The bus for one process. Cheap to clone: clones share the same topics.
///
/// A topic keeps its last [`BusSettings::max_len`] events in memory so that groups created
/// later (at [`Bus::subscribe`]) start from the topic's beginning, as on Redis. Nothing
/// survives the process: durability comes from the outbox, which the relay publishes again
/// after a restart.
#[derive(Clone, Debug, Default)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    settings: BusSettings,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    closed: bool,
    topics: HashMap<String, Topic>,
}

#[derive(Debug, Default)]
struct Topic {
    /// Retained events; `log[0]` has sequence number `first_seq`.
    log: VecDeque<Arc<Envelope>>,
    first_seq: u64,
    /// The sequence number the next published event gets.
    next_seq: u64,
    groups: HashMap<String, Group>,
    dead: Vec<DeadLetter>,
    /// Woken on every publish (and on close).
    wake: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Group {
    /// The next sequence number never yet delivered to this group.
    next_seq: u64,
    /// Delivered, unacknowledged events by sequence number (the group's pending entries list).
    pending: BTreeMap<u64, Pending>,
}

#[derive(Debug)]
struct Pending {
    envelope: Arc<Envelope>,
    consumer: String,
    delivered_at: Instant,
    deliveries: u32,
}

/// One consumer of a group on an in-process topic.
struct InProcessSubscription {
    inner: Arc<Inner>,
    topic: String,
    group: String,
    consumer: String,
    wake: Arc<Notify>,
}

/// A reader of an in-process topic's new events, outside any group.
struct InProcessTail {
    inner: Arc<Inner>,
    topic: String,
    /// The sequence number of the next event to return.
    next_seq: u64,
    wake: Arc<Notify>,
}

/// What a subscription found when it looked for work.
enum Step {
    Deliver(Delivery),
    /// Nothing now; something becomes claimable at this instant, if ever.
    Wait(Option<Instant>),
}

impl InProcessBus {
    /// An empty bus with these settings.
    pub fn new(settings: BusSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Closes the bus: publishing fails and every subscription's `next` returns
    /// [`BusError::Closed`].
    pub fn close(&self) {
        let mut state = self.inner.lock();
        state.closed = true;
        for topic in state.topics.values() {
            topic.wake.notify_waiters();
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a panic elsewhere while the
        // lock was held does not make it unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Topic {
    fn push(&mut self, envelope: Envelope, max_len: usize) {
        self.log.push_back(Arc::new(envelope));
        self.next_seq += 1;
        while self.log.len() > max_len.max(1) {
            self.log.pop_front();
            self.first_seq += 1;
        }
    }
}

impl InProcessSubscription {
    /// Claims an idle pending event, else takes a new one, else says when to look again.
    fn step(&self, now: Instant) -> Result<Step, BusError> {
        let settings = &self.inner.settings;
        let mut state = self.inner.lock();
        if state.closed {
            return Err(BusError::Closed);
        }
        let topic = state.topics.entry(self.topic.clone()).or_default();
        let group = topic.groups.entry(self.group.clone()).or_default();

        // 1. Claim, like XAUTOCLAIM: the oldest pending event idle for at least claim_idle.
        loop {
            let claimable = group
                .pending
                .iter()
                .find(|(_, p)| now.saturating_duration_since(p.delivered_at) >= settings.claim_idle)
                .map(|(seq, _)| *seq);
            let Some(seq) = claimable else { break };
            let Some(pending) = group.pending.get_mut(&seq) else {
                break;
            };
            pending.deliveries = pending.deliveries.saturating_add(1);
            pending.consumer.clone_from(&self.consumer);
            pending.delivered_at = now;
            if pending.deliveries > settings.max_attempts {
                let attempts = pending.deliveries - 1;
                let envelope = Arc::clone(&pending.envelope);
                group.pending.remove(&seq);
                tracing::warn!(
                    topic = %self.topic, group = %self.group, event_id = %envelope.id, attempts,
                    "event delivered too often; moved to dead letters"
                );
                topic.dead.push(DeadLetter {
                    event: envelope.encode(),
                    group: self.group.clone(),
                    consumer: self.consumer.clone(),
                    attempts,
                    reason: format!("delivered {attempts} times without acknowledgement"),
                });
                continue;
            }
            return Ok(Step::Deliver(self.delivery(
                &pending.envelope,
                seq,
                pending.deliveries,
            )));
        }

        // 2. A new event, like XREADGROUP >.
        group.next_seq = group.next_seq.max(topic.first_seq);
        if group.next_seq < topic.next_seq {
            let seq = group.next_seq;
            if let Some(envelope) = retained(&topic.log, topic.first_seq, seq) {
                group.next_seq += 1;
                let delivery = self.delivery(&envelope, seq, 1);
                group.pending.insert(
                    seq,
                    Pending {
                        envelope,
                        consumer: self.consumer.clone(),
                        delivered_at: now,
                        deliveries: 1,
                    },
                );
                return Ok(Step::Deliver(delivery));
            }
        }

        // 3. Wait until the oldest pending event becomes claimable, or a publish.
        let next_claimable = group
            .pending
            .values()
            .map(|p| p.delivered_at + settings.claim_idle)
            .min();
        Ok(Step::Wait(next_claimable))
    }

    fn delivery(&self, envelope: &Envelope, seq: u64, attempt: u32) -> Delivery {
        Delivery {
            envelope: envelope.clone(),
            attempt,
            handle: Handle::InProcess {
                topic: self.topic.clone(),
                group: self.group.clone(),
                seq,
            },
        }
    }

    /// The delivery's sequence number, if this subscription's group delivered it.
    fn own_seq(&self, delivery: &Delivery) -> Result<u64, BusError> {
        match &delivery.handle {
            Handle::InProcess { topic, group, seq }
                if *topic == self.topic && *group == self.group =>
            {
                Ok(*seq)
            }
            _ => Err(BusError::ForeignDelivery),
        }
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        let mut state = self.inner.lock();
        if state.closed {
            return Err(BusError::Closed);
        }
        let topic = state.topics.entry(envelope.topic.clone()).or_default();
        topic.push(envelope.clone(), self.inner.settings.max_len);
        topic.wake.notify_waiters();
        Ok(())
    }

    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        consumer: &str,
    ) -> Result<Box<dyn Subscription>, BusError> {
        let mut state = self.inner.lock();
        if state.closed {
            return Err(BusError::Closed);
        }
        let entry = state.topics.entry(topic.to_owned()).or_default();
        let first_seq = entry.first_seq;
        entry
            .groups
            .entry(group.to_owned())
            .or_insert_with(|| Group {
                next_seq: first_seq,
                pending: BTreeMap::new(),
            });
        Ok(Box::new(InProcessSubscription {
            inner: Arc::clone(&self.inner),
            topic: topic.to_owned(),
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            wake: Arc::clone(&entry.wake),
        }))
    }

    async fn dead_letters(&self, topic: &str, limit: usize) -> Result<Vec<DeadLetter>, BusError> {
        let state = self.inner.lock();
        Ok(state
            .topics
            .get(topic)
            .map(|t| t.dead.iter().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    async fn tail(&self, topic: &str) -> Result<Box<dyn Tail>, BusError> {
        let mut state = self.inner.lock();
        if state.closed {
            return Err(BusError::Closed);
        }
        let entry = state.topics.entry(topic.to_owned()).or_default();
        Ok(Box::new(InProcessTail {
            inner: Arc::clone(&self.inner),
            topic: topic.to_owned(),
            next_seq: entry.next_seq,
            wake: Arc::clone(&entry.wake),
        }))
    }
}

#[async_trait]
impl Tail for InProcessTail {
    async fn next(&mut self) -> Result<Envelope, BusError> {
        loop {
            // Register for wake-ups before looking, so a publish in between is not missed.
            let wake = Arc::clone(&self.wake);
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.inner.lock();
                if state.closed {
                    return Err(BusError::Closed);
                }
                if let Some(topic) = state.topics.get(&self.topic) {
                    if self.next_seq < topic.first_seq {
                        tracing::warn!(
                            topic = %self.topic, skipped = topic.first_seq - self.next_seq,
                            "tail fell behind the topic's retention; events skipped"
                        );
                        self.next_seq = topic.first_seq;
                    }
                    if let Some(envelope) = retained(&topic.log, topic.first_seq, self.next_seq) {
                        self.next_seq += 1;
                        return Ok(Envelope::clone(&envelope));
                    }
                }
            }
            notified.await;
        }
    }
}

#[async_trait]
impl Subscription for InProcessSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            // Register for wake-ups before looking, so a publish in between is not missed.
            let wake = Arc::clone(&self.wake);
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let now = Instant::now();
            match self.step(now)? {
                Step::Deliver(delivery) => return Ok(delivery),
                Step::Wait(claimable_at) => {
                    let limit = now + self.inner.settings.block;
                    let until = claimable_at.map_or(limit, |at| at.min(limit));
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(until) => {}
                    }
                }
            }
        }
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let seq = self.own_seq(delivery)?;
        let mut state = self.inner.lock();
        if let Some(group) = state
            .topics
            .get_mut(&self.topic)
            .and_then(|t| t.groups.get_mut(&self.group))
        {
            group.pending.remove(&seq);
        }
        Ok(())
    }

    async fn dead_letter(&mut self, delivery: &Delivery, reason: &str) -> Result<(), BusError> {
        let seq = self.own_seq(delivery)?;
        let mut state = self.inner.lock();
        let topic = state.topics.entry(self.topic.clone()).or_default();
        if let Some(group) = topic.groups.get_mut(&self.group) {
            group.pending.remove(&seq);
        }
        topic.dead.push(DeadLetter {
            event: delivery.envelope.encode(),
            group: self.group.clone(),
            consumer: self.consumer.clone(),
            attempts: delivery.attempt,
            reason: reason.to_owned(),
        });
        Ok(())
    }

    fn max_attempts(&self) -> u32 {
        self.inner.settings.max_attempts
    }
}

/// The retained event with sequence number `seq`, if still in `log` (which starts at
/// `first_seq`).
fn retained(log: &VecDeque<Arc<Envelope>>, first_seq: u64, seq: u64) -> Option<Arc<Envelope>> {
    let index = usize::try_from(seq.checked_sub(first_seq)?).ok()?;
    log.get(index).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::DomainRemoved;
    use chrono::Utc;
    use std::time::Duration;

    fn event(topic: &str, name: &str) -> Envelope {
        let message = DomainRemoved {
            domain_id: String::new(),
            name: name.to_owned(),
        };
        Envelope::new(topic, &message, None, None, Utc::now())
    }

    #[tokio::test]
    async fn a_topic_keeps_only_max_len_events_and_a_new_group_starts_at_the_oldest_kept() {
        let bus = InProcessBus::new(BusSettings {
            max_len: 2,
            ..BusSettings::default()
        });
        for name in ["a.example", "b.example", "c.example"] {
            bus.publish(&event("t", name)).await.unwrap();
        }
        let mut sub = bus.subscribe("t", "g", "c1").await.unwrap();
        let first = sub.next().await.unwrap();
        let second = sub.next().await.unwrap();
        let names: Vec<String> = [first, second]
            .iter()
            .map(|d| d.envelope.payload_as::<DomainRemoved>().unwrap().name)
            .collect();
        assert_eq!(names, ["b.example", "c.example"]);
    }

    #[tokio::test]
    async fn next_wakes_up_on_publish_without_waiting_for_block() {
        let bus = InProcessBus::new(BusSettings {
            block: Duration::from_secs(30),
            ..BusSettings::default()
        });
        let mut sub = bus.subscribe("t", "g", "c1").await.unwrap();
        let publisher = bus.clone();
        let sent = event("t", "a.example");
        let id = sent.id;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            publisher.publish(&sent).await.unwrap();
        });
        let delivery = tokio::time::timeout(Duration::from_secs(2), sub.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(delivery.envelope.id, id);
    }

    #[tokio::test]
    async fn close_ends_waiting_subscriptions_and_refuses_publishing() {
        let bus = InProcessBus::default();
        let mut sub = bus.subscribe("t", "g", "c1").await.unwrap();
        let closer = bus.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            closer.close();
        });
        let result = tokio::time::timeout(Duration::from_secs(2), sub.next())
            .await
            .unwrap();
        assert!(matches!(result, Err(BusError::Closed)));
        assert!(matches!(
            bus.publish(&event("t", "a.example")).await,
            Err(BusError::Closed)
        ));
    }

    #[tokio::test]
    async fn a_tail_that_falls_behind_the_retention_skips_to_the_oldest_kept_event() {
        let bus = InProcessBus::new(BusSettings {
            max_len: 2,
            ..BusSettings::default()
        });
        let mut tail = bus.tail("t").await.unwrap();
        for name in ["a.example", "b.example", "c.example"] {
            bus.publish(&event("t", name)).await.unwrap();
        }
        let mut names = Vec::new();
        for _ in 0..2 {
            let envelope = tokio::time::timeout(Duration::from_secs(2), tail.next())
                .await
                .unwrap()
                .unwrap();
            names.push(envelope.payload_as::<DomainRemoved>().unwrap().name);
        }
        assert_eq!(names, ["b.example", "c.example"]);
    }

    #[tokio::test]
    async fn close_ends_a_waiting_tail() {
        let bus = InProcessBus::default();
        let mut tail = bus.tail("t").await.unwrap();
        let closer = bus.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            closer.close();
        });
        let result = tokio::time::timeout(Duration::from_secs(2), tail.next())
            .await
            .unwrap();
        assert!(matches!(result, Err(BusError::Closed)));
        assert!(matches!(bus.tail("t").await, Err(BusError::Closed)));
    }

    #[tokio::test]
    async fn a_delivery_from_another_topic_is_refused() {
        let bus = InProcessBus::default();
        bus.publish(&event("t1", "a.example")).await.unwrap();
        let mut sub1 = bus.subscribe("t1", "g", "c1").await.unwrap();
        let mut sub2 = bus.subscribe("t2", "g", "c1").await.unwrap();
        let delivery = sub1.next().await.unwrap();
        assert!(matches!(
            sub2.ack(&delivery).await,
            Err(BusError::ForeignDelivery)
        ));
        sub1.ack(&delivery).await.unwrap();
    }
}
