//! `report`: what every report kind shares; unique per (kind, org_name, external_id, domain).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "report")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub msp_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub domain_id: Option<Uuid>,
    pub domain: String,
    pub org_name: String,
    pub external_id: String,
    pub date_begin: DateTimeUtc,
    pub date_end: DateTimeUtc,
    pub received_at: DateTimeUtc,
    pub record_count: i64,
    pub message_count: i64,
    pub raw_input_id: Uuid,
    #[sea_orm(column_type = "JsonBinary")]
    pub problems: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl TryFrom<Model> for crate::rows::ReportSummary {
    type Error = crate::error::StoreError;
    fn try_from(m: Model) -> Result<Self, Self::Error> {
        Ok(Self {
            id: postern_domain::ReportId::from_uuid(m.id),
            kind: postern_domain::ReportKind::parse(&m.kind)
                .ok_or_else(|| crate::error::corrupt("report kind", &m.kind))?,
            msp_id: m.msp_id.map(postern_domain::MspId::from_uuid),
            client_id: m.client_id.map(postern_domain::ClientId::from_uuid),
            domain: m.domain,
            domain_id: m.domain_id.map(postern_domain::DomainId::from_uuid),
            org_name: m.org_name,
            external_id: m.external_id,
            date_begin: m.date_begin,
            date_end: m.date_end,
            received_at: m.received_at,
            record_count: u64::try_from(m.record_count).unwrap_or_default(),
            message_count: u64::try_from(m.message_count).unwrap_or_default(),
            raw_input_id: postern_domain::RawInputId::from_uuid(m.raw_input_id),
        })
    }
}
