//! Built-in rule `dmarc.failing_source`: sources whose mail fails both aligned SPF and
//! aligned DKIM and that do not look like an established sender of the domain (new, or
//! without reverse DNS): spoofing, or a sender nobody authorised. Many small sources that
//! fail together (a botnet sending a few messages each) count as well.

use postern_plugin_sdk::{
    DomainFacts, Finding, FixStep, FixStepKind, Rule, RuleInfo, Severity, Source, export_rule,
};

/// Messages from a source before it counts.
const MIN_MESSAGES: u64 = 10;
/// Messages from small failing sources, together, before they count.
const MIN_SPREAD_MESSAGES: u64 = 100;
/// Sources named in evidence and fix steps.
const MAX_LISTED: usize = 20;
/// A source seen this long with reverse DNS is `dmarc.unaligned_source`'s business.
const ESTABLISHED: i64 = 7 * 86_400;

struct FailingSource;

impl Rule for FailingSource {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "dmarc.failing_source",
            "1.0.0",
            "Sources failing both SPF and DKIM",
            &["sources", "policy"],
        )
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        let (big, small): (Vec<&Source>, Vec<&Source>) = facts
            .sources
            .iter()
            .filter(|s| is_failing(s, facts.now))
            .partition(|s| s.messages >= MIN_MESSAGES);
        let small_messages: u64 = small.iter().map(|s| s.messages).sum();
        let mut failing = big;
        if small_messages >= MIN_SPREAD_MESSAGES {
            failing.extend(small);
        }
        if failing.is_empty() {
            return Vec::new();
        }
        let p = facts.policy.as_ref().map_or("none", |p| p.p.as_str());
        let severity = match p {
            "reject" => Severity::Low,
            "quarantine" => Severity::Medium,
            _ => Severity::High,
        };
        let messages: u64 = failing.iter().map(|s| s.messages).sum();
        let mut finding = Finding::new(
            "dmarc.failing_source",
            severity,
            format!(
                "{} source(s) send as {} with failing SPF and DKIM",
                failing.len(),
                facts.domain
            ),
            format!(
                "{messages} messages claiming to be from {} failed both aligned SPF and aligned \
                 DKIM. Either someone is spoofing the domain or a sender of yours is not set \
                 up. The published policy is p={p}{}.",
                facts.domain,
                if p == "reject" {
                    ", so receivers reject this mail"
                } else {
                    ", so receivers still deliver or only quarantine this mail"
                }
            ),
            "the sources stop appearing with failing SPF and DKIM, or pass DMARC",
        )
        .evidence("messages", messages)
        .evidence("sources", failing.len())
        .evidence("policy", p);
        for s in failing.iter().take(MAX_LISTED) {
            finding = finding.evidence(
                "source",
                format!(
                    "{} ({}): {} messages, none aligned",
                    s.ip,
                    s.reverse_dns.as_deref().unwrap_or("no reverse DNS"),
                    s.messages
                ),
            );
        }
        let mut ips: Vec<String> = failing
            .iter()
            .take(MAX_LISTED)
            .map(|s| s.ip.to_string())
            .collect();
        if failing.len() > MAX_LISTED {
            ips.push(format!("{} more", failing.len() - MAX_LISTED));
        }
        finding = finding
            .step(FixStep::new(
                FixStepKind::Investigate,
                "Find out whether these sources send for you",
                format!(
                    "Look up {} (owner, reverse DNS) and ask your teams whether they use a \
                     service there.",
                    ips.join(", ")
                ),
            ))
            .step(FixStep::new(
                FixStepKind::FixSendingSource,
                "If a source is yours, authorise it",
                format!(
                    "Sign its mail with DKIM (d={}) and add it to the SPF record.",
                    facts.domain
                ),
            ));
        if p != "reject" {
            finding = finding.step(FixStep::new(
                FixStepKind::UpgradePolicy,
                "If they are not yours, move the DMARC policy on",
                "Once your own senders pass, follow the rollout none → quarantine (t=y) → \
                 reject so receivers refuse the spoofed mail.",
            ));
        }
        vec![finding]
    }
}

fn is_failing(s: &Source, now: i64) -> bool {
    let established = s.reverse_dns.is_some() && now - s.first_seen >= ESTABLISHED;
    s.spf_aligned_pass == 0 && s.dkim_aligned_pass == 0 && !established
}

export_rule!(FailingSource);
