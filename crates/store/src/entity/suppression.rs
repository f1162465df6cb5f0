//! `suppression`: one address of a client's suppression list (active while not restored).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "suppression")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Uuid,
    pub address: String,
    pub reason: String,
    pub source_bounce_id: Option<Uuid>,
    pub suppressed_at: DateTimeUtc,
    pub suppressed_by: Option<Uuid>,
    pub restored_at: Option<DateTimeUtc>,
    pub restored_by: Option<Uuid>,
    pub restore_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::rows::Suppression {
    fn from(m: Model) -> Self {
        use postern_domain::{ClientId, MspId, UserId};
        Self {
            id: m.id,
            msp_id: MspId::from_uuid(m.msp_id),
            client_id: ClientId::from_uuid(m.client_id),
            address: m.address,
            reason: m.reason,
            source_bounce_id: m.source_bounce_id,
            suppressed_at: m.suppressed_at,
            suppressed_by: m.suppressed_by.map(UserId::from_uuid),
            restored_at: m.restored_at,
            restored_by: m.restored_by.map(UserId::from_uuid),
            restore_reason: m.restore_reason,
        }
    }
}
