//! Built-in rule `dmarc.alignment_fragile`: sources whose mail passes DMARC on one mechanism
//! only. SPF-only breaks when mail is forwarded; DKIM-only breaks with one bad key rotation.

use postern_plugin_sdk::{
    DomainFacts, Finding, FixStep, FixStepKind, Rule, RuleInfo, Severity, Source, export_rule,
};

/// DMARC-passing messages from a source before it counts.
const MIN_PASSING: u64 = 10;

struct Alignment;

#[derive(Clone, Copy, PartialEq)]
enum Only {
    Spf,
    Dkim,
}

impl Rule for Alignment {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "dmarc.alignment_fragile",
            "1.0.0",
            "DMARC passing on SPF or DKIM alone",
            &["sources"],
        )
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        let fragile: Vec<(&Source, Only)> = facts
            .sources
            .iter()
            .filter_map(|s| only(s).map(|o| (s, o)))
            .collect();
        if fragile.is_empty() {
            return Vec::new();
        }
        let spf_only = fragile.iter().any(|(_, o)| *o == Only::Spf);
        let mut finding = Finding::new(
            "dmarc.alignment_fragile",
            if spf_only {
                Severity::Medium
            } else {
                Severity::Low
            },
            format!("{} passes DMARC on one mechanism only", facts.domain),
            "Mail that passes DMARC through SPF alone fails once it is forwarded (the \
             forwarder's IP is not in your SPF); mail that passes through DKIM alone fails when \
             a key or signing setting breaks. Aligning both keeps mail passing.",
            "the next aggregate reports show these sources with both aligned SPF and aligned \
             DKIM",
        );
        for (s, o) in &fragile {
            let ip = s.ip.to_string();
            let name = s.reverse_dns.as_deref().unwrap_or(&ip);
            finding = finding.evidence(
                "source",
                format!(
                    "{} ({}): {} pass DMARC, SPF aligned {}, DKIM aligned {}",
                    s.ip,
                    s.reverse_dns.as_deref().unwrap_or("no reverse DNS"),
                    s.dmarc_pass,
                    s.spf_aligned_pass,
                    s.dkim_aligned_pass
                ),
            );
            finding = finding.step(match o {
                Only::Spf => FixStep::new(
                    FixStepKind::FixSendingSource,
                    format!("Sign mail from {name} with DKIM"),
                    format!(
                        "{} passes on SPF only. Turn on DKIM signing with d={} there so \
                         forwarded mail still passes.",
                        s.ip, facts.domain
                    ),
                ),
                Only::Dkim => FixStep::new(
                    FixStepKind::FixSendingSource,
                    format!("Align SPF for {name}"),
                    format!(
                        "{} passes on DKIM only. Use a return-path domain under {} there and \
                         authorise it in SPF.",
                        s.ip, facts.domain
                    ),
                ),
            });
        }
        vec![finding]
    }
}

fn only(s: &Source) -> Option<Only> {
    if s.dmarc_pass < MIN_PASSING {
        return None;
    }
    if s.dkim_aligned_pass * 10 < s.dmarc_pass {
        Some(Only::Spf)
    } else if s.spf_aligned_pass * 10 < s.dmarc_pass {
        Some(Only::Dkim)
    } else {
        None
    }
}

export_rule!(Alignment);
