//! IMAP pull cursors: `imap_cursor`, one row per configured mailbox (`[[ingest.imap.mailboxes]]`
//! by name) with the folder's UIDVALIDITY and the highest UID whose message is stored, so a
//! restarted ingest service resumes where it left off. A changed UIDVALIDITY means the UIDs
//! were renumbered and the folder is scanned again from the start.
//!
//! Installation state, not tenant data (the mailboxes are configuration): no tenant columns
//! and no row security; on PostgreSQL `postern_app` gets DML.

use crate::m20261129_000005_row_security::APP_ROLE;
use crate::schema::drop_tables;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("imap_cursor")
                    .col(text("mailbox").primary_key())
                    .col(big_integer("uid_validity"))
                    .col(big_integer("last_uid"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON imap_cursor TO {APP_ROLE}"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["imap_cursor"]).await
    }
}
