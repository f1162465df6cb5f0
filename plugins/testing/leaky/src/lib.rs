//! Test plugin: every `evaluate` keeps `dmarc.messages` KiB of memory for good (a plugin that
//! leaks), then returns one finding. Alone each call fits the host's memory cap; many calls in
//! one instance do not.

use std::sync::Mutex;

use postern_plugin_sdk::{DomainFacts, Finding, Rule, RuleInfo, Severity, export_rule};

static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

struct Leaky;

impl Rule for Leaky {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "test.leaky",
            "1.0.0",
            "Keeps memory between calls",
            &["dmarc"],
        )
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        let kib = usize::try_from(facts.dmarc.messages).unwrap_or(usize::MAX);
        let block = vec![1u8; kib.saturating_mul(1024)];
        let mut kept = KEPT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.push(block);
        vec![
            Finding::new(
                "test.leaked",
                Severity::Info,
                format!("{} KiB kept for {}", kib, facts.domain),
                "the plugin keeps memory between calls",
                "nothing to verify",
            )
            .evidence("calls_in_this_instance", kept.len()),
        ]
    }
}

export_rule!(Leaky);
