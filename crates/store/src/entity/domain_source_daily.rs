//! `domain_source_daily`: a domain's counts per sending IP and day.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "domain_source_daily")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub domain_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    #[sea_orm(primary_key, auto_increment = false)]
    pub source_ip: String,
    pub msp_id: Uuid,
    pub client_id: Uuid,
    pub messages: i64,
    pub dmarc_pass: i64,
    pub spf_aligned_pass: i64,
    pub dkim_aligned_pass: i64,
    pub first_seen: DateTimeUtc,
    pub last_seen: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
