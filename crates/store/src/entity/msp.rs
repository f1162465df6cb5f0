//! `msp`: the top of the tenancy tree.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "msp")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub operator: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::rows::Msp {
    fn from(m: Model) -> Self {
        Self {
            id: postern_domain::MspId::from_uuid(m.id),
            name: m.name,
            operator: m.operator,
            created_at: m.created_at,
        }
    }
}
