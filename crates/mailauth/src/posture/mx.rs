//! The MX posture check: MX records present, each exchange a host name (not an address,
//! not an alias) that resolves, and the null MX of RFC 7505 recognised.

use super::counting::Counting;
use super::{CheckKind, CheckReport, CheckStatus, PostureFinding, Severity};
use postern_dns::{DnsError, Lookup, Mx, Record, RecordType, Resolver};
use serde::Serialize;
use std::net::IpAddr;

/// One exchange as checked (serialised into `details.hosts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxHost {
    /// Lower is preferred.
    pub preference: u16,
    /// The exchange host name.
    pub host: String,
    /// Its A and AAAA addresses.
    pub addresses: Vec<IpAddr>,
}

/// Checks `domain`'s MX records. `details.hosts` lists the exchanges, most preferred
/// first; `details.null_mx` is true for a null MX (the domain accepts no mail).
#[tracing::instrument(name = "mailauth.posture.mx", skip_all, fields(domain = %domain))]
pub async fn check(resolver: &dyn Resolver, domain: &str) -> CheckReport {
    let counting = Counting::new(resolver);
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut report = CheckReport::new(CheckKind::Mx);
    let mut records = match counting.mx(&domain).await {
        Err(error) => {
            report.status = CheckStatus::Unknown;
            report.findings.push(PostureFinding::new(
                "mx.lookup_failed",
                Severity::Info,
                format!("the MX records could not be looked up: {error}"),
            ));
            report.details = serde_json::json!({ "hosts": [], "null_mx": false });
            report.queries = counting.count();
            return report.finish();
        }
        Ok(Lookup::NxDomain) => {
            report.status = CheckStatus::Missing;
            report.findings.push(PostureFinding::new(
                "mx.domain_missing",
                Severity::High,
                format!("{domain} does not exist in the DNS (NXDOMAIN)"),
            ));
            Vec::new()
        }
        Ok(Lookup::NoData) => {
            report.status = CheckStatus::Missing;
            report.findings.push(PostureFinding::new(
                "mx.missing",
                Severity::Medium,
                format!(
                    "{domain} has no MX record: senders fall back to its address records, if \
                     any. Publish MX records, or a null MX (\"0 .\") if it receives no mail"
                ),
            ));
            Vec::new()
        }
        Ok(Lookup::Found(records)) => records,
    };
    records.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
    report.records = records
        .iter()
        .map(|m| format!("{} {}.", m.preference, m.exchange))
        .collect();
    let null_mx = records.iter().any(|m| m.exchange.is_empty());
    if null_mx {
        if records.len() == 1 {
            report.findings.push(PostureFinding::new(
                "mx.null_mx",
                Severity::Info,
                format!("null MX (RFC 7505): {domain} declares that it accepts no mail"),
            ));
        } else {
            report.findings.push(PostureFinding::new(
                "mx.null_mx_mixed",
                Severity::High,
                "a null MX (\".\") beside other MX records: RFC 7505 allows it only alone; \
                 senders may treat the domain as accepting no mail",
            ));
        }
        if records
            .iter()
            .any(|m| m.exchange.is_empty() && m.preference != 0)
        {
            report.findings.push(PostureFinding::new(
                "mx.null_mx_preference",
                Severity::Low,
                "a null MX has preference 0 (RFC 7505)",
            ));
        }
    }
    let hosts: Vec<&Mx> = records.iter().filter(|m| !m.exchange.is_empty()).collect();
    let checked = futures::future::join_all(hosts.iter().map(|m| check_host(&counting, m))).await;
    let mut out = Vec::new();
    let mut unknown = 0;
    for (host, findings, failed) in checked {
        report.findings.extend(findings);
        if failed {
            unknown += 1;
        }
        out.push(host);
    }
    if !hosts.is_empty() && unknown == hosts.len() {
        report.status = CheckStatus::Unknown;
    }
    report.details = serde_json::json!({ "hosts": out, "null_mx": null_mx && records.len() == 1 });
    report.queries = counting.count();
    report.finish()
}

/// Checks one exchange: an address literal, an alias, its addresses. Answers the host,
/// its findings and whether every lookup failed.
async fn check_host(resolver: &dyn Resolver, mx: &Mx) -> (MxHost, Vec<PostureFinding>, bool) {
    let host = mx.exchange.trim_end_matches('.').to_ascii_lowercase();
    let mut findings = Vec::new();
    let mut out = MxHost {
        preference: mx.preference,
        host: host.clone(),
        addresses: Vec::new(),
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if literal.parse::<IpAddr>().is_ok() {
        findings.push(PostureFinding::new(
            "mx.ip_literal",
            Severity::High,
            format!("MX {host} is an IP address; an MX must name a host (RFC 5321 §5.1)"),
        ));
        return (out, findings, false);
    }
    let (cname, a, aaaa) = futures::join!(
        resolver.query(&host, RecordType::Cname),
        resolver.a(&host),
        resolver.aaaa(&host)
    );
    if let Ok(Lookup::Found(records)) = &cname
        && let Some(Record::Cname(target)) = records.first()
    {
        findings.push(PostureFinding::new(
            "mx.cname",
            Severity::Medium,
            format!(
                "MX {host} is an alias (CNAME to {target}); RFC 2181 §10.3 forbids it and some \
                 senders refuse it: point the MX at {target}"
            ),
        ));
    }
    let mut errors: Vec<DnsError> = Vec::new();
    match a {
        Ok(answer) => out
            .addresses
            .extend(answer.into_records().into_iter().map(IpAddr::V4)),
        Err(e) => errors.push(e),
    }
    match aaaa {
        Ok(answer) => out
            .addresses
            .extend(answer.into_records().into_iter().map(IpAddr::V6)),
        Err(e) => errors.push(e),
    }
    let failed = errors.len() == 2;
    if out.addresses.is_empty() {
        if errors.is_empty() {
            findings.push(PostureFinding::new(
                "mx.unresolvable",
                Severity::High,
                format!("MX {host} has no A or AAAA record: mail cannot be delivered to it"),
            ));
        } else {
            let causes: Vec<String> = errors.iter().map(ToString::to_string).collect();
            findings.push(PostureFinding::new(
                "mx.lookup_failed",
                Severity::Info,
                format!(
                    "the addresses of MX {host} could not be looked up: {}",
                    causes.join("; ")
                ),
            ));
        }
    }
    (out, findings, failed)
}
