//! Mailgun webhooks: one JSON object per event, `{"signature": {timestamp, token,
//! signature}, "event-data": {...}}`; `delivered`, `failed` (severity `permanent` or
//! `temporary`) and `complained` are delivery outcomes, the rest are skipped. The
//! signature is HMAC-SHA256 of timestamp followed by token with the webhook signing key.

use super::{
    EspError, EspPayload, Failure, bounce, complaint, event, json, message_id, shape, unix,
};
use crate::bounce::Reason;
use crate::event::DeliveryKind;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const ESP: &str = "mailgun";

/// Reads a Mailgun webhook post.
pub fn parse_mailgun(body: &[u8], now: DateTime<Utc>) -> Result<EspPayload, EspError> {
    let value = json(body)?;
    let data = value
        .get("event-data")
        .ok_or_else(|| shape(ESP, "no event-data object"))?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let name = text(data, "event").ok_or_else(|| shape(ESP, "event-data has no event"))?;
    let mut payload = EspPayload::default();
    let kind = match (name.as_str(), text(data, "severity").as_deref()) {
        ("delivered", _) => DeliveryKind::Delivered,
        ("failed", Some("temporary")) => DeliveryKind::Deferred,
        ("failed", _) => DeliveryKind::Bounced,
        ("complained", _) => DeliveryKind::Complained,
        _ => {
            payload.skipped = 1;
            return Ok(payload);
        }
    };
    let recipient =
        text(data, "recipient").ok_or_else(|| shape(ESP, "event-data has no recipient"))?;
    let time = data
        .get("timestamp")
        .and_then(Value::as_f64)
        .and_then(unix)
        .unwrap_or(now);
    let envelope = data.get("envelope").unwrap_or(&Value::Null);
    let headers = data
        .get("message")
        .and_then(|m| m.get("headers"))
        .unwrap_or(&Value::Null);
    let msg_id = text(headers, "message-id").and_then(|m| message_id(&m));
    let mut e = event(kind, ESP, &recipient, time);
    e.sender = text(envelope, "sender");
    e.sending_ip = text(envelope, "sending-ip");
    e.message_id = msg_id.clone();
    e.provider_event_id = text(data, "id");
    e.campaign = data
        .get("tags")
        .and_then(|t| t.get(0))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let status = data.get("delivery-status").unwrap_or(&Value::Null);
    e.bounce = match kind {
        DeliveryKind::Delivered => None,
        DeliveryKind::Complained => Some(complaint(&recipient, None, time, msg_id)),
        DeliveryKind::Bounced | DeliveryKind::Deferred => {
            let message = text(status, "message").unwrap_or_default();
            let description = text(status, "description").unwrap_or_default();
            let diagnostic = if message.trim().is_empty() {
                description
            } else {
                message
            };
            let code = status
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (200..600).contains(c));
            let reason = match text(data, "reason").as_deref() {
                Some("suppress-bounce" | "suppress-unsubscribe" | "suppress-complaint") => {
                    Some(Reason::Suppressed)
                }
                _ => None,
            };
            Some(bounce(Failure {
                recipient: &recipient,
                diagnostic: &diagnostic,
                reply_code: code,
                permanent: Some(kind == DeliveryKind::Bounced),
                reason,
                remote_host: text(status, "mx-host"),
                time: Some(time),
                message_id: msg_id,
                sending_ip: e.sending_ip.clone(),
                ..Failure::default()
            }))
        }
    };
    payload.events.push(e);
    Ok(payload)
}

/// Checks the `signature` object of a Mailgun post with the webhook signing key: the
/// HMAC-SHA256 of `timestamp` followed by `token`, hex-encoded. The timestamp must be
/// within `max_age_secs` of `now`, so an old post cannot be replayed.
pub fn verify_mailgun(
    body: &[u8],
    signing_key: &str,
    now: DateTime<Utc>,
    max_age_secs: i64,
) -> Result<(), EspError> {
    let bad = |what: &str| EspError::Signature(what.to_owned());
    let value = json(body)?;
    let sig = value
        .get("signature")
        .ok_or_else(|| bad("no signature object"))?;
    let field = |k: &str| -> Result<String, EspError> {
        match sig.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(bad(&format!("the signature object has no {k}"))),
        }
    };
    let (timestamp, token, signature) = (field("timestamp")?, field("token")?, field("signature")?);
    let expected = hex::decode(signature.trim()).map_err(|_| bad("the signature is not hex"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_key.as_bytes())
        .map_err(|_| bad("the signing key cannot be used"))?;
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| bad("the signature does not match"))?;
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| bad("the timestamp is not a number"))?;
    if (now.timestamp() - at).abs() > max_age_secs {
        return Err(bad("the timestamp is too old or in the future"));
    }
    Ok(())
}
