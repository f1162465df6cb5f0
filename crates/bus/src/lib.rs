//! Postern's event bus: the protobuf [`Envelope`] every event travels in, two transports with
//! the same at-least-once semantics ([`InProcessBus`] for one process, [`RedisBus`] on Redis
//! Streams for many), the outbox relay that publishes what the store committed, and the
//! consumer loop.
//!
//! Promises: an event committed to the outbox is published (in outbox order) even across bus
//! outages; every consumer group sees every event of its topic, each event going to one consumer
//! of the group; an event is acknowledged only after its handler succeeded, so a consumer that
//! dies or fails leaves it to be delivered again (after [`BusSettings::claim_idle`]) — handlers
//! must therefore be idempotent by [`Envelope::id`]; an event that fails
//! [`BusSettings::max_attempts`] times is moved to the topic's dead letters and acknowledged.
//! Besides groups, a [`Tail`] reads a topic's new events outside any group (every tail sees
//! every event, at most once), and a [`LiveFeed`] fans one tail out to a process's subscribers.
//! Payload schemas live in `proto/events/v1/events.proto`.

mod bus;
mod consumer;
mod envelope;
mod error;
pub mod events;
mod in_process;
mod live;
mod outbox;
mod redis_streams;
mod shutdown;
pub mod topics;
mod wire;

pub use bus::{Bus, BusSettings, DeadLetter, Delivery, Subscription, Tail};
pub use consumer::{HandlerError, run_consumer};
pub use envelope::Envelope;
pub use error::BusError;
pub use in_process::InProcessBus;
pub use live::LiveFeed;
pub use outbox::{OutboxItem, OutboxSource, RELAY_BATCH, relay_once, spawn_relay};
pub use redis_streams::RedisBus;
