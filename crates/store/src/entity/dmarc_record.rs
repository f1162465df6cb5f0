//! `dmarc_record`: one record of a DMARC aggregate report; `seq` keeps report order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dmarc_record")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub report_id: Uuid,
    pub seq: i64,
    pub msp_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub source_ip: String,
    pub count: i64,
    pub disposition: String,
    pub dkim: Option<String>,
    pub spf: Option<String>,
    pub header_from: String,
    pub envelope_from: Option<String>,
    pub envelope_to: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub reasons: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub dkim_results: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub spf_results: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use crate::entity::{Owner, count, from_json, ip, opt_word, to_json, uncount, word};
use crate::error::StoreError;
use postern_domain::{AggregateRecord, Disposition, DmarcResult};

/// Columns bound per inserted record (for chunking under the bind-parameter limits).
pub(crate) const COLUMNS: usize = 16;

impl Model {
    pub(crate) fn new(
        report_id: Uuid,
        seq: u64,
        owner: Owner,
        r: &AggregateRecord,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            id: Uuid::now_v7(),
            report_id,
            seq: count("record number", seq)?,
            msp_id: owner.msp_id,
            client_id: owner.client_id,
            source_ip: r.source_ip.to_string(),
            count: count("record count", r.count)?,
            disposition: r.disposition.as_str().to_owned(),
            dkim: r.dkim.map(|v| v.as_str().to_owned()),
            spf: r.spf.map(|v| v.as_str().to_owned()),
            header_from: r.header_from.clone(),
            envelope_from: r.envelope_from.clone(),
            envelope_to: r.envelope_to.clone(),
            reasons: to_json("reasons", &r.reasons)?,
            dkim_results: to_json("dkim results", &r.dkim_results)?,
            spf_results: to_json("spf results", &r.spf_results)?,
        })
    }

    pub(crate) fn into_record(self) -> Result<AggregateRecord, StoreError> {
        Ok(AggregateRecord {
            source_ip: ip("source ip", &self.source_ip)?,
            count: uncount(self.count),
            disposition: word("disposition", &self.disposition, Disposition::parse)?,
            dkim: opt_word("dkim", self.dkim.as_deref(), DmarcResult::parse)?,
            spf: opt_word("spf", self.spf.as_deref(), DmarcResult::parse)?,
            reasons: from_json("reasons", self.reasons)?,
            header_from: self.header_from,
            envelope_from: self.envelope_from,
            envelope_to: self.envelope_to,
            dkim_results: from_json("dkim results", self.dkim_results)?,
            spf_results: from_json("spf results", self.spf_results)?,
        })
    }
}
