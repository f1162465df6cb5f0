//! `rule_setting`: a rule switched on or off for a whole MSP (`client_id` NULL) or one
//! client; unique per (msp_id, client_id, rule_id) through two partial indexes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "rule_setting")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Option<Uuid>,
    pub rule_id: String,
    pub enabled: bool,
    pub updated_by: Option<Uuid>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::rows::RuleSetting {
    fn from(m: Model) -> Self {
        Self {
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            client_id: m.client_id.map(postern_domain::ClientId::from_uuid),
            rule_id: m.rule_id,
            enabled: m.enabled,
            updated_by: m.updated_by.map(postern_domain::UserId::from_uuid),
            updated_at: m.updated_at,
        }
    }
}
