//! `app_user`: a person who logs in (not a tenant row: memberships are).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "app_user")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::rows::User {
    fn from(m: Model) -> Self {
        Self {
            id: postern_domain::UserId::from_uuid(m.id),
            email: m.email,
            display_name: m.display_name,
            created_at: m.created_at,
            disabled: m.disabled,
        }
    }
}
