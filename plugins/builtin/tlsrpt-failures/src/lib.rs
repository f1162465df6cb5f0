//! Built-in rule `tlsrpt.failures`: SMTP TLS reports (RFC 8460) show sessions to the
//! domain's MX hosts failing, with fix steps for each result type.

use postern_plugin_sdk::{
    DomainFacts, Finding, FixStep, FixStepKind, Rule, RuleInfo, Severity, TlsFailure, export_rule,
};

/// Failed sessions before the rule speaks.
const MIN_FAILED: u64 = 1;

struct TlsFailures;

impl Rule for TlsFailures {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "tlsrpt.failures",
            "1.0.0",
            "TLS-RPT failures by result type",
            &["tls"],
        )
    }

    fn evaluate(facts: DomainFacts) -> Vec<Finding> {
        let Some(tls) = &facts.tls else {
            return Vec::new();
        };
        if tls.failed < MIN_FAILED {
            return Vec::new();
        }
        let total = tls.successful + tls.failed;
        let per_mille = tls.failed * 1000 / total.max(1);
        let worst = tls
            .failures
            .iter()
            .map(|f| severity_of(&f.result_type))
            .max_by_key(|s| rank(*s))
            .unwrap_or(Severity::Medium);
        // Under 1% of sessions failing is a step less urgent.
        let severity = if per_mille < 10 {
            step_down(worst)
        } else {
            worst
        };
        let mut finding = Finding::new(
            "tlsrpt.failures",
            severity,
            format!(
                "{} of {} TLS sessions to {} failed",
                tls.failed, total, facts.domain
            ),
            format!(
                "Sending servers reported {} failed TLS sessions ({:.1}%) when delivering to \
                 {}. Depending on the sender and your MTA-STS or DANE policy this mail was \
                 delivered without encryption or not delivered at all.",
                tls.failed,
                per_mille as f64 / 10.0,
                facts.domain
            ),
            "the next TLS reports show no failed sessions of these result types",
        )
        .evidence("successful_sessions", tls.successful)
        .evidence("failed_sessions", tls.failed);
        for f in &tls.failures {
            finding = finding
                .evidence(&f.result_type, f.sessions)
                .step(fix_step(&facts.domain, f));
        }
        vec![finding]
    }
}

fn severity_of(result_type: &str) -> Severity {
    match result_type {
        "starttls-not-supported"
        | "certificate-expired"
        | "certificate-host-mismatch"
        | "certificate-not-trusted"
        | "validation-failure"
        | "sts-policy-invalid"
        | "sts-webpki-invalid"
        | "tlsa-invalid"
        | "dnssec-invalid"
        | "dane-required" => Severity::High,
        _ => Severity::Medium,
    }
}

fn rank(s: Severity) -> u8 {
    match s {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

fn step_down(s: Severity) -> Severity {
    match s {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium | Severity::Low => Severity::Low,
        Severity::Info => Severity::Info,
    }
}

fn fix_step(domain: &str, f: &TlsFailure) -> FixStep {
    let (title, detail) = match f.result_type.as_str() {
        "starttls-not-supported" => (
            "Enable STARTTLS on every MX host".to_owned(),
            format!("Some MX hosts of {domain} did not offer STARTTLS. Enable it with a valid certificate on each."),
        ),
        "certificate-expired" => (
            "Renew the MX certificates".to_owned(),
            "A certificate presented by an MX host has expired. Renew it and automate renewal.".to_owned(),
        ),
        "certificate-host-mismatch" => (
            "Serve certificates that name the MX hosts".to_owned(),
            "The certificate does not list the MX host name senders connect to. Add each MX name to the certificate.".to_owned(),
        ),
        "certificate-not-trusted" => (
            "Use a publicly trusted certificate with its full chain".to_owned(),
            "Senders could not build a chain to a trusted root. Use a public CA and serve the intermediate certificates.".to_owned(),
        ),
        "validation-failure" => (
            "Check the MX certificates and names".to_owned(),
            "Certificate validation failed. Check chain, names and expiry on every MX host.".to_owned(),
        ),
        "sts-policy-fetch-error" => (
            "Serve the MTA-STS policy".to_owned(),
            format!("Senders could not fetch https://mta-sts.{domain}/.well-known/mta-sts.txt. Make it reachable over HTTPS with a valid certificate."),
        ),
        "sts-policy-invalid" => (
            "Fix the MTA-STS policy".to_owned(),
            format!("The policy at https://mta-sts.{domain}/.well-known/mta-sts.txt is invalid: check version, mode, mx and max_age lines."),
        ),
        "sts-webpki-invalid" => (
            format!("Fix the certificate of mta-sts.{domain}"),
            format!("The HTTPS certificate of mta-sts.{domain} did not validate."),
        ),
        "tlsa-invalid" | "dnssec-invalid" | "dane-required" => (
            "Fix DANE TLSA records and DNSSEC".to_owned(),
            "Senders could not validate the MX hosts with DANE. Check the TLSA records match the served certificates and DNSSEC validates.".to_owned(),
        ),
        other => (
            format!("Investigate {other} failures"),
            format!("Senders reported {other}. Look at the failure details in the TLS reports."),
        ),
    };
    // Server and HTTPS configuration: there is no single DNS record to hand over.
    FixStep::new(
        FixStepKind::Investigate,
        title,
        format!("{} ({} sessions)", detail, f.sessions),
    )
}

export_rule!(TlsFailures);
