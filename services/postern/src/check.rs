//! `postern check DOMAIN`: every DNS posture check of one domain, printed as JSON.
//!
//! DNS goes through hickory-resolver, to the `--nameserver`s when given, else the
//! system's resolvers. The MTA-STS policy is fetched over HTTPS; when name servers are
//! given, the policy host is looked up through them too (so a test zone on loopback
//! decides where the fetch goes), otherwise the HTTP client resolves it itself.

use anyhow::{Context, bail};
use clap::Args;
use postern_dns::{HickoryResolver, Lookup, Resolver, ResolverSettings, parse_nameserver};
use postern_mailauth::posture::mtasts::{HttpsFetcherSettings, HttpsPolicyFetcher};
use postern_mailauth::posture::{PostureOptions, check_domain};
use postern_mailauth::spf::SpfOptions;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `postern check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The domain to check.
    pub domain: String,
    /// Name server to ask (IP or IP:PORT); repeat for several. Default: the system's.
    #[arg(long = "nameserver", value_name = "IP:PORT")]
    pub nameservers: Vec<String>,
    /// A DKIM selector to check (repeatable); without one DKIM is reported unknown.
    #[arg(long = "dkim-selector", value_name = "SELECTOR")]
    pub dkim_selectors: Vec<String>,
    /// Seconds allowed per DNS attempt.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
}

/// Runs the checks and prints the report. Failing checks are findings, not errors: the
/// exit status is non-zero only for bad arguments or a resolver that cannot be built.
pub async fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let domain = args.domain.trim_end_matches('.').to_ascii_lowercase();
    if let Err(reason) = check_domain_name(&domain) {
        bail!("{:?} is not a domain name: {reason}", args.domain);
    }
    let nameservers = args
        .nameservers
        .iter()
        .map(|ns| parse_nameserver(ns))
        .collect::<Result<Vec<SocketAddr>, _>>()?;
    let resolver = HickoryResolver::new(&ResolverSettings {
        nameservers: nameservers.clone(),
        timeout: Duration::from_secs(args.timeout.max(1)),
        ..ResolverSettings::default()
    })
    .context("building the resolver")?;
    let mut fetch = HttpsFetcherSettings::default();
    if !nameservers.is_empty() {
        let host = format!("mta-sts.{domain}");
        for ip in policy_host_addresses(&resolver, &host).await {
            fetch.resolve.push((host.clone(), SocketAddr::new(ip, 443)));
        }
    }
    let fetcher = HttpsPolicyFetcher::new(&fetch).context("building the HTTPS client")?;
    let options = PostureOptions {
        checked_at: chrono::Utc::now(),
        spf: SpfOptions::default(),
        dkim_selectors: args.dkim_selectors.clone(),
        fetcher: Arc::new(fetcher),
    };
    let report = check_domain(&resolver, &domain, &options).await;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// The addresses of the MTA-STS policy host through `resolver`; empty when it has none or
/// the lookups fail (the fetch then fails and the check says so).
async fn policy_host_addresses(resolver: &dyn Resolver, host: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for v6 in [false, true] {
        if let Ok(Lookup::Found(ips)) = resolver.addresses(host, v6).await {
            out.extend(ips);
        }
    }
    out
}

/// A host name: 1..=63-octet labels of letters, digits, `-` and `_`, at most 253 octets.
fn check_domain_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty");
    }
    if name.len() > 253 {
        return Err("longer than 253 octets");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("a label is empty or longer than 63 octets");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("only letters, digits, '-' and '_' are allowed (use the A-label form)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_checked_before_any_lookup() {
        assert!(check_domain_name("example.com").is_ok());
        assert!(check_domain_name("xn--bcher-kva.example").is_ok());
        assert!(check_domain_name("").is_err());
        assert!(check_domain_name("a..example").is_err());
        assert!(check_domain_name("bücher.example").is_err());
        assert!(check_domain_name(&"a".repeat(64)).is_err());
        assert!(check_domain_name("http://example.com").is_err());
    }
}
