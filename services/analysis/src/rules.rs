//! Rule evaluation: a domain's facts from the store, the domain's effective rule set over
//! them (the built-in plugins and its MSP's uploaded ones, minus what is switched off for the
//! MSP or the client), and the findings reconciled into issues (with `issue.changed` events
//! in the same transaction). A plugin that fails becomes a stored `plugin_failed` record.

use crate::error::AnalysisError;
use chrono::{DateTime, Duration, Utc};
use postern_bus::events::{IssueChange, issue_changed};
use postern_domain::{Finding, PolicyPublished};
use postern_rules::{
    DmarcSummary, DomainFacts, LoadError, LoadedPlugin, PluginFailure, PluginHost, PublishedPolicy,
    RuleInfo, RuleLimits, SourceFacts, TlsFailure, TlsSummary, builtin_plugins,
};
use postern_store::{
    DailySummary, Domain, Issue, IssueEvent, NewPluginFailure, OutboxEvent, ReconcileOutcome,
    RuleConfig, SourceStats, Store, TlsTotals,
};
use std::collections::BTreeSet;
use std::sync::Arc;
use tracing::warn;

/// How far back the facts of an evaluation reach by default.
pub const DEFAULT_WINDOW: Duration = Duration::days(30);
/// Sources a snapshot carries at most (the busiest): the store's largest page.
const MAX_SOURCES: u64 = postern_store::MAX_PAGE_SIZE;

/// The plugin host (which keeps the MSPs' uploaded plugins compiled so far, by the SHA-256
/// of their bytes, in its bounded cache) and the built-in plugins (loaded once per process),
/// shared by analysis and the API.
pub struct RuleSet {
    host: PluginHost,
    plugins: Vec<LoadedPlugin>,
    window: Duration,
    /// MX lookups naming the provider family of bounced recipient domains.
    mx: Option<Arc<crate::bounces::MxFamilies>>,
}

/// The plugins that run for one domain, and the uploaded ones that could not be loaded.
#[derive(Debug, Default)]
pub struct DomainRules {
    /// Built-in plugins first, then uploaded ones, each enabled for the domain's client.
    pub plugins: Vec<LoadedPlugin>,
    /// Every rule id that could own a code of this domain's issues: every built-in id and
    /// every id the MSP uploaded, enabled or not (so a switched-off rule's issues are left
    /// alone rather than taken for another rule's).
    pub known: Vec<String>,
    /// Uploaded plugins that failed to load (a `load_failed` record each).
    pub load_failures: Vec<NewPluginFailure>,
}

/// What running every plugin over one snapshot gave.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Every finding of the plugins that ran, in plugin order.
    pub findings: Vec<Finding>,
    /// The ids of the plugins that ran.
    pub succeeded: Vec<String>,
    /// The plugins that failed, with why.
    pub failures: Vec<PluginFailure>,
}

impl RuleSet {
    /// A host with `limits` running the built-in plugins. Compiles every component: CPU
    /// work for process start, not for the async executor.
    pub fn builtin(limits: RuleLimits) -> Result<Self, AnalysisError> {
        Self::builtin_on(PluginHost::new(limits)?)
    }

    /// The built-in plugins loaded by `host` (configured by the caller: limits, cache bound,
    /// precompiled folder). CPU work, as [`builtin`](Self::builtin).
    pub fn builtin_on(host: PluginHost) -> Result<Self, AnalysisError> {
        let plugins = builtin_plugins()
            .iter()
            .map(|plugin| host.load(plugin.component))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(host, plugins))
    }

    /// `plugins` (loaded by `host`) evaluated over the default window.
    pub fn new(host: PluginHost, plugins: Vec<LoadedPlugin>) -> Self {
        Self {
            host,
            plugins,
            window: DEFAULT_WINDOW,
            mx: None,
        }
    }

    /// Bounce facts name the provider family of recipient domains whose bounces name no
    /// answering host from their MX records, looked up through `mx`.
    pub fn with_mx_families(mut self, mx: Arc<crate::bounces::MxFamilies>) -> Self {
        self.mx = Some(mx);
        self
    }

    /// Evaluations read the facts of the `window` before `now`.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The built-in plugins this set runs.
    pub fn plugins(&self) -> &[LoadedPlugin] {
        &self.plugins
    }

    /// Compiles and checks an uploaded component (no imports, this host's WIT version, a
    /// valid `describe`) and keeps it compiled for evaluations (in the host's bounded
    /// cache). CPU work: call it from a blocking thread.
    pub fn inspect(&self, component: &[u8]) -> Result<LoadedPlugin, LoadError> {
        self.host.load(component)
    }

    /// The plugins that run for a domain of `client` under its MSP's `config`: the built-in
    /// ones not switched off and the MSP's uploaded ones switched on (`config` holds only
    /// the domain's MSP's plugins, so another MSP's never run). An uploaded plugin not yet
    /// compiled is read from the store and compiled on a blocking thread, once per content.
    pub async fn for_domain(
        self: &Arc<Self>,
        store: &Store,
        domain: &Domain,
        config: &RuleConfig,
    ) -> Result<DomainRules, AnalysisError> {
        let client = Some(domain.client_id);
        let mut rules = DomainRules::default();
        for plugin in &self.plugins {
            let id = plugin.info().id.clone();
            if config.enabled(&id, true, client) {
                rules.plugins.push(plugin.clone());
            }
            rules.known.push(id);
        }
        for uploaded in &config.plugins {
            rules.known.push(uploaded.rule_id.clone());
            let builtin = self.plugins.iter().any(|p| p.info().id == uploaded.rule_id);
            if builtin || !config.enabled(&uploaded.rule_id, false, client) {
                continue;
            }
            match self
                .uploaded_plugin(store, domain, &uploaded.sha256)
                .await?
            {
                Ok(plugin) => rules.plugins.push(plugin),
                Err(reason) => {
                    warn!(rule = %uploaded.rule_id, %reason, domain = %domain.name, "uploaded rule plugin cannot be loaded");
                    rules.load_failures.push(NewPluginFailure {
                        rule_id: uploaded.rule_id.clone(),
                        kind: "load_failed".to_owned(),
                        reason,
                    });
                }
            }
        }
        Ok(rules)
    }

    /// The compiled uploaded plugin with this hash, compiling it on a miss.
    async fn uploaded_plugin(
        self: &Arc<Self>,
        store: &Store,
        domain: &Domain,
        sha256: &str,
    ) -> Result<Result<LoadedPlugin, String>, AnalysisError> {
        if let Some(plugin) = self.host.cached(sha256) {
            return Ok(Ok(plugin));
        }
        let Some(bytes) = store
            .system()
            .rule_plugin_component(domain.msp_id, sha256)
            .await?
        else {
            return Ok(Err(
                "the component was replaced or removed meanwhile".to_owned()
            ));
        };
        let set = self.clone();
        let loaded = tokio::task::spawn_blocking(move || set.inspect(&bytes))
            .await
            .map_err(|e| AnalysisError::Rules(format!("plugin compilation task failed: {e}")))?;
        Ok(loaded.map_err(|e| e.to_string()).and_then(|plugin| {
            if plugin.sha256_hex() == sha256 {
                Ok(plugin)
            } else {
                Err("the stored component does not match its sha256".to_owned())
            }
        }))
    }

    /// Runs every built-in plugin over `facts` (see [`evaluate_plugins`](Self::evaluate_plugins)).
    pub fn evaluate(&self, facts: &DomainFacts) -> Evaluation {
        self.evaluate_plugins(&self.plugins, facts)
    }

    /// Runs `plugins` (loaded by this set) over `facts`, each in a fresh instance, the facts
    /// converted for the plugins once ([`PluginHost::evaluate_set`]). A failing plugin is
    /// logged and left out; the others carry on. Synchronous CPU work: call it from a
    /// blocking thread.
    pub fn evaluate_plugins(&self, plugins: &[LoadedPlugin], facts: &DomainFacts) -> Evaluation {
        let mut evaluation = Evaluation::default();
        for (plugin, result) in plugins.iter().zip(self.host.evaluate_set(plugins, facts)) {
            let rule = plugin.info().id.as_str();
            match result {
                Ok(findings) => {
                    evaluation.succeeded.push(rule.to_owned());
                    evaluation.findings.extend(findings);
                }
                Err(failure) => {
                    warn!(rule, reason = %failure.reason, kind = failure.reason.kind(), domain = %facts.domain, "rule plugin failed");
                    evaluation.failures.push(failure);
                }
            }
        }
        evaluation
    }

    /// What the built-in plugins say about themselves.
    pub fn builtin_rules(&self) -> Vec<RuleInfo> {
        self.plugins.iter().map(|p| p.info().clone()).collect()
    }

    /// Which codes `evaluation` of the built-in plugins covers, among the codes the domain
    /// has issues for and the codes just found (see [`covered_codes`]).
    pub fn covered(&self, evaluation: &Evaluation, existing: &[String]) -> Vec<String> {
        let rules: Vec<&str> = self.plugins.iter().map(|p| p.info().id.as_str()).collect();
        covered_codes(&rules, evaluation, existing)
    }
}

/// Evaluates `domain`'s effective rules (see [`RuleSet::for_domain`]) over its facts of the
/// window ending `now`, stores a `plugin_failed` record per plugin that failed, and
/// reconciles the findings with its issues, writing `issue.changed` outbox events.
///
/// Issues of a plugin that failed or did not run (switched off) are neither resolved nor
/// updated by this evaluation (see [`covered_codes`]).
#[tracing::instrument(name = "postern_analysis.rules.evaluate_domain", skip_all, fields(tenant = %domain.msp_id, domain = %domain.name))]
pub async fn evaluate_domain(
    store: &Store,
    rules: &Arc<RuleSet>,
    domain: &Domain,
    now: DateTime<Utc>,
) -> Result<ReconcileOutcome, AnalysisError> {
    let facts =
        domain_facts_with(store, domain, now - rules.window, now, rules.mx.as_deref()).await?;
    let system = store.system();
    let existing = system.domain_issue_codes(domain.id).await?;
    let config = system.rule_config(domain.msp_id, domain.client_id).await?;
    let selected = rules.for_domain(store, domain, &config).await?;
    let set = rules.clone();
    let DomainRules {
        plugins,
        known,
        load_failures,
    } = selected;
    let (evaluation, evaluated) = tokio::task::spawn_blocking(move || {
        let evaluation = set.evaluate_plugins(&plugins, &facts);
        let owners: Vec<&str> = known.iter().map(String::as_str).collect();
        let evaluated = covered_codes(&owners, &evaluation, &existing);
        (evaluation, evaluated)
    })
    .await
    .map_err(|e| AnalysisError::Rules(format!("evaluation task failed: {e}")))?;
    let failures: Vec<NewPluginFailure> = load_failures
        .into_iter()
        .chain(evaluation.failures.iter().map(|f| NewPluginFailure {
            rule_id: f.rule_id.clone(),
            kind: f.reason.kind().to_owned(),
            reason: f.reason.to_string(),
        }))
        .collect();
    system
        .record_plugin_failures(domain, &failures, now)
        .await?;
    let outcome = store
        .system()
        .reconcile_findings(
            domain,
            &evaluated,
            &evaluation.findings,
            now,
            &issue_events(now),
        )
        .await?;
    tracing::debug!(
        opened = outcome.opened.len(),
        updated = outcome.updated.len(),
        resolved = outcome.resolved.len(),
        reopened = outcome.reopened.len(),
        failed = failures.len(),
        "domain evaluated"
    );
    Ok(outcome)
}

/// `domain`'s facts over `[from, to)`: DMARC counters and sources of the days in the
/// window, the newest published policy (whenever it came), and the TLS-RPT totals of the
/// reports overlapping the window. The snapshot's window is the span the data covers
/// (clipped to `[from, to)`; `[to, to)` without data), so a rule asking "for how long" is
/// answered by the evidence, not by the query.
pub async fn domain_facts(
    store: &Store,
    domain: &Domain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<DomainFacts, AnalysisError> {
    domain_facts_with(store, domain, from, to, None).await
}

/// [`domain_facts`], with `mx` naming the provider family of bounced recipient domains from
/// their MX records (see [`RuleSet::with_mx_families`]).
pub async fn domain_facts_with(
    store: &Store,
    domain: &Domain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mx: Option<&crate::bounces::MxFamilies>,
) -> Result<DomainFacts, AnalysisError> {
    let system = store.system();
    let summary = system.domain_summary_system(domain.id, from, to).await?;
    let sources = system
        .domain_sources_system(domain.id, from, to, MAX_SOURCES)
        .await?;
    let policy = system.latest_policy(domain.id).await?;
    let tls = system.domain_tls_totals(domain.id, from, to).await?;
    let mut facts = facts_from(
        domain.name.as_str(),
        to,
        from,
        &summary,
        &sources,
        policy.as_ref(),
        tls.as_ref(),
    );
    // The newest DNS posture snapshot, whatever its age: what DNS said last is the best
    // knowledge there is (its `checked_at` tells rules how old it is).
    facts.dns = system
        .latest_dns_snapshot(domain.id)
        .await?
        .map(|snapshot| crate::posture::dns_facts(&snapshot));
    facts.bounces =
        crate::bounces::bounce_facts(store, domain, from, to, facts.dmarc.messages, mx).await?;
    // The latest blocklist verdicts on the domain, its sources and the client's targets.
    facts.blocklists = crate::blocklist::blocklist_facts(store, domain, &sources).await?;
    Ok(facts)
}

/// The outbox events of reconciliation's history entries (actor: none, analysis).
fn issue_events(now: DateTime<Utc>) -> impl Fn(&Issue, &IssueEvent) -> Vec<OutboxEvent> {
    move |issue, event| {
        let envelope = issue_changed(
            &IssueChange {
                issue: issue.id,
                msp: issue.msp_id,
                client: issue.client_id,
                domain: issue.domain_id,
                code: &issue.code,
                severity: issue.severity,
                kind: event.kind.as_str(),
                from_state: event.from_state,
                to_state: event.to_state,
                actor: event.actor,
            },
            now,
        );
        vec![OutboxEvent {
            id: envelope.id,
            topic: envelope.topic.clone(),
            payload: envelope.encode(),
        }]
    }
}

/// Which codes an evaluation covers, so reconciliation may resolve their issues when they
/// were not found. `candidates` are the codes the domain already has issues for; the codes
/// just found are added. A code belongs to the plugin whose id equals it or is its stem (the
/// id followed by `_` or `.`: `dmarc.policy` owns `dmarc.policy_none`; the longest id wins).
/// A code no plugin owns (`dmarc.no_record`, emitted by `dmarc.policy`) belongs to its area
/// (`dmarc`). A code is covered when its plugin ran, or, for an area's code, when at least one
/// plugin of the area ran and none of the area failed. So a failing plugin never gets its
/// issues resolved, at the price of an area-level code waiting for a clean evaluation.
pub fn covered_codes(
    rules: &[&str],
    evaluation: &Evaluation,
    candidates: &[String],
) -> Vec<String> {
    let ran = |rule: &str| evaluation.succeeded.iter().any(|r| r == rule);
    let failed_area = |area: &str| {
        evaluation
            .failures
            .iter()
            .any(|f| self::area(&f.rule_id) == area)
    };
    let codes: BTreeSet<&str> = candidates
        .iter()
        .map(String::as_str)
        .chain(evaluation.findings.iter().map(|f| f.code.as_str()))
        .collect();
    codes
        .into_iter()
        .filter(|code| match owner(rules, code) {
            Some(rule) => ran(rule),
            None => {
                let area = area(code);
                !failed_area(area) && evaluation.succeeded.iter().any(|r| self::area(r) == area)
            }
        })
        .map(str::to_owned)
        .collect()
}

/// The plugin among `rules` that owns `code`: the longest id equal to it or its stem.
fn owner<'a>(rules: &[&'a str], code: &str) -> Option<&'a str> {
    rules
        .iter()
        .copied()
        .filter(|rule| {
            code == *rule
                || code
                    .strip_prefix(*rule)
                    .is_some_and(|rest| rest.starts_with('_') || rest.starts_with('.'))
        })
        .max_by_key(|rule| rule.len())
}

/// The area of a code or rule id: what precedes the first dot.
fn area(code: &str) -> &str {
    code.split('.').next().unwrap_or(code)
}

/// The snapshot of the store's aggregates (pure; see [`domain_facts`]).
fn facts_from(
    domain: &str,
    now: DateTime<Utc>,
    from: DateTime<Utc>,
    summary: &DailySummary,
    sources: &[SourceStats],
    policy: Option<&PolicyPublished>,
    tls: Option<&TlsTotals>,
) -> DomainFacts {
    let (from_s, to_s) = (from.timestamp(), now.timestamp());
    let start = sources.iter().map(|s| s.first_seen.timestamp()).min();
    let end = sources.iter().map(|s| s.last_seen.timestamp()).max();
    let (window_start, window_end) = match (start, end) {
        (Some(start), Some(end)) => {
            // max/min, not clamp: no panic should `from` lie after `now`.
            let start = start.max(from_s).min(to_s);
            (start, end.max(start).min(to_s))
        }
        _ => (to_s, to_s),
    };
    DomainFacts {
        domain: domain.to_ascii_lowercase(),
        now: to_s,
        window_start,
        window_end,
        dmarc: DmarcSummary {
            messages: summary.messages,
            dmarc_pass: summary.dmarc_pass,
            dmarc_fail: summary.dmarc_fail,
            spf_aligned_pass: summary.spf_aligned_pass,
            dkim_aligned_pass: summary.dkim_aligned_pass,
            disposition_none: summary.disposition_none,
            disposition_quarantine: summary.disposition_quarantine,
            disposition_reject: summary.disposition_reject,
            disposition_pass: summary.disposition_pass,
        },
        sources: sources
            .iter()
            .map(|s| SourceFacts {
                ip: s.source_ip,
                messages: s.messages,
                dmarc_pass: s.dmarc_pass,
                spf_aligned_pass: s.spf_aligned_pass,
                dkim_aligned_pass: s.dkim_aligned_pass,
                first_seen: s.first_seen.timestamp(),
                last_seen: s.last_seen.timestamp(),
                reverse_dns: s.reverse_dns.clone(),
            })
            .collect(),
        policy: policy.and_then(published),
        tls: tls.map(|t| TlsSummary {
            successful: t.successful,
            failed: t.failed,
            failures: t
                .failures
                .iter()
                .map(|f| TlsFailure {
                    result_type: f.result_type.clone(),
                    sessions: f.sessions,
                })
                .collect(),
        }),
        ..DomainFacts::default()
    }
}

/// The rules' view of a published policy, as [`postern_rules::FactsBuilder`] makes it: none
/// without `p`, alignment relaxed unless stated.
fn published(policy: &PolicyPublished) -> Option<PublishedPolicy> {
    let p = policy.p?;
    Some(PublishedPolicy {
        p: p.as_str().to_owned(),
        sp: policy.sp.map(|v| v.as_str().to_owned()),
        np: policy.np.map(|v| v.as_str().to_owned()),
        pct: policy.pct,
        adkim: policy.adkim.map_or("r", |a| a.as_str()).to_owned(),
        aspf: policy.aspf.map_or("r", |a| a.as_str()).to_owned(),
        testing: policy.testing.map(|t| if t { "y" } else { "n" }.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_domain::{Severity, Verification};
    use postern_rules::FailureReason;

    const RULES: [&str; 3] = ["dmarc.policy", "dmarc.failing_source", "tlsrpt.failures"];

    fn finding(code: &str) -> Finding {
        Finding {
            code: code.to_owned(),
            severity: Severity::Low,
            title: code.to_owned(),
            explanation: String::new(),
            evidence: Vec::new(),
            fix_steps: Vec::new(),
            verification: Verification {
                description: String::new(),
            },
        }
    }

    fn failure(rule: &str) -> PluginFailure {
        PluginFailure {
            rule_id: rule.to_owned(),
            reason: FailureReason::Trap("boom".to_owned()),
        }
    }

    fn codes(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn codes_of_rules_that_ran_are_covered_by_id_and_stem() {
        let evaluation = Evaluation {
            findings: vec![finding("dmarc.policy_none")],
            succeeded: codes(&RULES),
            failures: Vec::new(),
        };
        let existing = codes(&[
            "dmarc.policy_quarantine",
            "dmarc.no_record",
            "dmarc.failing_source",
            "tlsrpt.failures",
            "spf.too_many_lookups",
        ]);
        assert_eq!(
            covered_codes(&RULES, &evaluation, &existing),
            codes(&[
                "dmarc.failing_source",
                "dmarc.no_record",
                "dmarc.policy_none",
                "dmarc.policy_quarantine",
                "tlsrpt.failures",
            ])
        );
    }

    #[test]
    fn a_failed_rule_covers_neither_its_codes_nor_its_areas_unowned_codes() {
        let evaluation = Evaluation {
            findings: Vec::new(),
            succeeded: codes(&["dmarc.policy", "tlsrpt.failures"]),
            failures: vec![failure("dmarc.failing_source")],
        };
        let existing = codes(&[
            "dmarc.failing_source",
            "dmarc.no_record",
            "dmarc.policy_none",
            "tlsrpt.failures",
        ]);
        assert_eq!(
            covered_codes(&RULES, &evaluation, &existing),
            codes(&["dmarc.policy_none", "tlsrpt.failures"])
        );
    }

    #[test]
    fn the_longest_rule_id_owns_a_code() {
        let rules = ["dmarc.policy", "dmarc.policy_extra"];
        assert_eq!(
            owner(&rules, "dmarc.policy_extra_x"),
            Some("dmarc.policy_extra")
        );
        assert_eq!(owner(&rules, "dmarc.policy_none"), Some("dmarc.policy"));
        assert_eq!(owner(&rules, "dmarc.policyx"), None);
    }

    #[test]
    fn the_window_of_the_facts_is_the_span_of_the_data_within_the_query() {
        let at = |day: u32| {
            DateTime::parse_from_rfc3339(&format!("2026-11-{day:02}T00:00:00Z"))
                .unwrap()
                .with_timezone(&Utc)
        };
        let source = |first: u32, last: u32| SourceStats {
            source_ip: "192.0.2.1".parse().unwrap(),
            messages: 1,
            dmarc_pass: 1,
            spf_aligned_pass: 1,
            dkim_aligned_pass: 0,
            first_seen: at(first),
            last_seen: at(last),
            reverse_dns: None,
        };
        let summary = DailySummary::default();
        let facts = facts_from(
            "Ex.COM",
            at(20),
            at(5),
            &summary,
            &[source(2, 8), source(9, 12)],
            None,
            None,
        );
        assert_eq!(facts.domain, "ex.com");
        assert_eq!(
            (facts.window_start, facts.window_end),
            (at(5).timestamp(), at(12).timestamp())
        );
        let empty = facts_from("ex.com", at(20), at(5), &summary, &[], None, None);
        assert_eq!(
            (empty.window_start, empty.window_end),
            (at(20).timestamp(), at(20).timestamp())
        );
        assert_eq!(empty.policy, None);
        assert_eq!(empty.tls, None);
    }
}
