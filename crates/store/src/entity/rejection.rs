//! `rejection`: a rejected input part with its reason; may belong to nobody yet.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "rejection")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub raw_input_id: Uuid,
    pub msp_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub domain: Option<String>,
    pub source: String,
    pub location: String,
    pub reason: String,
    pub detail: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::rows::Rejection {
    fn from(m: Model) -> Self {
        Self {
            id: postern_domain::RejectionId::from_uuid(m.id),
            raw_input_id: postern_domain::RawInputId::from_uuid(m.raw_input_id),
            msp_id: m.msp_id.map(postern_domain::MspId::from_uuid),
            client_id: m.client_id.map(postern_domain::ClientId::from_uuid),
            domain: m.domain,
            source: m.source,
            location: m.location,
            reason: m.reason,
            detail: m.detail,
            created_at: m.created_at,
        }
    }
}
