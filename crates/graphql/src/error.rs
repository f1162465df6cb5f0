//! The errors resolvers answer with, each carrying a stable `extensions.code`.
//!
//! [`ApiError`] deliberately has no `Display`: async-graphql turns any `Display` error into a
//! bare message through a blanket `From`, which would drop the code and could leak an internal
//! cause. Resolvers therefore return `Result<_, ApiError>`, and the one conversion below
//! ([`From<ApiError> for async_graphql::Error`]) is the only way an error reaches a client.
//! Store and auth errors become an `ApiError` through `From`, which logs internal causes.

use async_graphql::ErrorExtensions;
use postern_auth::AuthError;
use postern_domain::ErrorCode;
use postern_store::StoreError;

/// Why a request failed, as the API client sees it.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// No verified credential, or login with a wrong e-mail address or password.
    Unauthenticated,
    /// The credential's role may not do this.
    Forbidden(String),
    /// No such object, or one of another tenant: the two are indistinguishable.
    NotFound,
    /// The arguments are malformed (an id that is not a UUID, a bad cursor, a short password).
    BadRequest(String),
    /// The change collides with existing data.
    Conflict(String),
    /// A fault of the installation; the cause has been logged and is not sent.
    Internal,
}

impl ApiError {
    /// The stable code sent as `extensions.code`.
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthenticated => ErrorCode::Unauthenticated,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::Internal => ErrorCode::Internal,
        }
    }

    /// The message sent to the client: short, and free of internal detail.
    pub(crate) fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated => "unauthenticated".to_owned(),
            ApiError::Forbidden(why) => format!("forbidden: {why}"),
            ApiError::NotFound => "not found".to_owned(),
            ApiError::BadRequest(why) => format!("bad request: {why}"),
            ApiError::Conflict(why) => format!("conflict: {why}"),
            ApiError::Internal => "internal error".to_owned(),
        }
    }

    /// An internal fault: logs `cause` and answers [`ApiError::Internal`].
    pub(crate) fn internal(what: &str, cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error_chain(cause), "{what}");
        ApiError::Internal
    }

    pub(crate) fn bad_request(why: impl Into<String>) -> Self {
        ApiError::BadRequest(why.into())
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        async_graphql::Error::new(error.message())
            .extend_with(|_, ext| ext.set("code", code.as_str()))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::from(&error)
    }
}

impl From<&StoreError> for ApiError {
    /// By reference too: batched loads share one error among the fields that waited on it.
    fn from(error: &StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Forbidden(why) => ApiError::Forbidden((*why).to_owned()),
            StoreError::Conflict(why) => ApiError::Conflict(why.clone()),
            StoreError::Invalid(why) => ApiError::BadRequest(why.clone()),
            StoreError::Database(_) => ApiError::internal("store call failed", error),
        }
    }
}

impl From<AuthError> for ApiError {
    /// Every credential failure is `unauthenticated` without saying which check failed.
    /// Faults of the installation are logged; signing failures (bad key, claims out of range)
    /// are `internal`, because the caller did nothing wrong.
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Signing(_) | AuthError::WeakSecret { .. } | AuthError::Io(_) => {
                ApiError::internal("token signing failed", &error)
            }
            e if e.is_internal() => {
                tracing::error!(error = %error_chain(&e), "credential check failed");
                ApiError::Unauthenticated
            }
            _ => ApiError::Unauthenticated,
        }
    }
}

/// `error: cause: cause…`, for logs; a cause its parent's message already ends with is not
/// repeated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(error: ApiError) -> (String, serde_json::Value) {
        let gql: async_graphql::Error = error.into();
        let ext = gql.extensions.as_ref().and_then(|e| e.get("code")).cloned();
        (
            gql.message,
            serde_json::to_value(ext).unwrap_or(serde_json::Value::Null),
        )
    }

    #[test]
    fn store_errors_map_to_their_codes() {
        let cases = [
            (StoreError::NotFound, "not_found"),
            (StoreError::Forbidden("role"), "forbidden"),
            (StoreError::Conflict("taken".into()), "conflict"),
            (StoreError::Invalid("bad".into()), "bad_request"),
        ];
        for (error, code) in cases {
            let (_, ext) = code_of(error.into());
            assert_eq!(ext, serde_json::json!(code));
        }
    }

    #[test]
    fn auth_errors_do_not_say_which_check_failed() {
        for error in [
            AuthError::Expired,
            AuthError::UnknownToken,
            AuthError::InvalidToken("wrong audience"),
            AuthError::Hash("bad phc".into()),
        ] {
            let (message, ext) = code_of(error.into());
            assert_eq!(message, "unauthenticated");
            assert_eq!(ext, serde_json::json!("unauthenticated"));
        }
        let (message, ext) = code_of(AuthError::Signing("key rejected".into()).into());
        assert_eq!(message, "internal error");
        assert_eq!(ext, serde_json::json!("internal"));
    }

    #[test]
    fn error_chain_joins_sources() {
        let io = std::io::Error::other("disk gone");
        let error = AuthError::Io(io);
        assert_eq!(error_chain(&error), "signing secret file: disk gone");
        let join = StoreError::Conflict("taken".into());
        assert_eq!(error_chain(&join), "conflict: taken");
    }
}
