//! `plugin_failure`: a `plugin_failed` record, one failed evaluation of a rule on a domain.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "plugin_failure")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Uuid,
    pub domain_id: Uuid,
    pub rule_id: String,
    pub kind: String,
    pub reason: String,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::rows::PluginFailureRecord {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            client_id: postern_domain::ClientId::from_uuid(m.client_id),
            domain_id: postern_domain::DomainId::from_uuid(m.domain_id),
            rule_id: m.rule_id,
            kind: m.kind,
            reason: m.reason,
            occurred_at: m.occurred_at,
        }
    }
}
