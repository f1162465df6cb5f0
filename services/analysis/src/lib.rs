//! The analysis service (first part): consumes `report.ingested` events and keeps per-domain
//! daily aggregates (messages, DMARC pass/fail, aligned SPF/DKIM passes, dispositions) and
//! per-domain sending sources (volume, pass rates, first/last seen, reverse DNS).
//!
//! After a report is folded in (aggregate) or stored (TLS), the rule plugins are evaluated
//! over its domain's facts and the findings reconciled into issues ([`evaluate_domain`]).
//!
//! Promises: applying an event is idempotent (keyed by event id, in the same transaction
//! as the counters), and reverse DNS runs apart from ingestion with timeouts and bounded
//! concurrency, so a slow resolver never stalls it.

mod aggregate;
mod consumer;
mod error;
mod rdns;
mod rules;

pub use aggregate::{ReportAggregates, aggregate_records};
pub use consumer::{CONSUMER_GROUP, apply_report, handle_report, run_consumer};
pub use error::AnalysisError;
pub use rdns::{HickoryReverse, ReverseResolver, resolve_pending, run_reverse_dns};
pub use rules::{
    DEFAULT_WINDOW, Evaluation, RuleSet, covered_codes, domain_facts, evaluate_domain,
};
