//! `client`: a client of an MSP (its tenant key is its own id).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "client")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub name: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::rows::Client {
    fn from(m: Model) -> Self {
        Self {
            id: postern_domain::ClientId::from_uuid(m.id),
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            name: m.name,
            created_at: m.created_at,
        }
    }
}
