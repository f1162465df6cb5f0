//! [`check_domain`]: every posture check of one domain, run side by side.

use super::mtasts::{self, PolicyFetcher};
use super::{CheckKind, CheckReport, bimi, dkim, dmarc, mx, spf, tlsrpt};
use crate::spf::SpfOptions;
use chrono::{DateTime, Utc};
use postern_dns::Resolver;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// What [`check_domain`] needs besides the resolver.
#[derive(Clone)]
pub struct PostureOptions {
    /// When the check runs (reported as is: the checks read no clock).
    pub checked_at: DateTime<Utc>,
    /// Settings of the SPF evaluation.
    pub spf: SpfOptions,
    /// The DKIM selectors known for the domain (from aggregate reports or configured).
    pub dkim_selectors: Vec<String>,
    /// Fetches MTA-STS policies over HTTPS (a fake in tests).
    pub fetcher: Arc<dyn PolicyFetcher>,
}

/// Every check of one domain at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostureReport {
    /// The domain checked.
    pub domain: String,
    /// When (as passed in [`PostureOptions::checked_at`]).
    pub checked_at: DateTime<Utc>,
    /// One report per check, in [`CheckKind::ALL`] order.
    pub checks: Vec<CheckReport>,
    /// DNS queries (and fetches) of all checks together.
    pub queries: u32,
}

impl fmt::Debug for PostureOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostureOptions")
            .field("checked_at", &self.checked_at)
            .field("spf", &self.spf)
            .field("dkim_selectors", &self.dkim_selectors)
            .finish_non_exhaustive()
    }
}

impl PostureReport {
    /// The report of one check, if it ran.
    pub fn check(&self, kind: CheckKind) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.check == kind)
    }
}

/// Runs every posture check of `domain`. Independent checks run concurrently; BIMI waits
/// for DMARC (it needs DMARC's enforcement verdict) and MTA-STS for MX (it checks that
/// the policy covers the MX hosts).
#[tracing::instrument(name = "mailauth.posture.domain", skip_all, fields(domain = %domain))]
pub async fn check_domain(
    resolver: &dyn Resolver,
    domain: &str,
    options: &PostureOptions,
) -> PostureReport {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let dmarc_then_bimi = async {
        let (dmarc, enforced) = dmarc::run(resolver, &domain).await;
        let bimi = bimi::check(resolver, &domain, enforced).await;
        (dmarc, bimi)
    };
    let mx_then_mtasts = async {
        let mx = mx::check(resolver, &domain).await;
        let hosts = mx_hosts(&mx);
        let mtasts = mtasts::check(resolver, options.fetcher.as_ref(), &domain, &hosts).await;
        (mx, mtasts)
    };
    let ((mx, mtasts), spf, (dmarc, bimi), dkim, tlsrpt) = futures::join!(
        mx_then_mtasts,
        spf::check(resolver, &domain, &options.spf),
        dmarc_then_bimi,
        dkim::check(resolver, &domain, &options.dkim_selectors),
        tlsrpt::check(resolver, &domain),
    );
    let mut checks = vec![mx, spf, dmarc, dkim, mtasts, tlsrpt, bimi];
    checks.sort_by_key(|c| CheckKind::ALL.iter().position(|k| *k == c.check));
    PostureReport {
        queries: checks.iter().map(|c| c.queries).sum(),
        domain,
        checked_at: options.checked_at,
        checks,
    }
}

/// The MX host names from the MX check's `details.hosts`, most preferred first.
fn mx_hosts(report: &CheckReport) -> Vec<String> {
    report.details["hosts"]
        .as_array()
        .map(|hosts| {
            hosts
                .iter()
                .filter_map(|h| h["host"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
