//! `rule_plugin`: a component an MSP uploaded; unique per (msp_id, rule_id).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "rule_plugin")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    /// Always NULL: a plugin belongs to its whole MSP.
    pub client_id: Option<Uuid>,
    pub rule_id: String,
    pub version: String,
    pub title: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub reads: Json,
    pub sha256: String,
    pub size: i64,
    #[sea_orm(column_type = "Blob")]
    pub component: Vec<u8>,
    pub uploaded_by: Option<Uuid>,
    pub uploaded_at: DateTimeUtc,
    pub enabled: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Every column but the component's bytes (listing plugins never reads them).
pub(crate) const META: [Column; 12] = [
    Column::Id,
    Column::MspId,
    Column::ClientId,
    Column::RuleId,
    Column::Version,
    Column::Title,
    Column::Reads,
    Column::Sha256,
    Column::Size,
    Column::UploadedBy,
    Column::UploadedAt,
    Column::Enabled,
];

/// A row read without its bytes.
#[derive(Clone, Debug, sea_orm::FromQueryResult)]
pub(crate) struct Meta {
    pub id: Uuid,
    pub msp_id: Uuid,
    pub rule_id: String,
    pub version: String,
    pub title: String,
    pub reads: Json,
    pub sha256: String,
    pub size: i64,
    pub uploaded_by: Option<Uuid>,
    pub uploaded_at: DateTimeUtc,
    pub enabled: bool,
}

impl TryFrom<Meta> for crate::rows::RulePlugin {
    type Error = crate::error::StoreError;
    fn try_from(m: Meta) -> Result<Self, Self::Error> {
        Ok(Self {
            id: m.id,
            msp_id: postern_domain::MspId::from_uuid(m.msp_id),
            rule_id: m.rule_id,
            version: m.version,
            title: m.title,
            reads: crate::entity::from_json("plugin reads", m.reads)?,
            sha256: m.sha256,
            size: crate::entity::uncount(m.size),
            uploaded_by: m.uploaded_by.map(postern_domain::UserId::from_uuid),
            uploaded_at: m.uploaded_at,
            enabled: m.enabled,
        })
    }
}
