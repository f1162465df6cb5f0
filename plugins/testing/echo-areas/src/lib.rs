//! Test plugin: one `test.areas` finding whose evidence echoes what arrived of the fact areas
//! 0.2.0 added (DNS checks, blocklists, bounces), so a test can see they cross the boundary
//! intact.

use postern_plugin_sdk::{
    BlocklistState, DnsCheckStatus, DomainFacts, Finding, Rule, RuleInfo, Severity, export_rule,
};

struct EchoAreas;

impl Rule for EchoAreas {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "test.echo_areas",
            "1.0.0",
            "Echoes the DNS, blocklist and bounce facts",
            &["dns", "blocklists", "bounces"],
        )
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        let mut finding = Finding::new(
            "test.areas",
            Severity::Info,
            format!("fact areas of {}", facts.domain),
            "what arrived",
            "nothing to verify",
        );
        if let Some(dns) = &facts.dns {
            finding = finding
                .evidence("dns_checked_at", dns.checked_at)
                .evidence("spf_lookups", format!("{:?}", dns.spf_lookups));
            for check in &dns.checks {
                let status = match check.status {
                    DnsCheckStatus::Pass => "pass",
                    DnsCheckStatus::Warn => "warn",
                    DnsCheckStatus::Fail => "fail",
                    DnsCheckStatus::Missing => "missing",
                    DnsCheckStatus::Unknown => "unknown",
                };
                finding = finding.evidence("dns_check", format!("{} {status}", check.check));
                for f in &check.findings {
                    let fix = f.fix.as_ref().map_or("", |r| r.proposed.as_str());
                    finding = finding.evidence("dns_finding", format!("{} {fix}", f.code));
                }
            }
        }
        for entry in &facts.blocklists {
            let state = match entry.state {
                BlocklistState::Listed => "listed",
                BlocklistState::Clear => "clear",
                BlocklistState::Unknown => "unknown",
            };
            finding = finding.evidence(
                "blocklist",
                format!("{} {} {state}", entry.list_id, entry.target),
            );
        }
        if let Some(bounces) = &facts.bounces {
            finding = finding.evidence("bounces", format!("{}/{}", bounces.hard, bounces.soft));
            for group in &bounces.groups {
                let sample_ip = group
                    .sample
                    .as_ref()
                    .and_then(|s| s.sending_ip)
                    .map_or_else(String::new, |ip| ip.to_string());
                finding = finding.evidence(
                    "bounce_group",
                    format!(
                        "{} {} {sample_ip}",
                        group.recipient_domain, group.provider_family
                    ),
                );
            }
            for source in &bounces.sources {
                finding = finding.evidence("bounce_source", source.sending_ip);
            }
        }
        vec![finding]
    }
}

export_rule!(EchoAreas);
