//! SendGrid's event webhook: a JSON array of events (`delivered`, `bounce` with `type`
//! `bounce` or `blocked`, `dropped`, `deferred`, `spamreport`; engagement events are
//! skipped), and its signed-webhook check: ECDSA P-256 with SHA-256 over the timestamp
//! header followed by the body, with the account's verification key.

use super::{
    EspError, EspPayload, Failure, bounce, complaint, event, json, message_id, shape, unix,
};
use crate::bounce::Reason;
use crate::event::DeliveryKind;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::Value;

const ESP: &str = "sendgrid";

/// Reads a SendGrid event webhook post.
pub fn parse_sendgrid(body: &[u8], now: DateTime<Utc>) -> Result<EspPayload, EspError> {
    let value = json(body)?;
    let events = value
        .as_array()
        .ok_or_else(|| shape(ESP, "expected a JSON array of events"))?;
    let mut payload = EspPayload::default();
    for (i, e) in events.iter().enumerate() {
        match read_event(e, now) {
            Ok(Some(event)) => payload.events.push(event),
            Ok(None) => payload.skipped += 1,
            Err(problem) => payload.problems.push(format!("event {i}: {problem}")),
        }
    }
    Ok(payload)
}

fn read_event(e: &Value, now: DateTime<Utc>) -> Result<Option<crate::DeliveryEvent>, String> {
    let text = |k: &str| e.get(k).and_then(Value::as_str);
    let kind = text("event").ok_or("no event name")?;
    let kind = match kind {
        "delivered" => DeliveryKind::Delivered,
        "bounce" | "dropped" => DeliveryKind::Bounced,
        "deferred" => DeliveryKind::Deferred,
        "spamreport" => DeliveryKind::Complained,
        _ => return Ok(None),
    };
    let email = text("email").ok_or("no email")?;
    let time = e
        .get("timestamp")
        .and_then(Value::as_f64)
        .and_then(unix)
        .unwrap_or(now);
    let msg_id = text("smtp-id").and_then(message_id);
    let mut out = event(kind, ESP, email, time);
    out.message_id = msg_id.clone();
    out.sending_ip = text("ip").map(str::to_owned);
    out.provider_event_id = text("sg_event_id").map(str::to_owned);
    out.campaign = match e.get("category") {
        Some(Value::String(c)) => Some(c.clone()),
        Some(Value::Array(all)) => all.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let reply = text("reason")
        .or_else(|| text("response"))
        .unwrap_or_default();
    out.bounce = match (kind, text("event"), text("type")) {
        (DeliveryKind::Complained, ..) => Some(complaint(email, None, time, msg_id)),
        (DeliveryKind::Bounced, Some("dropped"), _) => Some(bounce(Failure {
            recipient: email,
            diagnostic: reply,
            status: text("status"),
            permanent: Some(false),
            // SendGrid did not send: the address is on one of its suppression lists, or
            // the message is invalid; the reason text says which.
            reason: Some(dropped_reason(reply)),
            time: Some(time),
            message_id: msg_id,
            ..Failure::default()
        })),
        (DeliveryKind::Bounced, _, bounce_type) => Some(bounce(Failure {
            recipient: email,
            diagnostic: reply,
            status: text("status"),
            // `blocked` is SendGrid's name for a temporary refusal.
            permanent: Some(bounce_type != Some("blocked")),
            time: Some(time),
            message_id: msg_id,
            sending_ip: out.sending_ip.clone(),
            ..Failure::default()
        })),
        (DeliveryKind::Deferred, ..) => Some(bounce(Failure {
            recipient: email,
            diagnostic: reply,
            permanent: Some(false),
            time: Some(time),
            message_id: msg_id,
            sending_ip: out.sending_ip.clone(),
            ..Failure::default()
        })),
        (DeliveryKind::Delivered, ..) => None,
    };
    Ok(Some(out))
}

/// SendGrid's documented drop reasons.
fn dropped_reason(reason: &str) -> Reason {
    let r = reason.to_ascii_lowercase();
    if r.contains("invalid") {
        Reason::SyntaxError
    } else if r.contains("spam content") {
        Reason::SpamDetected
    } else {
        // Bounced / Unsubscribed / Spam Reporting Address, and the rest.
        Reason::Suppressed
    }
}

/// Checks SendGrid's signed event webhook: `signature` (base64 DER ECDSA, the
/// `X-Twilio-Email-Event-Webhook-Signature` header) over `timestamp` (the
/// `X-Twilio-Email-Event-Webhook-Timestamp` header) followed by the raw body, with
/// `public_key` (the base64 DER key SendGrid shows).
pub fn verify_sendgrid(
    public_key: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
) -> Result<(), EspError> {
    let bad = |what: &str| EspError::Signature(what.to_owned());
    let der = STANDARD
        .decode(public_key.trim())
        .map_err(|_| bad("the configured SendGrid key is not base64"))?;
    let key = VerifyingKey::from_public_key_der(&der)
        .map_err(|_| bad("the configured SendGrid key is not a P-256 public key"))?;
    let sig = STANDARD
        .decode(signature.trim())
        .map_err(|_| bad("the signature is not base64"))?;
    let sig =
        Signature::from_der(&sig).map_err(|_| bad("the signature is not a DER ECDSA signature"))?;
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    key.verify(&signed, &sig)
        .map_err(|_| bad("the signature does not match the body"))
}
