//! `send_volume`: delivery outcomes per (client, sender domain, day, provider).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "send_volume")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sender_domain: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider: String,
    pub msp_id: Uuid,
    pub delivered: i64,
    pub deferred: i64,
    pub bounced: i64,
    pub complaints: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::rows::SendVolume {
    fn from(m: Model) -> Self {
        use crate::entity::uncount;
        Self {
            client_id: postern_domain::ClientId::from_uuid(m.client_id),
            sender_domain: m.sender_domain,
            day: m.day,
            provider: m.provider,
            delivered: uncount(m.delivered),
            deferred: uncount(m.deferred),
            bounced: uncount(m.bounced),
            complaints: uncount(m.complaints),
        }
    }
}
