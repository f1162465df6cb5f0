//! Built-in rule `dmarc.unaligned_source`: long-standing, named senders (reverse DNS, seen
//! for a week or more) whose mail fails DMARC in part or in full. They look legitimate, so
//! the fix is to align them: DKIM signing with the domain, or an aligned envelope sender.

use postern_plugin_sdk::{
    DomainFacts, Finding, FixStep, FixStepKind, Rule, RuleInfo, Severity, Source, export_rule,
};

/// Messages from a source before it counts.
const MIN_MESSAGES: u64 = 20;
/// How long a source must have been seen to count as established (seconds).
const ESTABLISHED: i64 = 7 * 86_400;
/// Share of a source's messages failing DMARC (percent) that makes it unaligned.
const FAIL_PERCENT: u64 = 10;
/// Sources listed in fix steps.
const MAX_STEPS: usize = 5;

struct UnalignedSource;

impl Rule for UnalignedSource {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "dmarc.unaligned_source",
            "1.0.0",
            "Legitimate sources failing DMARC alignment",
            &["sources", "policy"],
        )
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        let unaligned: Vec<&Source> = facts
            .sources
            .iter()
            .filter(|s| is_unaligned(s, facts.now))
            .collect();
        if unaligned.is_empty() {
            return Vec::new();
        }
        let enforcing = facts
            .policy
            .as_ref()
            .is_some_and(|p| p.p == "quarantine" || p.p == "reject");
        let failing: u64 = unaligned.iter().map(|s| s.messages - s.dmarc_pass).sum();
        let mut finding = Finding::new(
            "dmarc.unaligned_source",
            if enforcing {
                Severity::High
            } else {
                Severity::Medium
            },
            format!(
                "{} established sender(s) of {} fail DMARC alignment",
                unaligned.len(),
                facts.domain
            ),
            format!(
                "{failing} messages from senders that have mailed for {} for a week or more \
                 failed DMARC: neither SPF nor DKIM aligned with the From domain. {}",
                facts.domain,
                if enforcing {
                    "With the published policy receivers quarantine or reject this mail."
                } else {
                    "They block moving the policy past p=none."
                }
            ),
            "the next aggregate reports show these sources passing DMARC for at least 90% of \
             their messages",
        )
        .evidence("failing_messages", failing);
        for s in &unaligned {
            finding = finding.evidence(
                "source",
                format!(
                    "{} ({}): {} of {} messages fail DMARC; SPF aligned {}, DKIM aligned {}",
                    s.ip,
                    s.reverse_dns.as_deref().unwrap_or("no reverse DNS"),
                    s.messages - s.dmarc_pass,
                    s.messages,
                    s.spf_aligned_pass,
                    s.dkim_aligned_pass
                ),
            );
        }
        for s in unaligned.iter().take(MAX_STEPS) {
            finding = finding.step(fix_step(&facts.domain, s));
        }
        vec![finding]
    }
}

fn is_unaligned(s: &Source, now: i64) -> bool {
    s.messages >= MIN_MESSAGES
        && s.reverse_dns.is_some()
        && now - s.first_seen >= ESTABLISHED
        && (s.messages - s.dmarc_pass.min(s.messages)) * 100 >= s.messages * FAIL_PERCENT
}

fn fix_step(domain: &str, s: &Source) -> FixStep {
    let name = s.reverse_dns.as_deref().unwrap_or("this source");
    let mut detail = Vec::new();
    if s.dkim_aligned_pass < s.messages {
        detail.push(format!(
            "Turn on DKIM signing with d={domain} at the service behind {name} and publish the \
             selector key it gives you under _domainkey.{domain}."
        ));
    }
    if s.spf_aligned_pass < s.messages {
        detail.push(format!(
            "Use a return-path (bounce) domain under {domain} at that service and authorise it \
             in SPF, or rely on aligned DKIM alone."
        ));
    }
    FixStep::new(
        FixStepKind::FixSendingSource,
        format!("Align {name} ({})", s.ip),
        detail.join(" "),
    )
}

export_rule!(UnalignedSource);
