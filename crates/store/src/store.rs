//! Connecting, migrating, and handing out tenant-scoped and system handles.

use crate::error::StoreError;
use crate::repo::system::SystemDb;
use crate::repo::tenant::TenantDb;
use postern_domain::TenantScope;
use postern_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait,
};
use std::time::Duration;

/// How long a SQLite writer waits for another writer's transaction before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Serialises concurrent `migrate` calls on one PostgreSQL database (any constant will do;
/// this is "postern" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x0070_6f73_7465_726e;

/// A connection pool to Postern's database. Cloning is cheap (the pool is shared).
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    pub(crate) backend: Backend,
}

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    /// Connects to `sqlite://path/to/file.db?mode=rwc`, `sqlite::memory:` or `postgres://…`.
    ///
    /// SQLite files run in WAL mode with a busy timeout and foreign keys on. An in-memory
    /// SQLite database lives in its one connection, so the pool is held at one connection
    /// whatever `max_connections` says (a long write then makes other callers wait).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Invalid(
                "database url must start with sqlite: or postgres://".into(),
            ));
        };
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(max_connections.max(1))
            .sqlx_logging(false);
        if backend == Backend::Sqlite {
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            if in_memory {
                options
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            }
            options.map_sqlx_sqlite_opts(move |opts| {
                let opts = opts
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
                    .synchronous(SqliteSynchronous::Normal);
                if in_memory {
                    opts
                } else {
                    opts.journal_mode(SqliteJournalMode::Wal)
                }
            });
        }
        let db = Database::connect(options).await?;
        Ok(Store { db, backend })
    }

    /// Applies pending migrations. On PostgreSQL concurrent callers take turns (advisory
    /// lock), and a caller without DDL rights (the `postern_app` role) succeeds when nothing
    /// is pending.
    #[tracing::instrument(name = "store.migrate", skip_all, fields(backend = ?self.backend))]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        if Migrator::get_pending_migrations_read_only(&self.db)
            .await?
            .is_empty()
        {
            return Ok(());
        }
        match self.backend {
            Backend::Sqlite => Migrator::up(&self.db, None).await?,
            Backend::Postgres => {
                let txn = self.db.begin().await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_advisory_xact_lock($1)",
                    [MIGRATION_LOCK_KEY.into()],
                ))
                .await?;
                Migrator::up(&txn, None).await?;
                txn.commit().await?;
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A handle whose every method is checked against `scope`.
    pub fn tenant(&self, scope: TenantScope) -> TenantDb {
        TenantDb::new(self.clone(), scope)
    }

    /// A handle that crosses tenants, for system jobs only (ingest, analysis, the outbox
    /// relay, bootstrap and authentication). Never build one from a request.
    pub fn system(&self) -> SystemDb {
        SystemDb::new(self.clone())
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await?;
        Ok(())
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_unknown_url_schemes() {
        let error = Store::connect("mysql://localhost/x", 1).await.unwrap_err();
        assert!(matches!(error, StoreError::Invalid(_)));
    }

    #[tokio::test]
    async fn in_memory_database_migrates_and_answers() {
        let store = Store::connect("sqlite::memory:", 4).await.unwrap();
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        assert_eq!(store.system().msp_count().await.unwrap(), 0);
    }
}
