//! The `report.ingested` consumer.

use crate::aggregate::{ReportAggregates, aggregate_records};
use crate::error::AnalysisError;
use crate::rules::{RuleSet, evaluate_domain};
use crate::schedule::Evaluator;
use chrono::{DateTime, Utc};
use postern_bus::{Bus, Envelope, events, topics};
use postern_domain::{EventId, ReportId, ReportKind};
use postern_store::{Domain, ReconcileOutcome, ReportSummary, Store};
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
    let Some(report) = assigned_report(store, envelope).await? else {
        return Ok(false);
    };
    if report.kind != ReportKind::Aggregate {
        return Ok(false);
    }
    let Some(domain_id) = report.domain_id else {
        return Ok(false);
    };
    let domain = store.system().domain(domain_id).await?;
    fold(store, envelope.id, &report, &domain).await
}

/// Handles one `report.ingested` event: an assigned aggregate report is folded into the
/// counters ([`apply_report`]), and for an assigned aggregate or TLS report the rules are
/// evaluated for its domain at `now` ([`evaluate_domain`]). `None` when the report is
/// unknown, unassigned or a failure report.
///
/// The evaluation runs even when the counters were applied before (a redelivered event),
/// so a crash between the two does not lose it; reconciling the same findings twice
/// changes nothing.
pub async fn handle_report(
    store: &Store,
    rules: &Arc<RuleSet>,
    envelope: &Envelope,
    now: DateTime<Utc>,
) -> Result<Option<ReconcileOutcome>, AnalysisError> {
    match fold_report(store, envelope).await? {
        Some(domain) => evaluate_domain(store, rules, &domain, now).await.map(Some),
        None => Ok(None),
    }
}

/// What the consumer does with one `report.ingested` event: folds it like
/// [`handle_report`], then asks `evaluator` for a (debounced) evaluation of its domain.
pub async fn fold_and_request(
    store: &Store,
    evaluator: &Evaluator,
    envelope: &Envelope,
) -> Result<(), AnalysisError> {
    if let Some(domain) = fold_report(store, envelope).await? {
        evaluator.request(&domain).await;
    }
    Ok(())
}

/// Folds an assigned aggregate report; returns the domain whose rules the event concerns
/// (an assigned aggregate or TLS report's), `None` for anything else.
async fn fold_report(store: &Store, envelope: &Envelope) -> Result<Option<Domain>, AnalysisError> {
    let Some(report) = assigned_report(store, envelope).await? else {
        return Ok(None);
    };
    let Some(domain_id) = report.domain_id else {
        return Ok(None);
    };
    if !matches!(report.kind, ReportKind::Aggregate | ReportKind::Tls) {
        return Ok(None);
    }
    let domain = store.system().domain(domain_id).await?;
    if report.kind == ReportKind::Aggregate {
        fold(store, envelope.id, &report, &domain).await?;
    }
    Ok(Some(domain))
}

/// Consumes `report.ingested` until `shutdown` fires, asking `evaluator` to evaluate the
/// rules of each report's domain. Failed events stay pending and are delivered again (the
/// bus dead-letters them after its attempt limit).
pub async fn run_consumer(
    store: Store,
    bus: Arc<dyn Bus>,
    evaluator: Evaluator,
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
            let evaluator = evaluator.clone();
            let span =
                info_span!("postern_analysis.consumer.report_ingested", event = %envelope.id);
            postern_telemetry::set_parent(&span, &envelope.trace_context);
            async move {
                fold_and_request(&store, &evaluator, &envelope)
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            }
            .instrument(span)
        },
        shutdown,
    )
    .await;
    Ok(())
}

/// The report the event names, as the store has it now; `None` when it is gone.
async fn assigned_report(
    store: &Store,
    envelope: &Envelope,
) -> Result<Option<ReportSummary>, AnalysisError> {
    let message: events::ReportIngested = envelope
        .payload_as()
        .map_err(|e| AnalysisError::BadEvent(e.to_string()))?;
    let id: ReportId = message
        .report_id
        .parse()
        .map_err(|_| AnalysisError::BadEvent(format!("report id {:?}", message.report_id)))?;
    // The store, not the event, says what the report is and whom it belongs to now: a
    // report assigned when its domain was added later carries no domain in its first event.
    Ok(store.system().report_for_analysis(id).await?)
}

/// Folds an aggregate report's records into `domain`'s counters, once per `event`.
async fn fold(
    store: &Store,
    event: EventId,
    report: &ReportSummary,
    domain: &Domain,
) -> Result<bool, AnalysisError> {
    let system = store.system();
    let mut aggregates = ReportAggregates::default();
    let mut after = None;
    loop {
        let page = system
            .aggregate_records_page(report.id, after, PAGE)
            .await?;
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
            event,
            domain,
            &aggregates.days(),
            &aggregates.sources(),
        )
        .await?;
    debug!(report = %report.id, domain = %domain.name, applied, "report aggregated");
    Ok(applied)
}
