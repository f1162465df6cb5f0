//! Hostile test plugin: `evaluate` never returns (the host's fuel or deadline must stop it).

use postern_plugin_sdk::{DomainFacts, Finding, Rule, RuleInfo, export_rule};

struct Spin;

impl Rule for Spin {
    fn describe() -> RuleInfo {
        RuleInfo::new("test.infinite_loop", "1.0.0", "Never returns", &[])
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        let mut n = facts.now as u64;
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export_rule!(Spin);
