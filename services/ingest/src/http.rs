//! HTTP intake: `POST /v1/reports` (authenticated upload) and `POST /v1/tlsrpt`
//! (RFC 8460 HTTPS delivery, unauthenticated as the RFC allows).

use crate::pipeline::{IngestOutcome, Ingestor, ItemStatus, Refusal, Source};
use crate::tokens::StoreTokens;
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use futures::StreamExt;
use postern_auth::Authenticator;
use postern_domain::{ErrorCode, TenantScope};
use std::sync::Arc;
use tracing::warn;

/// What the intake handlers need.
#[derive(Clone)]
pub struct IntakeState {
    pub ingestor: Ingestor,
    pub auth: Arc<Authenticator<StoreTokens>>,
    /// Largest body read; larger ones are refused with `body_too_large`.
    pub max_body_bytes: u64,
    /// Signature checks of the ESP webhooks.
    pub esp: crate::esp_http::EspSettings,
}

/// Mounts the intake routes. Needs `web::Data<IntakeState>` in the app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/reports", web::post().to(upload))
        .route("/v1/tlsrpt", web::post().to(tlsrpt))
        .configure(crate::esp_http::configure);
}

/// A JSON error body with a stable code.
pub(crate) fn error(code: ErrorCode, message: &str) -> HttpResponse {
    HttpResponse::build(
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    )
    .json(serde_json::json!({ "error": { "code": code.as_str(), "message": message } }))
}

fn header(req: &HttpRequest, name: actix_web::http::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Reads at most `limit` bytes; `true` when the body was longer.
pub(crate) async fn read_limited(
    mut payload: web::Payload,
    limit: u64,
) -> Result<(Vec<u8>, bool), actix_web::Error> {
    let mut body = Vec::new();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            let room = limit - body.len();
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// Reads the body within the limit and runs it through the pipeline; a body over the
/// limit is refused (its first bytes kept, the reason recorded).
async fn take_in(
    state: &IntakeState,
    req: &HttpRequest,
    payload: web::Payload,
    source: Source,
    scope: Option<TenantScope>,
) -> Result<(IngestOutcome, bool), HttpResponse> {
    let content_type = header(req, CONTENT_TYPE).map(str::to_owned);
    let now = Utc::now();
    let claimed = header(req, CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
    let (body, too_large) = match claimed {
        Some(len) if len > state.max_body_bytes => (Vec::new(), true),
        _ => read_limited(payload, state.max_body_bytes)
            .await
            .map_err(|_| error(ErrorCode::BadRequest, "the request body could not be read"))?,
    };
    let result = if too_large {
        let detail = format!(
            "body of {} bytes is over the limit of {} bytes",
            claimed.map_or_else(|| "more than the limit".to_owned(), |l| l.to_string()),
            state.max_body_bytes
        );
        state
            .ingestor
            .refuse(
                &body,
                content_type.as_deref(),
                source,
                scope.as_ref(),
                Refusal {
                    reason: "body_too_large",
                    detail: &detail,
                },
                now,
            )
            .await
    } else {
        state
            .ingestor
            .ingest(body, content_type.as_deref(), source, scope, now)
            .await
    };
    match result {
        Ok(outcome) => Ok((outcome, too_large)),
        Err(e) => {
            warn!(error = %e, "intake failed");
            Err(error(
                ErrorCode::Unavailable,
                "the input could not be stored; try again",
            ))
        }
    }
}

async fn upload(
    state: web::Data<IntakeState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Some(authorization) = header(&req, AUTHORIZATION) else {
        return error(ErrorCode::Unauthenticated, "a bearer token is required");
    };
    let principal = match state.auth.authenticate(authorization, Utc::now()).await {
        Ok(p) => p,
        Err(e) => return error(ErrorCode::Unauthenticated, &e.to_string()),
    };
    if !principal.scope.can_upload_reports() {
        return error(ErrorCode::Forbidden, "this role may not upload reports");
    }
    match take_in(&state, &req, payload, Source::Http, Some(principal.scope)).await {
        Ok((outcome, false)) => HttpResponse::Accepted().json(outcome),
        Ok((outcome, true)) => HttpResponse::PayloadTooLarge().json(outcome),
        Err(response) => response,
    }
}

async fn tlsrpt(
    state: web::Data<IntakeState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let media = header(&req, CONTENT_TYPE)
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !matches!(
        media.as_deref(),
        Some("application/tlsrpt+gzip" | "application/tlsrpt+json")
    ) {
        return error(
            ErrorCode::UnsupportedMediaType,
            "send application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 section 5.3)",
        );
    }
    match take_in(&state, &req, payload, Source::TlsRptHttps, None).await {
        Ok((outcome, true)) => HttpResponse::PayloadTooLarge().json(outcome),
        Ok((outcome, false)) => {
            let taken = outcome.count(ItemStatus::Accepted) + outcome.count(ItemStatus::Duplicate);
            if taken > 0 {
                HttpResponse::Accepted().json(outcome)
            } else if outcome
                .items
                .iter()
                .any(|i| i.reason.as_deref() == Some("unregistered_domain"))
            {
                HttpResponse::Forbidden().json(outcome)
            } else {
                HttpResponse::BadRequest().json(outcome)
            }
        }
        Err(response) => response,
    }
}
