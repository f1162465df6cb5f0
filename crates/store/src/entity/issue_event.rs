//! `issue_event`: one entry of an issue's history (audit trail).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "issue_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub issue_id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Uuid,
    pub kind: String,
    pub actor_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub comment: Option<String>,
    pub from_state: Option<String>,
    pub to_state: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use crate::entity::{opt_word, word};
use crate::rows::IssueEventKind;
use postern_domain::IssueState;

impl TryFrom<Model> for crate::rows::IssueEvent {
    type Error = crate::error::StoreError;
    fn try_from(m: Model) -> Result<Self, Self::Error> {
        Ok(Self {
            id: postern_domain::IssueEventId::from_uuid(m.id),
            issue_id: postern_domain::IssueId::from_uuid(m.issue_id),
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            client_id: postern_domain::ClientId::from_uuid(m.client_id),
            kind: word("issue event kind", &m.kind, IssueEventKind::parse)?,
            actor: m.actor_id.map(postern_domain::UserId::from_uuid),
            assignee: m.assignee_id.map(postern_domain::UserId::from_uuid),
            comment: m.comment,
            from_state: opt_word("issue state", m.from_state.as_deref(), IssueState::parse)?,
            to_state: word("issue state", &m.to_state, IssueState::parse)?,
            created_at: m.created_at,
        })
    }
}

impl From<&crate::rows::IssueEvent> for Model {
    fn from(e: &crate::rows::IssueEvent) -> Self {
        Self {
            id: e.id.as_uuid(),
            issue_id: e.issue_id.as_uuid(),
            msp_id: e.msp_id.as_uuid(),
            client_id: e.client_id.as_uuid(),
            kind: e.kind.as_str().to_owned(),
            actor_id: e.actor.map(|u| u.as_uuid()),
            assignee_id: e.assignee.map(|u| u.as_uuid()),
            comment: e.comment.clone(),
            from_state: e.from_state.map(|s| s.as_str().to_owned()),
            to_state: e.to_state.as_str().to_owned(),
            created_at: e.created_at,
        }
    }
}
