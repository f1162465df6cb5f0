//! `bounce`: one bounced, deferred or complained-about recipient; may belong to nobody yet.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bounce")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub raw_input_id: Uuid,
    pub unassigned_reason: Option<String>,
    pub domain_id: Option<Uuid>,
    pub kind: String,
    pub recipient: String,
    pub recipient_domain: String,
    pub status: Option<String>,
    pub reply_code: Option<i32>,
    pub diagnostic: String,
    pub remote_host: Option<String>,
    pub reporting_mta: Option<String>,
    pub time: DateTimeUtc,
    pub original_message_id: Option<String>,
    pub sending_ip: Option<String>,
    pub command: Option<String>,
    pub action: Option<String>,
    pub evidence: Option<String>,
    pub feedback_type: Option<String>,
    pub hard: bool,
    pub reason: String,
    pub provider: String,
    pub provider_event_id: Option<String>,
    pub campaign: Option<String>,
    pub sender_domain: Option<String>,
    pub dedup_key: String,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl TryFrom<Model> for crate::rows::BounceRecord {
    type Error = crate::error::StoreError;

    fn try_from(m: Model) -> Result<Self, Self::Error> {
        use postern_domain::{ClientId, DomainId, MspId, RawInputId};
        Ok(Self {
            id: m.id,
            msp_id: m.msp_id.map(MspId::from_uuid),
            client_id: m.client_id.map(ClientId::from_uuid),
            domain_id: m.domain_id.map(DomainId::from_uuid),
            raw_input_id: RawInputId::from_uuid(m.raw_input_id),
            unassigned_reason: m.unassigned_reason,
            kind: crate::entity::word("bounce kind", &m.kind, crate::rows::BounceKind::parse)?,
            recipient: m.recipient,
            recipient_domain: m.recipient_domain,
            status: m.status,
            reply_code: m.reply_code.and_then(|c| u16::try_from(c).ok()),
            diagnostic: m.diagnostic,
            remote_host: m.remote_host,
            reporting_mta: m.reporting_mta,
            time: m.time,
            original_message_id: m.original_message_id,
            sending_ip: m.sending_ip,
            command: m.command,
            action: m.action,
            evidence: m.evidence,
            feedback_type: m.feedback_type,
            hard: m.hard,
            reason: m.reason,
            provider: m.provider,
            provider_event_id: m.provider_event_id,
            campaign: m.campaign,
            sender_domain: m.sender_domain,
            received_at: m.received_at,
        })
    }
}
