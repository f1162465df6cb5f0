//! `failure_report`: a DMARC failure report (RFC 6591 / RFC 9991).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "failure_report")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub report_id: Uuid,
    pub msp_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub feedback_type: String,
    pub user_agent: Option<String>,
    pub version: Option<String>,
    pub arrival_date: Option<DateTimeUtc>,
    pub source_ip: Option<String>,
    pub original_mail_from: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub original_rcpt_to: Json,
    pub reported_domain: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub auth_failure: Json,
    pub delivery_result: Option<String>,
    pub dkim_domain: Option<String>,
    pub dkim_selector: Option<String>,
    pub dkim_identity: Option<String>,
    pub spf_dns: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub authentication_results: Json,
    pub identity_alignment: Option<String>,
    pub reporter: Option<String>,
    pub original_subject: Option<String>,
    pub original_message_id: Option<String>,
    pub original_headers: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use crate::entity::{Owner, from_json, opt_ip, to_json};
use crate::error::StoreError;
use postern_domain::FailureReport;

impl Model {
    pub(crate) fn new(
        report_id: Uuid,
        owner: Owner,
        r: &FailureReport,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            report_id,
            msp_id: owner.msp_id,
            client_id: owner.client_id,
            feedback_type: r.feedback_type.clone(),
            user_agent: r.user_agent.clone(),
            version: r.version.clone(),
            arrival_date: r.arrival_date,
            source_ip: r.source_ip.map(|ip| ip.to_string()),
            original_mail_from: r.original_mail_from.clone(),
            original_rcpt_to: to_json("original rcpt to", &r.original_rcpt_to)?,
            reported_domain: r.reported_domain.clone(),
            auth_failure: to_json("auth failure", &r.auth_failure)?,
            delivery_result: r.delivery_result.clone(),
            dkim_domain: r.dkim_domain.clone(),
            dkim_selector: r.dkim_selector.clone(),
            dkim_identity: r.dkim_identity.clone(),
            spf_dns: r.spf_dns.clone(),
            authentication_results: to_json("authentication results", &r.authentication_results)?,
            identity_alignment: r.identity_alignment.clone(),
            reporter: r.reporter.clone(),
            original_subject: r.original_subject.clone(),
            original_message_id: r.original_message_id.clone(),
            original_headers: r.original_headers.clone(),
        })
    }

    pub(crate) fn into_report(self) -> Result<FailureReport, StoreError> {
        Ok(FailureReport {
            feedback_type: self.feedback_type,
            user_agent: self.user_agent,
            version: self.version,
            arrival_date: self.arrival_date,
            source_ip: opt_ip("source ip", self.source_ip.as_deref())?,
            original_mail_from: self.original_mail_from,
            original_rcpt_to: from_json("original rcpt to", self.original_rcpt_to)?,
            reported_domain: self.reported_domain,
            auth_failure: from_json("auth failure", self.auth_failure)?,
            delivery_result: self.delivery_result,
            dkim_domain: self.dkim_domain,
            dkim_selector: self.dkim_selector,
            dkim_identity: self.dkim_identity,
            spf_dns: self.spf_dns,
            authentication_results: from_json(
                "authentication results",
                self.authentication_results,
            )?,
            identity_alignment: self.identity_alignment,
            reporter: self.reporter,
            original_subject: self.original_subject,
            original_message_id: self.original_message_id,
            original_headers: self.original_headers,
        })
    }
}
