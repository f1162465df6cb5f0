//! Built-in rule `bounce.triage`: the bounce triage an MSP does by hand for errors such as
//! `550 5.4.1 Recipient address rejected: Access denied`, as findings.
//!
//! * `bounce.hard_rate`: the hard-bounce rate over the window, in bands: up to 0.5 %
//!   normal (no finding), 0.5–2 % investigate, over 2 % stop and fix. The sent count comes
//!   from ESP delivery events or MTA logs, else from DMARC report volume (said so).
//! * The cause matrix, from how the bounces cluster:
//!   - one address of a domain (user unknown, moved, ...) → `bounce.bad_recipients`:
//!     suppress (already done for hard bounces) and confirm the signup.
//!   - one recipient domain refusing many addresses by policy → `bounce.recipient_policy`:
//!     a rule of the recipient's tenant; contact its admin with the full bounce, the
//!     sending IP, the time and the message id for their message trace. Microsoft 365's
//!     5.4.1 directory-based edge blocking is named as such.
//!   - many unrelated domains refusing for reputation or blocking (especially of one
//!     provider family) → `bounce.sender_block`: check reputation and blocklists, reduce
//!     volume, restart with engaged recipients.
//!   - authentication refusals, or DMARC failures of the same sending source →
//!     `bounce.authentication`: fix SPF/DKIM alignment of the source.
//!   - recipient domains without MX or unknown hosts → `bounce.mx_problem`.
//!
//! Never suggests retrying a hard bounce.

use postern_plugin_sdk::{
    BounceFacts, BounceGroup, BounceSentBasis, DomainFacts, Finding, FixStep, FixStepKind, Rule,
    RuleInfo, Severity, export_rule,
};

/// Rate bands, in basis points of sent messages (0.5 % and 2 %).
const INVESTIGATE_BP: u64 = 50;
const STOP_BP: u64 = 200;
/// Addresses of one domain refused by policy before it counts as a tenant rule.
const TENANT_RULE_ADDRESSES: u32 = 3;
/// Distinct refusing domains before it counts as a sender block.
const SENDER_BLOCK_DOMAINS: usize = 3;

const BAD_RECIPIENT: &[&str] = &["userunknown", "hasmoved", "suspend", "mailboxfull"];
const POLICY: &[&str] = &[
    "rejected",
    "filtered",
    "policyviolation",
    "securityerror",
    "norelaying",
];
const REPUTATION: &[&str] = &[
    "blocked",
    "badreputation",
    "spamdetected",
    "toomanyconn",
    "speeding",
    "requireptr",
];
const AUTH: &[&str] = &["authfailure"];
const ROUTING: &[&str] = &["hostunknown", "networkerror", "notaccept"];

struct BounceTriage;

impl Rule for BounceTriage {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "bounce.triage",
            "1.0.0",
            "Bounce triage: rate band and cause matrix",
            &["bounces", "sources", "blocklists"],
        )
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        let Some(b) = &facts.bounces else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(f) = rate(&facts.domain, b) {
            out.push(f);
        }
        out.extend(cause_matrix(&facts, b));
        out
    }
}

/// Bounces of `group` whose reason is one of `reasons`.
fn count(group: &BounceGroup, reasons: &[&str]) -> u64 {
    group
        .reasons
        .iter()
        .filter(|r| reasons.contains(&r.reason.as_str()))
        .map(|r| r.count)
        .sum()
}

/// The reason with most bounces in `group`.
fn dominant(group: &BounceGroup) -> &str {
    group
        .reasons
        .iter()
        .max_by_key(|r| r.count)
        .map_or("unknown", |r| r.reason.as_str())
}

fn rate(domain: &str, b: &BounceFacts) -> Option<Finding> {
    let sent = b.sent.filter(|s| *s > 0)?;
    let bp = b.hard.saturating_mul(10_000) / sent;
    let (severity, band) = if bp > STOP_BP {
        (Severity::High, "stop and fix (over 2 %)")
    } else if bp > INVESTIGATE_BP {
        (Severity::Medium, "investigate (0.5 to 2 %)")
    } else {
        return None;
    };
    let basis = match b.sent_basis {
        BounceSentBasis::EspEvents => "ESP delivery events",
        BounceSentBasis::MtaLog => "the MTA's logs",
        BounceSentBasis::DmarcReports => "DMARC aggregate report volume (an estimate)",
        BounceSentBasis::Unknown => "an unknown source",
    };
    let pct = format!("{}.{:02} %", bp / 100, bp % 100);
    let mut f = Finding::new(
        "bounce.hard_rate",
        severity,
        format!("Hard-bounce rate {pct} for {domain}: {band}"),
        format!(
            "{} of {sent} messages sent from {domain} bounced hard ({pct}; sent count from \
             {basis}). Up to 0.5 % is normal list decay; above it the list source, segment \
             or campaign needs review, and above 2 % risky sending should pause until the \
             cause is known: receivers judge senders by it.",
            b.hard
        ),
        "the hard-bounce rate of the next window is at most 0.5 %",
    )
    .evidence("hard", b.hard)
    .evidence("soft", b.soft)
    .evidence("sent", sent)
    .evidence("sent_basis", basis)
    .step(FixStep::new(
        FixStepKind::SuppressAddresses,
        "Keep hard-bounced addresses suppressed",
        "Postern suppresses hard bounces at once; make sure every sending system checks the \
         suppression list (isSuppressed) before sending, and never retry a hard 5xx.",
    ))
    .step(FixStep::new(
        FixStepKind::Investigate,
        "Find the segment or campaign the bounces come from",
        "Group the bounces by campaign, list source and recipient domain (bounceGroups); \
         old or imported contacts are the usual cause.",
    ));
    if bp > STOP_BP {
        f = f.step(FixStep::new(
            FixStepKind::PauseSegment,
            "Pause risky segments until the cause is found",
            "Stop bulk sends to the segments that bounce; restart with engaged recipients and \
             raise volume only after acceptance recovers.",
        ));
    }
    Some(f)
}

fn cause_matrix(facts: &DomainFacts, b: &BounceFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    let domain = &facts.domain;

    // Bad recipients: domains where only one or two addresses bounced for mailbox reasons.
    let bad: Vec<&BounceGroup> = b
        .groups
        .iter()
        .filter(|g| g.addresses < TENANT_RULE_ADDRESSES && count(g, BAD_RECIPIENT) > 0)
        .collect();
    if !bad.is_empty() {
        let addresses: u32 = bad.iter().map(|g| g.addresses).sum();
        let mut f = Finding::new(
            "bounce.bad_recipients",
            Severity::Low,
            format!("{addresses} recipient addresses of {domain}'s mail do not exist"),
            "Single addresses at otherwise working domains bounced as unknown, moved or \
             suspended mailboxes: a bad recipient, not a sender problem. Hard bounces are \
             already suppressed.",
            "no new unknown-recipient bounces from suppressed addresses",
        )
        .evidence("addresses", addresses);
        for g in bad.iter().take(10) {
            if let Some(s) = &g.sample {
                f = f.evidence(&format!("sample:{}", g.recipient_domain), sample_text(s));
            }
        }
        out.push(
            f.step(FixStep::new(
                FixStepKind::SuppressAddresses,
                "Keep these addresses suppressed",
                "Restore one only when the recipient confirms the exact address through a \
                 legitimate business channel (restoreSuppressed with the reason).",
            ))
            .step(FixStep::new(
                FixStepKind::Investigate,
                "Check how these addresses were collected",
                "Confirm the signup (double opt-in), and remove imported or very old contacts.",
            )),
        );
    }

    // Recipient tenant rule: one domain refusing many addresses by policy.
    let refusing: Vec<&BounceGroup> = b
        .groups
        .iter()
        .filter(|g| count(g, POLICY) + count(g, REPUTATION) > 0)
        .collect();
    let policy_heavy: Vec<&BounceGroup> = b
        .groups
        .iter()
        .filter(|g| {
            g.addresses >= TENANT_RULE_ADDRESSES && (count(g, POLICY) > 0 || access_denied(g))
        })
        .collect();
    let sender_block = refusing.len() >= SENDER_BLOCK_DOMAINS
        && refusing
            .iter()
            .map(|g| count(g, REPUTATION) + count(g, POLICY))
            .sum::<u64>()
            >= 5;
    if !sender_block {
        for g in policy_heavy.iter().take(5) {
            out.push(tenant_rule(domain, g));
        }
    }

    // Sender block: many unrelated domains refusing.
    if sender_block {
        let mut families: Vec<&str> = refusing
            .iter()
            .map(|g| g.provider_family.as_str())
            .collect();
        families.sort_unstable();
        families.dedup();
        let total: u64 = refusing
            .iter()
            .map(|g| count(g, REPUTATION) + count(g, POLICY))
            .sum();
        let listed: Vec<String> = facts
            .blocklists
            .iter()
            .filter(|e| {
                e.state == postern_plugin_sdk::BlocklistState::Listed && e.list_id != "dnswl"
            })
            .map(|e| format!("{} on {}", e.target, e.list_name))
            .collect();
        let one_family = families.len() == 1 && families[0] != "other" && families[0] != "unknown";
        let mut f = Finding::new(
            "bounce.sender_block",
            Severity::High,
            format!(
                "{} recipient domains refuse {domain}'s mail{}",
                refusing.len(),
                if one_family {
                    format!(" (all {})", families[0])
                } else {
                    String::new()
                }
            ),
            format!(
                "{total} refusals for blocking, reputation or policy reasons across {} unrelated \
                 recipient domains ({}) point at the sender, not the recipients: reputation, a \
                 blocklist listing, a volume spike or authentication. {}",
                refusing.len(),
                families.join(", "),
                if listed.is_empty() {
                    "No blocklist listing is known right now.".to_owned()
                } else {
                    format!("Listed: {}.", listed.join("; "))
                }
            ),
            "the next window's refusals for blocking or reputation reasons fall back to single \
             recipients",
        )
        .evidence("refusing_domains", refusing.len())
        .evidence("refusals", total)
        .evidence("provider_families", families.join(" "));
        for source in b.sources.iter().take(5) {
            f = f.evidence(
                &format!("source:{}", source.sending_ip),
                format!(
                    "{} hard, {} soft, {} domains",
                    source.hard, source.soft, source.recipient_domains
                ),
            );
        }
        for l in &listed {
            f = f.evidence("blocklisted", l);
        }
        out.push(
            f.step(FixStep::new(
                FixStepKind::Investigate,
                "Check reputation and blocklists of the sending addresses",
                "Look at the blocklist state of each sending IP and the domain (blocklistTargets), \
                 the providers' postmaster tools and complaint rates.",
            ))
            .step(FixStep::new(
                FixStepKind::PauseSegment,
                "Reduce volume",
                "Pause bulk campaigns from the affected sources; keep transactional mail flowing \
                 on a clean path.",
            ))
            .step(FixStep::new(
                FixStepKind::PauseSegment,
                "Restart with engaged recipients",
                "Send first to recipients who opened or replied recently and raise volume only \
                 as acceptance recovers. Do not retry the refused messages.",
            )),
        );
    }

    // Authentication: refusals for authentication, or DMARC failing for a bouncing source.
    let auth_bounces: u64 = b.groups.iter().map(|g| count(g, AUTH)).sum();
    let failing_sources: Vec<String> = b
        .sources
        .iter()
        .filter_map(|s| {
            let dmarc = facts.sources.iter().find(|d| d.ip == s.sending_ip)?;
            (dmarc.messages > 0 && dmarc.dmarc_pass * 2 < dmarc.messages).then(|| {
                format!(
                    "{}: {} of {} messages failed DMARC",
                    s.sending_ip,
                    dmarc.messages - dmarc.dmarc_pass,
                    dmarc.messages
                )
            })
        })
        .collect();
    if auth_bounces > 0 || !failing_sources.is_empty() {
        let mut f = Finding::new(
            "bounce.authentication",
            Severity::High,
            format!("Bounces of {domain}'s mail follow authentication failures"),
            "Receivers refused mail for failing SPF, DKIM or DMARC, or the sources whose mail \
             bounced fail DMARC in the aggregate reports of the same window.",
            "no authentication refusals in the next window and the sources pass DMARC",
        )
        .evidence("authentication_refusals", auth_bounces);
        for s in &failing_sources {
            f = f.evidence("dmarc_failing_source", s);
        }
        out.push(f.step(FixStep::new(
            FixStepKind::FixSendingSource,
            "Make every sending source pass aligned SPF or DKIM",
            "Authorise the source in SPF (include its provider) and sign with a DKIM key of the \
             From domain; check the headers of a fresh test message through the same path.",
        )));
    }

    // MX problems: recipient domains without MX or unknown hosts.
    let routing: Vec<&BounceGroup> = b
        .groups
        .iter()
        .filter(|g| g.has_mx == Some(false) || count(g, ROUTING) > 0)
        .collect();
    if !routing.is_empty() {
        let names: Vec<&str> = routing
            .iter()
            .map(|g| g.recipient_domain.as_str())
            .take(20)
            .collect();
        out.push(
            Finding::new(
                "bounce.mx_problem",
                Severity::Low,
                format!(
                    "{} recipient domains of {domain}'s mail cannot be routed",
                    routing.len()
                ),
                format!(
                    "Mail to {} bounced because the domain has no MX or its mail host is \
                     unknown: a typo in the address, a domain that lapsed or a recipient whose \
                     routing is broken after a migration.",
                    names.join(", ")
                ),
                "no routing bounces to these domains in the next window",
            )
            .evidence("domains", names.join(" "))
            .step(FixStep::new(
                FixStepKind::SuppressAddresses,
                "Suppress addresses at domains that do not exist",
                "Check for typos (gmial.com, outlok.com) and suppress or correct the addresses.",
            ))
            .step(FixStep::new(
                FixStepKind::ContactRecipientAdmin,
                "Tell known contacts their mail routing is broken",
                "For a domain that should work, its admin needs to fix its MX records or accepted \
                 domains.",
            )),
        );
    }
    out
}

/// The group's bounces are `5.4.1` refusals ("Recipient address rejected: Access denied"):
/// many addresses of one domain refused so are a tenant rule or Microsoft 365's
/// directory-based edge blocking, whatever reason the text was classified as (Sisimai
/// calls the Microsoft text `userunknown`).
fn access_denied(g: &BounceGroup) -> bool {
    g.sample
        .as_ref()
        .is_some_and(|s| s.status.as_deref() == Some("5.4.1"))
}

fn tenant_rule(domain: &str, g: &BounceGroup) -> Finding {
    let microsoft_541 = g.provider_family == "microsoft365"
        && g.sample
            .as_ref()
            .is_some_and(|s| s.status.as_deref() == Some("5.4.1"));
    let explanation = if microsoft_541 {
        format!(
            "{} addresses at {} (Microsoft 365) were refused with 550 5.4.1 'Recipient address \
             rejected: Access denied'. Exchange Online refuses at the edge recipients its \
             directory does not know (directory-based edge blocking) or that a tenant rule \
             blocks: the recipient's admin has to check accepted domains, mail flow rules and \
             whether the recipients exist in the cloud directory.",
            g.addresses, g.recipient_domain
        )
    } else {
        format!(
            "{} addresses at {} were refused by policy ({}), while other domains accept the \
             mail: a rule of the recipient's mail system blocks the sender, its IP or this \
             kind of message.",
            g.addresses,
            g.recipient_domain,
            dominant(g)
        )
    };
    let trace = g.sample.as_ref().map_or_else(
        || "the full bounce, the sending IP, the time and the message id".to_owned(),
        sample_text,
    );
    let mut f = Finding::new(
        &format!("bounce.recipient_policy.{}", code_part(&g.recipient_domain)),
        Severity::Medium,
        format!("{} refuses {domain}'s mail by policy", g.recipient_domain),
        explanation,
        format!(
            "mail from {domain} to {} is accepted again",
            g.recipient_domain
        ),
    )
    .evidence("recipient_domain", &g.recipient_domain)
    .evidence("provider_family", &g.provider_family)
    .evidence("addresses", g.addresses)
    .evidence("hard", g.hard);
    if let Some(s) = &g.sample {
        f = f.evidence("bounce", sample_text(s));
        if let Some(evidence) = &s.evidence {
            f = f.evidence("provider_evidence", evidence);
        }
    }
    f.step(FixStep::new(
        FixStepKind::ContactRecipientAdmin,
        format!(
            "Ask the mail admin of {} to check their inbound rules",
            g.recipient_domain
        ),
        format!(
            "Give them what they need to find the message in their message trace: {trace}. Ask \
             them to confirm the recipients exist and which rule refused the mail."
        ),
    ))
    .step(FixStep::new(
        FixStepKind::SuppressAddresses,
        "Do not retry the refused messages",
        "A 5xx refusal is final; the addresses stay suppressed until the admin confirms them.",
    ))
}

/// The sample bounce as one line for evidence and the recipient admin.
fn sample_text(s: &postern_plugin_sdk::BounceSample) -> String {
    let mut parts = vec![format!("recipient {}", s.recipient)];
    if let Some(code) = s.reply_code {
        parts.push(format!("reply {code}"));
    }
    if let Some(status) = &s.status {
        parts.push(format!("status {status}"));
    }
    parts.push(format!("diagnostic \"{}\"", s.diagnostic));
    if let Some(host) = &s.remote_host {
        parts.push(format!("remote host {host}"));
    }
    if let Some(ip) = s.sending_ip {
        parts.push(format!("sending IP {ip}"));
    }
    parts.push(format!("time {} (unix)", s.time));
    if let Some(id) = &s.message_id {
        parts.push(format!("message id <{id}>"));
    }
    parts.join(", ")
}

/// A domain name as one code part: `[a-z0-9_]`, dots and dashes as `_`, at most 60 bytes.
fn code_part(domain: &str) -> String {
    domain
        .bytes()
        .take(60)
        .map(|b| match b {
            b'a'..=b'z' | b'0'..=b'9' => b as char,
            b'A'..=b'Z' => b.to_ascii_lowercase() as char,
            _ => '_',
        })
        .collect()
}

export_rule!(BounceTriage);

#[cfg(test)]
mod tests {
    use super::*;
    use postern_plugin_sdk::{BounceSample, BounceSource, DmarcSummary, ReasonCount, Source};
    use std::net::IpAddr;

    fn group(domain: &str, family: &str, addresses: u32, reasons: &[(&str, u64)]) -> BounceGroup {
        let hard = reasons.iter().map(|r| r.1).sum();
        BounceGroup {
            recipient_domain: domain.into(),
            provider_family: family.into(),
            has_mx: Some(true),
            addresses,
            hard,
            soft: 0,
            reasons: reasons
                .iter()
                .map(|(r, c)| ReasonCount {
                    reason: (*r).into(),
                    count: *c,
                })
                .collect(),
            sample: Some(BounceSample {
                recipient: format!("someone@{domain}"),
                status: Some("5.4.1".into()),
                reply_code: Some(550),
                diagnostic: "550 5.4.1 Recipient address rejected: Access denied".into(),
                remote_host: Some("mx.example.net".into()),
                sending_ip: Some("192.0.2.10".parse().unwrap()),
                time: 1_700_000_000,
                message_id: Some("abc@sender.example".into()),
                evidence: Some("AS(201806281)".into()),
            }),
        }
    }

    fn facts(sent: Option<u64>, hard: u64, groups: Vec<BounceGroup>) -> DomainFacts {
        DomainFacts {
            domain: "sender.example".into(),
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
            blocklists: Vec::new(),
            bounces: Some(BounceFacts {
                sent,
                sent_basis: BounceSentBasis::EspEvents,
                hard,
                soft: 0,
                groups,
                sources: vec![BounceSource {
                    sending_ip: "192.0.2.10".parse().unwrap(),
                    hard,
                    soft: 0,
                    recipient_domains: 1,
                    provider_families: vec!["microsoft365".into()],
                }],
            }),
        }
    }

    fn codes(out: &[Finding]) -> Vec<&str> {
        out.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn the_rate_bands_are_normal_investigate_and_stop() {
        assert!(BounceTriage::evaluate(facts(Some(1000), 5, Vec::new())).is_empty());
        let investigate = BounceTriage::evaluate(facts(Some(1000), 10, Vec::new()));
        assert_eq!(codes(&investigate), ["bounce.hard_rate"]);
        assert_eq!(investigate[0].severity, Severity::Medium);
        assert!(investigate[0].title.contains("1.00 %"));
        let stop = BounceTriage::evaluate(facts(Some(1000), 30, Vec::new()));
        assert_eq!(stop[0].severity, Severity::High);
        assert!(
            stop[0]
                .fix_steps
                .iter()
                .any(|s| s.kind == FixStepKind::PauseSegment)
        );
        // Without a sent count there is no rate to judge.
        assert!(BounceTriage::evaluate(facts(None, 30, Vec::new())).is_empty());
    }

    #[test]
    fn one_address_is_a_bad_recipient_to_suppress() {
        let out = BounceTriage::evaluate(facts(
            None,
            1,
            vec![group("corp.example", "other", 1, &[("userunknown", 1)])],
        ));
        assert_eq!(codes(&out), ["bounce.bad_recipients"]);
        assert_eq!(out[0].fix_steps[0].kind, FixStepKind::SuppressAddresses);
    }

    #[test]
    fn many_addresses_of_one_domain_refused_with_5_4_1_as_unknown_users_is_a_tenant_rule() {
        let out = BounceTriage::evaluate(facts(
            None,
            4,
            vec![group(
                "tenant.example",
                "microsoft365",
                4,
                &[("userunknown", 4)],
            )],
        ));
        assert_eq!(codes(&out), ["bounce.recipient_policy.tenant_example"]);
        assert_eq!(out[0].fix_steps[0].kind, FixStepKind::ContactRecipientAdmin);
        // Two unknown users are still bad recipients.
        let out = BounceTriage::evaluate(facts(
            None,
            2,
            vec![group(
                "tenant.example",
                "microsoft365",
                2,
                &[("userunknown", 2)],
            )],
        ));
        assert_eq!(codes(&out), ["bounce.bad_recipients"]);
    }

    #[test]
    fn one_microsoft_domain_refusing_many_is_a_tenant_rule_with_trace_details() {
        let out = BounceTriage::evaluate(facts(
            None,
            6,
            vec![group(
                "tenant.example",
                "microsoft365",
                6,
                &[("rejected", 6)],
            )],
        ));
        assert_eq!(codes(&out), ["bounce.recipient_policy.tenant_example"]);
        let f = &out[0];
        assert!(
            f.explanation.contains("directory-based edge blocking"),
            "{}",
            f.explanation
        );
        let contact = &f.fix_steps[0];
        assert_eq!(contact.kind, FixStepKind::ContactRecipientAdmin);
        for needed in [
            "sending IP 192.0.2.10",
            "message id <abc@sender.example>",
            "time 1700000000",
            "5.4.1",
        ] {
            assert!(
                contact.detail.contains(needed),
                "{needed}: {}",
                contact.detail
            );
        }
        assert!(f.evidence.iter().any(|e| e.value == "AS(201806281)"));
        assert!(
            !f.fix_steps
                .iter()
                .any(|s| s.title.to_lowercase().starts_with("retry"))
        );
    }

    #[test]
    fn many_unrelated_domains_refusing_is_a_sender_block() {
        let out = BounceTriage::evaluate(facts(
            None,
            9,
            vec![
                group("a.example", "microsoft365", 3, &[("blocked", 3)]),
                group("b.example", "microsoft365", 3, &[("blocked", 3)]),
                group("c.example", "microsoft365", 3, &[("rejected", 3)]),
            ],
        ));
        assert_eq!(codes(&out), ["bounce.sender_block"]);
        assert!(
            out[0].title.contains("(all microsoft365)"),
            "{}",
            out[0].title
        );
    }

    #[test]
    fn dmarc_failures_of_the_bouncing_source_are_authentication() {
        let mut f = facts(
            None,
            1,
            vec![group("x.example", "google", 1, &[("authfailure", 1)])],
        );
        f.sources.push(Source {
            ip: "192.0.2.10".parse::<IpAddr>().unwrap(),
            messages: 100,
            dmarc_pass: 10,
            spf_aligned_pass: 10,
            dkim_aligned_pass: 0,
            first_seen: 0,
            last_seen: 0,
            reverse_dns: None,
        });
        let out = BounceTriage::evaluate(f);
        assert_eq!(codes(&out), ["bounce.authentication"]);
        assert!(
            out[0]
                .evidence
                .iter()
                .any(|e| e.value.contains("90 of 100"))
        );
    }

    #[test]
    fn domains_without_mx_are_an_mx_problem() {
        let mut g = group("gmial.com", "unknown", 1, &[("hostunknown", 1)]);
        g.has_mx = Some(false);
        let out = BounceTriage::evaluate(facts(None, 1, vec![g]));
        assert_eq!(codes(&out), ["bounce.mx_problem"]);
    }
}
