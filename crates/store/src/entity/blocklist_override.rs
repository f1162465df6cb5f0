//! `blocklist_override`: one MSP's change to one list of the blocklist catalogue; unique
//! per (msp_id, list_id), `client_id` always NULL.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "blocklist_override")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    /// Always NULL: an override belongs to its whole MSP.
    pub client_id: Option<Uuid>,
    pub list_id: String,
    pub enabled: Option<bool>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub patch: Option<Json>,
    pub list_key: Option<String>,
    pub updated_by: Option<Uuid>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::rows::BlocklistOverride {
    fn from(m: Model) -> Self {
        Self {
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            list_id: m.list_id,
            enabled: m.enabled,
            patch: m.patch,
            has_key: m.list_key.is_some(),
            updated_by: m.updated_by.map(postern_domain::UserId::from_uuid),
            updated_at: m.updated_at,
        }
    }
}
