//! The notification service: consumes `issue.changed` events and tells each MSP's people
//! through the channels it configured — signed HTTPS webhooks, e-mail over SMTP, Slack- and
//! Teams-compatible incoming webhooks — following its routing rules (client, severity
//! threshold, codes, event kinds, immediate or daily digest).
//!
//! Promises: an event reaches only channels of the issue's own MSP (and client, for
//! channels and routes limited to one); every channel gets it at most once (the delivery
//! log is unique per channel and event, so redelivered events change nothing); a quiet
//! period per (channel, issue) keeps a flapping finding from spamming (see [`routing`] for
//! the exact rule); every delivery is logged with its outcome, retried with exponential
//! backoff from the database (so a restart loses nothing) and ends `delivered` or `failed`
//! with the HTTP status / SMTP reply / connect error; each attempt runs on its own task, so
//! a failing channel never holds up another.

mod consumer;
mod deliver;
mod digest;
mod error;
pub mod render;
pub mod routing;
mod send;
mod settings;

pub use consumer::{CONSUMER_GROUP, Routed, handle_issue_changed, run_consumer};
pub use deliver::{deliver_due, run_deliveries};
pub use digest::{next_digest_at, queue_digests, run_digests};
pub use error::NotifyError;
pub use send::{SendError, Sender};
pub use settings::{NotifySettings, SmtpSettings, SmtpTls};

use postern_bus::Bus;
use postern_store::Store;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Starts the service's three loops (consumer, deliveries, digests) on `store` and `bus`;
/// they stop when `shutdown` turns true.
pub fn spawn(
    store: Store,
    bus: Arc<dyn Bus>,
    settings: NotifySettings,
    consumer: String,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, NotifyError> {
    let sender = Sender::new(&settings)?;
    let wake = Arc::new(Notify::new());
    let consumer_task = {
        let (store, wake, shutdown) = (store.clone(), wake.clone(), shutdown.clone());
        let quiet = settings.default_quiet_period;
        tokio::spawn(async move {
            if let Err(error) = run_consumer(store, bus, quiet, wake, consumer, shutdown).await {
                tracing::error!(%error, "notification consumer stopped");
            }
        })
    };
    let deliveries = tokio::spawn(run_deliveries(
        store.clone(),
        sender,
        settings.clone(),
        wake.clone(),
        shutdown.clone(),
    ));
    let digests = tokio::spawn(run_digests(store, settings, wake, shutdown));
    Ok(vec![consumer_task, deliveries, digests])
}
