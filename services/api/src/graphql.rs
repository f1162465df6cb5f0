//! The `/graphql` and `/graphiql` handlers.

use crate::server::ApiServices;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{Either, HttpRequest, HttpResponse, web};
use async_graphql::http::GraphiQLSource;
use async_graphql_actix_web::{GraphQLRequest, GraphQLResponse};
use chrono::Utc;
use postern_domain::ErrorCode;

/// Executes a GraphQL request with the principal of its verified credential, if any.
pub(crate) async fn graphql(
    services: web::Data<ApiServices>,
    req: HttpRequest,
    request: GraphQLRequest,
) -> Either<GraphQLResponse, HttpResponse> {
    let mut request = request.into_inner();
    if let Some(value) = req.headers().get(AUTHORIZATION) {
        let header = value.to_str().unwrap_or_default();
        match services.auth.authenticate(header, Utc::now()).await {
            Ok(principal) => request = request.data(principal),
            Err(error) => return Either::Right(unauthenticated(&error.to_string())),
        }
    }
    Either::Left(services.schema.execute(request).await.into())
}

/// A GraphQL-shaped refusal with HTTP 401.
fn unauthenticated(message: &str) -> HttpResponse {
    HttpResponse::Unauthorized().json(serde_json::json!({
        "data": null,
        "errors": [{
            "message": message,
            "extensions": { "code": ErrorCode::Unauthenticated.as_str() }
        }]
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
