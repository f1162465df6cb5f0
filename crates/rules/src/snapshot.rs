//! Building [`DomainFacts`] straight from parsed reports: for the plugin author's loop and
//! for tests over the report corpora. (Analysis builds facts from the store's aggregates.)

use std::collections::HashMap;
use std::net::IpAddr;

use postern_domain::{AggregateHeader, AggregateRecord, Disposition, DmarcResult, TlsReport};

use crate::facts::{DomainFacts, PublishedPolicy, SourceFacts, TlsFailure, TlsSummary};

/// Accumulates aggregate and TLS reports of one domain into a facts snapshot.
#[derive(Clone, Debug)]
pub struct FactsBuilder {
    facts: DomainFacts,
    sources: HashMap<IpAddr, SourceFacts>,
    /// `date_end` of the report the policy came from.
    policy_at: i64,
    tls_failures: HashMap<String, u64>,
}

impl FactsBuilder {
    /// An empty snapshot of `domain` (lower case) evaluated at `now` (unix seconds).
    pub fn new(domain: &str, now: i64) -> Self {
        Self {
            facts: DomainFacts {
                domain: domain.to_ascii_lowercase(),
                now,
                window_start: i64::MAX,
                window_end: i64::MIN,
                ..DomainFacts::default()
            },
            sources: HashMap::new(),
            policy_at: i64::MIN,
            tls_failures: HashMap::new(),
        }
    }

    /// Adds an aggregate report: counts, sources, and its published policy if it is the
    /// newest so far. Reports about other domains are ignored.
    pub fn add_aggregate(&mut self, header: &AggregateHeader, records: &[AggregateRecord]) {
        if !header
            .policy
            .domain
            .eq_ignore_ascii_case(&self.facts.domain)
        {
            return;
        }
        let begin = header.date_begin.timestamp();
        let end = header.date_end.timestamp();
        self.widen(begin, end);
        if end >= self.policy_at
            && let Some(p) = header.policy.p
        {
            self.policy_at = end;
            let pol = &header.policy;
            self.facts.policy = Some(PublishedPolicy {
                p: p.as_str().to_owned(),
                sp: pol.sp.map(|v| v.as_str().to_owned()),
                np: pol.np.map(|v| v.as_str().to_owned()),
                pct: pol.pct,
                adkim: pol.adkim.map_or("r", |a| a.as_str()).to_owned(),
                aspf: pol.aspf.map_or("r", |a| a.as_str()).to_owned(),
                testing: pol.testing.map(|t| if t { "y" } else { "n" }.to_owned()),
            });
        }
        let d = &mut self.facts.dmarc;
        for r in records {
            let spf = u64::from(r.spf == Some(DmarcResult::Pass)) * r.count;
            let dkim = u64::from(r.dkim == Some(DmarcResult::Pass)) * r.count;
            let pass = if spf > 0 || dkim > 0 { r.count } else { 0 };
            d.messages += r.count;
            d.dmarc_pass += pass;
            d.dmarc_fail += r.count - pass;
            d.spf_aligned_pass += spf;
            d.dkim_aligned_pass += dkim;
            match r.disposition {
                Disposition::None => d.disposition_none += r.count,
                Disposition::Quarantine => d.disposition_quarantine += r.count,
                Disposition::Reject => d.disposition_reject += r.count,
                Disposition::Pass => d.disposition_pass += r.count,
            }
            let s = self.sources.entry(r.source_ip).or_insert(SourceFacts {
                ip: r.source_ip,
                messages: 0,
                dmarc_pass: 0,
                spf_aligned_pass: 0,
                dkim_aligned_pass: 0,
                first_seen: begin,
                last_seen: end,
                reverse_dns: None,
            });
            s.messages += r.count;
            s.dmarc_pass += pass;
            s.spf_aligned_pass += spf;
            s.dkim_aligned_pass += dkim;
            s.first_seen = s.first_seen.min(begin);
            s.last_seen = s.last_seen.max(end);
        }
    }

    /// Adds the policies of a TLS report that are about this domain.
    pub fn add_tls(&mut self, report: &TlsReport) {
        for policy in &report.policies {
            if !policy
                .policy_domain
                .eq_ignore_ascii_case(&self.facts.domain)
            {
                continue;
            }
            self.widen(report.date_begin.timestamp(), report.date_end.timestamp());
            let tls = self.facts.tls.get_or_insert_with(TlsSummary::default);
            tls.successful += policy.total_successful_session_count;
            tls.failed += policy.total_failure_session_count;
            for detail in &policy.failure_details {
                *self
                    .tls_failures
                    .entry(detail.result_type.clone())
                    .or_default() += detail.failed_session_count;
            }
        }
    }

    /// The snapshot: sources by messages (most first), TLS failures by sessions.
    pub fn build(mut self) -> DomainFacts {
        if self.facts.window_start > self.facts.window_end {
            self.facts.window_start = self.facts.now;
            self.facts.window_end = self.facts.now;
        }
        let mut sources: Vec<SourceFacts> = self.sources.into_values().collect();
        sources.sort_by(|a, b| b.messages.cmp(&a.messages).then(a.ip.cmp(&b.ip)));
        self.facts.sources = sources;
        if let Some(tls) = &mut self.facts.tls {
            let mut failures: Vec<TlsFailure> = self
                .tls_failures
                .into_iter()
                .map(|(result_type, sessions)| TlsFailure {
                    result_type,
                    sessions,
                })
                .collect();
            failures.sort_by(|a, b| {
                b.sessions
                    .cmp(&a.sessions)
                    .then(a.result_type.cmp(&b.result_type))
            });
            tls.failures = failures;
        }
        self.facts
    }

    fn widen(&mut self, begin: i64, end: i64) {
        self.facts.window_start = self.facts.window_start.min(begin);
        self.facts.window_end = self.facts.window_end.max(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_without_reports_has_an_empty_window_at_now_and_no_policy() {
        let facts = FactsBuilder::new("Example.COM", 1_000).build();
        assert_eq!(facts.domain, "example.com");
        assert_eq!((facts.window_start, facts.window_end), (1_000, 1_000));
        assert_eq!(facts.policy, None);
        assert_eq!(facts.tls, None);
        assert!(facts.sources.is_empty());
    }
}
