//! `notify_delivery`: the delivery log and retry queue; unique per (channel_id, dedup_key).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notify_delivery")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Option<Uuid>,
    pub channel_id: Uuid,
    pub kind: String,
    pub dedup_key: String,
    pub issue_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub event_kind: Option<String>,
    pub code: Option<String>,
    pub severity: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub response_code: Option<i32>,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use crate::entity::{opt_word, word};
use crate::rows::notify::{ChannelId, Delivery, DeliveryId, DeliveryKind, DeliveryStatus};
use postern_domain::{ClientId, EventId, IssueId, MspId, Severity};

impl TryFrom<Model> for Delivery {
    type Error = crate::error::StoreError;
    fn try_from(m: Model) -> Result<Self, Self::Error> {
        Ok(Self {
            id: DeliveryId::from_uuid(m.id),
            msp_id: MspId::from_uuid(m.msp_id),
            client_id: m.client_id.map(ClientId::from_uuid),
            channel_id: ChannelId::from_uuid(m.channel_id),
            kind: word("delivery kind", &m.kind, DeliveryKind::parse)?,
            issue_id: m.issue_id.map(IssueId::from_uuid),
            event_id: m.event_id.map(EventId::from_uuid),
            event_kind: m.event_kind,
            code: m.code,
            severity: opt_word("delivery severity", m.severity.as_deref(), Severity::parse)?,
            status: word("delivery status", &m.status, DeliveryStatus::parse)?,
            attempts: u32::try_from(m.attempts).unwrap_or_default(),
            last_error: m.last_error,
            response_code: m.response_code.and_then(|c| u16::try_from(c).ok()),
            created_at: m.created_at,
            updated_at: m.updated_at,
            next_attempt_at: m.next_attempt_at,
            delivered_at: m.delivered_at,
        })
    }
}
