//! Live feeds: one [`Tail`](crate::Tail) of a topic per process, fanned out in-process to any
//! number of subscribers through a bounded tokio broadcast channel.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::bus::Bus;
use crate::envelope::Envelope;
use crate::error::{BusError, chain};
use crate::shutdown::{self, Backoff};

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The events of one topic published while this process runs, for every subscriber of the
/// process (unlike a consumer group, where each event goes to one consumer). Cheap to clone:
/// clones share the channel.
///
/// The channel is bounded: a subscriber that falls more than `capacity` events behind loses
/// the oldest and is told so ([`broadcast::error::RecvError::Lagged`] with the number lost);
/// it never holds up the feed or the other subscribers.
#[derive(Clone, Debug)]
pub struct LiveFeed {
    sender: broadcast::Sender<Arc<Envelope>>,
}

impl LiveFeed {
    /// Opens a tail of `topic` on `bus` (events published from now on are fed) and feeds it
    /// to this feed's subscribers until `shutdown` turns true or the bus is closed. Transport
    /// errors are logged and retried with backoff (100 ms doubling up to 10 s); the tail
    /// resumes where it was.
    pub async fn follow(
        &self,
        bus: Arc<dyn Bus>,
        topic: &str,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<JoinHandle<()>, BusError> {
        let mut tail = bus.tail(topic).await?;
        let sender = self.sender.clone();
        let topic = topic.to_owned();
        Ok(tokio::spawn(async move {
            let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
            loop {
                let next = tokio::select! {
                    biased;
                    () = shutdown::requested(&mut shutdown) => return,
                    next = tail.next() => next,
                };
                match next {
                    Ok(envelope) => {
                        backoff.reset();
                        // An error only means that nobody is subscribed right now.
                        let _nobody = sender.send(Arc::new(envelope));
                    }
                    Err(BusError::Closed) => return,
                    Err(e) => {
                        let pause = backoff.next_pause();
                        tracing::warn!(
                            %topic, error = %chain(&e), retry_in_ms = pause.as_millis(),
                            "reading the live feed failed; retrying"
                        );
                        if shutdown::sleep_or_stop(&mut shutdown, pause).await {
                            return;
                        }
                    }
                }
            }
        }))
    }

    /// A feed that nothing feeds yet (see [`LiveFeed::follow`] and [`LiveFeed::send`]); each
    /// subscriber may fall `capacity` events behind (at least 1; tokio rounds it up to a power
    /// of two).
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// Receives every event fed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.sender.subscribe()
    }

    /// Feeds one event to the current subscribers; returns how many there are.
    pub fn send(&self, envelope: Envelope) -> usize {
        self.sender.send(Arc::new(envelope)).unwrap_or(0)
    }

    /// How many subscribers the feed has.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::DomainRemoved;
    use crate::in_process::InProcessBus;
    use crate::topics;
    use chrono::Utc;
    use tokio::sync::broadcast::error::RecvError;

    fn event(name: &str) -> Envelope {
        let message = DomainRemoved {
            domain_id: String::new(),
            name: name.to_owned(),
        };
        Envelope::new(topics::DOMAIN_REMOVED, &message, None, None, Utc::now())
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged_and_the_others_get_everything() {
        let feed = LiveFeed::new(2);
        let mut slow = feed.subscribe();
        let mut fast = feed.subscribe();
        let sent: Vec<Envelope> = (0..4).map(|i| event(&format!("d{i}.example"))).collect();
        for envelope in &sent {
            assert_eq!(feed.send(envelope.clone()), 2);
            assert_eq!(fast.recv().await.unwrap().id, envelope.id);
        }
        assert!(matches!(slow.recv().await, Err(RecvError::Lagged(2))));
        assert_eq!(slow.recv().await.unwrap().id, sent[2].id);
        assert_eq!(slow.recv().await.unwrap().id, sent[3].id);
    }

    #[tokio::test]
    async fn following_stops_on_shutdown_and_when_the_bus_closes() {
        let bus = InProcessBus::default();
        let feed = LiveFeed::new(8);
        let (stop, shutdown) = watch::channel(false);
        let task = feed
            .follow(Arc::new(bus.clone()), topics::DOMAIN_REMOVED, shutdown)
            .await
            .unwrap();
        stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .unwrap()
            .unwrap();

        let (_stop, shutdown) = watch::channel(false);
        let task = feed
            .follow(Arc::new(bus.clone()), topics::DOMAIN_REMOVED, shutdown)
            .await
            .unwrap();
        bus.close();
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .unwrap()
            .unwrap();
    }
}
