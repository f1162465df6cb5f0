//! Throwaway databases for tests (feature `testing`), on either backend.
//!
//! SQLite: a fresh file in a temporary directory. PostgreSQL
//! (`POSTERN_TEST_DATABASE_URL`, default [`DEFAULT_PG_URL`]): a fresh database
//! `postern_t_<uuid>`, migrated by the URL's role (the schema owner), then used through the
//! non-superuser `postern_app` role, so row-level security is live in every test. The
//! database is dropped when the [`TestDb`] is, even after a failed assertion.
//!
//! Failures to set up panic: this is test scaffolding.

use crate::store::{Backend, Store};
use crate::{SystemDb, TenantDb};
use postern_domain::TenantScope;
use sea_orm::{ConnectionTrait, Database};
use std::fmt::Display;

/// Used when `POSTERN_TEST_DATABASE_URL` is not set.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// One migrated test database and a store connected to it.
pub struct TestDb {
    pub store: Store,
    /// PostgreSQL only: the admin URL to drop the database from, and its name.
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn open(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn sqlite() -> TestDb {
        let dir = ok(tempfile::tempdir(), "temporary directory");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("postern.db").display()
        );
        let store = ok(Store::connect(&url, 4).await, "connect to sqlite");
        ok(store.migrate().await, "migrate sqlite");
        TestDb {
            store,
            pg: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> TestDb {
        let admin_url = pg_admin_url();
        let name = format!("postern_t_{}", uuid::Uuid::new_v4().simple());
        let admin = ok(Database::connect(&admin_url).await, "connect to postgres");
        ok(
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await,
            "create test database",
        );
        ok(admin.close().await, "close admin connection");
        // Dropped from here on, whatever fails next.
        let mut db = TestDb {
            store: ok(
                Store::connect(&pg_url_for(&admin_url, None, &name), 2).await,
                "connect as owner",
            ),
            pg: Some((admin_url.clone(), name.clone())),
            _dir: None,
        };
        ok(db.store.migrate().await, "migrate postgres");
        let app_url = pg_url_for(&admin_url, Some(postern_migrations::APP_ROLE), &name);
        let owner = std::mem::replace(
            &mut db.store,
            ok(Store::connect(&app_url, 4).await, "connect as postern_app"),
        );
        ok(owner.close().await, "close owner connection");
        db
    }

    pub fn system(&self) -> SystemDb {
        self.store.system()
    }

    pub fn tenant(&self, scope: TenantScope) -> TenantDb {
        self.store.tenant(scope)
    }

    /// PostgreSQL only: this database's URL for `user` (None: the admin URL's user).
    pub fn pg_url(&self, user: Option<&str>) -> Option<String> {
        self.pg
            .as_ref()
            .map(|(admin, name)| pg_url_for(admin, user, name))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg.take() else {
            return;
        };
        // Best effort, on a thread of its own: Drop cannot await, and the test's runtime
        // may be shutting down. FORCE ends the pool's connections.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// `POSTERN_TEST_DATABASE_URL`, else [`DEFAULT_PG_URL`].
pub fn pg_admin_url() -> String {
    std::env::var("POSTERN_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// `postgres://[user@]host[:port]/…` with another user (None: keep it) and database.
pub fn pg_url_for(admin_url: &str, user: Option<&str>, database: &str) -> String {
    let rest = admin_url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(admin_url);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    match user {
        None => format!("postgres://{authority}/{database}"),
        Some(user) => {
            let host = authority
                .rsplit_once('@')
                .map(|(_, h)| h)
                .unwrap_or(authority);
            format!("postgres://{user}@{host}/{database}")
        }
    }
}

fn ok<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("test database: {what}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_swap_user_and_database() {
        let admin = "postgres://postgres:pw@db.local:5433/postgres?sslmode=disable";
        assert_eq!(
            pg_url_for(admin, None, "t1"),
            "postgres://postgres:pw@db.local:5433/t1"
        );
        assert_eq!(
            pg_url_for(admin, Some("postern_app"), "t1"),
            "postgres://postern_app@db.local:5433/t1"
        );
        assert_eq!(
            pg_url_for("postgres://127.0.0.1/x", Some("a"), "y"),
            "postgres://a@127.0.0.1/y"
        );
    }
}
