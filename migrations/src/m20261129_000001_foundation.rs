//! Tenancy and access: MSPs, clients, domains, users, memberships and API tokens.

use crate::schema::{Owner, drop_tables, fk, index, tenant_columns, tenant_index};
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
                    .table("msp")
                    .col(pk_uuid("id"))
                    .col(text("name"))
                    .col(boolean("operator"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;

        // A client's tenant key is its own id; `msp_id` sits beside it.
        manager
            .create_table(
                Table::create()
                    .table("client")
                    .col(pk_uuid("id"))
                    .col(uuid("msp_id"))
                    .col(text("name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "client",
                        "msp_id",
                        "msp",
                        ForeignKeyAction::NoAction,
                    ))
                    .to_owned(),
            )
            .await?;
        index(manager, "client", &["msp_id", "id"], false).await?;

        // A domain name belongs to at most one client in the installation.
        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("domain")
                    .col(pk_uuid("id"))
                    .col(text_uniq("name"))
                    .col(timestamp_with_time_zone("created_at")),
                "domain",
                Owner::Client,
            ))
            .await?;
        tenant_index(manager, "domain").await?;

        manager
            .create_table(
                Table::create()
                    .table("app_user")
                    .col(pk_uuid("id"))
                    .col(text_uniq("email"))
                    .col(text("display_name"))
                    .col(text("password_hash"))
                    .col(boolean("disabled"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;

        // client_id NULL = an MSP-wide membership.
        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("membership")
                    .col(pk_uuid("id"))
                    .col(uuid("user_id"))
                    .col(text("role"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "membership",
                        "user_id",
                        "app_user",
                        ForeignKeyAction::Cascade,
                    )),
                "membership",
                Owner::MspOrClient,
            ))
            .await?;
        tenant_index(manager, "membership").await?;
        index(manager, "membership", &["user_id"], false).await?;

        manager
            .create_table(tenant_columns(
                Table::create()
                    .table("api_token")
                    .col(pk_uuid("id"))
                    .col(text("role"))
                    .col(text("name"))
                    .col(text_uniq("prefix"))
                    .col(text("token_hash"))
                    .col(uuid_null("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(&mut fk(
                        "api_token",
                        "created_by",
                        "app_user",
                        ForeignKeyAction::SetNull,
                    )),
                "api_token",
                Owner::MspOrClient,
            ))
            .await?;
        tenant_index(manager, "api_token").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "api_token",
                "membership",
                "app_user",
                "domain",
                "client",
                "msp",
            ],
        )
        .await
    }
}
