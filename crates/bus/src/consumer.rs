//! The consumer loop: take an event, run the handler, acknowledge only after it succeeded.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use tracing::Instrument;

use crate::bus::{Delivery, Subscription};
use crate::envelope::Envelope;
use crate::error::{BusError, chain};
use crate::shutdown::{self, Backoff};

/// What a handler returns when it could not apply an event.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Feeds `sub`'s events to `handler` until `shutdown` turns true (or its sender is dropped) or
/// the bus is closed.
///
/// A delivery is acknowledged only after the handler returned `Ok`. A handler error (or panic)
/// leaves it pending, so it is delivered again once it has been idle for the bus's
/// `claim_idle` — to this or another consumer of the group — until its attempt reaches the
/// subscription's `max_attempts`, when it is moved to the dead letters instead. Handlers must
/// be idempotent by [`Envelope::id`]: an event may arrive more than once. A handler that is
/// running when shutdown is requested is allowed to finish. Transport errors are logged and
/// retried with backoff (100 ms doubling up to 10 s).
pub async fn run_consumer<F, Fut>(
    mut sub: Box<dyn Subscription>,
    handler: F,
    mut shutdown: watch::Receiver<bool>,
) where
    F: Fn(Envelope) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
    loop {
        let next = tokio::select! {
            biased;
            () = shutdown::requested(&mut shutdown) => return,
            next = sub.next() => next,
        };
        let delivery = match next {
            Ok(delivery) => {
                backoff.reset();
                delivery
            }
            Err(BusError::Closed) => return,
            Err(e) => {
                let pause = backoff.next_pause();
                tracing::warn!(
                    error = %chain(&e), retry_in_ms = pause.as_millis(),
                    "receiving an event failed; retrying"
                );
                if shutdown::sleep_or_stop(&mut shutdown, pause).await {
                    return;
                }
                continue;
            }
        };
        handle(sub.as_mut(), &handler, delivery).await;
    }
}

/// Runs the handler on one delivery and settles it: ack, leave pending, or dead-letter.
async fn handle<F, Fut>(sub: &mut dyn Subscription, handler: &F, delivery: Delivery)
where
    F: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    let envelope = &delivery.envelope;
    let span = tracing::info_span!(
        "event",
        topic = %envelope.topic,
        event_id = %envelope.id,
        attempt = delivery.attempt,
    );
    let settle = async {
        let outcome = AssertUnwindSafe(handler(envelope.clone()))
            .catch_unwind()
            .await;
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(chain(e.as_ref())),
            Err(panic) => Some(format!(
                "handler panicked: {}",
                panic_message(panic.as_ref())
            )),
        };
        match failure {
            None => {
                if let Err(e) = sub.ack(&delivery).await {
                    tracing::warn!(
                        error = %chain(&e),
                        "acknowledging failed; the event will be delivered again"
                    );
                }
            }
            Some(reason) if delivery.attempt >= sub.max_attempts() => {
                tracing::error!(
                    %reason,
                    "handler failed on its last attempt; moving the event to dead letters"
                );
                if let Err(e) = sub.dead_letter(&delivery, &reason).await {
                    tracing::warn!(
                        error = %chain(&e),
                        "dead-lettering failed; the event will be delivered again"
                    );
                }
            }
            Some(reason) => {
                tracing::warn!(%reason, "handler failed; the event will be delivered again");
            }
        }
    };
    settle.instrument(span).await;
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(text) = panic.downcast_ref::<&str>() {
        text
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text
    } else {
        "non-text panic payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Bus, BusSettings};
    use crate::events::DomainRemoved;
    use crate::in_process::InProcessBus;
    use crate::topics;
    use chrono::Utc;
    use std::sync::{Arc, Mutex};

    fn settings() -> BusSettings {
        BusSettings {
            claim_idle: Duration::from_millis(50),
            block: Duration::from_millis(50),
            max_attempts: 5,
            max_len: 100,
        }
    }

    fn event() -> Envelope {
        let message = DomainRemoved {
            domain_id: String::new(),
            name: "example.com".to_owned(),
        };
        Envelope::new(topics::DOMAIN_REMOVED, &message, None, None, Utc::now())
    }

    #[tokio::test]
    async fn a_panicking_handler_counts_as_a_failure_and_the_event_comes_back() {
        let bus = InProcessBus::new(settings());
        let sent = event();
        bus.publish(&sent).await.unwrap();
        let sub = bus
            .subscribe(topics::DOMAIN_REMOVED, "g", "c")
            .await
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = {
            let seen = Arc::clone(&seen);
            move |envelope: Envelope| {
                let seen = Arc::clone(&seen);
                async move {
                    let first = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(envelope.id);
                        seen.len() == 1
                    };
                    assert!(!first, "first attempt blows up");
                    Ok(())
                }
            }
        };
        let (stop, shutdown) = watch::channel(false);
        let consumer = tokio::spawn(run_consumer(sub, handler, shutdown));
        tokio::time::timeout(Duration::from_secs(2), async {
            while seen.lock().unwrap().len() < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        stop.send_replace(true);
        consumer.await.unwrap();
        assert_eq!(*seen.lock().unwrap(), [sent.id, sent.id]);
        assert!(
            bus.dead_letters(topics::DOMAIN_REMOVED, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn shutdown_stops_a_consumer_that_is_waiting_for_events() {
        let bus = InProcessBus::new(BusSettings {
            block: Duration::from_secs(60),
            ..settings()
        });
        let sub = bus
            .subscribe(topics::DOMAIN_REMOVED, "g", "c")
            .await
            .unwrap();
        let (stop, shutdown) = watch::channel(false);
        let consumer = tokio::spawn(run_consumer(
            sub,
            |_envelope: Envelope| async { Ok::<(), HandlerError>(()) },
            shutdown,
        ));
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(1), consumer)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn closing_the_bus_ends_the_consumer() {
        let bus = InProcessBus::new(settings());
        let sub = bus
            .subscribe(topics::DOMAIN_REMOVED, "g", "c")
            .await
            .unwrap();
        let (_stop, shutdown) = watch::channel(false);
        let consumer = tokio::spawn(run_consumer(
            sub,
            |_envelope: Envelope| async { Ok::<(), HandlerError>(()) },
            shutdown,
        ));
        tokio::time::sleep(Duration::from_millis(20)).await;
        bus.close();
        tokio::time::timeout(Duration::from_secs(1), consumer)
            .await
            .unwrap()
            .unwrap();
    }
}
