//! Built-in rule `dmarc.policy`: a domain without a DMARC policy (`dmarc.no_record`), and a
//! domain whose traffic is clean enough to move its policy on a step (`dmarc.policy_none`,
//! `dmarc.policy_quarantine`). The rollout follows RFC 9989: none → quarantine with `t=y` →
//! quarantine → reject with `t=y` → reject; `pct` is not used (DMARCbis removed it).

use postern_plugin_sdk::{
    DnsRecordChange, DomainFacts, Finding, FixStep, FixStepKind, PublishedPolicy, Rule, RuleInfo,
    Severity, export_rule,
};

/// Messages over the window before the traffic says anything.
const MIN_MESSAGES: u64 = 100;
/// Share of messages passing DMARC (per mille) for the traffic to count as clean.
const CLEAN_PER_MILLE: u64 = 980;
/// How long the window must be before "for long" holds (seconds).
const MIN_WINDOW: i64 = 14 * 86_400;

struct DmarcPolicy;

impl Rule for DmarcPolicy {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "dmarc.policy",
            "1.0.0",
            "DMARC record and policy rollout",
            &["dmarc", "policy"],
        )
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        match &facts.policy {
            // Reports about the domain arrived and none named a policy: evidence. Without
            // any report (a domain just added) there is nothing to go on yet: no finding.
            None if facts.dmarc.messages > 0 || facts.tls.is_some() => vec![no_record(&facts)],
            None => Vec::new(),
            Some(policy) => rollout(&facts, policy).into_iter().collect(),
        }
    }
}

fn no_record(facts: &DomainFacts) -> Finding {
    let name = format!("_dmarc.{}", facts.domain);
    let proposed = format!(
        "v=DMARC1; p=none; rua=mailto:dmarc-reports@{}",
        facts.domain
    );
    Finding::new(
        "dmarc.no_record",
        Severity::High,
        format!("{} publishes no DMARC policy", facts.domain),
        "No aggregate report carried a published DMARC policy for this domain, so receivers \
         apply none and anyone can send mail in its name. Publishing a DMARC record with p=none \
         and a rua address starts the reports that show who sends for the domain; the policy is \
         then tightened step by step.",
        format!(
            "aggregate reports arrive for {} and echo a published policy",
            facts.domain
        ),
    )
    .evidence("domain", &facts.domain)
    .evidence("messages", facts.dmarc.messages)
    .step(
        FixStep::new(
            FixStepKind::ChangeDnsRecord,
            format!("Publish a DMARC record at {name}"),
            "Publish this TXT record. Use an address you read (or Postern's report address) \
             for rua.",
        )
        .with_record(DnsRecordChange::txt(name, None, proposed)),
    )
}

fn rollout(facts: &DomainFacts, policy: &PublishedPolicy) -> Option<Finding> {
    let d = &facts.dmarc;
    if d.messages < MIN_MESSAGES || facts.window_end - facts.window_start < MIN_WINDOW {
        return None;
    }
    let pass_per_mille = d.dmarc_pass.saturating_mul(1000) / d.messages;
    if pass_per_mille < CLEAN_PER_MILLE {
        return None;
    }
    let testing = policy.testing.as_deref() == Some("y");
    let (code, severity, next_p, next_t, title) = match (policy.p.as_str(), testing) {
        ("none", _) => (
            "dmarc.policy_none",
            Severity::Medium,
            "quarantine",
            true,
            format!("{} is clean enough to leave p=none", facts.domain),
        ),
        ("quarantine", true) => (
            "dmarc.policy_quarantine",
            Severity::Low,
            "quarantine",
            false,
            format!("{} can end the quarantine test (t=y)", facts.domain),
        ),
        ("quarantine", false) => (
            "dmarc.policy_quarantine",
            Severity::Low,
            "reject",
            true,
            format!(
                "{} is clean enough to move from quarantine to reject",
                facts.domain
            ),
        ),
        ("reject", true) => (
            "dmarc.policy_quarantine",
            Severity::Low,
            "reject",
            false,
            format!("{} can end the reject test (t=y)", facts.domain),
        ),
        _ => return None,
    };
    let name = format!("_dmarc.{}", facts.domain);
    let current = record_text(policy, &policy.p, testing);
    let proposed = record_text(policy, next_p, next_t);
    let step_title = if next_t {
        format!("Publish p={next_p} with t=y (testing)")
    } else {
        format!("Publish p={next_p} without t=y")
    };
    let step_detail = format!(
        "Change the DMARC record at {name} to the text below, keeping your existing rua= and \
         ruf= tags as they are. {} Watch the aggregate reports for two weeks before the next \
         step.",
        if next_t {
            "With t=y (RFC 9989) receivers apply the policy one step softer, so you see what \
             would be affected without losing mail."
        } else {
            "The test period showed the traffic is clean: apply the policy in full."
        }
    );
    let mut finding = Finding::new(
        code,
        severity,
        title,
        format!(
            "{:.1}% of {} messages passed DMARC over the last {} days, yet the policy is \
             p={}{}. Moving on a step protects the domain against spoofing; the rollout is \
             none → quarantine (t=y) → quarantine → reject (t=y) → reject.",
            pass_per_mille as f64 / 10.0,
            d.messages,
            (facts.window_end - facts.window_start) / 86_400,
            policy.p,
            if testing { " with t=y" } else { "" },
        ),
        format!(
            "the next aggregate reports for {} echo p={next_p}{}",
            facts.domain,
            if next_t { " with t=y" } else { " without t=y" }
        ),
    )
    .evidence("published_policy", &current)
    .evidence("messages", d.messages)
    .evidence("dmarc_pass", d.dmarc_pass)
    .evidence("dmarc_fail", d.dmarc_fail);
    if let Some(pct) = policy.pct.filter(|p| *p < 100) {
        finding = finding.evidence("pct", pct);
    }
    Some(
        finding.step(
            FixStep::new(FixStepKind::UpgradePolicy, step_title, step_detail)
                .with_record(DnsRecordChange::txt(name, Some(current), proposed)),
        ),
    )
}

/// The DMARC record text for `policy` with `p` and the testing flag replaced. `pct` is left
/// out: RFC 9989 replaced it with `t`.
fn record_text(policy: &PublishedPolicy, p: &str, testing: bool) -> String {
    let mut tags = vec!["v=DMARC1".to_owned(), format!("p={p}")];
    if let Some(sp) = &policy.sp {
        tags.push(format!("sp={sp}"));
    }
    if let Some(np) = &policy.np {
        tags.push(format!("np={np}"));
    }
    if policy.adkim == "s" {
        tags.push("adkim=s".to_owned());
    }
    if policy.aspf == "s" {
        tags.push("aspf=s".to_owned());
    }
    if testing {
        tags.push("t=y".to_owned());
    }
    tags.join("; ")
}

export_rule!(DmarcPolicy);
