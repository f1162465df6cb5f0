//! `dmarc_aggregate`: the header and published policy of a DMARC aggregate report.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dmarc_aggregate")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub report_id: Uuid,
    pub msp_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub schema: String,
    pub version: Option<String>,
    pub org_email: Option<String>,
    pub extra_contact_info: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub errors: Json,
    pub generator: Option<String>,
    pub policy_domain: String,
    pub adkim: Option<String>,
    pub aspf: Option<String>,
    pub p: Option<String>,
    pub sp: Option<String>,
    pub np: Option<String>,
    pub pct: Option<i32>,
    pub fo: Option<String>,
    pub testing: Option<bool>,
    pub discovery_method: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use crate::entity::{Owner, from_json, opt_word, to_json, word};
use crate::error::StoreError;
use postern_domain::{
    AggregateHeader, AggregateSchema, Alignment, DiscoveryMethod, PolicyPublished, RequestedPolicy,
};

impl Model {
    pub(crate) fn new(
        report_id: Uuid,
        owner: Owner,
        h: &AggregateHeader,
    ) -> Result<Self, StoreError> {
        let p = &h.policy;
        Ok(Self {
            report_id,
            msp_id: owner.msp_id,
            client_id: owner.client_id,
            schema: h.schema.as_str().to_owned(),
            version: h.version.clone(),
            org_email: h.org_email.clone(),
            extra_contact_info: h.extra_contact_info.clone(),
            errors: to_json("errors", &h.errors)?,
            generator: h.generator.clone(),
            policy_domain: p.domain.clone(),
            adkim: p.adkim.map(|v| v.as_str().to_owned()),
            aspf: p.aspf.map(|v| v.as_str().to_owned()),
            p: p.p.map(|v| v.as_str().to_owned()),
            sp: p.sp.map(|v| v.as_str().to_owned()),
            np: p.np.map(|v| v.as_str().to_owned()),
            pct: p.pct.map(i32::from),
            fo: p.fo.clone(),
            testing: p.testing,
            discovery_method: p.discovery_method.map(|v| v.as_str().to_owned()),
        })
    }

    /// The header as parsed, from this row and its report row.
    pub(crate) fn into_header(
        self,
        report: &super::report::Model,
    ) -> Result<AggregateHeader, StoreError> {
        Ok(AggregateHeader {
            schema: word("schema", &self.schema, AggregateSchema::parse)?,
            version: self.version,
            org_name: report.org_name.clone(),
            org_email: self.org_email,
            extra_contact_info: self.extra_contact_info,
            report_id: report.external_id.clone(),
            date_begin: report.date_begin,
            date_end: report.date_end,
            errors: from_json("errors", self.errors)?,
            generator: self.generator,
            policy: PolicyPublished {
                domain: self.policy_domain,
                adkim: opt_word("adkim", self.adkim.as_deref(), Alignment::parse)?,
                aspf: opt_word("aspf", self.aspf.as_deref(), Alignment::parse)?,
                p: opt_word("p", self.p.as_deref(), RequestedPolicy::parse)?,
                sp: opt_word("sp", self.sp.as_deref(), RequestedPolicy::parse)?,
                np: opt_word("np", self.np.as_deref(), RequestedPolicy::parse)?,
                pct: self.pct.and_then(|v| u8::try_from(v).ok()),
                fo: self.fo,
                testing: self.testing,
                discovery_method: opt_word(
                    "discovery_method",
                    self.discovery_method.as_deref(),
                    DiscoveryMethod::parse,
                )?,
            },
        })
    }
}
