//! Issues and their history: one `issue` per (domain, finding code) that analysis keeps
//! through its workflow, and `issue_event`, the audit trail of every transition, assignment
//! and comment (who, when, from which state to which).
//!
//! Both are tenant tables (every row belongs to one client). On PostgreSQL they get the same
//! `tenant_isolation` policy as the tables of the row security migration, and `postern_app`
//! gets DML on them.

use crate::m20261129_000005_row_security::isolate_tenant_tables;
use crate::schema::{Owner, drop_tables, fk, index, tenant_columns, tenant_index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The tenant tables this migration adds, with the column that holds each row's client.
pub const ISSUE_TENANT_TABLES: [(&str, &str); 2] =
    [("issue", "client_id"), ("issue_event", "client_id")];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("issue")
                    .col(uuid("id").primary_key())
                    .col(uuid("domain_id"))
                    .col(text("code"))
                    .col(text("state"))
                    .col(text("severity"))
                    .col(text("title"))
                    .col(text("explanation"))
                    .col(json_binary("evidence"))
                    .col(json_binary("fix_steps"))
                    .col(json_binary("verification"))
                    .col(uuid_null("assignee_id"))
                    .col(timestamp_with_time_zone("opened_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("resolved_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    // An issue goes with its domain (its history too).
                    .foreign_key(&mut fk(
                        "issue",
                        "domain_id",
                        "domain",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "issue",
                        "assignee_id",
                        "app_user",
                        ForeignKeyAction::SetNull,
                    )),
                "issue",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "issue").await?;
        index(manager, "issue", &["domain_id", "code"], true).await?;
        index(manager, "issue", &["msp_id", "state"], false).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("issue_event")
                    .col(uuid("id").primary_key())
                    .col(uuid("issue_id"))
                    .col(text("kind"))
                    // NULL: the system (analysis) or an API token.
                    .col(uuid_null("actor_id"))
                    // Set by `assigned` events: who the issue went to (NULL: unassigned).
                    .col(uuid_null("assignee_id"))
                    .col(text_null("comment"))
                    .col(text_null("from_state"))
                    .col(text("to_state"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "issue_event",
                        "issue_id",
                        "issue",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "issue_event",
                        "actor_id",
                        "app_user",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "issue_event",
                        "assignee_id",
                        "app_user",
                        ForeignKeyAction::SetNull,
                    )),
                "issue_event",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "issue_event").await?;
        index(manager, "issue_event", &["issue_id", "id"], false).await?;

        isolate_tenant_tables(manager, &ISSUE_TENANT_TABLES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["issue_event", "issue"]).await
    }
}
