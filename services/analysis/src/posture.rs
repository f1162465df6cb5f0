//! DNS posture checks of client domains: SPF, DMARC, DKIM, MTA-STS, TLS-RPT, BIMI and MX
//! through `postern_mailauth::posture`, each run stored as a snapshot with what changed
//! since the run before, and the domain's rules evaluated again so posture findings become
//! issues at once.
//!
//! When: right after a domain is added (`domain.added`), on a schedule per domain (every
//! `analysis.posture_every_secs`, each domain at its own offset within ±10 % so a large
//! MSP's domains spread out instead of being checked in one burst; the store answers which
//! domains are due, a bounded batch per tick), and on demand (`checkDomainNow`). One check
//! per domain at a time in a process.

use crate::error::AnalysisError;
use crate::schedule::Evaluator;
use chrono::{DateTime, Utc};
use postern_bus::{Bus, Envelope, events, topics};
use postern_dns::Resolver;
use postern_domain::{DnsRecordChange, DomainId, Severity};
use postern_mailauth::posture::mtasts::PolicyFetcher;
use postern_mailauth::posture::{PostureOptions, PostureReport, check_domain};
use postern_mailauth::spf::SpfOptions;
use postern_rules::{DnsCheck, DnsCheckStatus, DnsFacts, DnsFinding};
use postern_store::{DnsSnapshot, Domain, NewDnsSnapshot, ScheduledCheck, Store};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

/// Consumer group of the `domain.added` subscription.
pub const POSTURE_CONSUMER_GROUP: &str = "analysis-posture";
/// Domains checked at most per tick of the schedule (the rest are due at the next tick).
pub const DUE_PER_TICK: u64 = 500;

/// Runs posture checks and stores their snapshots. Cheap to clone.
#[derive(Clone)]
pub struct PostureChecker {
    store: Store,
    resolver: Arc<dyn Resolver>,
    fetcher: Arc<dyn PolicyFetcher>,
    spf: SpfOptions,
    evaluator: Option<Evaluator>,
    gates: Arc<Mutex<HashMap<DomainId, Arc<tokio::sync::Mutex<()>>>>>,
}

impl PostureChecker {
    /// Checks through `resolver` (and `fetcher` for MTA-STS policies); after each check the
    /// domain's rules are evaluated by `evaluator` when one is given.
    pub fn new(
        store: Store,
        resolver: Arc<dyn Resolver>,
        fetcher: Arc<dyn PolicyFetcher>,
        evaluator: Option<Evaluator>,
    ) -> Self {
        Self {
            store,
            resolver,
            fetcher,
            spf: SpfOptions::default(),
            evaluator,
            gates: Arc::default(),
        }
    }

    /// Checks `domain` now, stores the snapshot (with the changes since the previous one)
    /// and evaluates the domain's rules; answers the snapshot.
    pub async fn check(&self, domain: &Domain) -> Result<DnsSnapshot, AnalysisError> {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
            gates.entry(domain.id).or_default().clone()
        };
        let held = gate.lock().await;
        let snapshot = self.check_unlocked(domain, Utc::now()).await;
        drop(held);
        {
            let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
            if Arc::strong_count(&gate) <= 2 {
                gates.remove(&domain.id);
            }
        }
        let snapshot = snapshot?;
        if let Some(evaluator) = &self.evaluator
            && let Err(error) = evaluator.evaluate(domain).await
        {
            warn!(%error, domain = %domain.name, "rule evaluation after the posture check failed");
        }
        Ok(snapshot)
    }

    /// [`PostureChecker::check`] by id; `NotFound` when the domain is gone.
    pub async fn check_id(&self, id: DomainId) -> Result<DnsSnapshot, AnalysisError> {
        let domain = self.store.system().domain(id).await?;
        self.check(&domain).await
    }

    async fn check_unlocked(
        &self,
        domain: &Domain,
        now: DateTime<Utc>,
    ) -> Result<DnsSnapshot, AnalysisError> {
        let system = self.store.system();
        let options = PostureOptions {
            checked_at: now,
            spf: self.spf.clone(),
            dkim_selectors: system.dkim_selectors(domain).await?,
            fetcher: self.fetcher.clone(),
        };
        let report = check_domain(&*self.resolver, domain.name.as_str(), &options)
            .instrument(info_span!("postern_analysis.posture.check", domain = %domain.name))
            .await;
        let previous = system.latest_dns_snapshot(domain.id).await?;
        let new = snapshot_of(&report, previous.as_ref())?;
        let stored = system.record_dns_snapshot(domain, new).await?;
        debug!(domain = %domain.name, queries = report.queries, "posture checked");
        Ok(stored)
    }
}

/// The snapshot to store for `report`, with what changed since `previous`.
fn snapshot_of(
    report: &PostureReport,
    previous: Option<&DnsSnapshot>,
) -> Result<NewDnsSnapshot, AnalysisError> {
    let value =
        serde_json::to_value(report).map_err(|e| AnalysisError::Rules(format!("posture: {e}")))?;
    let summary: BTreeMap<String, String> = report
        .checks
        .iter()
        .map(|c| {
            let status = serde_json::to_value(c.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            (c.check.as_str().to_owned(), status)
        })
        .collect();
    let changes = match previous {
        Some(previous) => changes_between(&previous.report, &value),
        None => json!([]),
    };
    Ok(NewDnsSnapshot {
        checked_at: report.checked_at,
        summary,
        report: value,
        changes,
        queries: report.queries,
    })
}

/// What differs between two stored posture reports, per check: the status, the records
/// (added and removed) and the finding codes (new and gone). Checks that did not change
/// are left out.
pub fn changes_between(before: &Value, after: &Value) -> Value {
    let index = |report: &Value| -> BTreeMap<String, Value> {
        report["checks"]
            .as_array()
            .map(|checks| {
                checks
                    .iter()
                    .filter_map(|c| Some((c["check"].as_str()?.to_owned(), c.clone())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let strings = |v: &Value, key: &str| -> BTreeSet<String> {
        v[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| match key {
                        "findings" => x["code"].as_str().map(str::to_owned),
                        _ => x.as_str().map(str::to_owned),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old, new) = (index(before), index(after));
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut changes = Vec::new();
    for name in names {
        let (o, n) = (
            old.get(name).unwrap_or(&Value::Null),
            new.get(name).unwrap_or(&Value::Null),
        );
        let (o_rec, n_rec) = (strings(o, "records"), strings(n, "records"));
        let (o_find, n_find) = (strings(o, "findings"), strings(n, "findings"));
        if o["status"] == n["status"] && o_rec == n_rec && o_find == n_find {
            continue;
        }
        changes.push(json!({
            "check": name,
            "from_status": o["status"],
            "to_status": n["status"],
            "records_added": n_rec.difference(&o_rec).collect::<Vec<_>>(),
            "records_removed": o_rec.difference(&n_rec).collect::<Vec<_>>(),
            "findings_new": n_find.difference(&o_find).collect::<Vec<_>>(),
            "findings_gone": o_find.difference(&n_find).collect::<Vec<_>>(),
        }));
    }
    Value::Array(changes)
}

/// The DNS facts rules read, from a stored snapshot (its report as `postern-mailauth`
/// wrote it). Unknown statuses or severities are read as `unknown` / `info` rather than
/// dropped, so a newer writer never hides a check from the rules.
pub fn dns_facts(snapshot: &DnsSnapshot) -> DnsFacts {
    let report = &snapshot.report;
    let checks = report["checks"].as_array().cloned().unwrap_or_default();
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let mut facts = DnsFacts {
        checked_at: snapshot.checked_at.timestamp(),
        ..DnsFacts::default()
    };
    for check in &checks {
        let name = check["check"].as_str().unwrap_or_default().to_owned();
        if name == "spf" {
            facts.spf_lookups = check["details"]["dns_lookups"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok());
            facts.spf_void_lookups = check["details"]["void_lookups"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok());
        }
        let status = match check["status"].as_str().unwrap_or_default() {
            "pass" => DnsCheckStatus::Pass,
            "warn" => DnsCheckStatus::Warn,
            "fail" => DnsCheckStatus::Fail,
            "missing" => DnsCheckStatus::Missing,
            _ => DnsCheckStatus::Unknown,
        };
        let records = check["records"]
            .as_array()
            .map(|r| r.iter().filter_map(text).collect())
            .unwrap_or_default();
        let findings = check["findings"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|f| {
                        Some(DnsFinding {
                            code: text(&f["code"])?,
                            severity: f["severity"]
                                .as_str()
                                .and_then(Severity::parse)
                                .unwrap_or(Severity::Info),
                            message: text(&f["message"]).unwrap_or_default(),
                            subject: text(&f["subject"]),
                            fix: f["fix"].as_object().map(|fix| DnsRecordChange {
                                name: fix.get("name").and_then(text).unwrap_or_default(),
                                record_type: fix.get("rtype").and_then(text).unwrap_or_default(),
                                current: fix.get("current").and_then(text),
                                proposed: fix.get("suggested").and_then(text).unwrap_or_default(),
                            }),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        facts.checks.push(DnsCheck {
            check: name,
            status,
            records,
            findings,
        });
    }
    facts
}

/// Checks the domains whose posture check is due (each domain's period is `every` ±10 %,
/// see [`postern_store::schedule_factor`]; never-checked domains first), at most
/// [`DUE_PER_TICK`] each `tick`, until `shutdown` fires.
pub async fn run_posture_schedule(
    checker: PostureChecker,
    every: Duration,
    tick: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match check_due(&checker, every, &mut shutdown).await {
            Ok(0) => {}
            Ok(count) => info!(domains = count, "scheduled posture checks done"),
            Err(error) => warn!(%error, "scheduled posture checks stopped"),
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { return },
        }
    }
}

/// One tick: asks the store for the domains due now (at most [`DUE_PER_TICK`], across
/// every tenant) and checks them; returns how many were checked. Stops early (with what it
/// did) when `shutdown` fires.
pub async fn check_due(
    checker: &PostureChecker,
    every: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<u64, AnalysisError> {
    let due = checker
        .store
        .system()
        .domains_due(ScheduledCheck::Posture, every, Utc::now(), DUE_PER_TICK)
        .await?;
    let mut count = 0;
    for domain in &due {
        if *shutdown.borrow() {
            break;
        }
        match checker.check(domain).await {
            Ok(_) => count += 1,
            Err(error) => warn!(%error, domain = %domain.name, "posture check failed"),
        }
    }
    Ok(count)
}

/// Checks each domain as it is added (`domain.added`) until `shutdown` fires.
pub async fn run_domain_added_consumer(
    checker: PostureChecker,
    bus: Arc<dyn Bus>,
    consumer: String,
    shutdown: watch::Receiver<bool>,
) -> Result<(), AnalysisError> {
    let subscription = bus
        .subscribe(topics::DOMAIN_ADDED, POSTURE_CONSUMER_GROUP, &consumer)
        .await
        .map_err(|e| AnalysisError::BadEvent(e.to_string()))?;
    postern_bus::run_consumer(
        subscription,
        move |envelope: Envelope| {
            let checker = checker.clone();
            let span = info_span!("postern_analysis.consumer.domain_added", event = %envelope.id);
            postern_telemetry::set_parent(&span, &envelope.trace_context);
            async move {
                check_added(&checker, &envelope)
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

/// Checks the domain a `domain.added` event names (a domain removed meanwhile is skipped).
pub async fn check_added(
    checker: &PostureChecker,
    envelope: &Envelope,
) -> Result<(), AnalysisError> {
    let message: events::DomainAdded = envelope
        .payload_as()
        .map_err(|e| AnalysisError::BadEvent(e.to_string()))?;
    let id: DomainId = message
        .domain_id
        .parse()
        .map_err(|_| AnalysisError::BadEvent(format!("domain id {:?}", message.domain_id)))?;
    match checker.check_id(id).await {
        Ok(_) => Ok(()),
        Err(AnalysisError::Store(postern_store::StoreError::NotFound)) => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_status_records_and_findings_that_moved() {
        let before = json!({ "checks": [
            { "check": "dmarc", "status": "warn", "records": ["v=DMARC1; p=none"],
              "findings": [{ "code": "dmarc.policy_none" }] },
            { "check": "spf", "status": "pass", "records": ["v=spf1 -all"], "findings": [] },
        ]});
        let after = json!({ "checks": [
            { "check": "dmarc", "status": "pass", "records": ["v=DMARC1; p=reject"],
              "findings": [] },
            { "check": "spf", "status": "pass", "records": ["v=spf1 -all"], "findings": [] },
            { "check": "bimi", "status": "missing", "records": [], "findings": [] },
        ]});
        let changes = changes_between(&before, &after);
        let changes = changes.as_array().unwrap();
        assert_eq!(changes.len(), 2, "{changes:?}");
        let bimi = &changes[0];
        assert_eq!(bimi["check"], "bimi");
        assert_eq!(bimi["from_status"], Value::Null);
        let dmarc = &changes[1];
        assert_eq!(dmarc["from_status"], "warn");
        assert_eq!(dmarc["to_status"], "pass");
        assert_eq!(dmarc["records_added"], json!(["v=DMARC1; p=reject"]));
        assert_eq!(dmarc["records_removed"], json!(["v=DMARC1; p=none"]));
        assert_eq!(dmarc["findings_gone"], json!(["dmarc.policy_none"]));
        assert_eq!(changes_between(&after, &after), json!([]));
    }
}
