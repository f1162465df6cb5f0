//! Built-in rule `dmarc.new_source_volume`: a source first seen in the last three days that
//! already carries a sizeable share of the domain's mail.

use postern_plugin_sdk::{
    DomainFacts, Finding, FixStep, FixStepKind, Rule, RuleInfo, Severity, Source, export_rule,
};

/// How recent "new" is (seconds).
const NEW: i64 = 3 * 86_400;
/// Messages a new source must have sent.
const MIN_MESSAGES: u64 = 100;
/// Share of the domain's messages (percent) a new source must carry.
const MIN_SHARE_PERCENT: u64 = 10;

struct NewSource;

impl Rule for NewSource {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "dmarc.new_source_volume",
            "1.0.0",
            "Sudden volume from a new source",
            &["dmarc", "sources"],
        )
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        let total = facts.dmarc.messages.max(1);
        let new: Vec<&Source> = facts
            .sources
            .iter()
            .filter(|s| {
                facts.now - s.first_seen <= NEW
                    && s.messages >= MIN_MESSAGES
                    && s.messages * 100 >= total * MIN_SHARE_PERCENT
            })
            .collect();
        if new.is_empty() {
            return Vec::new();
        }
        let mostly_failing = new.iter().any(|s| s.dmarc_pass * 2 < s.messages);
        let mut finding = Finding::new(
            "dmarc.new_source_volume",
            if mostly_failing {
                Severity::High
            } else {
                Severity::Low
            },
            format!(
                "New source(s) suddenly send much of {}'s mail",
                facts.domain
            ),
            format!(
                "{} source(s) first seen in the last 3 days carry {} of {} messages. {}",
                new.len(),
                new.iter().map(|s| s.messages).sum::<u64>(),
                facts.dmarc.messages,
                if mostly_failing {
                    "Most of their mail fails DMARC: a new service set up without \
                     authentication, or an abuse campaign."
                } else {
                    "Their mail passes DMARC: likely a new service you set up; confirm it."
                }
            ),
            "the sources are confirmed as yours and pass DMARC, or stop sending",
        );
        for s in &new {
            let ip = s.ip.to_string();
            finding = finding.evidence(
                "source",
                format!(
                    "{} ({}): {} messages, {} pass DMARC, first seen {}",
                    s.ip,
                    s.reverse_dns.as_deref().unwrap_or("no reverse DNS"),
                    s.messages,
                    s.dmarc_pass,
                    s.first_seen
                ),
            );
            finding = finding.step(FixStep::new(
                FixStepKind::Investigate,
                format!("Confirm that {} sends for you", s.ip),
                format!(
                    "{} started sending as {} recently. Check with your teams and vendors \
                     whether a new service or campaign started.",
                    s.reverse_dns.as_deref().unwrap_or(&ip),
                    facts.domain
                ),
            ));
        }
        if mostly_failing {
            finding = finding.step(FixStep::new(
                FixStepKind::FixSendingSource,
                "Authenticate the new sender if it is yours",
                format!(
                    "Turn on DKIM signing with d={} at the new service and authorise it in SPF.",
                    facts.domain
                ),
            ));
        }
        vec![finding]
    }
}

export_rule!(NewSource);
