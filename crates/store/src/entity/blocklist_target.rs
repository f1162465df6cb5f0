//! `blocklist_target`: an IP address or domain a client watches on blocklists; unique per
//! (client_id, value).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "blocklist_target")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Uuid,
    pub kind: String,
    pub value: String,
    pub note: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl TryFrom<Model> for crate::rows::BlocklistTarget {
    type Error = crate::error::StoreError;
    fn try_from(m: Model) -> Result<Self, Self::Error> {
        Ok(Self {
            id: m.id,
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            client_id: postern_domain::ClientId::from_uuid(m.client_id),
            kind: crate::entity::word(
                "blocklist target kind",
                &m.kind,
                crate::rows::BlocklistTargetKind::parse,
            )?,
            value: m.value,
            note: m.note,
            created_at: m.created_at,
        })
    }
}
