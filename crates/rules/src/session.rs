//! One store with one instance of a plugin, of either WIT version, and the facts of a domain
//! in each version's types, made once per domain and lowered into every plugin's instance.

use std::cell::OnceCell;

use postern_domain::Finding;
use wasmtime::{ResourceLimiter, Store};

use crate::convert;
use crate::engine::SlotPermit;
use crate::error::FailureReason;
use crate::facts::DomainFacts;
use crate::wit::{v1, v2};

/// A plugin pre-instantiated against the bindings of its WIT version.
#[derive(Clone)]
pub(crate) enum Pre {
    /// `postern:rules@0.1.0`.
    V1(v1::RulePre<CallState>),
    /// `postern:rules@0.2.0`.
    V2(v2::RulePre<CallState>),
}

/// An instance of a plugin.
enum Instance {
    V1(v1::Rule),
    V2(v2::Rule),
}

/// One domain's facts, converted to a WIT version's types the first time a plugin of that
/// version needs them and reused by every later plugin (and call) over the same domain.
pub(crate) struct Prepared<'a> {
    facts: &'a DomainFacts,
    v1: OnceCell<v1::types::DomainFacts>,
    v2: OnceCell<v2::types::DomainFacts>,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(facts: &'a DomainFacts) -> Self {
        Self {
            facts,
            v1: OnceCell::new(),
            v2: OnceCell::new(),
        }
    }

    fn v1(&self) -> &v1::types::DomainFacts {
        self.v1.get_or_init(|| convert::v1::facts(self.facts))
    }

    fn v2(&self) -> &v2::types::DomainFacts {
        self.v2.get_or_init(|| convert::v2::facts(self.facts))
    }
}

/// What one store carries: the memory limiter of its instance.
pub(crate) struct CallState {
    pub(crate) limiter: MemoryCap,
}

/// Caps linear memory and remembers that a plugin hit the cap, so the trap that follows a
/// refused `memory.grow` is reported as what it is.
pub(crate) struct MemoryCap {
    pub(crate) limit_bytes: usize,
    pub(crate) hit: bool,
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

/// What a call needs from the host: arming the store and naming a failure.
pub(crate) trait Limits {
    /// Gives the store a full fuel budget and a fresh deadline for the next call.
    fn arm(&self, store: &mut Store<CallState>) -> Result<(), FailureReason>;
    /// Names the failure of a call (`memory_hit`: the limiter refused a growth).
    fn classify(&self, error: &wasmtime::Error, memory_hit: bool) -> FailureReason;
    /// Refuses output over the caps, given the number of findings and their bytes of text.
    fn check_output(&self, findings: usize, bytes: usize) -> Result<(), FailureReason>;
}

/// A store with one instance of a plugin, for one evaluation or a batch of them. Holds a slot
/// of the engine's instance pool while it lives.
pub(crate) struct Session {
    store: Store<CallState>,
    instance: Instance,
    _slot: SlotPermit,
}

/// What a plugin says about itself, in the host's terms.
pub(crate) struct Described {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) title: String,
    pub(crate) reads: Vec<String>,
}

impl Session {
    /// A fresh instance of `pre` in `store` (armed for instantiation: it runs under the same
    /// fuel and deadline as a call).
    pub(crate) fn start(
        limits: &impl Limits,
        mut store: Store<CallState>,
        pre: &Pre,
        slot: SlotPermit,
    ) -> Result<Self, FailureReason> {
        limits.arm(&mut store)?;
        let instance = match pre {
            Pre::V1(pre) => pre.instantiate(&mut store).map(Instance::V1),
            Pre::V2(pre) => pre.instantiate(&mut store).map(Instance::V2),
        };
        match instance {
            Ok(instance) => Ok(Self {
                store,
                instance,
                _slot: slot,
            }),
            Err(error) => Err(limits.classify(&error, store.data().limiter.hit)),
        }
    }

    /// `describe`.
    pub(crate) fn describe(&mut self, limits: &impl Limits) -> Result<Described, FailureReason> {
        let store = &mut self.store;
        match &self.instance {
            Instance::V1(rule) => {
                let i = call(store, limits, |s| {
                    rule.postern_rules_plugin().call_describe(s)
                })?;
                Ok(Described {
                    id: i.id,
                    version: i.version,
                    title: i.title,
                    reads: i.reads,
                })
            }
            Instance::V2(rule) => {
                let i = call(store, limits, |s| {
                    rule.postern_rules_plugin().call_describe(s)
                })?;
                Ok(Described {
                    id: i.id,
                    version: i.version,
                    title: i.title,
                    reads: i.reads,
                })
            }
        }
    }

    /// `evaluate` over `facts`, in the facts shape of the plugin's version. The findings are
    /// checked against the output caps and their codes validated.
    pub(crate) fn evaluate(
        &mut self,
        limits: &impl Limits,
        facts: &Prepared<'_>,
    ) -> Result<Vec<Finding>, FailureReason> {
        let store = &mut self.store;
        match &self.instance {
            Instance::V1(rule) => {
                let findings = call(store, limits, |s| {
                    rule.postern_rules_plugin().call_evaluate(s, facts.v1())
                })?;
                let bytes = findings.iter().map(convert::v1::output_bytes).sum();
                limits.check_output(findings.len(), bytes)?;
                findings.into_iter().map(convert::v1::finding).collect()
            }
            Instance::V2(rule) => {
                let findings = call(store, limits, |s| {
                    rule.postern_rules_plugin().call_evaluate(s, facts.v2())
                })?;
                let bytes = findings.iter().map(convert::v2::output_bytes).sum();
                limits.check_output(findings.len(), bytes)?;
                findings.into_iter().map(convert::v2::finding).collect()
            }
        }
    }
}

/// One call under the limits: full fuel, a fresh deadline.
fn call<T>(
    store: &mut Store<CallState>,
    limits: &impl Limits,
    f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<T>,
) -> Result<T, FailureReason> {
    limits.arm(store)?;
    store.data_mut().limiter.hit = false;
    f(store).map_err(|error| limits.classify(&error, store.data().limiter.hit))
}
