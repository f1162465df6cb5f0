//! When rules are evaluated: at most one evaluation of a domain at a time in this process
//! ([`Evaluator`]), reports of one domain arriving together coalesced into one evaluation
//! ([`Evaluator::request`], debounced), and every domain re-evaluated on a jittered schedule
//! ([`run_schedule`]), because some facts change with time alone ("p=none for 30 days").
//!
//! Serialising per domain closes the race of two evaluations reading facts at different
//! times and reconciling in the other order within one process. Across processes (an API
//! process answering `verifyIssueNow` beside a separate analysis service) the later
//! evaluation still wins on the next run; every evaluation reads the facts afresh.

use crate::error::AnalysisError;
use crate::rules::{RuleSet, evaluate_domain};
use chrono::Utc;
use postern_domain::DomainId;
use postern_store::{Domain, ReconcileOutcome, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Domains read per page by the scheduled walk.
const SCHEDULE_PAGE: u64 = 500;
/// Debounced evaluations running at once.
const CONCURRENT_EVALUATIONS: usize = 4;

/// Evaluates domains' rules, one evaluation per domain at a time.
#[derive(Clone)]
pub struct Evaluator {
    store: Store,
    rules: Arc<RuleSet>,
    gates: Arc<Mutex<HashMap<DomainId, Arc<tokio::sync::Mutex<()>>>>>,
    queue: Option<mpsc::UnboundedSender<DomainId>>,
}

impl Evaluator {
    /// An evaluator without a debounce queue: [`Evaluator::request`] evaluates at once.
    pub fn new(store: Store, rules: Arc<RuleSet>) -> Self {
        Self {
            store,
            rules,
            gates: Arc::default(),
            queue: None,
        }
    }

    /// The rule set evaluated.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Starts the debounce worker: a domain [`requested`](Evaluator::request) is evaluated
    /// `delay` after its first request, once for every request made meanwhile. The worker
    /// stops with `shutdown`, evaluating what is still waiting first.
    pub fn with_debounce(
        mut self,
        delay: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.queue = Some(tx);
        let worker = tokio::spawn(debounce(self.clone(), rx, delay, shutdown));
        (self, worker)
    }

    /// Evaluates `domain` now, after any evaluation of it already running.
    pub async fn evaluate(&self, domain: &Domain) -> Result<ReconcileOutcome, AnalysisError> {
        let gate = self.gate(domain.id);
        let _held = gate.lock().await;
        let outcome = evaluate_domain(&self.store, &self.rules, domain, Utc::now()).await;
        drop(_held);
        self.release(domain.id, &gate);
        outcome
    }

    /// Evaluates the domain with id `domain` now (see [`Evaluator::evaluate`]).
    pub async fn evaluate_id(&self, domain: DomainId) -> Result<ReconcileOutcome, AnalysisError> {
        let domain = self.store.system().domain(domain).await?;
        self.evaluate(&domain).await
    }

    /// Asks for an evaluation of `domain` soon: debounced with a worker, else right away
    /// (errors logged).
    pub async fn request(&self, domain: &Domain) {
        if let Some(queue) = &self.queue
            && queue.send(domain.id).is_ok()
        {
            return;
        }
        if let Err(error) = self.evaluate(domain).await {
            warn!(%error, domain = %domain.name, "rule evaluation failed");
        }
    }

    fn gate(&self, domain: DomainId) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
        gates.entry(domain).or_default().clone()
    }

    /// Forgets the gate of `domain` when nobody else holds or waits for it.
    fn release(&self, domain: DomainId, gate: &Arc<tokio::sync::Mutex<()>>) {
        let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
        // Two references: the map's and the caller's.
        if Arc::strong_count(gate) <= 2 {
            gates.remove(&domain);
        }
    }
}

async fn debounce(
    evaluator: Evaluator,
    mut rx: mpsc::UnboundedReceiver<DomainId>,
    delay: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut due: HashMap<DomainId, Instant> = HashMap::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_EVALUATIONS));
    let mut running = tokio::task::JoinSet::new();
    loop {
        let next = due.values().min().copied();
        tokio::select! {
            request = rx.recv() => match request {
                // The first request of a burst fixes the time: a steady stream of reports
                // never postpones the evaluation past `delay`.
                Some(domain) => { due.entry(domain).or_insert_with(|| Instant::now() + delay); }
                None => break,
            },
            () = sleep_until(next) => {
                let now = Instant::now();
                let ready: Vec<DomainId> =
                    due.iter().filter(|(_, at)| **at <= now).map(|(d, _)| *d).collect();
                for domain in ready {
                    due.remove(&domain);
                    let (evaluator, limit) = (evaluator.clone(), limit.clone());
                    running.spawn(async move {
                        let Ok(_permit) = limit.acquire_owned().await else { return };
                        if let Err(error) = evaluator.evaluate_id(domain).await {
                            warn!(%error, %domain, "rule evaluation failed");
                        }
                    });
                }
            },
            Some(_) = running.join_next(), if !running.is_empty() => {},
            changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { break },
        }
    }
    // What was asked for before the stop is still evaluated.
    while let Ok(domain) = rx.try_recv() {
        due.entry(domain).or_insert_with(Instant::now);
    }
    for domain in due.into_keys() {
        if let Err(error) = evaluator.evaluate_id(domain).await {
            warn!(%error, %domain, "rule evaluation failed");
        }
    }
    while running.join_next().await.is_some() {}
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Re-evaluates every domain of every tenant each `every` (±10 % jitter, so processes
/// started together spread out), the first time right after start-up (catching up on what
/// a stop interrupted). A domain that fails is logged; the walk carries on.
pub async fn run_schedule(
    evaluator: Evaluator,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { return },
        }
        match evaluate_all(&evaluator, &mut shutdown).await {
            Ok(count) => info!(domains = count, "scheduled rule evaluation done"),
            Err(error) => warn!(%error, "scheduled rule evaluation stopped"),
        }
        wait = jittered(every, rand_unit());
    }
}

/// Evaluates every domain, page by page; returns how many were evaluated. Stops early
/// (with what it did) when `shutdown` fires.
pub async fn evaluate_all(
    evaluator: &Evaluator,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<u64, AnalysisError> {
    let system = evaluator.store.system();
    let mut after = None;
    let mut count = 0;
    loop {
        let page = system.domains_after(after, SCHEDULE_PAGE).await?;
        for domain in &page {
            if *shutdown.borrow() {
                return Ok(count);
            }
            match evaluator.evaluate(domain).await {
                Ok(_) => count += 1,
                Err(error) => warn!(%error, domain = %domain.name, "rule evaluation failed"),
            }
        }
        debug!(evaluated = count, "scheduled evaluation page");
        match page.last() {
            Some(last) if page.len() as u64 == SCHEDULE_PAGE => after = Some(last.id),
            _ => return Ok(count),
        }
    }
}

/// `every` scaled by a factor in [0.9, 1.1) picked by `unit` ∈ [0, 1).
pub(crate) fn jittered(every: Duration, unit: f64) -> Duration {
    every.mul_f64(0.9 + 0.2 * unit.clamp(0.0, 1.0))
}

/// A number in [0, 1) from a random UUID's bits (no RNG crate needed for jitter).
pub(crate) fn rand_unit() -> f64 {
    // The low 62 bits of a v4 UUID are random (version and variant bits sit above them).
    let bits = uuid::Uuid::new_v4().as_u128() & ((1u128 << 53) - 1);
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let every = Duration::from_secs(100);
        assert_eq!(jittered(every, 0.0), Duration::from_secs(90));
        assert_eq!(jittered(every, 0.5), Duration::from_secs(100));
        assert!(jittered(every, 0.999_999) < Duration::from_secs(110));
        for _ in 0..1000 {
            let unit = rand_unit();
            assert!((0.0..1.0).contains(&unit), "{unit}");
        }
    }
}
