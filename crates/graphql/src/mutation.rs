//! The root mutation type, merged from one object per mutation group.

mod access;
mod blocklist;
mod bounces;
mod clients;
mod domains;
mod issues;
mod notify;
mod plugins;
mod session;

use async_graphql::MergedObject;

use crate::error::ApiError;

/// Everything that changes state. `login` is the only field that works without a credential;
/// every other one acts within the caller's tenant and role.
#[derive(MergedObject, Default)]
pub struct Mutation(
    session::SessionMutation,
    clients::ClientMutation,
    domains::DomainMutation,
    access::AccessMutation,
    bounces::BounceMutation,
    issues::IssueMutation,
    notify::NotifyMutation,
    plugins::PluginMutation,
    blocklist::BlocklistMutation,
);

/// Longest name (client, user, token) accepted, in characters.
const MAX_NAME_CHARS: usize = 200;

/// A trimmed, non-empty name of at most [`MAX_NAME_CHARS`] characters without control
/// characters.
fn valid_name(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_request(format!("{field} is empty")));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} contains control characters"
        )));
    }
    Ok(value.to_owned())
}

/// Runs CPU-heavy work (argon2) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal("blocking task failed", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("name", "  Acme  ").ok().as_deref(), Some("Acme"));
        for bad in ["", "   ", "a\u{0}b", &"x".repeat(201)] {
            assert!(matches!(
                valid_name("name", bad),
                Err(ApiError::BadRequest(_))
            ));
        }
        assert!(valid_name("name", &"é".repeat(200)).is_ok());
    }
}
