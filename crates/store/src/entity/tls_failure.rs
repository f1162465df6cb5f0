//! `tls_failure`: one failure-details entry of a TLS policy block.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tls_failure")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub policy_id: Uuid,
    pub report_id: Uuid,
    pub seq: i64,
    pub msp_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub result_type: String,
    pub sending_mta_ip: Option<String>,
    pub receiving_mx_hostname: Option<String>,
    pub receiving_mx_helo: Option<String>,
    pub receiving_ip: Option<String>,
    pub failed_session_count: i64,
    pub additional_information: Option<String>,
    pub failure_reason_code: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use crate::entity::{Owner, count, opt_ip, uncount};
use crate::error::StoreError;
use postern_domain::TlsFailureDetail;

impl Model {
    pub(crate) fn new(
        policy: &super::tls_policy::Model,
        seq: u64,
        owner: Owner,
        f: &TlsFailureDetail,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            id: Uuid::now_v7(),
            policy_id: policy.id,
            report_id: policy.report_id,
            seq: count("failure number", seq)?,
            msp_id: owner.msp_id,
            client_id: owner.client_id,
            result_type: f.result_type.clone(),
            sending_mta_ip: f.sending_mta_ip.map(|ip| ip.to_string()),
            receiving_mx_hostname: f.receiving_mx_hostname.clone(),
            receiving_mx_helo: f.receiving_mx_helo.clone(),
            receiving_ip: f.receiving_ip.map(|ip| ip.to_string()),
            failed_session_count: count("failed sessions", f.failed_session_count)?,
            additional_information: f.additional_information.clone(),
            failure_reason_code: f.failure_reason_code.clone(),
        })
    }

    pub(crate) fn into_detail(self) -> Result<TlsFailureDetail, StoreError> {
        Ok(TlsFailureDetail {
            result_type: self.result_type,
            sending_mta_ip: opt_ip("sending mta ip", self.sending_mta_ip.as_deref())?,
            receiving_mx_hostname: self.receiving_mx_hostname,
            receiving_mx_helo: self.receiving_mx_helo,
            receiving_ip: opt_ip("receiving ip", self.receiving_ip.as_deref())?,
            failed_session_count: uncount(self.failed_session_count),
            additional_information: self.additional_information,
            failure_reason_code: self.failure_reason_code,
        })
    }
}
