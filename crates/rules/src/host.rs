//! The sandbox: one engine per process, components compiled once and cached by content
//! hash, a fresh store with a memory cap per evaluation (or per batch of evaluations), and
//! fuel and a deadline per call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use postern_domain::{
    DnsRecordChange, Evidence, Finding, FixStep, FixStepKind, Severity, Verification,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};

use crate::WIT_VERSION;
use crate::error::{FailureReason, LoadError, PluginFailure};
use crate::facts::DomainFacts;
use crate::limits::RuleLimits;
use crate::precompiled::PrecompiledDir;
use crate::wit::{Rule, RulePre, types as w};

/// How often the epoch ticker advances the engine's epoch (the deadline's resolution).
const TICK: Duration = Duration::from_millis(5);
/// The export every rule plugin has, without its version.
const EXPORT: &str = "postern:rules/plugin";

/// Runs rule plugins under [`RuleLimits`]. Cheap to share behind an `Arc`; every method
/// takes `&self`.
pub struct PluginHost {
    engine: Engine,
    limits: RuleLimits,
    linker: Linker<CallState>,
    compiled: Mutex<HashMap<[u8; 32], LoadedPlugin>>,
    precompiled: Option<PrecompiledDir>,
}

/// A plugin ready to run: compiled, checked against the world, pre-instantiated.
#[derive(Clone)]
pub struct LoadedPlugin {
    sha256: [u8; 32],
    info: RuleInfo,
    pre: RulePre<CallState>,
}

/// What a plugin says about itself (its `describe`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub version: String,
    pub title: String,
    /// Which parts of the facts it reads.
    pub reads: Vec<String>,
}

/// A store with one instance of a plugin, for one evaluation or a batch of them.
struct Session {
    store: Store<CallState>,
    rule: Rule,
}

impl Session {
    /// One call under the limits: full fuel, a fresh deadline.
    fn call<T>(
        &mut self,
        host: &PluginHost,
        f: impl FnOnce(&Rule, &mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> Result<T, FailureReason> {
        host.arm(&mut self.store)?;
        self.store.data_mut().limiter.hit = false;
        f(&self.rule, &mut self.store)
            .map_err(|error| host.classify(&error, self.store.data().limiter.hit))
    }
}

/// What one store carries: the memory limiter of its instance.
struct CallState {
    limiter: MemoryCap,
}

/// Caps linear memory and remembers that a plugin hit the cap, so the trap that follows a
/// refused `memory.grow` is reported as what it is.
struct MemoryCap {
    limit_bytes: usize,
    hit: bool,
}

impl LoadedPlugin {
    /// What the plugin said about itself when it was loaded.
    pub fn info(&self) -> &RuleInfo {
        &self.info
    }

    /// The SHA-256 of the component's bytes, hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("sha256", &self.sha256_hex())
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl PluginHost {
    /// A host applying `limits` to every call. Starts the process-wide engine (and its epoch
    /// ticker thread) on first use.
    pub fn new(limits: RuleLimits) -> Result<Self, LoadError> {
        let engine = engine()?;
        // Empty on purpose: a plugin gets nothing from the host but its arguments.
        let linker = Linker::new(&engine);
        Ok(Self {
            engine,
            limits,
            linker,
            compiled: Mutex::new(HashMap::new()),
            precompiled: None,
        })
    }

    /// Keeps wasmtime's precompiled form of every component loaded in `dir` (created when
    /// needed), so that a restart loads plugins without compiling them again.
    pub fn with_precompiled_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.precompiled = Some(PrecompiledDir::new(dir.into(), &self.engine));
        self
    }

    /// The limits applied to every call.
    pub fn limits(&self) -> RuleLimits {
        self.limits
    }

    /// Compiles (or finds in the cache) and checks a component, and asks it to describe
    /// itself. CPU-heavy on a cache miss: call it off the async executor.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedPlugin, LoadError> {
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(plugin) = self.cache().get(&sha256) {
            return Ok(plugin.clone());
        }
        let (component, from_disk) = self.compile(bytes, &sha256)?;
        check_world(&self.engine, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(RulePre::new)
            .map_err(|e| LoadError::Incompatible(format!("{e:#}")))?;
        let info = self.describe(&pre)?;
        if let (Some(dir), false) = (&self.precompiled, from_disk) {
            dir.store(&sha256, &component);
        }
        let plugin = LoadedPlugin { sha256, info, pre };
        self.cache().insert(sha256, plugin.clone());
        Ok(plugin)
    }

    /// Runs the plugin over one domain's facts in a fresh store. Any way the plugin can fail
    /// (trap, fuel, deadline, memory, oversized or invalid output) is a [`PluginFailure`];
    /// the host is unaffected.
    pub fn evaluate(
        &self,
        plugin: &LoadedPlugin,
        facts: &DomainFacts,
    ) -> Result<Vec<Finding>, PluginFailure> {
        let mut session = None;
        self.evaluate_in(&mut session, plugin, facts)
    }

    /// Runs the plugin over several domains' facts, one result per domain in order, reusing
    /// one store and instance for consecutive domains: instantiating once per batch rather
    /// than once per domain is most of the cost of a call to a small rule.
    ///
    /// Every call still gets the full fuel budget and deadline; the memory cap applies to the
    /// instance, which lives for the batch. A call that fails (any [`FailureReason`]) throws
    /// the instance away and the next domain gets a fresh one, so one domain's failure never
    /// fails another; a domain that hits the memory cap in an instance that served earlier
    /// domains is retried once in a fresh instance, so memory a plugin kept from earlier calls
    /// is not held against it. Because an instance may keep state between the calls of a
    /// batch, only batch domains whose facts the plugin may see together (one tenant's).
    pub fn evaluate_batch(
        &self,
        plugin: &LoadedPlugin,
        facts: &[DomainFacts],
    ) -> Vec<Result<Vec<Finding>, PluginFailure>> {
        let mut session = None;
        facts
            .iter()
            .map(|facts| {
                let reused = session.is_some();
                match self.evaluate_in(&mut session, plugin, facts) {
                    Err(PluginFailure {
                        reason: FailureReason::MemoryLimit { .. },
                        ..
                    }) if reused => self.evaluate_in(&mut session, plugin, facts),
                    result => result,
                }
            })
            .collect()
    }

    /// One evaluation in `session`'s instance, made first if there is none. A failed call
    /// drops the instance (a trapped instance cannot be entered again).
    fn evaluate_in(
        &self,
        session: &mut Option<Session>,
        plugin: &LoadedPlugin,
        facts: &DomainFacts,
    ) -> Result<Vec<Finding>, PluginFailure> {
        let fail = |reason| PluginFailure {
            rule_id: plugin.info.id.clone(),
            reason,
        };
        let live = match session {
            Some(live) => live,
            None => match self.session(&plugin.pre) {
                Ok(fresh) => session.insert(fresh),
                Err(reason) => return Err(fail(reason)),
            },
        };
        let findings = live
            .call(self, |rule, store| {
                rule.postern_rules_plugin()
                    .call_evaluate(store, &facts.to_wit())
            })
            .map_err(|reason| {
                *session = None;
                fail(reason)
            })?;
        self.check_output(&findings).map_err(fail)?;
        findings
            .into_iter()
            .map(|f| to_domain(f).map_err(fail))
            .collect()
    }

    /// The component from the precompiled folder (`true`) or freshly compiled (`false`).
    fn compile(&self, bytes: &[u8], sha256: &[u8; 32]) -> Result<(Component, bool), LoadError> {
        if let Some(component) = self
            .precompiled
            .as_ref()
            .and_then(|dir| dir.load(&self.engine, sha256))
        {
            return Ok((component, true));
        }
        Component::new(&self.engine, bytes)
            .map(|component| (component, false))
            .map_err(|e| LoadError::Compile(format!("{e:#}")))
    }

    fn describe(&self, pre: &RulePre<CallState>) -> Result<RuleInfo, LoadError> {
        let info = self
            .call(pre, |rule, store| {
                rule.postern_rules_plugin().call_describe(store)
            })
            .map_err(LoadError::Describe)?;
        let size = info.id.len() + info.version.len() + info.title.len();
        if size > 4096 || info.reads.len() > 64 {
            return Err(LoadError::Describe(FailureReason::OutputTooLarge {
                findings: 0,
                bytes: size,
                max_findings: 0,
                max_bytes: 4096,
            }));
        }
        if !Finding::valid_code(&info.id) {
            return Err(LoadError::Describe(FailureReason::InvalidCode(info.id)));
        }
        Ok(RuleInfo {
            id: info.id,
            version: info.version,
            title: info.title,
            reads: info.reads,
        })
    }

    /// One call in a fresh store under the limits.
    fn call<T>(
        &self,
        pre: &RulePre<CallState>,
        f: impl FnOnce(&Rule, &mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> Result<T, FailureReason> {
        self.session(pre)?.call(self, f)
    }

    /// A fresh store under the limits with one instance of the plugin in it.
    fn session(&self, pre: &RulePre<CallState>) -> Result<Session, FailureReason> {
        let mut store = Store::new(
            &self.engine,
            CallState {
                limiter: MemoryCap {
                    limit_bytes: self.limits.memory_bytes,
                    hit: false,
                },
            },
        );
        store.limiter(|state| &mut state.limiter);
        // Instantiation runs under the same fuel and deadline as a call.
        self.arm(&mut store)?;
        match pre.instantiate(&mut store) {
            Ok(rule) => Ok(Session { store, rule }),
            Err(error) => Err(self.classify(&error, store.data().limiter.hit)),
        }
    }

    /// Gives the store a full fuel budget and a fresh deadline for the next call.
    fn arm(&self, store: &mut Store<CallState>) -> Result<(), FailureReason> {
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| FailureReason::Host(format!("{e:#}")))?;
        store.set_epoch_deadline(deadline_ticks(self.limits.timeout));
        store.epoch_deadline_trap();
        Ok(())
    }

    fn classify(&self, error: &wasmtime::Error, memory_hit: bool) -> FailureReason {
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => FailureReason::OutOfFuel {
                fuel: self.limits.fuel,
            },
            Some(Trap::Interrupt) => FailureReason::Deadline {
                millis: self.limits.timeout.as_millis(),
            },
            _ if memory_hit => FailureReason::MemoryLimit {
                limit_bytes: self.limits.memory_bytes,
            },
            _ => FailureReason::Trap(format!("{error:#}")),
        }
    }

    fn check_output(&self, findings: &[w::Finding]) -> Result<(), FailureReason> {
        let bytes: usize = findings.iter().map(output_bytes).sum();
        if findings.len() > self.limits.max_findings || bytes > self.limits.max_output_bytes {
            return Err(FailureReason::OutputTooLarge {
                findings: findings.len(),
                bytes,
                max_findings: self.limits.max_findings,
                max_bytes: self.limits.max_output_bytes,
            });
        }
        Ok(())
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], LoadedPlugin>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts).
        self.compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The process-wide engine: fuel, epoch interruption, component model. The first call
/// starts a thread that advances the epoch every [`TICK`] for the life of the process.
fn engine() -> Result<Engine, LoadError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config.consume_fuel(true);
            config.epoch_interruption(true);
            config.wasm_component_model(true);
            let engine = Engine::new(&config).map_err(|e| format!("{e:#}"))?;
            let ticker = engine.weak();
            thread::Builder::new()
                .name("postern-rules-epoch".to_owned())
                .spawn(move || {
                    while let Some(engine) = ticker.upgrade() {
                        engine.increment_epoch();
                        drop(engine);
                        thread::sleep(TICK);
                    }
                })
                .map_err(|e| format!("cannot start the epoch ticker: {e}"))?;
            Ok(engine)
        })
        .clone()
        .map_err(LoadError::Engine)
}

fn deadline_ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(TICK.as_nanos());
    u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
}

/// Refuses components that import anything or export another version of the world.
fn check_world(engine: &Engine, component: &Component) -> Result<(), LoadError> {
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    if !imports.is_empty() {
        return Err(LoadError::Imports(imports));
    }
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let found = exports.iter().find_map(|name| {
        let (interface, version) = name.split_once('@')?;
        (interface == EXPORT).then(|| version.to_owned())
    });
    match found {
        None => Err(LoadError::NotARule(exports)),
        Some(version) if !same_minor(&version, WIT_VERSION) => Err(LoadError::WitVersion {
            found: version,
            expected: WIT_VERSION.to_owned(),
        }),
        Some(_) => Ok(()),
    }
}

/// Semver compatibility for 0.x: the same major and minor.
fn same_minor(a: &str, b: &str) -> bool {
    let key = |v: &str| v.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    key(a) == key(b)
}

fn output_bytes(f: &w::Finding) -> usize {
    f.code.len()
        + f.title.len()
        + f.explanation.len()
        + f.verification.description.len()
        + f.evidence
            .iter()
            .map(|e| e.label.len() + e.value.len())
            .sum::<usize>()
        + f.fix_steps
            .iter()
            .map(|s| {
                s.title.len()
                    + s.detail.len()
                    + s.record.as_ref().map_or(0, |r| {
                        r.name.len()
                            + r.record_type.len()
                            + r.current.as_ref().map_or(0, String::len)
                            + r.proposed.len()
                    })
            })
            .sum::<usize>()
}

fn to_domain(f: w::Finding) -> Result<Finding, FailureReason> {
    if !Finding::valid_code(&f.code) {
        return Err(FailureReason::InvalidCode(f.code));
    }
    Ok(Finding {
        code: f.code,
        severity: match f.severity {
            w::Severity::Info => Severity::Info,
            w::Severity::Low => Severity::Low,
            w::Severity::Medium => Severity::Medium,
            w::Severity::High => Severity::High,
            w::Severity::Critical => Severity::Critical,
        },
        title: f.title,
        explanation: f.explanation,
        evidence: f
            .evidence
            .into_iter()
            .map(|e| Evidence {
                label: e.label,
                value: e.value,
            })
            .collect(),
        fix_steps: f
            .fix_steps
            .into_iter()
            .map(|s| FixStep {
                kind: match s.kind {
                    w::FixStepKind::ChangeDnsRecord => FixStepKind::ChangeDnsRecord,
                    w::FixStepKind::UpgradePolicy => FixStepKind::UpgradePolicy,
                    w::FixStepKind::FixSendingSource => FixStepKind::FixSendingSource,
                    w::FixStepKind::ContactRecipientAdmin => FixStepKind::ContactRecipientAdmin,
                    w::FixStepKind::SuppressAddresses => FixStepKind::SuppressAddresses,
                    w::FixStepKind::PauseSegment => FixStepKind::PauseSegment,
                    w::FixStepKind::Investigate => FixStepKind::Investigate,
                },
                title: s.title,
                detail: s.detail,
                record: s.record.map(|r| DnsRecordChange {
                    name: r.name,
                    record_type: r.record_type,
                    current: r.current,
                    proposed: r.proposed,
                }),
            })
            .collect(),
        verification: Verification {
            description: f.verification.description,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wit_versions_match_on_major_and_minor() {
        assert!(same_minor("0.1.0", "0.1.0"));
        assert!(same_minor("0.1.3", "0.1.0"));
        assert!(!same_minor("0.2.0", "0.1.0"));
        assert!(!same_minor("1.1.0", "0.1.0"));
    }

    #[test]
    fn deadline_rounds_up_to_whole_ticks() {
        assert_eq!(deadline_ticks(Duration::from_millis(5)), 2);
        assert_eq!(deadline_ticks(Duration::from_millis(6)), 3);
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
    }

    macro_rules! testing_plugin {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("POSTERN_TESTING_PLUGINS_DIR"),
                "/testing-",
                $name,
                ".component.wasm"
            ))
            .as_slice()
        };
    }

    fn limits() -> RuleLimits {
        RuleLimits {
            fuel: 50_000_000,
            timeout: Duration::from_secs(5),
            memory_bytes: 64 << 20,
            max_findings: 10_000,
            max_output_bytes: 16 << 20,
        }
    }

    /// A domain `n` with `sources` sources and `messages` messages.
    fn domain(n: usize, sources: usize, messages: u64) -> DomainFacts {
        use crate::facts::{DmarcSummary, SourceFacts};
        use std::net::{IpAddr, Ipv4Addr};
        DomainFacts {
            domain: format!("d{n}.example"),
            now: 1_700_000_000,
            window_start: 1_700_000_000 - 7 * 86_400,
            window_end: 1_700_000_000,
            dmarc: DmarcSummary {
                messages,
                dmarc_pass: messages,
                ..DmarcSummary::default()
            },
            sources: (0..sources)
                .map(|i| SourceFacts {
                    ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, (i % 250) as u8 + 1)),
                    messages: 1 + i as u64,
                    dmarc_pass: 1,
                    spf_aligned_pass: 1,
                    dkim_aligned_pass: 0,
                    first_seen: 1_690_000_000,
                    last_seen: 1_699_999_000,
                    reverse_dns: None,
                })
                .collect(),
            policy: None,
            tls: None,
        }
    }

    fn evidence(finding: &Finding, label: &str) -> String {
        finding
            .evidence
            .iter()
            .find(|e| e.label == label)
            .map(|e| e.value.clone())
            .unwrap()
    }

    #[test]
    fn a_batch_gives_what_evaluating_each_domain_alone_gives() {
        let host = PluginHost::new(limits()).unwrap();
        let good = host.load(testing_plugin!("good")).unwrap();
        let facts: Vec<DomainFacts> = (0..12).map(|n| domain(n, n * 3, 10)).collect();
        let batched = host.evaluate_batch(&good, &facts);
        assert_eq!(batched.len(), facts.len());
        for (facts, batched) in facts.iter().zip(batched) {
            let alone = host.evaluate(&good, facts).unwrap();
            assert_eq!(batched.unwrap(), alone);
            assert_eq!(alone.len(), facts.sources.len());
        }
        assert!(host.evaluate_batch(&good, &[]).is_empty());
    }

    #[test]
    fn a_batch_reuses_one_instance_for_its_domains() {
        let host = PluginHost::new(limits()).unwrap();
        let leaky = host.load(testing_plugin!("leaky")).unwrap();
        let facts: Vec<DomainFacts> = (0..3).map(|n| domain(n, 0, 1)).collect();
        let calls: Vec<String> = host
            .evaluate_batch(&leaky, &facts)
            .into_iter()
            .map(|r| evidence(&r.unwrap()[0], "calls_in_this_instance"))
            .collect();
        assert_eq!(calls, ["1", "2", "3"]);
        // A single evaluation always gets a fresh instance.
        for _ in 0..2 {
            let alone = host.evaluate(&leaky, &facts[0]).unwrap();
            assert_eq!(evidence(&alone[0], "calls_in_this_instance"), "1");
        }
    }

    #[test]
    fn every_call_of_a_batch_gets_the_full_fuel_budget() {
        let small = domain(0, 2, 10);
        // The least fuel one evaluation of `small` needs, to within 1%.
        let succeeds = |fuel: u64| {
            let host = PluginHost::new(RuleLimits { fuel, ..limits() }).unwrap();
            let good = host.load(testing_plugin!("good")).unwrap();
            host.evaluate(&good, &small).is_ok()
        };
        let (mut low, mut high) = (1_u64, 50_000_000_u64);
        assert!(succeeds(high));
        while high - low > high / 100 {
            let mid = low + (high - low) / 2;
            if succeeds(mid) { high = mid } else { low = mid }
        }
        let host = PluginHost::new(RuleLimits {
            fuel: high,
            ..limits()
        })
        .unwrap();
        let good = host.load(testing_plugin!("good")).unwrap();
        let big = domain(1, 200, 10);
        let facts = vec![small.clone(); 20];
        for result in host.evaluate_batch(&good, &facts) {
            assert_eq!(result.unwrap().len(), 2);
        }
        // A domain that needs more fuel fails alone; the instance is replaced and the next
        // domain of the batch evaluates.
        let results = host.evaluate_batch(&good, &[small.clone(), big, small]);
        assert_eq!(results[0].as_ref().unwrap().len(), 2);
        assert_eq!(
            results[1].as_ref().unwrap_err().reason,
            FailureReason::OutOfFuel { fuel: high }
        );
        assert_eq!(results[2].as_ref().unwrap().len(), 2);
    }

    #[test]
    fn a_trapping_plugin_fails_each_domain_of_a_batch_and_the_host_carries_on() {
        let host = PluginHost::new(limits()).unwrap();
        let panics = host.load(testing_plugin!("panic")).unwrap();
        let facts: Vec<DomainFacts> = (0..3).map(|n| domain(n, 1, 10)).collect();
        let results = host.evaluate_batch(&panics, &facts);
        assert_eq!(results.len(), 3);
        for (n, result) in results.into_iter().enumerate() {
            let failure = result.unwrap_err();
            assert_eq!(failure.rule_id, "test.panic");
            match failure.reason {
                FailureReason::Trap(message) => assert!(
                    message.contains("unreachable") || message.contains(&format!("d{n}")),
                    "{message}"
                ),
                other => panic!("expected a trap, got {other:?}"),
            }
        }
        let good = host.load(testing_plugin!("good")).unwrap();
        assert!(host.evaluate_batch(&good, &facts).iter().all(Result::is_ok));
    }

    #[test]
    fn memory_kept_from_earlier_calls_of_a_batch_is_not_held_against_a_domain() {
        let cap = 8 << 20;
        let host = PluginHost::new(RuleLimits {
            memory_bytes: cap,
            ..limits()
        })
        .unwrap();
        let leaky = host.load(testing_plugin!("leaky")).unwrap();
        // 2 MiB kept per call: a few calls fit in one instance, ten do not.
        let facts: Vec<DomainFacts> = (0..10).map(|n| domain(n, 0, 2048)).collect();
        let calls: Vec<usize> = host
            .evaluate_batch(&leaky, &facts)
            .into_iter()
            .map(|r| {
                evidence(&r.unwrap()[0], "calls_in_this_instance")
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(calls[0], 1);
        assert!(calls[1] == 2, "{calls:?}");
        assert!(
            calls[1..].contains(&1),
            "the instance was never replaced: {calls:?}"
        );
        // A domain that needs more than the cap on its own still fails, and only it.
        let results = host.evaluate_batch(
            &leaky,
            &[domain(0, 0, 1), domain(1, 0, 16_384), domain(2, 0, 1)],
        );
        assert!(results[0].is_ok() && results[2].is_ok());
        assert_eq!(
            results[1].as_ref().unwrap_err().reason,
            FailureReason::MemoryLimit { limit_bytes: cap }
        );
    }

    #[test]
    fn the_engine_is_shared_by_hosts() {
        let a = PluginHost::new(RuleLimits::default()).unwrap();
        let b = PluginHost::new(RuleLimits::default()).unwrap();
        assert!(Engine::same(&a.engine, &b.engine));
    }
}
