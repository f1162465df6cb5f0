//! The `bounces.received` consumer: bounces or deliveries stored for a client's domain ask
//! for a (debounced) evaluation of that domain's rules, so the bounce triage speaks within
//! the debounce of the bounces arriving rather than at the next scheduled evaluation.

use crate::error::AnalysisError;
use crate::schedule::Evaluator;
use postern_bus::{Bus, Envelope, events, topics};
use postern_domain::DomainId;
use postern_store::{Store, StoreError};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{Instrument, info_span};

/// The consumer group of the bounce consumer on the bus.
pub const BOUNCE_CONSUMER_GROUP: &str = "analysis-bounces";

/// Asks `evaluator` to evaluate every domain the `bounces.received` event names (a domain
/// removed meanwhile is skipped). Returns how many were asked for.
pub async fn request_bounced_domains(
    store: &Store,
    evaluator: &Evaluator,
    envelope: &Envelope,
) -> Result<usize, AnalysisError> {
    let message: events::BouncesReceived = envelope
        .payload_as()
        .map_err(|e| AnalysisError::BadEvent(e.to_string()))?;
    let mut requested = 0;
    for id in &message.domain_ids {
        let id: DomainId = id
            .parse()
            .map_err(|_| AnalysisError::BadEvent(format!("domain id {id:?}")))?;
        match store.system().domain(id).await {
            Ok(domain) => {
                evaluator.request(&domain).await;
                requested += 1;
            }
            Err(StoreError::NotFound) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(requested)
}

/// Consumes `bounces.received` until `shutdown` fires (see [`request_bounced_domains`]).
/// Failed events stay pending and are delivered again.
pub async fn run_bounce_consumer(
    store: Store,
    bus: Arc<dyn Bus>,
    evaluator: Evaluator,
    consumer: String,
    shutdown: watch::Receiver<bool>,
) -> Result<(), AnalysisError> {
    let subscription = bus
        .subscribe(topics::BOUNCES_RECEIVED, BOUNCE_CONSUMER_GROUP, &consumer)
        .await
        .map_err(|e| AnalysisError::BadEvent(e.to_string()))?;
    postern_bus::run_consumer(
        subscription,
        move |envelope: Envelope| {
            let store = store.clone();
            let evaluator = evaluator.clone();
            let span =
                info_span!("postern_analysis.consumer.bounces_received", event = %envelope.id);
            postern_telemetry::set_parent(&span, &envelope.trace_context);
            async move {
                request_bounced_domains(&store, &evaluator, &envelope)
                    .await
                    .map(|_| ())
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            }
            .instrument(span)
        },
        shutdown,
    )
    .await;
    Ok(())
}
