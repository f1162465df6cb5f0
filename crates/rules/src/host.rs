//! The sandbox: an engine per memory cap with a pool of instance slots, components compiled
//! once and cached by content hash, a fresh store with a memory cap per evaluation (or per
//! batch of evaluations), and fuel and a deadline per call. Components of both WIT versions
//! the host knows (`postern:rules@0.1.0` and `@0.2.0`) load; each gets the facts in its
//! version's shape.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use postern_domain::Finding;
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

use crate::cache::{DEFAULT_ENTRIES, Lru};
use crate::engine::{Pooled, TICK, engine};
use crate::error::{FailureReason, LoadError, PluginFailure};
use crate::facts::DomainFacts;
use crate::limits::RuleLimits;
use crate::precompiled::{DEFAULT_FILES, PrecompiledDir};
use crate::session::{CallState, Limits, MemoryCap, Pre, Prepared, Session};
use crate::wit::{v1, v2};
use crate::{SUPPORTED_WIT_VERSIONS, WIT_VERSION};

/// The export every rule plugin has, without its version.
const EXPORT: &str = "postern:rules/plugin";

/// Runs rule plugins under [`RuleLimits`]. Cheap to share behind an `Arc`; every method
/// takes `&self`.
pub struct PluginHost {
    pooled: Pooled,
    limits: RuleLimits,
    linker: Linker<CallState>,
    compiled: Mutex<Lru<LoadedPlugin>>,
    precompiled: Option<PrecompiledDir>,
}

/// A plugin ready to run: compiled, checked against the world of its WIT version,
/// pre-instantiated.
#[derive(Clone)]
pub struct LoadedPlugin {
    sha256: [u8; 32],
    info: RuleInfo,
    wit_version: &'static str,
    engine: Engine,
    pre: Pre,
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

/// The result of one plugin over one domain.
pub type Evaluated = Result<Vec<Finding>, PluginFailure>;

impl LoadedPlugin {
    /// What the plugin said about itself when it was loaded.
    pub fn info(&self) -> &RuleInfo {
        &self.info
    }

    /// The SHA-256 of the component's bytes, hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// The `postern:rules` version the plugin was built against (`0.1.0` or `0.2.0`).
    pub fn wit_version(&self) -> &'static str {
        self.wit_version
    }

    fn fail(&self, reason: FailureReason) -> PluginFailure {
        PluginFailure {
            rule_id: self.info.id.clone(),
            reason,
        }
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("sha256", &self.sha256_hex())
            .field("info", &self.info)
            .field("wit_version", &self.wit_version)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// A host applying `limits` to every call. Starts the process-wide engine for
    /// `limits.memory_bytes` (and its epoch ticker thread) on first use.
    pub fn new(limits: RuleLimits) -> Result<Self, LoadError> {
        let pooled = engine(limits.memory_bytes)?;
        // Empty on purpose: a plugin gets nothing from the host but its arguments.
        let linker = Linker::new(&pooled.engine);
        Ok(Self {
            pooled,
            limits,
            linker,
            compiled: Mutex::new(Lru::new(DEFAULT_ENTRIES)),
            precompiled: None,
        })
    }

    /// Keeps wasmtime's precompiled form of every component loaded in `dir` (created when
    /// needed), so that a restart loads plugins without compiling them again.
    pub fn with_precompiled_dir(self, dir: impl Into<PathBuf>) -> Self {
        self.with_precompiled_dir_bounded(dir, DEFAULT_FILES)
    }

    /// [`with_precompiled_dir`](Self::with_precompiled_dir) keeping at most `max_files` files
    /// (the least recently used go first).
    pub fn with_precompiled_dir_bounded(
        mut self,
        dir: impl Into<PathBuf>,
        max_files: usize,
    ) -> Self {
        self.precompiled = Some(PrecompiledDir::new(
            dir.into(),
            &self.pooled.engine,
            max_files,
        ));
        self
    }

    /// Keeps at most `entries` compiled plugins in memory (the least recently used go first;
    /// a plugin thrown out is compiled again, or read from the precompiled folder, when next
    /// loaded). Plugins already handed out stay usable: a [`LoadedPlugin`] owns its code.
    pub fn with_cache_capacity(mut self, entries: usize) -> Self {
        self.compiled = Mutex::new(Lru::new(entries));
        self
    }

    /// The compiled plugin whose component has this SHA-256 (hex), if it is in the cache.
    pub fn cached(&self, sha256_hex: &str) -> Option<LoadedPlugin> {
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(sha256_hex, &mut sha256).ok()?;
        self.cache().get(&sha256)
    }

    /// Forgets the compiled plugin with this SHA-256 (hex), e.g. when its upload is removed.
    pub fn forget(&self, sha256_hex: &str) {
        let mut sha256 = [0u8; 32];
        if hex::decode_to_slice(sha256_hex, &mut sha256).is_ok() {
            self.cache().remove(&sha256);
        }
    }

    /// Compiled plugins kept in memory.
    pub fn cached_plugins(&self) -> usize {
        self.cache().len()
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
            return Ok(plugin);
        }
        let (component, from_disk) = self.compile(bytes, &sha256)?;
        let wit_version = check_world(&self.pooled.engine, &component)?;
        let incompatible = |e: wasmtime::Error| LoadError::Incompatible(format!("{e:#}"));
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(incompatible)?;
        let pre = if wit_version == "0.1.0" {
            Pre::V1(v1::RulePre::new(pre).map_err(incompatible)?)
        } else {
            Pre::V2(v2::RulePre::new(pre).map_err(incompatible)?)
        };
        let info = self.describe(&pre)?;
        if let (Some(dir), false) = (&self.precompiled, from_disk) {
            dir.store(&sha256, &component);
        }
        let plugin = LoadedPlugin {
            sha256,
            info,
            wit_version,
            engine: self.pooled.engine.clone(),
            pre,
        };
        self.cache().insert(sha256, plugin.clone());
        Ok(plugin)
    }

    /// Runs the plugin over one domain's facts in a fresh store. Any way the plugin can fail
    /// (trap, fuel, deadline, memory, oversized or invalid output) is a [`PluginFailure`];
    /// the host is unaffected.
    pub fn evaluate(&self, plugin: &LoadedPlugin, facts: &DomainFacts) -> Evaluated {
        let mut session = None;
        self.evaluate_in(&mut session, plugin, &Prepared::new(facts))
    }

    /// Runs every plugin of `plugins` over one domain's facts, each in a fresh store and
    /// instance exactly as [`evaluate`](Self::evaluate) would, one result per plugin in
    /// order. The facts are converted to the plugins' WIT types once (per WIT version) for
    /// the whole set rather than once per plugin. One plugin's failure never fails another.
    pub fn evaluate_set(&self, plugins: &[LoadedPlugin], facts: &DomainFacts) -> Vec<Evaluated> {
        let prepared = Prepared::new(facts);
        plugins
            .iter()
            .map(|plugin| self.evaluate_in(&mut None, plugin, &prepared))
            .collect()
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
    pub fn evaluate_batch(&self, plugin: &LoadedPlugin, facts: &[DomainFacts]) -> Vec<Evaluated> {
        let prepared: Vec<Prepared<'_>> = facts.iter().map(Prepared::new).collect();
        self.batch_of(plugin, &prepared)
    }

    /// [`evaluate_batch`](Self::evaluate_batch) for a set of plugins: `result[d][p]` is
    /// plugin `p` over domain `d`. Each domain's facts are converted to the plugins' WIT
    /// types once for all plugins; each plugin gets one instance for the batch, with the
    /// same failure and memory handling as `evaluate_batch`, and the same caution: one
    /// tenant's domains only.
    pub fn evaluate_set_batch(
        &self,
        plugins: &[LoadedPlugin],
        facts: &[DomainFacts],
    ) -> Vec<Vec<Evaluated>> {
        let prepared: Vec<Prepared<'_>> = facts.iter().map(Prepared::new).collect();
        let mut results: Vec<Vec<Evaluated>> = facts
            .iter()
            .map(|_| Vec::with_capacity(plugins.len()))
            .collect();
        // Plugin by plugin, so a thread holds one instance at a time (see `Slots`).
        for plugin in plugins {
            for (domain, result) in results.iter_mut().zip(self.batch_of(plugin, &prepared)) {
                domain.push(result);
            }
        }
        results
    }

    /// `plugin` over `prepared` in one instance (see [`evaluate_batch`](Self::evaluate_batch)).
    fn batch_of(&self, plugin: &LoadedPlugin, prepared: &[Prepared<'_>]) -> Vec<Evaluated> {
        let mut session = None;
        prepared
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
        facts: &Prepared<'_>,
    ) -> Evaluated {
        let live = match session {
            Some(live) => live,
            None => {
                if !Engine::same(&plugin.engine, &self.pooled.engine) {
                    return Err(plugin.fail(FailureReason::Host(
                        "the plugin was loaded by a host with another memory cap".to_owned(),
                    )));
                }
                match self.session(&plugin.pre) {
                    Ok(fresh) => session.insert(fresh),
                    Err(reason) => return Err(plugin.fail(reason)),
                }
            }
        };
        live.evaluate(self, facts).map_err(|reason| {
            if !matches!(
                reason,
                FailureReason::OutputTooLarge { .. } | FailureReason::InvalidCode(_)
            ) {
                *session = None;
            }
            plugin.fail(reason)
        })
    }

    /// The component from the precompiled folder (`true`) or freshly compiled (`false`).
    fn compile(&self, bytes: &[u8], sha256: &[u8; 32]) -> Result<(Component, bool), LoadError> {
        let engine = &self.pooled.engine;
        if let Some(component) = self
            .precompiled
            .as_ref()
            .and_then(|dir| dir.load(engine, sha256))
        {
            return Ok((component, true));
        }
        Component::new(engine, bytes)
            .map(|component| (component, false))
            .map_err(|e| LoadError::Compile(format!("{e:#}")))
    }

    fn describe(&self, pre: &Pre) -> Result<RuleInfo, LoadError> {
        let info = self
            .session(pre)
            .and_then(|mut session| session.describe(self))
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

    /// A fresh store under the limits with one instance of the plugin in it, once a slot of
    /// the engine's pool is free.
    fn session(&self, pre: &Pre) -> Result<Session, FailureReason> {
        let slot = self.pooled.slots.acquire();
        let mut store = Store::new(
            &self.pooled.engine,
            CallState {
                limiter: MemoryCap {
                    limit_bytes: self.limits.memory_bytes,
                    hit: false,
                },
            },
        );
        store.limiter(|state| &mut state.limiter);
        Session::start(self, store, pre, slot)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Lru<LoadedPlugin>> {
        // A panic while holding the lock cannot leave the map inconsistent (no operation
        // panics half-way).
        self.compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Limits for PluginHost {
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

    fn check_output(&self, findings: usize, bytes: usize) -> Result<(), FailureReason> {
        if findings > self.limits.max_findings || bytes > self.limits.max_output_bytes {
            return Err(FailureReason::OutputTooLarge {
                findings,
                bytes,
                max_findings: self.limits.max_findings,
                max_bytes: self.limits.max_output_bytes,
            });
        }
        Ok(())
    }
}

fn deadline_ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(TICK.as_nanos());
    u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
}

/// The WIT version of a component's rule export, if this host runs it. Refuses components
/// that import anything or export another version of the world.
fn check_world(engine: &Engine, component: &Component) -> Result<&'static str, LoadError> {
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
    let Some(version) = found else {
        return Err(LoadError::NotARule(exports));
    };
    SUPPORTED_WIT_VERSIONS
        .iter()
        .copied()
        .find(|supported| same_minor(&version, supported))
        .ok_or_else(|| LoadError::WitVersion {
            found: version.clone(),
            expected: WIT_VERSION.to_owned(),
        })
}

/// Semver compatibility for 0.x: the same major and minor.
fn same_minor(a: &str, b: &str) -> bool {
    let key = |v: &str| v.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    key(a) == key(b)
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
            ..DomainFacts::default()
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
    fn a_set_gives_what_evaluating_each_plugin_alone_gives_and_isolates_failures() {
        let host = PluginHost::new(limits()).unwrap();
        let plugins = [
            host.load(testing_plugin!("good")).unwrap(),
            host.load(testing_plugin!("panic")).unwrap(),
            host.load(testing_plugin!("legacy-v0-1")).unwrap(),
            host.load(testing_plugin!("leaky")).unwrap(),
        ];
        let facts = domain(3, 4, 10);
        let set = host.evaluate_set(&plugins, &facts);
        assert_eq!(set.len(), plugins.len());
        for (plugin, result) in plugins.iter().zip(&set) {
            assert_eq!(
                result,
                &host.evaluate(plugin, &facts),
                "{}",
                plugin.info().id
            );
        }
        assert_eq!(set[0].as_ref().unwrap().len(), 4);
        assert!(matches!(
            set[1],
            Err(PluginFailure {
                reason: FailureReason::Trap(_),
                ..
            })
        ));
        assert_eq!(set[2].as_ref().unwrap().len(), 4);
        // Every plugin of a set gets a fresh instance.
        assert_eq!(
            evidence(&set[3].as_ref().unwrap()[0], "calls_in_this_instance"),
            "1"
        );
        assert!(host.evaluate_set(&[], &facts).is_empty());
    }

    #[test]
    fn a_set_batch_gives_per_domain_what_each_plugin_batch_gives() {
        let host = PluginHost::new(limits()).unwrap();
        let plugins = [
            host.load(testing_plugin!("good")).unwrap(),
            host.load(testing_plugin!("legacy-v0-1")).unwrap(),
            host.load(testing_plugin!("leaky")).unwrap(),
        ];
        let facts: Vec<DomainFacts> = (0..5).map(|n| domain(n, n, 1)).collect();
        let results = host.evaluate_set_batch(&plugins, &facts);
        assert_eq!(results.len(), facts.len());
        for (p, plugin) in plugins.iter().enumerate() {
            let batch = host.evaluate_batch(plugin, &facts);
            for (d, expected) in batch.into_iter().enumerate() {
                assert_eq!(
                    results[d][p],
                    expected,
                    "{} on domain {d}",
                    plugin.info().id
                );
            }
        }
        // One instance per plugin for the whole batch.
        let calls: Vec<String> = results
            .iter()
            .map(|r| evidence(&r[2].as_ref().unwrap()[0], "calls_in_this_instance"))
            .collect();
        assert_eq!(calls, ["1", "2", "3", "4", "5"]);
    }

    #[test]
    fn a_plugin_of_a_host_with_another_memory_cap_fails_instead_of_panicking() {
        let small = PluginHost::new(RuleLimits {
            memory_bytes: 16 << 20,
            ..limits()
        })
        .unwrap();
        let big = PluginHost::new(limits()).unwrap();
        let good = small.load(testing_plugin!("good")).unwrap();
        let failure = big.evaluate(&good, &domain(0, 1, 1)).unwrap_err();
        assert!(
            matches!(failure.reason, FailureReason::Host(_)),
            "{failure}"
        );
        assert!(small.evaluate(&good, &domain(0, 1, 1)).is_ok());
    }

    #[test]
    fn the_engine_is_shared_by_hosts() {
        let a = PluginHost::new(RuleLimits::default()).unwrap();
        let b = PluginHost::new(RuleLimits::default()).unwrap();
        assert!(Engine::same(&a.pooled.engine, &b.pooled.engine));
    }
}
