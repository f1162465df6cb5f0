//! `blocklist_state`: the latest verdict of one list on one target; unique per
//! (target_id, list_id).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "blocklist_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Uuid,
    pub target_id: Uuid,
    pub list_id: String,
    pub state: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub detail: Json,
    pub since: DateTimeUtc,
    pub checked_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl TryFrom<Model> for crate::rows::BlocklistState {
    type Error = crate::error::StoreError;
    fn try_from(m: Model) -> Result<Self, Self::Error> {
        Ok(Self {
            target_id: m.target_id,
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            client_id: postern_domain::ClientId::from_uuid(m.client_id),
            list_id: m.list_id,
            verdict: crate::entity::word(
                "blocklist verdict",
                &m.state,
                crate::rows::BlocklistVerdict::parse,
            )?,
            detail: m.detail,
            since: m.since,
            checked_at: m.checked_at,
        })
    }
}
