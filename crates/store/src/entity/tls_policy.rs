//! `tls_policy`: one policy block of an SMTP TLS report.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tls_policy")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub report_id: Uuid,
    pub seq: i64,
    pub msp_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub policy_type: String,
    pub policy_domain: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub policy_strings: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub mx_hosts: Json,
    pub successful: i64,
    pub failed: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use crate::entity::{Owner, count, from_json, to_json, uncount, word};
use crate::error::StoreError;
use postern_domain::{TlsFailureDetail, TlsPolicy, TlsPolicyType};

impl Model {
    pub(crate) fn new(
        report_id: Uuid,
        seq: u64,
        owner: Owner,
        p: &TlsPolicy,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            id: Uuid::now_v7(),
            report_id,
            seq: count("policy number", seq)?,
            msp_id: owner.msp_id,
            client_id: owner.client_id,
            policy_type: p.policy_type.as_str().to_owned(),
            policy_domain: p.policy_domain.clone(),
            policy_strings: to_json("policy strings", &p.policy_string)?,
            mx_hosts: to_json("mx hosts", &p.mx_host)?,
            successful: count("successful sessions", p.total_successful_session_count)?,
            failed: count("failed sessions", p.total_failure_session_count)?,
        })
    }

    pub(crate) fn into_policy(
        self,
        failure_details: Vec<TlsFailureDetail>,
    ) -> Result<TlsPolicy, StoreError> {
        Ok(TlsPolicy {
            policy_type: word("policy type", &self.policy_type, TlsPolicyType::parse)?,
            policy_string: from_json("policy strings", self.policy_strings)?,
            policy_domain: self.policy_domain,
            mx_host: from_json("mx hosts", self.mx_hosts)?,
            total_successful_session_count: uncount(self.successful),
            total_failure_session_count: uncount(self.failed),
            failure_details,
        })
    }
}
