//! Postmark webhooks: one JSON object per post with a `RecordType` (`Bounce`,
//! `Delivery`, `SpamComplaint`; `Open`, `Click`, `SubscriptionChange` are skipped). A
//! bounce's documented `Type` names its reason.

use super::{EspError, EspPayload, Failure, bounce, complaint, event, json, rfc3339, shape};
use crate::bounce::Reason;
use crate::event::DeliveryKind;
use chrono::{DateTime, Utc};
use serde_json::Value;

const ESP: &str = "postmark";

/// Reads a Postmark webhook post.
pub fn parse_postmark(body: &[u8], now: DateTime<Utc>) -> Result<EspPayload, EspError> {
    let value = json(body)?;
    if !value.is_object() {
        return Err(shape(ESP, "expected a JSON object"));
    }
    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
    // Bounce webhooks of older accounts carry no RecordType: a Type says it is a bounce.
    let record = text("RecordType").unwrap_or_else(|| {
        if value.get("Type").is_some() {
            "Bounce"
        } else {
            ""
        }
        .to_owned()
    });
    let mut payload = EspPayload::default();
    let msg_id = text("MessageID");
    let campaign = text("Tag").filter(|t| !t.is_empty());
    match record.as_str() {
        "Delivery" => {
            let recipient =
                text("Recipient").ok_or_else(|| shape(ESP, "a Delivery without Recipient"))?;
            let time = text("DeliveredAt").and_then(|t| rfc3339(&t)).unwrap_or(now);
            let mut e = event(DeliveryKind::Delivered, ESP, &recipient, time);
            e.message_id = msg_id.clone();
            e.campaign = campaign;
            e.provider_event_id =
                msg_id.map(|m| format!("delivery/{m}/{}", recipient.to_ascii_lowercase()));
            payload.events.push(e);
        }
        "Bounce" | "SpamComplaint" => {
            let recipient = text("Email").ok_or_else(|| shape(ESP, "a Bounce without Email"))?;
            let time = text("BouncedAt").and_then(|t| rfc3339(&t)).unwrap_or(now);
            let bounce_type = text("Type").unwrap_or_default();
            let id = value.get("ID").map(|id| match id {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let Some((kind, permanent, reason)) = bounce_type_meaning(&bounce_type, &record) else {
                payload.skipped = 1;
                return Ok(payload);
            };
            let mut e = event(kind, ESP, &recipient, time);
            e.sender = text("From");
            e.message_id = msg_id.clone();
            e.campaign = campaign;
            e.provider_event_id = id.map(|i| format!("{}/{i}", record.to_ascii_lowercase()));
            e.bounce = Some(if kind == DeliveryKind::Complained {
                complaint(&recipient, None, time, msg_id)
            } else {
                let details = text("Details").unwrap_or_default();
                let description = text("Description").unwrap_or_default();
                let diagnostic = if details.trim().is_empty() {
                    description
                } else {
                    details
                };
                bounce(Failure {
                    recipient: &recipient,
                    diagnostic: &diagnostic,
                    permanent: Some(permanent),
                    reason,
                    time: Some(time),
                    message_id: msg_id,
                    ..Failure::default()
                })
            });
            payload.events.push(e);
        }
        _ => payload.skipped = 1,
    }
    Ok(payload)
}

/// Postmark's documented bounce types: the kind of event, whether it is permanent, and
/// the reason when the type names one (else the details text decides). `None`: no
/// delivery outcome (subscription changes, auto-responders, API errors).
fn bounce_type_meaning(t: &str, record: &str) -> Option<(DeliveryKind, bool, Option<Reason>)> {
    use DeliveryKind::{Bounced, Complained, Deferred};
    if record == "SpamComplaint" {
        return Some((Complained, false, Some(Reason::Feedback)));
    }
    Some(match t {
        "HardBounce" => (Bounced, true, None),
        "BadEmailAddress" => (Bounced, true, Some(Reason::UserUnknown)),
        "SoftBounce" => (Bounced, false, None),
        "Transient" => (Deferred, false, None),
        "DnsError" => (Deferred, false, Some(Reason::NetworkError)),
        "Blocked" => (Bounced, false, Some(Reason::Blocked)),
        "SpamNotification" => (Bounced, false, Some(Reason::SpamDetected)),
        "VirusNotification" => (Bounced, false, Some(Reason::VirusDetected)),
        "DMARCPolicy" => (Bounced, true, Some(Reason::AuthFailure)),
        "ManuallyDeactivated" => (Bounced, false, Some(Reason::Suppressed)),
        "SpamComplaint" => (Complained, false, Some(Reason::Feedback)),
        "Unknown" => (Bounced, false, None),
        _ => return None,
    })
}
