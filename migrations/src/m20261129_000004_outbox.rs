//! The transactional outbox (events written with the data they describe) and the record of
//! events a consumer has applied (for idempotent consumers).

use crate::schema::drop_tables;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("outbox")
                    .col(pk_uuid("id"))
                    .col(text("topic"))
                    .col(blob("payload"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("published_at"))
                    .to_owned(),
            )
            .await?;
        // The relay reads only unpublished rows, oldest (smallest UUIDv7) first; a partial
        // index keeps that cheap however many published rows accumulate.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_outbox_unpublished ON outbox (id) WHERE published_at IS NULL",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("processed_event")
                    .col(text("consumer"))
                    .col(uuid("event_id"))
                    .col(timestamp_with_time_zone("processed_at"))
                    .primary_key(Index::create().col("consumer").col("event_id"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["processed_event", "outbox"]).await
    }
}
