//! The `/graphql` and `/graphiql` handlers.

use crate::server::ApiServices;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{Either, HttpRequest, HttpResponse, web};
use async_graphql::BatchRequest;
use async_graphql::http::GraphiQLSource;
use async_graphql_actix_web::GraphQLResponse;
use chrono::Utc;
use postern_domain::ErrorCode;

/// Executes a GraphQL request (or batch) with the principal of its verified credential, if
/// any. The body arrives through actix's size-limited `Bytes` extractor (`PayloadConfig`):
/// the async-graphql extractor would read a JSON body of any size into memory.
pub(crate) async fn graphql(
    services: web::Data<ApiServices>,
    req: HttpRequest,
    body: web::Bytes,
) -> Either<GraphQLResponse, HttpResponse> {
    let mut batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            return Either::Right(refusal(
                ErrorCode::BadRequest,
                &format!("the body is not a GraphQL request: {error}"),
            ));
        }
    };
    if let Some(value) = req.headers().get(AUTHORIZATION) {
        let header = value.to_str().unwrap_or_default();
        match services.auth.authenticate(header, Utc::now()).await {
            Ok(principal) => {
                batch = postern_graphql::authorize(batch, &services.store, principal);
            }
            Err(error) => {
                return Either::Right(refusal(ErrorCode::Unauthenticated, &error.to_string()));
            }
        }
    }
    Either::Left(services.schema.execute_batch(batch).await.into())
}

/// A GraphQL-shaped refusal with the code's HTTP status.
pub(crate) fn refusal(code: ErrorCode, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(code.http_status())
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(serde_json::json!({
        "data": null,
        "errors": [{ "message": message, "extensions": { "code": code.as_str() } }]
    }))
}

/// The GraphiQL page (only when enabled in configuration).
pub(crate) async fn graphiql() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .title("Postern GraphiQL")
                .finish(),
        )
}
