//! The `issue.changed` consumer: routes each event to the MSP's channels and logs what it
//! causes (pending deliveries, suppressed ones, digest items) in one transaction.

use crate::error::NotifyError;
use crate::routing;
use chrono::{DateTime, Utc};
use postern_bus::{Bus, Envelope, events, topics};
use postern_domain::{IssueId, Severity, UserId};
use postern_store::notify::IssueNotice;
use postern_store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Plans of one event tried before giving up (the event stays pending and comes back).
const MAX_PLAN_ATTEMPTS: u32 = 5;
use tracing::{Instrument, debug, info_span, warn};

/// The consumer group of this service on the bus.
pub const CONSUMER_GROUP: &str = "notify";

/// What one event caused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// Deliveries newly queued (pending).
    pub queued: usize,
    /// Deliveries logged as suppressed (quiet period).
    pub suppressed: usize,
    /// Events kept for digests.
    pub digested: usize,
}

/// Handles one `issue.changed` event at `now`. The tenant is the issue's own (read from
/// the store), and an event whose envelope names another tenant is dropped with a warning,
/// so one MSP's channels never see another's issues. Idempotent by event id: the log is
/// unique per (channel, event).
pub async fn handle_issue_changed(
    store: &Store,
    envelope: &Envelope,
    default_quiet: Duration,
    now: DateTime<Utc>,
) -> Result<Routed, NotifyError> {
    let message: events::IssueChanged = envelope
        .payload_as()
        .map_err(|e| NotifyError::BadEvent(e.to_string()))?;
    let issue: IssueId = message
        .issue_id
        .parse()
        .map_err(|_| NotifyError::BadEvent(format!("issue id {:?}", message.issue_id)))?;
    let severity = Severity::parse(&message.severity)
        .ok_or_else(|| NotifyError::BadEvent(format!("severity {:?}", message.severity)))?;
    let system = store.system();
    let Some(context) = system.notify_issue_context(issue).await? else {
        debug!(%issue, "issue is gone; nothing to notify");
        return Ok(Routed::default());
    };
    if envelope.msp_id != Some(context.msp_id) || envelope.client_id != Some(context.client_id) {
        warn!(%issue, event = %envelope.id, "issue event names another tenant than its issue; dropped");
        return Ok(Routed::default());
    }
    let routes = system
        .notify_routes_for(context.msp_id, context.client_id)
        .await?;
    if routes.is_empty() {
        return Ok(Routed::default());
    }
    let actor = match message.actor_id.parse::<UserId>() {
        Ok(id) => match system.user(id).await {
            Ok(user) => Some(format!("{} <{}>", user.display_name, user.email)),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        Err(_) => None,
    };
    let notice = IssueNotice {
        event_id: envelope.id,
        msp_id: context.msp_id,
        msp: context.msp,
        client_id: context.client_id,
        client: context.client,
        domain: context.domain,
        issue_id: issue,
        code: message.code,
        severity,
        title: context.title,
        event_kind: message.kind,
        from_state: message.from_state,
        to_state: message.to_state,
        actor,
        occurred_at: envelope.occurred_at,
    };
    let channels = routing::immediate_channels(&notice, &routes);
    // Plan from what each channel was last told and log the plan in one step; when another
    // notify process logged a notice for this issue in between, plan again from that.
    let mut attempts = 0;
    let (plan, queued) = loop {
        attempts += 1;
        let last = if channels.is_empty() {
            Default::default()
        } else {
            system.notify_last_notices(&channels, issue).await?
        };
        let plan = routing::plan(&notice, &routes, &last, default_quiet, now);
        match system
            .record_notifications(&last, &plan.deliveries, &plan.digest)
            .await?
        {
            Some(queued) => break (plan, queued),
            None if attempts < MAX_PLAN_ATTEMPTS => continue,
            None => {
                return Err(NotifyError::Store(StoreError::Conflict(format!(
                    "issue {issue}: notices kept changing while planning ({attempts} attempts)"
                ))));
            }
        }
    };
    let suppressed = plan
        .deliveries
        .iter()
        .filter(|d| d.status == postern_store::notify::DeliveryStatus::Suppressed)
        .count();
    Ok(Routed {
        queued,
        suppressed,
        digested: plan.digest.len(),
    })
}

/// Consumes `issue.changed` until `shutdown` fires, waking the delivery loop (`wake`)
/// whenever deliveries were queued. Failed events stay pending on the bus and come back.
pub async fn run_consumer(
    store: Store,
    bus: Arc<dyn Bus>,
    default_quiet: Duration,
    wake: Arc<Notify>,
    consumer: String,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), NotifyError> {
    let subscription = bus
        .subscribe(topics::ISSUE_CHANGED, CONSUMER_GROUP, &consumer)
        .await
        .map_err(|e| NotifyError::Bus(e.to_string()))?;
    postern_bus::run_consumer(
        subscription,
        move |envelope: Envelope| {
            let store = store.clone();
            let wake = wake.clone();
            let span = info_span!("postern_notify.consumer.issue_changed", event = %envelope.id);
            postern_telemetry::set_parent(&span, &envelope.trace_context);
            async move {
                let routed = handle_issue_changed(&store, &envelope, default_quiet, Utc::now())
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
                if routed.queued > 0 {
                    wake.notify_one();
                }
                Ok(())
            }
            .instrument(span)
        },
        shutdown,
    )
    .await;
    Ok(())
}
