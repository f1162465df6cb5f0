//! Blocklist monitoring of client domains, their DMARC sending sources and the clients'
//! configured targets ([`BlocklistChecker`]), and the `blocklists` rule facts of a domain
//! ([`blocklist_facts`]).
//!
//! Per MSP: the built-in catalogue with the MSP's stored overrides (an override that does
//! not apply is logged and skipped), the targets (the ones people configured, every client
//! domain, and every source that sent at least `analysis.blocklist_source_min_messages` for
//! a domain over the last 7 days; found targets are stored with a note starting `auto:`),
//! one [`BlocklistMonitor`] run, each target's verdicts recorded (listings opened and
//! closed, `blocklist.listed` / `blocklist.delisted` events in the same transaction), and
//! the rules of the clients whose targets changed evaluated again.
//!
//! One [`BlocklistMonitor`] per process: its rate limits, cache and list health are what
//! bound the query volume, so every clone of a checker shares it.

use crate::error::AnalysisError;
use crate::schedule::Evaluator;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use postern_blocklist::{
    Blocklist, BlocklistMonitor, Catalogue, ListKind, ListOverride, ListingState, Observation,
    Target,
};
use postern_bus::{Envelope, events::BlocklistChanged, topics};
use postern_domain::{ClientId, DomainId, MspId};
use postern_rules::{BlocklistEntry, BlocklistState as FactState, BlocklistTargetKind};
use postern_store::{
    BlocklistObservation, BlocklistState, BlocklistTarget, BlocklistTransition, BlocklistVerdict,
    Domain, NewBlocklistTarget, OutboxEvent, ScheduledCheck, SourceStats, Store,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

/// The note of a target the checker found itself starts with this.
pub const AUTO_NOTE_PREFIX: &str = "auto:";
/// Days of DMARC data that make a sending source a target.
const SOURCE_DAYS: i64 = 7;
/// Sources read per domain.
const MAX_SOURCES: u64 = postern_store::MAX_PAGE_SIZE;
/// Domains read per page.
const PAGE: u64 = 500;
/// Domains checked at most per tick of the schedule (the rest are due at the next tick).
pub const BLOCKLIST_DUE_PER_TICK: u64 = 200;
/// How often the schedule asks which domains are due.
const BLOCKLIST_TICK: Duration = Duration::from_secs(60);

/// Checks MSPs' targets against their catalogues and records the verdicts. Cheap to clone
/// (the monitor is shared).
#[derive(Clone)]
pub struct BlocklistChecker {
    store: Store,
    monitor: Arc<BlocklistMonitor>,
    catalogue: Arc<Catalogue>,
    evaluator: Option<Evaluator>,
    source_min_messages: u64,
    /// When the schedule last took each domain (this process): a domain whose checks leave
    /// no verdict on its own target (its MSP switched every domain list off) stays "never
    /// checked" in the store and would otherwise come first at every tick, crowding out
    /// the others.
    attempted: Arc<std::sync::Mutex<HashMap<DomainId, DateTime<Utc>>>>,
}

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlocklistRun {
    /// Stored targets checked.
    pub targets: usize,
    /// Verdicts recorded.
    pub verdicts: usize,
    /// Listings opened.
    pub listed: usize,
    /// Listings closed.
    pub delisted: usize,
}

impl BlocklistChecker {
    /// A checker over `store` asking through `monitor` (the process's one), with the
    /// built-in catalogue; sources with at least `source_min_messages` messages over the
    /// last 7 days are checked; the rules of changed clients' domains are evaluated by
    /// `evaluator` when one is given.
    pub fn new(
        store: Store,
        monitor: Arc<BlocklistMonitor>,
        evaluator: Option<Evaluator>,
        source_min_messages: u64,
    ) -> Result<Self, AnalysisError> {
        let catalogue =
            Catalogue::builtin().map_err(|e| AnalysisError::Blocklist(e.to_string()))?;
        Ok(Self {
            store,
            monitor,
            catalogue: Arc::new(catalogue),
            evaluator,
            source_min_messages,
            attempted: Arc::default(),
        })
    }

    /// Checks every MSP that has domains or targets; an MSP that fails is logged and the
    /// others still run.
    pub async fn check_all(&self) -> Result<BlocklistRun, AnalysisError> {
        let domains = self.domains(Which::All).await?;
        let mut msps: BTreeSet<MspId> = domains.iter().map(|d| d.msp_id).collect();
        msps.extend(
            self.store
                .system()
                .blocklist_targets(None)
                .await?
                .iter()
                .map(|t| t.msp_id),
        );
        let mut total = BlocklistRun::default();
        for msp in msps {
            let mine: Vec<Domain> = domains
                .iter()
                .filter(|d| d.msp_id == msp)
                .cloned()
                .collect();
            match self.check_scope(msp, None, &mine).await {
                Ok(run) => total.add(run),
                Err(error) => warn!(%error, %msp, "blocklist check of an msp failed"),
            }
        }
        Ok(total)
    }

    /// One tick of the schedule: the domains whose blocklist check is due at `now` (their
    /// own target's newest verdict older than `every` ±10 %, never-checked first; at most
    /// `limit`, across every tenant, from the store), walked per MSP: each MSP's catalogue
    /// and targets are read once, then its due domains, their DMARC sources and the
    /// targets people configured for their clients (those not checked within 90 % of
    /// `every`) are checked. An MSP that fails is logged and the others still run.
    pub async fn check_due(
        &self,
        every: Duration,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<BlocklistRun, AnalysisError> {
        let recent = ChronoDuration::from_std(every).unwrap_or(ChronoDuration::MAX);
        let taken: HashSet<DomainId> = {
            let mut attempted = self
                .attempted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            attempted.retain(|_, at| now.signed_duration_since(*at) < recent);
            attempted.keys().copied().collect()
        };
        // Ask for as many more as were taken within `every`: those are skipped.
        let due = self
            .store
            .system()
            .domains_due(
                ScheduledCheck::Blocklists,
                every,
                now,
                limit.saturating_add(taken.len() as u64),
            )
            .await?;
        let mut by_msp: BTreeMap<MspId, Vec<Domain>> = BTreeMap::new();
        let mut chosen = 0;
        for domain in due {
            if taken.contains(&domain.id) || chosen >= limit {
                continue;
            }
            chosen += 1;
            by_msp.entry(domain.msp_id).or_default().push(domain);
        }
        {
            let mut attempted = self
                .attempted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for domain in by_msp.values().flatten() {
                attempted.insert(domain.id, now);
            }
        }
        let fresh = ChronoDuration::from_std(every.mul_f64(0.9)).unwrap_or(ChronoDuration::MAX);
        let mut total = BlocklistRun::default();
        for (msp, domains) in by_msp {
            let stale = now
                .checked_sub_signed(fresh)
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            match self.check_due_of(msp, &domains, stale).await {
                Ok(run) => total.add(run),
                Err(error) => warn!(%error, %msp, "blocklist check of an msp failed"),
            }
        }
        Ok(total)
    }

    /// The due `domains` of `msp`: their own targets and sources, and their clients'
    /// configured targets whose newest verdict is older than `stale` (or that have none).
    async fn check_due_of(
        &self,
        msp: MspId,
        domains: &[Domain],
        stale: DateTime<Utc>,
    ) -> Result<BlocklistRun, AnalysisError> {
        let span =
            info_span!("postern_analysis.blocklist.check_due", %msp, domains = domains.len());
        async move {
            let lists = self.catalogue_of(msp).await?.enabled();
            let wanted = self.found_targets(domains, Utc::now()).await?;
            let clients: BTreeSet<ClientId> = domains.iter().map(|d| d.client_id).collect();
            let system = self.store.system();
            let mut last: HashMap<uuid::Uuid, DateTime<Utc>> = HashMap::new();
            for client in &clients {
                for state in system.blocklist_client_states(*client).await? {
                    let at = last.entry(state.target_id).or_insert(state.checked_at);
                    *at = (*at).max(state.checked_at);
                }
            }
            let mut stored = self
                .stored_with_found(msp, |c| clients.contains(&c), &wanted)
                .await?;
            // The due domains' own targets and sources; configured targets when stale; found
            // targets of other domains (or no longer qualifying) wait for their own turn.
            stored.retain(|t| {
                if t.note.starts_with(AUTO_NOTE_PREFIX) {
                    wanted.contains_key(&(t.client_id, t.value.clone()))
                } else {
                    last.get(&t.id).is_none_or(|at| *at <= stale)
                }
            });
            self.check_targets(&lists, &stored).await
        }
        .instrument(span)
        .await
    }

    /// Checks every target of `msp`.
    pub async fn check_msp(&self, msp: MspId) -> Result<BlocklistRun, AnalysisError> {
        let domains = self.domains(Which::Msp(msp)).await?;
        self.check_scope(msp, None, &domains).await
    }

    /// Checks every target of `client` (of `msp`).
    pub async fn check_client(
        &self,
        msp: MspId,
        client: ClientId,
    ) -> Result<BlocklistRun, AnalysisError> {
        let domains = self
            .domains(Which::Clients(&BTreeSet::from([client])))
            .await?;
        self.check_scope(msp, Some(client), &domains).await
    }

    /// [`BlocklistChecker::check_client`] by client id; `NotFound` when the client is gone.
    pub async fn check_client_id(&self, client: ClientId) -> Result<BlocklistRun, AnalysisError> {
        let msp = self
            .store
            .system()
            .client_owner(client)
            .await?
            .ok_or(postern_store::StoreError::NotFound)?;
        self.check_client(msp, client).await
    }

    /// The domains `which` names.
    async fn domains(&self, which: Which<'_>) -> Result<Vec<Domain>, AnalysisError> {
        let system = self.store.system();
        let mut after: Option<DomainId> = None;
        let mut out = Vec::new();
        loop {
            let page = system.domains_after(after, PAGE).await?;
            out.extend(page.iter().filter(|d| which.keeps(d)).cloned());
            match page.last() {
                Some(last) if page.len() as u64 == PAGE => after = Some(last.id),
                _ => return Ok(out),
            }
        }
    }

    /// The catalogue of `msp`: built-in lists with its stored overrides (problems logged).
    pub async fn catalogue_of(&self, msp: MspId) -> Result<Catalogue, AnalysisError> {
        catalogue_for(&self.store, &self.catalogue, msp).await
    }

    async fn check_scope(
        &self,
        msp: MspId,
        client: Option<ClientId>,
        domains: &[Domain],
    ) -> Result<BlocklistRun, AnalysisError> {
        let span = info_span!("postern_analysis.blocklist.check", %msp);
        async move {
            let lists = self.catalogue_of(msp).await?.enabled();
            let wanted = self.found_targets(domains, Utc::now()).await?;
            let mut stored = self
                .stored_with_found(msp, |c| client.is_none_or(|x| x == c), &wanted)
                .await?;
            // Found targets that no longer qualify (a source gone quiet) keep their history
            // but are not asked about.
            stored.retain(|t| {
                !t.note.starts_with(AUTO_NOTE_PREFIX)
                    || wanted.contains_key(&(t.client_id, t.value.clone()))
            });
            self.check_targets(&lists, &stored).await
        }
        .instrument(span)
        .await
    }

    /// `msp`'s stored targets of the clients `keep` accepts, plus the `wanted` (found)
    /// targets not stored yet, stored now with their note (one that cannot be stored is
    /// logged and left out).
    async fn stored_with_found(
        &self,
        msp: MspId,
        keep: impl Fn(ClientId) -> bool,
        wanted: &BTreeMap<(ClientId, String), String>,
    ) -> Result<Vec<BlocklistTarget>, AnalysisError> {
        let system = self.store.system();
        let mut stored: Vec<BlocklistTarget> = system
            .blocklist_targets(Some(msp))
            .await?
            .into_iter()
            .filter(|t| keep(t.client_id))
            .collect();
        let have: HashSet<(ClientId, String)> = stored
            .iter()
            .map(|t| (t.client_id, t.value.clone()))
            .collect();
        for ((client_id, value), note) in wanted {
            if have.contains(&(*client_id, value.clone())) {
                continue;
            }
            let new = NewBlocklistTarget {
                value: value.clone(),
                note: note.clone(),
            };
            match system.ensure_blocklist_target(msp, *client_id, new).await {
                Ok(target) => stored.push(target),
                Err(error) => warn!(%error, %value, "a found blocklist target was not stored"),
            }
        }
        Ok(stored)
    }

    /// The targets the MSP's domains give: each domain, and each source that sent at least
    /// the threshold over the last 7 days; by (client, value), with the note to store.
    async fn found_targets(
        &self,
        domains: &[Domain],
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<(ClientId, String), String>, AnalysisError> {
        let system = self.store.system();
        let from = now - ChronoDuration::days(SOURCE_DAYS);
        let mut wanted = BTreeMap::new();
        for domain in domains {
            let name = domain.name.as_str().to_owned();
            wanted
                .entry((domain.client_id, name.clone()))
                .or_insert_with(|| format!("{AUTO_NOTE_PREFIX} client domain"));
            let sources = system
                .domain_sources_system(domain.id, from, now, MAX_SOURCES)
                .await?;
            for source in sources
                .iter()
                .filter(|s| s.messages >= self.source_min_messages)
            {
                wanted
                    .entry((domain.client_id, source.source_ip.to_string()))
                    .or_insert_with(|| format!("{AUTO_NOTE_PREFIX} dmarc source of {name}"));
            }
        }
        Ok(wanted)
    }

    /// Checks `targets` against `lists` and records each target's verdicts.
    async fn check_targets(
        &self,
        lists: &[Blocklist],
        targets: &[BlocklistTarget],
    ) -> Result<BlocklistRun, AnalysisError> {
        let mut by_target: BTreeMap<Target, Vec<&BlocklistTarget>> = BTreeMap::new();
        for stored in targets {
            match Target::parse(&stored.value) {
                Ok(target) => by_target.entry(target).or_default().push(stored),
                Err(error) => warn!(%error, target = %stored.value, "blocklist target skipped"),
            }
        }
        let asked: Vec<Target> = by_target.keys().cloned().collect();
        let observations = self.monitor.check(lists, &asked).await;
        let mut verdicts: HashMap<&Target, Vec<BlocklistObservation>> = HashMap::new();
        for o in &observations {
            match observation(o) {
                Ok(obs) => verdicts.entry(&o.target).or_default().push(obs),
                Err(error) => warn!(%error, list = %o.list_id, "blocklist verdict skipped"),
            }
        }
        let at = Utc::now();
        let system = self.store.system();
        let mut run = BlocklistRun::default();
        let mut changed: BTreeSet<ClientId> = BTreeSet::new();
        for (target, stored) in &by_target {
            let Some(found) = verdicts.get(target) else {
                continue;
            };
            for row in stored {
                match system
                    .record_blocklist_check(row, found, at, &transition_event(at))
                    .await
                {
                    Ok(transitions) => {
                        run.targets += 1;
                        run.verdicts += found.len();
                        for t in &transitions {
                            match t {
                                BlocklistTransition::Listed { .. } => run.listed += 1,
                                BlocklistTransition::Delisted { .. } => run.delisted += 1,
                            }
                        }
                        if !transitions.is_empty() {
                            changed.insert(row.client_id);
                        }
                    }
                    Err(error) => {
                        warn!(%error, target = %row.value, "blocklist check not recorded");
                    }
                }
            }
        }
        if !changed.is_empty()
            && let Some(evaluator) = &self.evaluator
        {
            for domain in self.domains(Which::Clients(&changed)).await? {
                evaluator.request(&domain).await;
            }
        }
        debug!(
            targets = run.targets,
            listed = run.listed,
            delisted = run.delisted,
            "blocklists checked"
        );
        Ok(run)
    }
}

/// Which domains to read.
#[derive(Clone, Copy)]
enum Which<'a> {
    All,
    Msp(MspId),
    Clients(&'a BTreeSet<ClientId>),
}

impl Which<'_> {
    fn keeps(self, domain: &Domain) -> bool {
        match self {
            Which::All => true,
            Which::Msp(msp) => domain.msp_id == msp,
            Which::Clients(clients) => clients.contains(&domain.client_id),
        }
    }
}

impl BlocklistRun {
    fn add(&mut self, other: BlocklistRun) {
        self.targets += other.targets;
        self.verdicts += other.verdicts;
        self.listed += other.listed;
        self.delisted += other.delisted;
    }
}

/// `base` with `msp`'s stored overrides applied; overrides that cannot be read or applied
/// are logged and skipped.
pub async fn catalogue_for(
    store: &Store,
    base: &Catalogue,
    msp: MspId,
) -> Result<Catalogue, AnalysisError> {
    let stored = store.system().blocklist_overrides(msp).await?;
    let mut overrides = Vec::with_capacity(stored.len());
    for o in stored {
        match ListOverride::from_stored(
            &o.row.list_id,
            o.row.enabled,
            o.row.patch.clone(),
            o.key.as_deref(),
        ) {
            Ok(o) => overrides.push(o),
            Err(error) => warn!(%error, %msp, list = %o.row.list_id, "blocklist override skipped"),
        }
    }
    let (catalogue, problems) = base.with_overrides(&overrides);
    for problem in problems {
        warn!(error = %problem.error, %msp, list = %problem.list_id, "blocklist override skipped");
    }
    Ok(catalogue)
}

/// The stored form of a monitor's verdict.
fn observation(o: &Observation) -> Result<BlocklistObservation, String> {
    let verdict = match o.state {
        ListingState::Listed { .. } => BlocklistVerdict::Listed,
        ListingState::Clear => BlocklistVerdict::Clear,
        ListingState::Unknown { .. } => BlocklistVerdict::Unknown,
    };
    Ok(BlocklistObservation {
        list_id: o.list_id.clone(),
        verdict,
        detail: serde_json::to_value(&o.state).map_err(|e| e.to_string())?,
    })
}

/// The outbox event of a transition: `blocklist.listed` or `blocklist.delisted`, addressed
/// to the target's MSP and client.
pub fn transition_event(
    now: DateTime<Utc>,
) -> impl Fn(&BlocklistTransition) -> OutboxEvent + Send + Sync {
    move |transition| {
        let (topic, target, listing) = match transition {
            BlocklistTransition::Listed { target, listing } => {
                (topics::BLOCKLIST_LISTED, target, listing)
            }
            BlocklistTransition::Delisted { target, listing } => {
                (topics::BLOCKLIST_DELISTED, target, listing)
            }
        };
        let message = BlocklistChanged {
            target_id: target.id.to_string(),
            target: target.value.clone(),
            target_kind: target.kind.as_str().to_owned(),
            list_id: listing.list_id.clone(),
            listing_id: listing.id.to_string(),
            since: listing.since.to_rfc3339(),
            until: listing.until.map(|u| u.to_rfc3339()).unwrap_or_default(),
            detail_json: listing.detail.to_string(),
        };
        let envelope = Envelope::new(
            topic,
            &message,
            Some(target.msp_id),
            Some(target.client_id),
            now,
        );
        OutboxEvent {
            id: envelope.id,
            topic: envelope.topic.clone(),
            payload: envelope.encode(),
        }
    }
}

/// Checks the domains whose blocklist check is due (each domain's period is `every`
/// ±10 %, see [`postern_store::schedule_factor`]), at most [`BLOCKLIST_DUE_PER_TICK`] per
/// tick (every minute, or every `every` when that is shorter), the first tick right after
/// start-up, until `shutdown` fires. See [`BlocklistChecker::check_due`].
pub async fn run_blocklist_schedule(
    checker: BlocklistChecker,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let tick = every.min(BLOCKLIST_TICK);
    loop {
        tokio::select! {
            result = checker.check_due(every, Utc::now(), BLOCKLIST_DUE_PER_TICK) => match result {
                Ok(run) if run.targets == 0 => {}
                Ok(run) => info!(
                    targets = run.targets,
                    listed = run.listed,
                    delisted = run.delisted,
                    "scheduled blocklist checks done"
                ),
                Err(error) => warn!(%error, "scheduled blocklist checks stopped"),
            },
            changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { return },
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { return },
        }
    }
}

/// The `blocklists` facts of `domain`: the current verdicts of the enabled block lists
/// (never the DNSWLs: a listing there is good news) on the domain itself, on its DMARC
/// sources in `sources`, and on the targets people configured for its client.
pub async fn blocklist_facts(
    store: &Store,
    domain: &Domain,
    sources: &[SourceStats],
) -> Result<Vec<BlocklistEntry>, AnalysisError> {
    let system = store.system();
    let states = system.blocklist_client_states(domain.client_id).await?;
    if states.is_empty() {
        return Ok(Vec::new());
    }
    let base = Catalogue::builtin().map_err(|e| AnalysisError::Blocklist(e.to_string()))?;
    let catalogue = catalogue_for(store, &base, domain.msp_id).await?;
    let source_ips: HashSet<IpAddr> = sources.iter().map(|s| s.source_ip).collect();
    let targets: HashMap<uuid::Uuid, BlocklistTarget> = system
        .blocklist_targets(Some(domain.msp_id))
        .await?
        .into_iter()
        .filter(|t| t.client_id == domain.client_id && concerns(t, domain, &source_ips))
        .map(|t| (t.id, t))
        .collect();
    Ok(states
        .iter()
        .filter_map(|state| {
            let target = targets.get(&state.target_id)?;
            let list = catalogue.get(&state.list_id)?;
            (list.enabled && list.kind != ListKind::Dnswl).then(|| entry(target, list, state))
        })
        .collect())
}

/// Whether `target`'s verdicts are facts of `domain`: the domain itself, one of its
/// sources, or a target people configured for the client.
fn concerns(target: &BlocklistTarget, domain: &Domain, sources: &HashSet<IpAddr>) -> bool {
    if target.value == domain.name.as_str() {
        return true;
    }
    if let Ok(ip) = target.value.parse::<IpAddr>()
        && sources.contains(&ip)
    {
        return true;
    }
    !target.note.starts_with(AUTO_NOTE_PREFIX)
}

/// One stored verdict as a rule fact.
fn entry(target: &BlocklistTarget, list: &Blocklist, state: &BlocklistState) -> BlocklistEntry {
    let (fact, codes, meaning) = match serde_json::from_value::<ListingState>(state.detail.clone())
    {
        Ok(ListingState::Listed { codes, .. }) => {
            let meanings: Vec<String> = codes.iter().flat_map(|c| c.meanings.clone()).collect();
            (
                FactState::Listed,
                codes.iter().map(|c| c.code.to_string()).collect(),
                meanings.join("; "),
            )
        }
        _ => (
            match state.verdict {
                BlocklistVerdict::Listed => FactState::Listed,
                BlocklistVerdict::Clear => FactState::Clear,
                BlocklistVerdict::Unknown => FactState::Unknown,
            },
            Vec::new(),
            String::new(),
        ),
    };
    BlocklistEntry {
        target: target.value.clone(),
        target_kind: match target.kind {
            postern_store::BlocklistTargetKind::Ip => BlocklistTargetKind::Ip,
            postern_store::BlocklistTargetKind::Domain => BlocklistTargetKind::Domain,
        },
        list_id: list.id.clone(),
        list_name: list.name.clone(),
        state: fact,
        return_codes: codes,
        meaning,
        delist_url: list.delisting_url.clone(),
        since: (fact == FactState::Listed).then(|| state.since.timestamp()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_store::BlocklistTargetKind as StoredKind;
    use serde_json::json;

    fn target(value: &str, note: &str) -> BlocklistTarget {
        BlocklistTarget {
            id: uuid::Uuid::now_v7(),
            msp_id: MspId::new(),
            client_id: ClientId::new(),
            kind: if value.parse::<IpAddr>().is_ok() {
                StoredKind::Ip
            } else {
                StoredKind::Domain
            },
            value: value.to_owned(),
            note: note.to_owned(),
            created_at: Utc::now(),
        }
    }

    fn state(
        target: &BlocklistTarget,
        verdict: BlocklistVerdict,
        detail: serde_json::Value,
    ) -> BlocklistState {
        BlocklistState {
            target_id: target.id,
            msp_id: target.msp_id,
            client_id: target.client_id,
            list_id: "spamhaus-zen".to_owned(),
            verdict,
            detail,
            since: Utc::now(),
            checked_at: Utc::now(),
        }
    }

    #[test]
    fn a_listed_verdict_becomes_a_fact_with_codes_meanings_and_delisting_url() {
        let catalogue = Catalogue::builtin().unwrap();
        let zen = catalogue.get("spamhaus-zen").unwrap();
        let t = target("192.0.2.7", "relay");
        let detail = json!({"state": "listed", "codes": [
            {"code": "127.0.0.2", "meanings": ["SBL"]},
            {"code": "127.0.0.4", "meanings": ["XBL"]}], "txt": []});
        let s = state(&t, BlocklistVerdict::Listed, detail);
        let fact = entry(&t, zen, &s);
        assert_eq!(fact.state, FactState::Listed);
        assert_eq!(fact.target_kind, BlocklistTargetKind::Ip);
        assert_eq!(fact.return_codes, vec!["127.0.0.2", "127.0.0.4"]);
        assert_eq!(fact.meaning, "SBL; XBL");
        assert_eq!(fact.list_name, zen.name);
        assert_eq!(fact.delist_url, zen.delisting_url);
        assert_eq!(fact.since, Some(s.since.timestamp()));
        let clear = entry(
            &t,
            zen,
            &state(&t, BlocklistVerdict::Clear, json!({"state": "clear"})),
        );
        assert_eq!(clear.state, FactState::Clear);
        assert!(clear.return_codes.is_empty() && clear.since.is_none());
    }

    #[test]
    fn facts_cover_the_domain_its_sources_and_configured_targets_only() {
        let domain_name = postern_domain::DomainName::parse("example.com").unwrap();
        let domain = Domain {
            id: DomainId::new(),
            msp_id: MspId::new(),
            client_id: ClientId::new(),
            name: domain_name,
            created_at: Utc::now(),
        };
        let sources: HashSet<IpAddr> = ["192.0.2.7".parse().unwrap()].into();
        let auto = |v: &str| target(v, "auto: dmarc source of other.example");
        assert!(concerns(&auto("example.com"), &domain, &sources));
        assert!(concerns(&auto("192.0.2.7"), &domain, &sources));
        assert!(!concerns(&auto("198.51.100.1"), &domain, &sources));
        assert!(!concerns(&auto("other.example"), &domain, &sources));
        assert!(concerns(
            &target("198.51.100.1", "relay"),
            &domain,
            &sources
        ));
    }

    #[test]
    fn transitions_become_events_of_their_topic_and_tenant() {
        let t = target("192.0.2.7", "relay");
        let listing = postern_store::BlocklistListing {
            id: uuid::Uuid::now_v7(),
            msp_id: t.msp_id,
            client_id: t.client_id,
            target_id: t.id,
            list_id: "spamhaus-zen".to_owned(),
            since: Utc::now(),
            until: None,
            detail: json!({"state": "listed"}),
        };
        let now = Utc::now();
        let event = transition_event(now)(&BlocklistTransition::Listed {
            target: t.clone(),
            listing: listing.clone(),
        });
        assert_eq!(event.topic, topics::BLOCKLIST_LISTED);
        let envelope = Envelope::decode(&event.payload).unwrap();
        assert_eq!(envelope.msp_id, Some(t.msp_id));
        assert_eq!(envelope.client_id, Some(t.client_id));
        let message: BlocklistChanged = envelope.payload_as().unwrap();
        assert_eq!(message.target, "192.0.2.7");
        assert_eq!(message.listing_id, listing.id.to_string());
        assert!(message.until.is_empty());
        let event = transition_event(now)(&BlocklistTransition::Delisted { target: t, listing });
        assert_eq!(event.topic, topics::BLOCKLIST_DELISTED);
    }
}
