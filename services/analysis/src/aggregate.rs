//! Pure folding of aggregate records into daily and per-source deltas.

use chrono::{DateTime, NaiveDate, Utc};
use postern_domain::{AggregateRecord, Disposition, DmarcResult};
use postern_store::{DailySummary, SourceDelta};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The deltas one report adds to its domain's counters.
#[derive(Debug, Default, PartialEq)]
pub struct ReportAggregates {
    pub days: BTreeMap<NaiveDate, DailySummary>,
    pub sources: BTreeMap<(NaiveDate, IpAddr), SourceDelta>,
}

impl ReportAggregates {
    pub fn days(&self) -> Vec<(NaiveDate, DailySummary)> {
        self.days.iter().map(|(d, s)| (*d, *s)).collect()
    }

    pub fn sources(&self) -> Vec<(NaiveDate, IpAddr, SourceDelta)> {
        self.sources
            .iter()
            .map(|((d, ip), s)| (*d, *ip, *s))
            .collect()
    }
}

/// Adds `records` of a report covering `[begin, end]` to `into`. A report is counted on
/// the UTC day its period begins (as parsedmarc and most viewers do).
pub fn aggregate_records(
    into: &mut ReportAggregates,
    begin: DateTime<Utc>,
    end: DateTime<Utc>,
    records: &[AggregateRecord],
) {
    let day = begin.date_naive();
    for record in records {
        let n = record.count;
        let pass = record.dmarc_pass();
        let spf = record.spf == Some(DmarcResult::Pass);
        let dkim = record.dkim == Some(DmarcResult::Pass);
        let summary = into.days.entry(day).or_default();
        summary.messages += n;
        if pass {
            summary.dmarc_pass += n;
        } else {
            summary.dmarc_fail += n;
        }
        if spf {
            summary.spf_aligned_pass += n;
        }
        if dkim {
            summary.dkim_aligned_pass += n;
        }
        match record.disposition {
            Disposition::None => summary.disposition_none += n,
            Disposition::Quarantine => summary.disposition_quarantine += n,
            Disposition::Reject => summary.disposition_reject += n,
            Disposition::Pass => summary.disposition_pass += n,
        }
        let source = into
            .sources
            .entry((day, record.source_ip))
            .or_insert_with(|| SourceDelta {
                messages: 0,
                dmarc_pass: 0,
                spf_aligned_pass: 0,
                dkim_aligned_pass: 0,
                first_seen: begin,
                last_seen: end,
            });
        source.messages += n;
        if pass {
            source.dmarc_pass += n;
        }
        if spf {
            source.spf_aligned_pass += n;
        }
        if dkim {
            source.dkim_aligned_pass += n;
        }
        source.first_seen = source.first_seen.min(begin);
        source.last_seen = source.last_seen.max(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record(
        ip: &str,
        count: u64,
        dkim: DmarcResult,
        spf: DmarcResult,
        d: Disposition,
    ) -> AggregateRecord {
        AggregateRecord {
            source_ip: ip.parse().unwrap(),
            count,
            disposition: d,
            dkim: Some(dkim),
            spf: Some(spf),
            reasons: vec![],
            header_from: "example.com".into(),
            envelope_from: None,
            envelope_to: None,
            dkim_results: vec![],
            spf_results: vec![],
        }
    }

    #[test]
    fn counts_pass_fail_alignment_and_disposition_by_day_and_source() {
        let begin = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 3, 1, 23, 59, 59).unwrap();
        let mut agg = ReportAggregates::default();
        aggregate_records(
            &mut agg,
            begin,
            end,
            &[
                record(
                    "192.0.2.1",
                    10,
                    DmarcResult::Pass,
                    DmarcResult::Fail,
                    Disposition::None,
                ),
                record(
                    "192.0.2.1",
                    5,
                    DmarcResult::Fail,
                    DmarcResult::Pass,
                    Disposition::None,
                ),
                record(
                    "198.51.100.7",
                    3,
                    DmarcResult::Fail,
                    DmarcResult::Fail,
                    Disposition::Reject,
                ),
            ],
        );
        let day = agg.days[&begin.date_naive()];
        assert_eq!(day.messages, 18);
        assert_eq!(day.dmarc_pass, 15);
        assert_eq!(day.dmarc_fail, 3);
        assert_eq!(day.dkim_aligned_pass, 10);
        assert_eq!(day.spf_aligned_pass, 5);
        assert_eq!(day.disposition_none, 15);
        assert_eq!(day.disposition_reject, 3);
        let src = &agg.sources[&(begin.date_naive(), "192.0.2.1".parse().unwrap())];
        assert_eq!((src.messages, src.dmarc_pass), (15, 15));
        assert_eq!(agg.sources.len(), 2);
    }
}
