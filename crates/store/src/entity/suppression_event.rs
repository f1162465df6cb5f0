//! `suppression_event`: the history of a suppression (each suppress and restore).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "suppression_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Uuid,
    pub suppression_id: Uuid,
    pub address: String,
    pub action: String,
    pub reason: String,
    pub bounce_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::rows::SuppressionEvent {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            suppression_id: m.suppression_id,
            address: m.address,
            action: m.action,
            reason: m.reason,
            bounce_id: m.bounce_id,
            actor_id: m.actor_id.map(postern_domain::UserId::from_uuid),
            at: m.at,
        }
    }
}
