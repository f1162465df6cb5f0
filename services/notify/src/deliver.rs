//! The delivery loop: claims due deliveries from the log and sends each on its own task, so
//! a slow or failing channel never holds up the others. A failed attempt is retried with
//! exponential backoff until `max_attempts`; then (or at once, for a permanent failure) the
//! delivery is `failed` with the reason. Pending deliveries live in the database, so a
//! restart resumes them (a claim is a lease that runs out).

use crate::send::{SendError, Sender};
use crate::settings::NotifySettings;
use chrono::{DateTime, Utc};
use postern_store::notify::{AttemptOutcome, Delivery, DeliveryKind, DueDelivery};
use postern_store::{Store, StoreError};
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tracing::{Instrument, info_span, warn};

/// Claims what is due at `now` and sends it, waiting for every attempt to finish; returns
/// the deliveries as they were recorded. For tests and one-shot use; the service runs
/// [`run_deliveries`].
pub async fn deliver_due(
    store: &Store,
    sender: &Sender,
    settings: &NotifySettings,
    now: DateTime<Utc>,
) -> Result<Vec<Delivery>, StoreError> {
    let due = store
        .system()
        .claim_due_notify_deliveries(now, lease(settings), batch(settings))
        .await?;
    let mut tasks = JoinSet::new();
    for item in due {
        let (store, sender, settings) = (store.clone(), sender.clone(), settings.clone());
        tasks.spawn(async move { attempt(&store, &sender, &settings, item).await });
    }
    let mut done = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(delivery)) => done.push(delivery),
            Ok(Err(e)) => return Err(e),
            Err(e) => warn!(error = %e, "delivery task failed"),
        }
    }
    Ok(done)
}

/// Sends due deliveries until `shutdown` fires: looks every `poll_interval`, or at once when
/// `wake` is notified, with at most `concurrency` attempts in flight. Attempts running at
/// shutdown are allowed to finish.
pub async fn run_deliveries(
    store: Store,
    sender: Sender,
    settings: NotifySettings,
    wake: Arc<Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let free = permits.available_permits();
        let mut claimed = 0;
        if free > 0 {
            match store
                .system()
                .claim_due_notify_deliveries(Utc::now(), lease(&settings), free as u64)
                .await
            {
                Ok(due) => {
                    claimed = due.len();
                    for item in due {
                        let Ok(permit) = permits.clone().try_acquire_owned() else {
                            break;
                        };
                        let (store, sender, settings) =
                            (store.clone(), sender.clone(), settings.clone());
                        tasks.spawn(async move {
                            if let Err(error) = attempt(&store, &sender, &settings, item).await {
                                warn!(%error, "recording a delivery attempt failed; it is retried after its lease");
                            }
                            drop(permit);
                        });
                    }
                }
                Err(error) => warn!(%error, "claiming due deliveries failed"),
            }
        }
        if claimed > 0 && claimed == free {
            // Maybe more are due: look again as soon as a slot frees up.
            tokio::select! {
                _ = tasks.join_next(), if !tasks.is_empty() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(settings.poll_interval) => {}
            _ = shutdown.changed() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// One attempt of one delivery, recorded.
async fn attempt(
    store: &Store,
    sender: &Sender,
    settings: &NotifySettings,
    item: DueDelivery,
) -> Result<Delivery, StoreError> {
    let DueDelivery {
        delivery,
        target,
        notice,
    } = item;
    let span = info_span!(
        "postern_notify.deliver.attempt",
        delivery = %delivery.id,
        channel = %target.channel.id,
        kind = %target.channel.kind,
        attempt = delivery.attempts + 1,
    );
    async {
        let attempts = delivery.attempts.saturating_add(1);
        let result = if !target.channel.enabled && delivery.kind != DeliveryKind::Test {
            Err(SendError {
                reason: "the channel is disabled".into(),
                response_code: None,
                permanent: true,
            })
        } else {
            sender.send(delivery.id, &target, &notice, Utc::now()).await
        };
        let outcome = match result {
            Ok(response_code) => AttemptOutcome::Delivered { response_code },
            Err(e) if e.permanent || attempts >= settings.max_attempts.max(1) => {
                warn!(reason = %e.reason, attempts, "delivery failed");
                AttemptOutcome::Failed {
                    error: e.reason,
                    response_code: e.response_code,
                }
            }
            Err(e) => {
                let pause = settings.backoff(attempts);
                let next = Utc::now()
                    + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::hours(1));
                warn!(reason = %e.reason, attempts, retry_in_s = pause.as_secs(), "delivery attempt failed; retrying");
                AttemptOutcome::Retry {
                    error: e.reason,
                    response_code: e.response_code,
                    next_attempt_at: next,
                }
            }
        };
        store
            .system()
            .finish_notify_attempt(delivery.id, attempts, &outcome)
            .await
    }
    .instrument(span)
    .await
}

fn lease(settings: &NotifySettings) -> chrono::Duration {
    chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::minutes(5))
}

fn batch(settings: &NotifySettings) -> u64 {
    settings.concurrency.max(1) as u64
}
