//! `notify_channel`: where an MSP's notifications go (webhook, e-mail, Slack, Teams).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notify_channel")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Option<Uuid>,
    pub name: String,
    pub kind: String,
    pub target: String,
    pub secret: Option<String>,
    pub enabled: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use crate::entity::word;
use crate::rows::notify::{Channel, ChannelId, ChannelKind, ChannelTarget};
use postern_domain::{ClientId, MspId};

impl TryFrom<Model> for ChannelTarget {
    type Error = crate::error::StoreError;
    fn try_from(m: Model) -> Result<Self, Self::Error> {
        let secret = m.secret.clone();
        Ok(Self {
            channel: Channel::try_from(m)?,
            secret,
        })
    }
}

impl TryFrom<Model> for Channel {
    type Error = crate::error::StoreError;
    fn try_from(m: Model) -> Result<Self, Self::Error> {
        Ok(Self {
            id: ChannelId::from_uuid(m.id),
            msp_id: MspId::from_uuid(m.msp_id),
            client_id: m.client_id.map(ClientId::from_uuid),
            name: m.name,
            kind: word("channel kind", &m.kind, ChannelKind::parse)?,
            target: m.target,
            has_secret: m.secret.is_some(),
            enabled: m.enabled,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}
