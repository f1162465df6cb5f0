//! Hostile test plugin: `evaluate` allocates until the host's memory cap stops it.

use postern_plugin_sdk::{DomainFacts, Finding, Rule, RuleInfo, export_rule};

struct Hog;

impl Rule for Hog {
    fn describe() -> RuleInfo {
        RuleInfo::new("test.memory_hog", "1.0.0", "Allocates without bound", &[])
    }

    fn evaluate(_facts: DomainFacts) -> Vec<Finding> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            // Reserve 8 MiB at a time and touch it, so the memory grows fast on little fuel.
            let mut chunk = Vec::<u8>::with_capacity(8 << 20);
            chunk.push(1);
            chunks.push(std::hint::black_box(chunk));
        }
    }
}

export_rule!(Hog);
