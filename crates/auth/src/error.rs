//! The one error type of the crate.

/// Why a credential was not accepted, or why an auth operation failed.
///
/// The messages of the credential variants are deliberately coarse ("invalid credential",
/// "credential expired", "credential revoked"): they may reach a client. The precise reason a
/// token was refused is kept in [`AuthError::InvalidToken`] for logs (`Debug`), not in the
/// message. Every variant maps to `unauthenticated` at the edges; [`AuthError::is_internal`]
/// tells the edge which ones are worth logging as faults of the installation.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header, or an empty one.
    #[error("missing credential")]
    MissingCredential,
    /// The header is not `Bearer <token>`.
    #[error("invalid credential")]
    Malformed,
    /// The JWT failed a check; the reason is for logs only.
    #[error("invalid credential")]
    InvalidToken(&'static str),
    /// The JWT's `exp` has passed.
    #[error("credential expired")]
    Expired,
    /// The API token exists and matches but was revoked.
    #[error("credential revoked")]
    Revoked,
    /// No API token with this prefix, or the secret part does not match.
    #[error("invalid credential")]
    UnknownToken,
    /// The token store could not be asked.
    #[error("credential lookup failed: {0}")]
    Lookup(String),
    /// Hashing or parsing a password hash failed (not a wrong password: that is `Ok(false)`).
    #[error("password hash error: {0}")]
    Hash(String),
    /// Reading or writing the signing secret file failed.
    #[error("signing secret file: {0}")]
    Io(#[source] std::io::Error),
    /// A JWT signing secret shorter than [`crate::MIN_SECRET_LEN`] bytes.
    #[error("jwt signing secret is {len} bytes; at least {min} are required")]
    WeakSecret { len: usize, min: usize },
    /// A token could not be signed (claims out of range, key rejected).
    #[error("token signing failed: {0}")]
    Signing(String),
}

impl AuthError {
    /// A fault of the installation (store down, bad key, i/o), not of the caller's
    /// credential. Still `unauthenticated` to the caller, but worth an error log.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            AuthError::Lookup(_)
                | AuthError::Hash(_)
                | AuthError::Io(_)
                | AuthError::WeakSecret { .. }
                | AuthError::Signing(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_messages_do_not_say_which_check_failed() {
        for e in [
            AuthError::Malformed,
            AuthError::InvalidToken("wrong audience"),
            AuthError::UnknownToken,
        ] {
            assert_eq!(e.to_string(), "invalid credential");
            assert!(!e.is_internal());
        }
        assert_eq!(AuthError::Expired.to_string(), "credential expired");
        assert_eq!(AuthError::Revoked.to_string(), "credential revoked");
        assert!(AuthError::Lookup("db down".into()).is_internal());
    }
}
