//! `domain_daily`: a domain's message counts per day (maintained by analysis).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "domain_daily")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub domain_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    pub msp_id: Uuid,
    pub client_id: Uuid,
    pub messages: i64,
    pub dmarc_pass: i64,
    pub dmarc_fail: i64,
    pub spf_aligned_pass: i64,
    pub dkim_aligned_pass: i64,
    pub disposition_none: i64,
    pub disposition_quarantine: i64,
    pub disposition_reject: i64,
    pub disposition_pass: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use crate::entity::uncount;
use crate::rows::DailySummary;

/// The counters, in column order.
pub(crate) const COUNTERS: [&str; 9] = [
    "messages",
    "dmarc_pass",
    "dmarc_fail",
    "spf_aligned_pass",
    "dkim_aligned_pass",
    "disposition_none",
    "disposition_quarantine",
    "disposition_reject",
    "disposition_pass",
];

/// The counters of a summary, in [`COUNTERS`] order.
pub(crate) fn counters(s: &DailySummary) -> [u64; 9] {
    [
        s.messages,
        s.dmarc_pass,
        s.dmarc_fail,
        s.spf_aligned_pass,
        s.dkim_aligned_pass,
        s.disposition_none,
        s.disposition_quarantine,
        s.disposition_reject,
        s.disposition_pass,
    ]
}

/// A summary from counters in [`COUNTERS`] order.
pub(crate) fn summary(c: [i64; 9]) -> DailySummary {
    DailySummary {
        messages: uncount(c[0]),
        dmarc_pass: uncount(c[1]),
        dmarc_fail: uncount(c[2]),
        spf_aligned_pass: uncount(c[3]),
        dkim_aligned_pass: uncount(c[4]),
        disposition_none: uncount(c[5]),
        disposition_quarantine: uncount(c[6]),
        disposition_reject: uncount(c[7]),
        disposition_pass: uncount(c[8]),
    }
}

impl From<Model> for crate::rows::DaySummary {
    fn from(m: Model) -> Self {
        Self {
            day: m.day,
            summary: summary([
                m.messages,
                m.dmarc_pass,
                m.dmarc_fail,
                m.spf_aligned_pass,
                m.dkim_aligned_pass,
                m.disposition_none,
                m.disposition_quarantine,
                m.disposition_reject,
                m.disposition_pass,
            ]),
        }
    }
}
