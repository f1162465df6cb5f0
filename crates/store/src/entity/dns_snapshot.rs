//! `dns_snapshot`: one DNS posture check run of a domain.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dns_snapshot")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Uuid,
    pub domain_id: Uuid,
    pub checked_at: DateTimeUtc,
    pub summary: Json,
    pub report: Json,
    pub changes: Json,
    pub queries: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl TryFrom<Model> for crate::rows::DnsSnapshot {
    type Error = crate::error::StoreError;

    fn try_from(m: Model) -> Result<Self, Self::Error> {
        Ok(Self {
            id: m.id,
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            client_id: postern_domain::ClientId::from_uuid(m.client_id),
            domain_id: postern_domain::DomainId::from_uuid(m.domain_id),
            checked_at: m.checked_at,
            summary: super::from_json("dns snapshot summary", m.summary)?,
            report: m.report,
            changes: m.changes,
            queries: u32::try_from(m.queries).unwrap_or(u32::MAX),
        })
    }
}
