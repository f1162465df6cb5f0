//! GraphQL subscriptions over WebSocket (`graphql-transport-ws` and the older `graphql-ws`
//! protocol) at `/graphql` (a GET upgrade) and `/graphql/ws`.
//!
//! The credential is checked twice over: an `Authorization` header on the upgrade request is
//! verified before upgrading (a bad one is refused with 401 and nothing is upgraded), and the
//! `connection_init` message must carry `{"token": "<JWT or pst_ API token>"}` unless that
//! header did. A connection without a valid credential is closed at `connection_init` with the
//! reason (`unauthenticated: …`); no operation runs before it is acknowledged.

use crate::graphql::refusal;
use crate::server::ApiServices;
use actix_web::http::header::{AUTHORIZATION, UPGRADE};
use actix_web::{HttpRequest, HttpResponse, guard, web};
use async_graphql::Data;
use async_graphql_actix_web::GraphQLSubscription;
use chrono::Utc;
use postern_auth::{AuthError, Authenticator};
use postern_domain::{ErrorCode, Principal};
use postern_ingest::StoreTokens;
use std::sync::Arc;

/// Upgrades to a GraphQL WebSocket connection. The connection's data are the live issue feed
/// and, once `connection_init` is verified, the principal.
pub(crate) async fn graphql_ws(
    services: web::Data<ApiServices>,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let from_header = match req.headers().get(AUTHORIZATION) {
        Some(value) => {
            let header = value.to_str().unwrap_or_default();
            match services.auth.authenticate(header, Utc::now()).await {
                Ok(principal) => Some(principal),
                Err(error) => {
                    return Ok(refusal(ErrorCode::Unauthenticated, &refusal_text(&error)));
                }
            }
        }
        None => None,
    };
    let auth = Arc::clone(&services.auth);
    let mut data = Data::default();
    data.insert(services.issue_feed.clone());
    GraphQLSubscription::new(services.schema.clone())
        .with_data(data)
        .on_connection_init(move |init| async move {
            let principal = connection_principal(&auth, &init, from_header).await?;
            let mut data = Data::default();
            data.insert(principal);
            Ok(data)
        })
        .start(&req, payload)
}

/// Matches a WebSocket upgrade request (`Upgrade: websocket`, any case).
pub(crate) fn is_websocket_upgrade(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// The principal of a connection: the token of the `connection_init` payload if it has one,
/// else the one the upgrade request's `Authorization` header proved.
async fn connection_principal(
    auth: &Authenticator<StoreTokens>,
    init: &serde_json::Value,
    from_header: Option<Principal>,
) -> async_graphql::Result<Principal> {
    match init_credential(init)? {
        Some(header) => auth
            .authenticate(&header, Utc::now())
            .await
            .map_err(|error| async_graphql::Error::new(refusal_text(&error))),
        None => from_header.ok_or_else(|| {
            async_graphql::Error::new(
                "unauthenticated: connection_init needs a payload {\"token\": \"<JWT or pst_ API token>\"}",
            )
        }),
    }
}

/// The credential of a `connection_init` payload as an `Authorization` header value:
/// `{"token": T}` (also `{"Authorization": "Bearer T"}`, as some clients send headers);
/// `None` when the payload names none; an error when it is not an object of strings.
fn init_credential(init: &serde_json::Value) -> async_graphql::Result<Option<String>> {
    let malformed = || {
        async_graphql::Error::new(
            "unauthenticated: the connection_init payload must be {\"token\": \"<JWT or pst_ API token>\"}",
        )
    };
    let fields = match init {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(fields) => fields,
        _ => return Err(malformed()),
    };
    if let Some(token) = fields.get("token") {
        let token = token.as_str().ok_or_else(malformed)?;
        return Ok(Some(format!("Bearer {token}")));
    }
    match fields
        .get("Authorization")
        .or_else(|| fields.get("authorization"))
    {
        Some(header) => Ok(Some(header.as_str().ok_or_else(malformed)?.to_owned())),
        None => Ok(None),
    }
}

/// What a refused credential is told: which check failed, but never an internal cause.
fn refusal_text(error: &AuthError) -> String {
    if error.is_internal() {
        tracing::error!(%error, "credential check failed");
        "unauthenticated: the credential could not be checked".to_owned()
    } else {
        format!("unauthenticated: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_init_payload_names_its_token_or_authorization_header() {
        assert_eq!(
            init_credential(&json!({ "token": "pst_abc" })).unwrap(),
            Some("Bearer pst_abc".to_owned())
        );
        assert_eq!(
            init_credential(&json!({ "Authorization": "Bearer eyJ.x.y" })).unwrap(),
            Some("Bearer eyJ.x.y".to_owned())
        );
        assert_eq!(init_credential(&json!({})).unwrap(), None);
        assert_eq!(init_credential(&serde_json::Value::Null).unwrap(), None);
        for bad in [json!("pst_abc"), json!({ "token": 42 }), json!([1])] {
            let error = init_credential(&bad).unwrap_err();
            assert!(error.message.starts_with("unauthenticated: "), "{bad}");
        }
    }

    #[test]
    fn refusals_say_which_check_failed_but_not_internal_causes() {
        assert_eq!(
            refusal_text(&AuthError::Expired),
            "unauthenticated: credential expired"
        );
        let internal = AuthError::Io(std::io::Error::other("disk gone"));
        assert!(internal.is_internal());
        assert_eq!(
            refusal_text(&internal),
            "unauthenticated: the credential could not be checked"
        );
    }
}
