//! The transport-neutral bus: publishing, consumer-group subscriptions, deliveries and the
//! settings both transports share.

use std::time::Duration;

use async_trait::async_trait;

use crate::envelope::Envelope;
use crate::error::BusError;

/// Publishes events and hands out consumer-group subscriptions. Implemented by
/// [`crate::InProcessBus`] and [`crate::RedisBus`], which behave alike:
///
/// * a group created by [`Bus::subscribe`] starts at the beginning of the topic (everything the
///   transport still retains, see [`BusSettings::max_len`]), like `XGROUP CREATE … 0 MKSTREAM`;
///   later subscriptions to an existing group continue where the group is;
/// * every group sees every event; within a group each event goes to one consumer;
/// * delivery is at least once: an event a consumer took and did not acknowledge becomes
///   claimable by any consumer of the group once it has been idle for
///   [`BusSettings::claim_idle`] (like `XAUTOCLAIM`);
/// * an event delivered more than [`BusSettings::max_attempts`] times is moved to the topic's
///   dead letters and acknowledged instead of being delivered again.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Appends the event to its topic ([`Envelope::topic`]).
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError>;

    /// Joins consumer `consumer` of group `group` on `topic`, creating the topic and the group
    /// if needed. Consumer names should be unique within a group (e.g. host + process id).
    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        consumer: &str,
    ) -> Result<Box<dyn Subscription>, BusError>;

    /// Up to `limit` of the topic's dead letters, oldest first.
    async fn dead_letters(&self, topic: &str, limit: usize) -> Result<Vec<DeadLetter>, BusError>;

    /// Opens a [`Tail`] of `topic`: every event published after this call returns, in order,
    /// to this tail alone, outside any consumer group (like `XREAD` from the stream's last
    /// entry). Every tail sees every event, so a process that must see them all (a live feed)
    /// opens its own; nothing is acknowledged and nothing stays behind in the transport when
    /// the tail is dropped. Delivery is at most once: what is published while nobody tails is
    /// not seen.
    async fn tail(&self, topic: &str) -> Result<Box<dyn Tail>, BusError>;
}

/// A reader of a topic's new events outside any consumer group (see [`Bus::tail`]).
#[async_trait]
pub trait Tail: Send {
    /// Waits for the next event. A tail that fell further behind than the topic retains
    /// ([`BusSettings::max_len`]) skips the events it lost (and logs how many, where the
    /// transport can tell).
    ///
    /// Dropping the future may lose the event being read: tails are for live feeds.
    async fn next(&mut self) -> Result<Envelope, BusError>;
}

/// One consumer's view of a consumer group.
#[async_trait]
pub trait Subscription: Send {
    /// Waits for the next event for this consumer: first an event another consumer (or this
    /// one) left unacknowledged for longer than [`BusSettings::claim_idle`], then a new one.
    ///
    /// Cancel-safe in the at-least-once sense: dropping the future may leave an event taken but
    /// not returned; it is delivered again after `claim_idle`.
    async fn next(&mut self) -> Result<Delivery, BusError>;

    /// Acknowledges a delivery: the group will not deliver the event again.
    async fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError>;

    /// Moves a delivery to the topic's dead letters with `reason` and acknowledges it.
    async fn dead_letter(&mut self, delivery: &Delivery, reason: &str) -> Result<(), BusError>;

    /// The number of deliveries after which an event is dead-lettered.
    fn max_attempts(&self) -> u32;
}

/// One delivery of an event to a consumer.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The event.
    pub envelope: Envelope,
    /// 1 for the first delivery to the group, then 2, 3, … for redeliveries.
    pub attempt: u32,
    pub(crate) handle: Handle,
}

/// Where a delivery came from, so the transport can acknowledge it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Handle {
    /// Sequence number in an in-process topic.
    InProcess {
        topic: String,
        group: String,
        seq: u64,
    },
    /// Entry id in a Redis stream.
    Redis {
        key: String,
        group: String,
        entry_id: String,
    },
}

/// Tuning shared by both transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusSettings {
    /// How long a delivery may stay unacknowledged before another consumer may claim it.
    /// Default 30 s; it must exceed the longest handler run.
    pub claim_idle: Duration,
    /// The longest a subscription blocks in one read before checking for claimable events
    /// again. Default 2 s.
    pub block: Duration,
    /// Deliveries after which an event is dead-lettered and acknowledged. Default 10.
    pub max_attempts: u32,
    /// Approximate number of events a topic retains (Redis `MAXLEN ~`; in-process, exact).
    /// A group that falls further behind loses the oldest events. Default 100 000.
    pub max_len: usize,
}

/// An event that was given up on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The encoded envelope as it was on the bus (see [`DeadLetter::envelope`]).
    pub event: Vec<u8>,
    /// The group that gave up.
    pub group: String,
    /// The consumer that gave up.
    pub consumer: String,
    /// How many times the event had been delivered.
    pub attempts: u32,
    /// Why: the handler's last error, or that it was delivered too often.
    pub reason: String,
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            claim_idle: Duration::from_secs(30),
            block: Duration::from_secs(2),
            max_attempts: 10,
            max_len: 100_000,
        }
    }
}

impl BusSettings {
    /// How long one blocking read may wait: at most `block`, and short enough that events
    /// becoming claimable are noticed within about half of `claim_idle`; never zero (a zero
    /// `BLOCK` would wait forever).
    pub(crate) fn read_wait(&self) -> Duration {
        self.block
            .min(self.claim_check_every())
            .max(Duration::from_millis(1))
    }

    /// How often a subscription scans for claimable events.
    pub(crate) fn claim_check_every(&self) -> Duration {
        (self.claim_idle / 2).max(Duration::from_millis(10))
    }
}

impl DeadLetter {
    /// The dead event's envelope.
    pub fn envelope(&self) -> Result<Envelope, BusError> {
        Envelope::decode(&self.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_wait_is_bounded_by_block_and_half_the_claim_idle_and_never_zero() {
        let defaults = BusSettings::default();
        assert_eq!(defaults.read_wait(), Duration::from_secs(2));
        let short = BusSettings {
            claim_idle: Duration::from_millis(200),
            ..BusSettings::default()
        };
        assert_eq!(short.read_wait(), Duration::from_millis(100));
        let zero = BusSettings {
            claim_idle: Duration::ZERO,
            block: Duration::ZERO,
            ..BusSettings::default()
        };
        assert_eq!(zero.read_wait(), Duration::from_millis(1));
    }
}
