//! The `report.ingested` consumer.

use crate::aggregate::{ReportAggregates, aggregate_records};
use crate::error::AnalysisError;
use postern_bus::{Bus, Envelope, events, topics};
use postern_domain::{ReportId, ReportKind};
use postern_store::Store;
use std::sync::Arc;
use tracing::{Instrument, debug, info_span};

/// The consumer group of this service on the bus.
pub const CONSUMER_GROUP: &str = "analysis";
/// The name idempotency records are kept under.
const AGGREGATES: &str = "analysis.aggregates";
/// Records read per page while folding a report.
const PAGE: u64 = 5_000;

/// Applies one `report.ingested` event: folds an assigned aggregate report's records into
/// its domain's daily and per-source counters. Returns `false` when there was nothing to do
/// (not an aggregate report, unassigned, already applied).
pub async fn apply_report(store: &Store, envelope: &Envelope) -> Result<bool, AnalysisError> {
    let message: events::ReportIngested = envelope
        .payload_as()
        .map_err(|e| AnalysisError::BadEvent(e.to_string()))?;
    let id: ReportId = message
        .report_id
        .parse()
        .map_err(|_| AnalysisError::BadEvent(format!("report id {:?}", message.report_id)))?;
    let system = store.system();
    let Some(report) = system.report_for_analysis(id).await? else {
        return Ok(false);
    };
    // The store, not the event, says what the report is and whom it belongs to now: a
    // report assigned when its domain was added later carries no domain in its first event.
    if report.kind != ReportKind::Aggregate {
        return Ok(false);
    }
    let Some(domain_id) = report.domain_id else {
        return Ok(false);
    };
    let domain = system.domain(domain_id).await?;
    let mut aggregates = ReportAggregates::default();
    let mut after = None;
    loop {
        let page = system.aggregate_records_page(id, after, PAGE).await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(*last);
        let records: Vec<_> = page.into_iter().map(|(_, r)| r).collect();
        aggregate_records(
            &mut aggregates,
            report.date_begin,
            report.date_end,
            &records,
        );
        if (records.len() as u64) < PAGE {
            break;
        }
    }
    let applied = system
        .apply_aggregates(
            AGGREGATES,
            envelope.id,
            &domain,
            &aggregates.days(),
            &aggregates.sources(),
        )
        .await?;
    debug!(report = %id, domain = %domain.name, applied, "report aggregated");
    Ok(applied)
}

/// Consumes `report.ingested` until `shutdown` fires. Failed events stay pending and are
/// delivered again (the bus dead-letters them after its attempt limit).
pub async fn run_consumer(
    store: Store,
    bus: Arc<dyn Bus>,
    consumer: String,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), AnalysisError> {
    let subscription = bus
        .subscribe(topics::REPORT_INGESTED, CONSUMER_GROUP, &consumer)
        .await
        .map_err(|e| AnalysisError::BadEvent(e.to_string()))?;
    postern_bus::run_consumer(
        subscription,
        move |envelope: Envelope| {
            let store = store.clone();
            let span =
                info_span!("postern_analysis.consumer.report_ingested", event = %envelope.id);
            postern_telemetry::set_parent(&span, &envelope.trace_context);
            async move {
                apply_report(&store, &envelope)
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
