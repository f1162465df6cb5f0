//! The analysis service (first part): consumes `report.ingested` events and keeps per-domain
//! daily aggregates (messages, DMARC pass/fail, aligned SPF/DKIM passes, dispositions) and
//! per-domain sending sources (volume, pass rates, first/last seen, reverse DNS).
//!
//! After a report is folded in (aggregate) or stored (TLS), the rule plugins are evaluated
//! over its domain's facts and the findings reconciled into issues ([`evaluate_domain`]).
//! A domain's rules are the built-in plugins and its MSP's uploaded ones, minus what the MSP
//! or the client switched off; uploaded components are compiled once per content hash on a
//! blocking thread, and a failing plugin becomes a stored `plugin_failed` record.
//! [`AnalysisEngine`] offers the same [`RuleSet`] to the GraphQL API (uploads,
//! `verifyIssueNow`).
//!
//! Promises: applying an event is idempotent (keyed by event id, in the same transaction
//! as the counters), and reverse DNS runs apart from ingestion with timeouts and bounded
//! concurrency, so a slow resolver never stalls it.

mod aggregate;
mod blocklist;
mod bounce_consumer;
mod bounces;
mod consumer;
mod engine;
mod error;
mod posture;
mod rdns;
mod rules;
mod schedule;

pub use aggregate::{ReportAggregates, aggregate_records};
pub use blocklist::{
    AUTO_NOTE_PREFIX, BlocklistChecker, BlocklistRun, blocklist_facts, catalogue_for,
    run_blocklist_schedule, transition_event,
};
pub use bounce_consumer::{BOUNCE_CONSUMER_GROUP, request_bounced_domains, run_bounce_consumer};
pub use bounces::{MxFamilies, aggregate as aggregate_bounces, bounce_facts, provider_family};
pub use consumer::{CONSUMER_GROUP, apply_report, fold_and_request, handle_report, run_consumer};
pub use engine::AnalysisEngine;
pub use error::AnalysisError;
pub use posture::{
    POSTURE_CONSUMER_GROUP, PostureChecker, changes_between, check_added, check_due,
    run_domain_added_consumer, run_posture_schedule,
};
pub use rdns::{HickoryReverse, ReverseResolver, resolve_pending, run_reverse_dns};
pub use rules::{
    DEFAULT_WINDOW, DomainRules, Evaluation, RuleSet, covered_codes, domain_facts,
    domain_facts_with, evaluate_domain,
};
pub use schedule::{Evaluator, evaluate_all, run_schedule};
