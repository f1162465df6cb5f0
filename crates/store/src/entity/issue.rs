//! `issue`: one (domain, finding code) tracked through its workflow; unique per
//! (domain_id, code).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "issue")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub client_id: Uuid,
    pub domain_id: Uuid,
    pub code: String,
    pub state: String,
    pub severity: String,
    pub title: String,
    pub explanation: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub evidence: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub fix_steps: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub verification: Json,
    pub assignee_id: Option<Uuid>,
    pub opened_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    pub last_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use crate::entity::{from_json, word};
use postern_domain::{IssueState, Severity};

impl TryFrom<Model> for crate::rows::Issue {
    type Error = crate::error::StoreError;
    fn try_from(m: Model) -> Result<Self, Self::Error> {
        Ok(Self {
            id: postern_domain::IssueId::from_uuid(m.id),
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            client_id: postern_domain::ClientId::from_uuid(m.client_id),
            domain_id: postern_domain::DomainId::from_uuid(m.domain_id),
            code: m.code,
            state: word("issue state", &m.state, IssueState::parse)?,
            severity: word("issue severity", &m.severity, Severity::parse)?,
            title: m.title,
            explanation: m.explanation,
            evidence: from_json("issue evidence", m.evidence)?,
            fix_steps: from_json("issue fix steps", m.fix_steps)?,
            verification: from_json("issue verification", m.verification)?,
            assignee: m.assignee_id.map(postern_domain::UserId::from_uuid),
            opened_at: m.opened_at,
            updated_at: m.updated_at,
            resolved_at: m.resolved_at,
            last_seen_at: m.last_seen_at,
        })
    }
}
