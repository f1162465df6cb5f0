//! Small builders shared by the migrations: foreign keys, indexes and the tenant columns.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{uuid, uuid_null};

/// A foreign key `table.col → to.id`, named `fk_<table>_<col>`.
pub(crate) fn fk(
    table: &'static str,
    col: &'static str,
    to: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(table, col)
        .to(to, "id")
        .on_delete(on_delete)
        .to_owned()
}

/// Which tenant columns a table's rows must fill.
#[derive(Clone, Copy)]
pub(crate) enum Owner {
    /// Every row belongs to one client.
    Client,
    /// A row belongs to the whole MSP (`client_id` NULL) or to one client.
    MspOrClient,
    /// A row may belong to nobody yet (unassigned reports and rejections).
    Optional,
}

/// Adds `msp_id` and `client_id` with foreign keys to `msp` and `client`.
pub(crate) fn tenant_columns(
    table: &mut TableCreateStatement,
    name: &'static str,
    owner: Owner,
) -> TableCreateStatement {
    match owner {
        Owner::Client => table.col(uuid("msp_id")).col(uuid("client_id")),
        Owner::MspOrClient => table.col(uuid("msp_id")).col(uuid_null("client_id")),
        Owner::Optional => table.col(uuid_null("msp_id")).col(uuid_null("client_id")),
    };
    table
        .foreign_key(&mut fk(name, "msp_id", "msp", ForeignKeyAction::NoAction))
        .foreign_key(&mut fk(
            name,
            "client_id",
            "client",
            ForeignKeyAction::NoAction,
        ))
        .to_owned()
}

/// Creates the index `idx_<table>_<cols…>` (or `uq_…` when unique).
pub(crate) async fn index(
    manager: &SchemaManager<'_>,
    table: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let prefix = if unique { "uq" } else { "idx" };
    let mut index = Index::create();
    index
        .name(format!("{prefix}_{table}_{}", cols.join("_")))
        .table(table);
    for col in cols {
        index.col(*col);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index).await
}

/// The tenant index every tenant table has: `(msp_id, client_id)`.
pub(crate) async fn tenant_index(
    manager: &SchemaManager<'_>,
    table: &'static str,
) -> Result<(), DbErr> {
    index(manager, table, &["msp_id", "client_id"], false).await
}

/// Drops tables in the order given (children first).
pub(crate) async fn drop_tables(
    manager: &SchemaManager<'_>,
    tables: &[&'static str],
) -> Result<(), DbErr> {
    for table in tables {
        manager
            .drop_table(Table::drop().table(*table).if_exists().to_owned())
            .await?;
    }
    Ok(())
}
