//! `notify_route`: which issue events of an MSP (or one client) go to a channel, and how.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notify_route")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Option<Uuid>,
    pub channel_id: Uuid,
    pub min_severity: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub codes: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub event_kinds: Json,
    pub mode: String,
    pub quiet_period_secs: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use crate::entity::{from_json, word};
use crate::rows::notify::{ChannelId, NotifyMode, Route, RouteId};
use postern_domain::{ClientId, MspId, Severity};

impl TryFrom<Model> for Route {
    type Error = crate::error::StoreError;
    fn try_from(m: Model) -> Result<Self, Self::Error> {
        Ok(Self {
            id: RouteId::from_uuid(m.id),
            msp_id: MspId::from_uuid(m.msp_id),
            client_id: m.client_id.map(ClientId::from_uuid),
            channel_id: ChannelId::from_uuid(m.channel_id),
            min_severity: word("route severity", &m.min_severity, Severity::parse)?,
            codes: from_json("route codes", m.codes)?,
            event_kinds: from_json("route event kinds", m.event_kinds)?,
            mode: word("route mode", &m.mode, NotifyMode::parse)?,
            quiet_period_secs: m.quiet_period_secs.map(crate::entity::uncount),
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}
