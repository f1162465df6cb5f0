//! `membership`: a user's role in an MSP or one of its clients.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "membership")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Option<Uuid>,
    pub role: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl TryFrom<Model> for crate::rows::Membership {
    type Error = crate::error::StoreError;
    fn try_from(m: Model) -> Result<Self, Self::Error> {
        Ok(Self {
            id: m.id,
            user_id: postern_domain::UserId::from_uuid(m.user_id),
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            client_id: m.client_id.map(postern_domain::ClientId::from_uuid),
            role: postern_domain::Role::parse(&m.role)
                .map_err(|e| crate::error::corrupt("role", e))?,
        })
    }
}
