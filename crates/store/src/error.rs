//! The one error type of postern-store.

use sea_orm::{DbErr, SqlErr};

/// Why a store call failed.
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    /// No such row, or a row of another tenant: the two are indistinguishable on purpose.
    #[error("not found")]
    NotFound,
    /// The scope's role may not do this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The write collides with existing data (a domain another client holds, a duplicate
    /// e-mail address, token prefix or report).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input cannot be stored as given.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database failed; log the source, never show it to clients.
    #[error("database error")]
    Database(#[source] DatabaseError),
}

/// An error of the database driver, kept opaque so no sea-orm type leaks into the API.
#[derive(thiserror::Error, Debug)]
#[error(transparent)]
pub struct DatabaseError(#[from] DbErr);

impl From<DbErr> for StoreError {
    fn from(error: DbErr) -> Self {
        StoreError::Database(DatabaseError(error))
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] with `what` as the message;
/// any other error stays a database error.
pub(crate) fn conflict_on_unique(error: DbErr, what: &str) -> StoreError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(what.to_owned()),
        _ => error.into(),
    }
}

/// A stored value that cannot be read back into its type (a corrupted or foreign row).
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Database(DatabaseError(DbErr::Type(format!(
        "stored {what}: {detail}"
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_do_not_print_their_cause() {
        let error = StoreError::from(DbErr::Custom("secret table name".into()));
        assert_eq!(error.to_string(), "database error");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("Custom Error: secret table name"));
    }

    #[test]
    fn other_errors_are_not_conflicts() {
        let error = conflict_on_unique(DbErr::Custom("boom".into()), "duplicate");
        assert!(matches!(error, StoreError::Database(_)));
    }
}
