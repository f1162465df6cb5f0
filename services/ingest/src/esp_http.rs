//! `POST /v1/esp/{provider}`: the event webhooks of Amazon SES (SNS), SendGrid, Mailgun
//! and Postmark. Authenticated with an ingest API token, given as `?token=`, as the
//! password of HTTP basic auth (ESPs cannot always set headers) or as a bearer token; the
//! token's client scope routes the events. Each provider's own signature is checked where
//! it signs and a key is configured; SES posts always carry SNS's signature, which is
//! always checked (certificate from Amazon SNS hosts only, see `sns.rs`), and an SNS
//! subscription confirmation of a configured topic is confirmed. The body is kept whatever
//! happens: a payload that cannot be read (or fails its signature) is stored as refused,
//! with the reason.

use crate::http::{IntakeState, error, read_limited};
use crate::pipeline::{Refusal, Source};
use crate::sns::{SnsError, SnsVerifier};
use actix_web::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use postern_bounce::{Esp, EspPayload};
use postern_config::EspConfig;
use postern_domain::{ErrorCode, TenantScope};
use std::fmt;
use tracing::{info, warn};

/// How long a Mailgun signature stays valid: Mailgun retries a failed webhook for 8 hours.
const MAILGUN_MAX_AGE_SECS: i64 = 9 * 3600;
const SENDGRID_SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
const SENDGRID_TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

/// The providers' verification settings (`[ingest.esp]`).
#[derive(Clone, Default)]
pub struct EspSettings {
    /// Mailgun's webhook signing key: set, every Mailgun post must be signed with it.
    pub mailgun_signing_key: Option<String>,
    /// SendGrid's verification key (base64 DER): set, every SendGrid post must be signed.
    pub sendgrid_public_key: Option<String>,
    /// SNS topics SES notifications may come from; empty: any. Subscriptions are confirmed
    /// only for the topics listed here.
    pub ses_topic_arns: Vec<String>,
    /// Checks SNS signatures and confirms subscriptions (Amazon SNS hosts only).
    pub sns: SnsVerifier,
}

impl fmt::Debug for EspSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EspSettings")
            .field(
                "mailgun_signing_key",
                &self.mailgun_signing_key.as_ref().map(|_| "***"),
            )
            .field("sendgrid_public_key", &self.sendgrid_public_key.is_some())
            .field("ses_topic_arns", &self.ses_topic_arns)
            .field("sns", &self.sns)
            .finish()
    }
}

impl From<&EspConfig> for EspSettings {
    fn from(c: &EspConfig) -> Self {
        Self {
            mailgun_signing_key: c
                .mailgun_signing_key
                .as_ref()
                .map(|k| k.expose().to_owned()),
            sendgrid_public_key: c.sendgrid_public_key.clone(),
            ses_topic_arns: c.ses_topic_arns.clone(),
            sns: SnsVerifier::default(),
        }
    }
}

/// Mounts `POST /v1/esp/{provider}`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/esp/{provider}", web::post().to(webhook));
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The `Authorization` value to check: `?token=`, the password of basic auth, or the
/// header as given (bearer).
fn credential(req: &HttpRequest) -> Option<String> {
    let from_query =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("token").cloned())
            .filter(|t| !t.is_empty());
    if let Some(token) = from_query {
        return Some(format!("Bearer {token}"));
    }
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    match given.split_once(' ') {
        Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
            let decoded = STANDARD.decode(encoded.trim()).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (_, password) = decoded.split_once(':')?;
            (!password.is_empty()).then(|| format!("Bearer {password}"))
        }
        _ => Some(given.to_owned()),
    }
}

async fn webhook(
    state: web::Data<IntakeState>,
    req: HttpRequest,
    provider: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let Some(esp) = Esp::from_name(&provider) else {
        return error(
            ErrorCode::NotFound,
            "unknown ESP: use ses, sendgrid, mailgun or postmark",
        );
    };
    let now = Utc::now();
    let Some(authorization) = credential(&req) else {
        return error(
            ErrorCode::Unauthenticated,
            "an ingest API token is required (?token=, basic auth password or bearer)",
        );
    };
    let principal = match state.auth.authenticate(&authorization, now).await {
        Ok(p) => p,
        Err(e) => return error(ErrorCode::Unauthenticated, &e.to_string()),
    };
    if !principal.scope.can_upload_reports() {
        return error(ErrorCode::Forbidden, "this role may not deliver ESP events");
    }
    let scope = principal.scope;
    let source = Source::Esp(esp.as_str().to_owned());
    let content_type = header(&req, CONTENT_TYPE.as_str()).map(str::to_owned);
    let claimed = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (body, too_large) = match claimed {
        Some(len) if len > state.max_body_bytes => (Vec::new(), true),
        _ => match read_limited(payload, state.max_body_bytes).await {
            Ok(read) => read,
            Err(_) => return error(ErrorCode::BadRequest, "the request body could not be read"),
        },
    };
    let refusal = Refused {
        state: &state,
        content_type: content_type.as_deref(),
        source: source.clone(),
        scope: &scope,
        now,
    };
    if too_large {
        let detail = format!("body over the limit of {} bytes", state.max_body_bytes);
        return refusal
            .answer(&body, "body_too_large", &detail, ErrorCode::PayloadTooLarge)
            .await;
    }
    if esp == Esp::Ses
        && let Err((reason, detail, code)) = verify_sns(&state.esp.sns, &body, now).await
    {
        return refusal.answer(&body, reason, &detail, code).await;
    }
    if let Err(e) = verify(&state.esp, esp, &req, &body, now) {
        return refusal
            .answer(
                &body,
                "bad_signature",
                &e.to_string(),
                ErrorCode::Unauthenticated,
            )
            .await;
    }
    let parsed = match esp.parse(&body, now) {
        Ok(p) => p,
        Err(e) => {
            return refusal
                .answer(
                    &body,
                    "invalid_payload",
                    &e.to_string(),
                    ErrorCode::BadRequest,
                )
                .await;
        }
    };
    if let Err(detail) = check_topic(&state.esp, &parsed) {
        return refusal
            .answer(&body, "topic_not_allowed", &detail, ErrorCode::Forbidden)
            .await;
    }
    let EspPayload {
        events,
        problems,
        skipped,
        sns,
    } = parsed;
    let mut confirmed = false;
    if let Some(sns) = sns
        .as_ref()
        .filter(|s| s.kind == "SubscriptionConfirmation")
    {
        if let Err((reason, detail, code)) = confirm(&state.esp, sns).await {
            return refusal.answer(&body, reason, &detail, code).await;
        }
        info!(topic = %sns.topic_arn, "sns subscription confirmed");
        confirmed = true;
    } else if let Some(sns) = sns.as_ref().filter(|s| s.kind == "UnsubscribeConfirmation") {
        info!(topic = %sns.topic_arn, "sns unsubscribe confirmation received and kept");
    }
    match state
        .ingestor
        .ingest_delivery_events(Some(scope), source, body, events, now)
        .await
    {
        Ok(outcome) => HttpResponse::Ok().json(serde_json::json!({
            "intake": outcome,
            "problems": problems,
            "skipped": skipped,
            "sns": sns.map(|s| serde_json::json!({
                "type": s.kind,
                "topic_arn": s.topic_arn,
                "confirmed": confirmed,
            })),
        })),
        Err(e) => {
            warn!(error = %e, esp = esp.as_str(), "esp events could not be stored");
            error(
                ErrorCode::Unavailable,
                "the events could not be stored; try again",
            )
        }
    }
}

/// Checks the provider's signature where one is configured.
fn verify(
    settings: &EspSettings,
    esp: Esp,
    req: &HttpRequest,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), postern_bounce::EspError> {
    match esp {
        Esp::Mailgun => match &settings.mailgun_signing_key {
            Some(key) => postern_bounce::verify_mailgun(body, key, now, MAILGUN_MAX_AGE_SECS),
            None => Ok(()),
        },
        Esp::SendGrid => match &settings.sendgrid_public_key {
            Some(key) => {
                let missing = |h: &str| {
                    postern_bounce::EspError::Signature(format!("the {h} header is missing"))
                };
                let signature =
                    header(req, SENDGRID_SIGNATURE).ok_or_else(|| missing(SENDGRID_SIGNATURE))?;
                let timestamp =
                    header(req, SENDGRID_TIMESTAMP).ok_or_else(|| missing(SENDGRID_TIMESTAMP))?;
                postern_bounce::verify_sendgrid(key, timestamp, body, signature)
            }
            None => Ok(()),
        },
        Esp::Ses | Esp::Postmark => Ok(()),
    }
}

/// What refusing a post takes: the recorded reason, its detail and the answer's code.
type Refuse = (&'static str, String, ErrorCode);

/// SES: the post must be an SNS message whose signature verifies against the certificate
/// at its `SigningCertURL`, which must be an Amazon SNS URL (refused before any fetch).
async fn verify_sns(sns: &SnsVerifier, body: &[u8], now: DateTime<Utc>) -> Result<(), Refuse> {
    let signed = postern_bounce::sns_signed(body).map_err(|e| match e {
        postern_bounce::EspError::Signature(_) => {
            ("bad_signature", e.to_string(), ErrorCode::Unauthenticated)
        }
        _ => ("invalid_payload", e.to_string(), ErrorCode::BadRequest),
    })?;
    sns.verify(&signed, now).await.map_err(|e| match e {
        SnsError::UrlRefused(_) => ("cert_url_refused", e.to_string(), ErrorCode::Forbidden),
        SnsError::Signature(_) => ("bad_signature", e.to_string(), ErrorCode::Unauthenticated),
        // SNS retries what it could not deliver; the certificate may be reachable then.
        SnsError::Fetch(_) => ("cert_unavailable", e.to_string(), ErrorCode::Unavailable),
    })
}

/// SES: confirms a (verified) subscription confirmation by a GET of its `SubscribeURL`,
/// only for a topic listed in `ingest.esp.ses_topic_arns` and only on Amazon SNS hosts.
async fn confirm(settings: &EspSettings, sns: &postern_bounce::SnsMessage) -> Result<(), Refuse> {
    if !settings.ses_topic_arns.contains(&sns.topic_arn) {
        return Err((
            "topic_not_configured",
            format!(
                "SNS topic {} is not in ingest.esp.ses_topic_arns; the subscription is not confirmed",
                sns.topic_arn
            ),
            ErrorCode::Forbidden,
        ));
    }
    let url = sns.subscribe_url.as_deref().ok_or((
        "invalid_payload",
        "the subscription confirmation has no SubscribeURL".to_owned(),
        ErrorCode::BadRequest,
    ))?;
    settings.sns.confirm(url).await.map_err(|e| match e {
        SnsError::UrlRefused(_) => ("subscribe_url_refused", e.to_string(), ErrorCode::Forbidden),
        _ => ("confirmation_failed", e.to_string(), ErrorCode::Unavailable),
    })
}

/// SES: the SNS topic must be one of the configured ones (when any are).
fn check_topic(settings: &EspSettings, payload: &EspPayload) -> Result<(), String> {
    if settings.ses_topic_arns.is_empty() {
        return Ok(());
    }
    match &payload.sns {
        Some(sns) if settings.ses_topic_arns.contains(&sns.topic_arn) => Ok(()),
        Some(sns) => Err(format!("SNS topic {} is not configured in ingest.esp.ses_topic_arns", sns.topic_arn)),
        None => Err("an SES notification without its SNS envelope cannot be checked against ingest.esp.ses_topic_arns".to_owned()),
    }
}

/// What refusing a post needs: the body is kept with the reason, the answer names it.
struct Refused<'a> {
    state: &'a IntakeState,
    content_type: Option<&'a str>,
    source: Source,
    scope: &'a TenantScope,
    now: DateTime<Utc>,
}

impl Refused<'_> {
    async fn answer(
        &self,
        body: &[u8],
        reason: &'static str,
        detail: &str,
        status: ErrorCode,
    ) -> HttpResponse {
        let stored = self
            .state
            .ingestor
            .refuse(
                body,
                self.content_type,
                self.source.clone(),
                Some(self.scope),
                Refusal { reason, detail },
                self.now,
            )
            .await;
        match stored {
            Ok(outcome) => {
                let code = actix_web::http::StatusCode::from_u16(status.http_status())
                    .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
                HttpResponse::build(code).json(serde_json::json!({
                    "error": { "code": status.as_str(), "reason": reason, "message": detail },
                    "input": outcome.input,
                }))
            }
            Err(e) => {
                warn!(error = %e, "a refused esp payload could not be stored");
                error(
                    ErrorCode::Unavailable,
                    "the input could not be stored; try again",
                )
            }
        }
    }
}
