//! `blocklist_listing`: one period during which a list listed a target; open (`until`
//! NULL) while it still does.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "blocklist_listing")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Uuid,
    pub target_id: Uuid,
    pub list_id: String,
    pub since: DateTimeUtc,
    pub until: Option<DateTimeUtc>,
    #[sea_orm(column_type = "JsonBinary")]
    pub detail: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::rows::BlocklistListing {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            client_id: postern_domain::ClientId::from_uuid(m.client_id),
            target_id: m.target_id,
            list_id: m.list_id,
            since: m.since,
            until: m.until,
            detail: m.detail,
        }
    }
}
