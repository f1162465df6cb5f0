//! Sending one delivery to its channel: HTTP(S) POST for webhook, Slack and Teams channels
//! (reqwest on rustls with the ring provider and the webpki roots, no redirects, a timeout),
//! SMTP for e-mail channels (lettre, pooled, plain/STARTTLS/TLS as configured).

use crate::error::NotifyError;
use crate::render;
use crate::settings::{NotifySettings, SmtpTls};
use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use postern_store::notify::{ChannelKind, ChannelTarget, DeliveryId, Notice};
use std::sync::Arc;

/// Why an attempt failed, as the delivery log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    /// `http 500 Internal Server Error: …`, `smtp 550: …`, `connect error: …`.
    pub reason: String,
    /// The HTTP status or SMTP reply code, when the receiver answered.
    pub response_code: Option<u16>,
    /// Trying again cannot help (a 4xx answer, a 5xx SMTP reply, a bad target).
    pub permanent: bool,
}

/// Sends deliveries; one per process, shared by the delivery tasks.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    smtp: Option<Arc<Smtp>>,
    allow_private_targets: bool,
}

struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Most bytes of a receiver's error answer kept in the log.
const MAX_ERROR_BODY: usize = 300;

impl Sender {
    /// Builds the HTTP client and, when configured, the SMTP transport.
    pub fn new(settings: &NotifySettings) -> Result<Sender, NotifyError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| NotifyError::Settings(format!("tls: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut http = reqwest::Client::builder();
        if !settings.allow_private_targets {
            // Host names must resolve to public addresses; IP literals are checked before
            // sending by `check_literal_target`.
            http = http.dns_resolver(Arc::new(PublicOnly::new("allow_private_targets")));
        }
        let http = http
            .tls_backend_preconfigured(tls)
            .timeout(settings.http_timeout)
            .connect_timeout(settings.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Postern-Notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Settings(format!("http client: {e}")))?;
        let smtp = match &settings.smtp {
            None => None,
            Some(s) => {
                let builder = match s.tls {
                    SmtpTls::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
                    }
                    SmtpTls::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                            .map_err(|e| NotifyError::Settings(format!("smtp: {e}")))?
                    }
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
                        .map_err(|e| NotifyError::Settings(format!("smtp: {e}")))?,
                };
                let mut builder = builder.port(s.port).timeout(Some(s.timeout));
                if let Some((user, password)) = &s.credentials {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                let from: Mailbox = s
                    .from
                    .parse()
                    .map_err(|e| NotifyError::Settings(format!("smtp from address: {e}")))?;
                Some(Arc::new(Smtp {
                    transport: builder.build(),
                    from,
                }))
            }
        };
        Ok(Sender {
            http,
            smtp,
            allow_private_targets: settings.allow_private_targets,
        })
    }

    /// Sends `notice` to `target` once. `Ok` carries the receiver's status / reply code.
    pub async fn send(
        &self,
        delivery: DeliveryId,
        target: &ChannelTarget,
        notice: &Notice,
        now: DateTime<Utc>,
    ) -> Result<Option<u16>, SendError> {
        let url = &target.channel.target;
        if target.channel.kind != ChannelKind::Email && !self.allow_private_targets {
            check_literal_target(url)?;
        }
        match target.channel.kind {
            ChannelKind::Webhook => {
                let body = json_bytes(&render::webhook_body(delivery, notice))?;
                let secret = target
                    .secret
                    .as_deref()
                    .ok_or_else(|| permanent("the webhook channel has no signing secret"))?;
                let signature = render::signature(secret, now.timestamp(), &body)
                    .map_err(|e| permanent(&format!("signing failed: {e}")))?;
                let request = self
                    .http
                    .post(url)
                    .header(render::SIGNATURE_HEADER, signature)
                    .header("Postern-Delivery", delivery.to_string());
                self.post(request, body).await
            }
            ChannelKind::Slack => {
                let body = json_bytes(&render::slack_body(notice))?;
                self.post(self.http.post(url), body).await
            }
            ChannelKind::Teams => {
                let body = json_bytes(&render::teams_body(notice))?;
                self.post(self.http.post(url), body).await
            }
            ChannelKind::Email => self.mail(target, notice).await,
        }
    }

    async fn post(
        &self,
        request: reqwest::RequestBuilder,
        body: Vec<u8>,
    ) -> Result<Option<u16>, SendError> {
        let response = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| SendError {
                reason: http_error(&e),
                response_code: None,
                permanent: e.is_builder(),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(Some(status.as_u16()));
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(MAX_ERROR_BODY).collect();
        let code = status.as_u16();
        Err(SendError {
            reason: format!("http {status}: {}", text.trim())
                .trim_end_matches([':', ' '])
                .to_owned(),
            response_code: Some(code),
            // A client error other than "timeout" / "too early" / "too many requests" will not
            // go away by itself (a deleted Slack hook answers 404); redirects are not followed.
            permanent: status.is_redirection()
                || (status.is_client_error() && !matches!(code, 408 | 425 | 429)),
        })
    }

    async fn mail(
        &self,
        target: &ChannelTarget,
        notice: &Notice,
    ) -> Result<Option<u16>, SendError> {
        let smtp = self
            .smtp
            .as_ref()
            .ok_or_else(|| permanent("e-mail is not configured ([notify] smtp_host)"))?;
        let to: Mailboxes = target
            .channel
            .target
            .parse()
            .map_err(|e| permanent(&format!("bad recipient list: {e}")))?;
        let (subject, body) = render::email(notice);
        let mut builder = Message::builder()
            .from(smtp.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for mailbox in to {
            builder = builder.to(mailbox);
        }
        let message = builder
            .body(body)
            .map_err(|e| permanent(&format!("building the message failed: {e}")))?;
        match smtp.transport.send(message).await {
            Ok(response) => Ok(Some(u16::from(response.code()))),
            Err(e) => {
                let code = e.status().map(u16::from);
                Err(SendError {
                    reason: match code {
                        Some(code) => format!("smtp {code}: {}", error_chain(&e)),
                        None => format!("smtp: {}", error_chain(&e)),
                    },
                    response_code: code,
                    permanent: e.is_permanent(),
                })
            }
        }
    }
}

/// A target URL whose host is an IP literal must be a public address.
fn check_literal_target(url: &str) -> Result<(), SendError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| permanent(&format!("bad target URL: {e}")))?;
    let host = parsed.host_str().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let Ok(ip) = host.parse::<std::net::IpAddr>() else {
        return Ok(());
    };
    if is_public(ip) {
        Ok(())
    } else {
        Err(permanent(&format!(
            "the target {ip} is an internal address (allow_private_targets is off)"
        )))
    }
}

use postern_dns::{PublicOnly, is_public};

fn json_bytes(value: &serde_json::Value) -> Result<Vec<u8>, SendError> {
    serde_json::to_vec(value).map_err(|e| permanent(&format!("encoding the body failed: {e}")))
}

fn permanent(reason: &str) -> SendError {
    SendError {
        reason: reason.to_owned(),
        response_code: None,
        permanent: true,
    }
}

fn http_error(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connect error"
    } else if e.is_builder() {
        "bad request"
    } else {
        "http error"
    };
    format!("{what}: {}", error_chain(e))
}

/// `error: cause: cause…` without repeats.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
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

    #[test]
    fn literal_internal_targets_fail_permanently_with_the_reason() {
        let error = check_literal_target("https://169.254.169.254/latest/meta-data").unwrap_err();
        assert!(error.permanent);
        assert!(
            error.reason.contains("internal address"),
            "{}",
            error.reason
        );
        assert!(check_literal_target("https://[::1]:8443/hook").is_err());
        assert!(check_literal_target("https://hooks.example.com/x").is_ok());
        assert!(check_literal_target("https://8.8.8.8/x").is_ok());
    }
}
