//! Built-in rule `blocklist.listings`: the domain or one of its sending addresses is on a
//! blocklist. One finding for listed addresses (`blocklist.ip_listed`) and one for the
//! listed domain (`blocklist.domain_listed`), each naming every listing with the list's own
//! meaning of its return codes, and fix steps that end with the delisting request.
//!
//! Allowlists (DNSWL) are good news, never a finding. A list whose answer is `unknown`
//! (refused, timed out, failed its health check) says nothing: no finding is made or kept
//! from it.

use postern_plugin_sdk::{
    BlocklistEntry, BlocklistState, BlocklistTargetKind, DomainFacts, Finding, FixStep,
    FixStepKind, Rule, RuleInfo, Severity, export_rule,
};

/// Lists whose listing means most receivers refuse the mail outright.
const MAJOR: &[&str] = &["spamhaus-zen", "spamhaus-dbl", "barracuda", "spamcop"];
/// Allowlists: being on them is good.
const ALLOWLISTS: &[&str] = &["dnswl"];

struct BlocklistListings;

impl Rule for BlocklistListings {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "blocklist.listings",
            "1.0.0",
            "Sending addresses or the domain on a blocklist",
            &["blocklists", "sources"],
        )
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        let listed: Vec<&BlocklistEntry> = facts
            .blocklists
            .iter()
            .filter(|e| e.state == BlocklistState::Listed)
            .filter(|e| !ALLOWLISTS.contains(&e.list_id.as_str()))
            .collect();
        let ips: Vec<&BlocklistEntry> = listed
            .iter()
            .copied()
            .filter(|e| e.target_kind == BlocklistTargetKind::Ip)
            .collect();
        let domains: Vec<&BlocklistEntry> = listed
            .iter()
            .copied()
            .filter(|e| e.target_kind == BlocklistTargetKind::Domain)
            .collect();
        let mut out = Vec::new();
        if !ips.is_empty() {
            out.push(finding(&facts, "blocklist.ip_listed", &ips));
        }
        if !domains.is_empty() {
            out.push(finding(&facts, "blocklist.domain_listed", &domains));
        }
        out
    }
}

fn finding(facts: &DomainFacts, code: &str, entries: &[&BlocklistEntry]) -> Finding {
    let major = entries.iter().any(|e| MAJOR.contains(&e.list_id.as_str()));
    let severity = if major {
        Severity::High
    } else {
        Severity::Medium
    };
    let mut targets: Vec<&str> = entries.iter().map(|e| e.target.as_str()).collect();
    targets.sort_unstable();
    targets.dedup();
    let what = if code == "blocklist.ip_listed" {
        format!("sending address {} of {}", targets.join(", "), facts.domain)
    } else {
        format!("the domain {}", targets.join(", "))
    };
    let lists: Vec<String> = entries
        .iter()
        .map(|e| format!("{} ({})", e.list_name, e.target))
        .collect();
    let mut finding = Finding::new(
        code,
        severity,
        format!("Blocklisted: {what}"),
        format!(
            "{} is listed on {}. Receivers that consult these lists refuse or junk mail \
             from it, so bounces and missing mail follow until it is delisted.",
            capitalise(&what),
            lists.join(", ")
        ),
        format!(
            "the next blocklist check shows {} clear on every list named here",
            targets.join(", ")
        ),
    );
    for e in entries {
        finding = finding.evidence(
            &format!("{}:{}", e.list_id, e.target),
            if e.meaning.is_empty() {
                e.return_codes.join(" ")
            } else {
                format!("{} ({})", e.meaning, e.return_codes.join(" "))
            },
        );
        if let Some(since) = e.since {
            finding = finding.evidence(&format!("{}:{}:since", e.list_id, e.target), since);
        }
    }
    // Sources from DMARC reports that send this domain's mail through the listed IPs.
    for source in facts
        .sources
        .iter()
        .filter(|s| targets.contains(&s.ip.to_string().as_str()))
        .take(10)
    {
        finding = finding.evidence(
            &format!("messages_from:{}", source.ip),
            format!(
                "{} messages, {} passed DMARC",
                source.messages, source.dmarc_pass
            ),
        );
    }
    finding = finding
        .step(FixStep::new(
            FixStepKind::Investigate,
            "Find and stop the cause before asking for removal",
            "Lists relist quickly when the cause remains. For a listed address: check the \
             host for compromised accounts or open relays, look at what it sent (volume \
             spikes, bounces, complaints) and who else shares it. For a listed domain: look \
             for abused forms, compromised sites or content on the domain's URLs.",
        ))
        .step(FixStep::new(
            FixStepKind::PauseSegment,
            "Reduce volume from the listed sender until it is clear",
            "Move important mail to a clean sending path, pause bulk campaigns from the \
             listed address and restart them with engaged recipients only.",
        ));
    for e in entries {
        let detail = match &e.delist_url {
            Some(url) => format!(
                "Once the cause is fixed, request removal of {} from {} at {url}.",
                e.target, e.list_name
            ),
            None => format!(
                "{} has no removal form: listings expire once the cause stops; check the \
                 list's site for its policy.",
                e.list_name
            ),
        };
        finding = finding.step(FixStep::new(
            FixStepKind::Investigate,
            format!("Request delisting of {} from {}", e.target, e.list_name),
            detail,
        ));
    }
    finding
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

export_rule!(BlocklistListings);

#[cfg(test)]
mod tests {
    use super::*;
    use postern_plugin_sdk::DmarcSummary;

    fn entry(
        target: &str,
        kind: BlocklistTargetKind,
        list: &str,
        state: BlocklistState,
    ) -> BlocklistEntry {
        BlocklistEntry {
            target: target.into(),
            target_kind: kind,
            list_id: list.into(),
            list_name: format!("{list} list"),
            state,
            return_codes: vec!["127.0.0.2".into()],
            meaning: "SBL: spam source".into(),
            delist_url: Some(format!("https://{list}.example/remove")),
            since: Some(1_700_000_000),
        }
    }

    fn facts(entries: Vec<BlocklistEntry>) -> DomainFacts {
        DomainFacts {
            domain: "example.com".into(),
            now: 1_700_100_000,
            window_start: 1_699_000_000,
            window_end: 1_700_100_000,
            dmarc: DmarcSummary {
                messages: 0,
                dmarc_pass: 0,
                dmarc_fail: 0,
                spf_aligned_pass: 0,
                dkim_aligned_pass: 0,
                disposition_none: 0,
                disposition_quarantine: 0,
                disposition_reject: 0,
                disposition_pass: 0,
            },
            sources: Vec::new(),
            policy: None,
            tls: None,
            dns: None,
            blocklists: entries,
            bounces: None,
        }
    }

    #[test]
    fn a_listed_address_is_one_finding_with_every_list_and_delisting_steps() {
        let out = BlocklistListings::evaluate(facts(vec![
            entry(
                "192.0.2.1",
                BlocklistTargetKind::Ip,
                "spamhaus-zen",
                BlocklistState::Listed,
            ),
            entry(
                "192.0.2.1",
                BlocklistTargetKind::Ip,
                "psbl",
                BlocklistState::Listed,
            ),
            entry(
                "192.0.2.9",
                BlocklistTargetKind::Ip,
                "psbl",
                BlocklistState::Clear,
            ),
            entry(
                "192.0.2.1",
                BlocklistTargetKind::Ip,
                "dnswl",
                BlocklistState::Listed,
            ),
        ]));
        assert_eq!(out.len(), 1);
        let f = &out[0];
        assert_eq!(f.code, "blocklist.ip_listed");
        assert_eq!(f.severity, Severity::High, "Spamhaus is a major list");
        assert_eq!(
            f.title,
            "Blocklisted: sending address 192.0.2.1 of example.com"
        );
        assert!(f.explanation.contains("spamhaus-zen list (192.0.2.1)"));
        assert!(
            f.evidence
                .iter()
                .any(|e| e.label == "psbl:192.0.2.1" && e.value == "SBL: spam source (127.0.0.2)")
        );
        let delist: Vec<&str> = f
            .fix_steps
            .iter()
            .filter(|s| s.title.starts_with("Request delisting"))
            .map(|s| s.detail.as_str())
            .collect();
        assert_eq!(delist.len(), 2);
        assert!(delist[0].contains("https://spamhaus-zen.example/remove"));
        assert!(!f.fix_steps.iter().any(|s| s.title.contains("dnswl")));
    }

    #[test]
    fn unknown_and_clear_answers_and_allowlists_make_no_finding() {
        let out = BlocklistListings::evaluate(facts(vec![
            entry(
                "192.0.2.1",
                BlocklistTargetKind::Ip,
                "barracuda",
                BlocklistState::Unknown,
            ),
            entry(
                "example.com",
                BlocklistTargetKind::Domain,
                "spamhaus-dbl",
                BlocklistState::Clear,
            ),
            entry(
                "192.0.2.1",
                BlocklistTargetKind::Ip,
                "dnswl",
                BlocklistState::Listed,
            ),
        ]));
        assert!(out.is_empty());
    }

    #[test]
    fn a_listed_domain_is_its_own_finding_medium_on_minor_lists() {
        let out = BlocklistListings::evaluate(facts(vec![entry(
            "example.com",
            BlocklistTargetKind::Domain,
            "uribl",
            BlocklistState::Listed,
        )]));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].code, "blocklist.domain_listed");
        assert_eq!(out[0].severity, Severity::Medium);
    }
}
