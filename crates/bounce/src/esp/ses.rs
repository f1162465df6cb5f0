//! Amazon SES notifications delivered by SNS over HTTPS: the SNS envelope
//! (`SubscriptionConfirmation`, `Notification`, `UnsubscribeConfirmation`) around the SES
//! notification (`notificationType`, or `eventType` for event publishing) with its
//! `mail` object and a `bounce`, `complaint`, `delivery` or `deliveryDelay` object.

use super::{
    EspError, EspPayload, Failure, bounce, complaint, event, json, message_id, rfc3339, shape,
};
use crate::bounce::Reason;
use crate::event::{DeliveryEvent, DeliveryKind};
use chrono::{DateTime, Utc};
use serde_json::Value;

const ESP: &str = "ses";

/// The SNS envelope of a post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnsMessage {
    /// `Notification`, `SubscriptionConfirmation` or `UnsubscribeConfirmation`.
    pub kind: String,
    pub message_id: String,
    pub topic_arn: String,
    /// For a subscription confirmation: the URL that confirms it.
    pub subscribe_url: Option<String>,
}

/// Reads an SNS post carrying SES notifications. A bare SES notification (no SNS
/// envelope, as SES writes to e-mail or a queue) is read too.
pub fn parse_ses(body: &[u8], now: DateTime<Utc>) -> Result<EspPayload, EspError> {
    let outer = json(body)?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut payload = EspPayload::default();
    let notification = match text(&outer, "Type") {
        Some(kind) => {
            let sns = SnsMessage {
                message_id: text(&outer, "MessageId")
                    .ok_or_else(|| shape(ESP, "the SNS message has no MessageId"))?,
                topic_arn: text(&outer, "TopicArn")
                    .ok_or_else(|| shape(ESP, "the SNS message has no TopicArn"))?,
                subscribe_url: text(&outer, "SubscribeURL"),
                kind,
            };
            let is_notification = sns.kind == "Notification";
            payload.sns = Some(sns);
            if !is_notification {
                return Ok(payload);
            }
            let inner = text(&outer, "Message")
                .ok_or_else(|| shape(ESP, "the SNS notification has no Message"))?;
            serde_json::from_str(&inner)
                .map_err(|e| shape(ESP, format!("the SNS Message is not JSON: {e}")))?
        }
        None => outer,
    };
    let event_id = payload.sns.as_ref().map(|s| s.message_id.clone());
    read_notification(&notification, event_id.as_deref(), now, &mut payload)?;
    Ok(payload)
}

fn read_notification(
    n: &Value,
    sns_id: Option<&str>,
    now: DateTime<Utc>,
    payload: &mut EspPayload,
) -> Result<(), EspError> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let kind = text(n, "notificationType")
        .or_else(|| text(n, "eventType"))
        .ok_or_else(|| shape(ESP, "no notificationType or eventType"))?;
    let mail = n.get("mail").unwrap_or(&Value::Null);
    let sender = text(mail, "source");
    let msg_id = mail
        .get("commonHeaders")
        .and_then(|h| h.get("messageId"))
        .and_then(Value::as_str)
        .and_then(message_id)
        .or_else(|| text(mail, "messageId"));
    let campaign = mail
        .get("tags")
        .and_then(|t| t.get("campaign"))
        .and_then(|c| c.get(0))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mail_time = text(mail, "timestamp").and_then(|t| rfc3339(&t));
    let fill = |mut e: DeliveryEvent, id: Option<String>| {
        e.sender = sender.clone();
        e.message_id = msg_id.clone();
        e.campaign = campaign.clone();
        e.provider_event_id = id;
        e
    };
    let id_for = |base: Option<String>, recipient: &str| {
        base.or_else(|| sns_id.map(str::to_owned))
            .map(|b| format!("{b}/{}", recipient.to_ascii_lowercase()))
    };
    let list = |obj: &Value, key: &str| -> Vec<Value> {
        obj.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    match kind.as_str() {
        "Bounce" => {
            let b = n
                .get("bounce")
                .ok_or_else(|| shape(ESP, "a Bounce without bounce"))?;
            let bounce_type = text(b, "bounceType").unwrap_or_default();
            let sub_type = text(b, "bounceSubType").unwrap_or_default();
            let time = text(b, "timestamp")
                .and_then(|t| rfc3339(&t))
                .or(mail_time)
                .unwrap_or(now);
            let reporting_mta = text(b, "reportingMTA").map(|m| strip_type(&m));
            let remote_ip = text(b, "remoteMtaIp");
            let feedback_id = text(b, "feedbackId");
            for (i, r) in list(b, "bouncedRecipients").iter().enumerate() {
                let Some(address) = text(r, "emailAddress") else {
                    payload
                        .problems
                        .push(format!("bouncedRecipients[{i}]: no emailAddress"));
                    continue;
                };
                let diagnostic = text(r, "diagnosticCode").unwrap_or_default();
                let (permanent, reason) = subtype(&bounce_type, &sub_type);
                let b = bounce(Failure {
                    recipient: &address,
                    diagnostic: &strip_type(&diagnostic),
                    status: r.get("status").and_then(Value::as_str),
                    permanent,
                    reason,
                    remote_host: remote_ip.clone(),
                    reporting_mta: reporting_mta.clone(),
                    time: Some(time),
                    message_id: msg_id.clone(),
                    ..Failure::default()
                });
                let mut e = event(DeliveryKind::Bounced, ESP, &address, time);
                e.bounce = Some(b);
                payload
                    .events
                    .push(fill(e, id_for(feedback_id.clone(), &address)));
            }
        }
        "Complaint" => {
            let c = n
                .get("complaint")
                .ok_or_else(|| shape(ESP, "a Complaint without complaint"))?;
            let time = text(c, "timestamp")
                .and_then(|t| rfc3339(&t))
                .unwrap_or(now);
            for (i, r) in list(c, "complainedRecipients").iter().enumerate() {
                let Some(address) = text(r, "emailAddress") else {
                    payload
                        .problems
                        .push(format!("complainedRecipients[{i}]: no emailAddress"));
                    continue;
                };
                let mut e = event(DeliveryKind::Complained, ESP, &address, time);
                e.bounce = Some(complaint(
                    &address,
                    text(c, "complaintFeedbackType"),
                    time,
                    msg_id.clone(),
                ));
                payload
                    .events
                    .push(fill(e, id_for(text(c, "feedbackId"), &address)));
            }
        }
        "Delivery" => {
            let d = n
                .get("delivery")
                .ok_or_else(|| shape(ESP, "a Delivery without delivery"))?;
            let time = text(d, "timestamp")
                .and_then(|t| rfc3339(&t))
                .unwrap_or(now);
            for r in list(d, "recipients") {
                let Some(address) = r.as_str() else { continue };
                let e = event(DeliveryKind::Delivered, ESP, address, time);
                payload.events.push(fill(e, id_for(None, address)));
            }
        }
        "DeliveryDelay" => {
            let d = n
                .get("deliveryDelay")
                .ok_or_else(|| shape(ESP, "a DeliveryDelay without deliveryDelay"))?;
            let time = text(d, "timestamp")
                .and_then(|t| rfc3339(&t))
                .unwrap_or(now);
            let delay = text(d, "delayType").unwrap_or_default();
            for r in list(d, "delayedRecipients") {
                let Some(address) = text(&r, "emailAddress") else {
                    continue;
                };
                let diagnostic = text(&r, "diagnosticCode").unwrap_or_default();
                let b = bounce(Failure {
                    recipient: &address,
                    diagnostic: &strip_type(&diagnostic),
                    status: r.get("status").and_then(Value::as_str),
                    permanent: Some(false),
                    reason: delay_reason(&delay),
                    reporting_mta: text(d, "reportingMTA").map(|m| strip_type(&m)),
                    time: Some(time),
                    message_id: msg_id.clone(),
                    ..Failure::default()
                });
                let mut e = event(DeliveryKind::Deferred, ESP, &address, time);
                e.bounce = Some(b);
                payload.events.push(fill(e, id_for(None, &address)));
            }
        }
        _ => payload.skipped += 1,
    }
    Ok(())
}

/// `smtp; 550 …` → `550 …`; `dsn; host` → `host`.
fn strip_type(s: &str) -> String {
    match s.split_once(';') {
        Some((kind, rest)) if !kind.contains(' ') && kind.len() < 10 => rest.trim().to_owned(),
        _ => s.trim().to_owned(),
    }
}

/// What SES's documented `bounceType`/`bounceSubType` mean: permanence, and the reason
/// when the subtype names one (for `General` the reply text decides).
fn subtype(bounce_type: &str, sub_type: &str) -> (Option<bool>, Option<Reason>) {
    let permanent = match bounce_type {
        "Permanent" => Some(true),
        "Transient" => Some(false),
        _ => None,
    };
    let reason = match sub_type {
        "NoEmail" => Some(Reason::UserUnknown),
        "Suppressed" | "OnAccountSuppressionList" => Some(Reason::Suppressed),
        "MailboxFull" => Some(Reason::MailboxFull),
        "MessageTooLarge" => Some(Reason::MesgTooBig),
        "ContentRejected" | "AttachmentRejected" => Some(Reason::ContentError),
        _ => None,
    };
    (permanent, reason)
}

/// SES's documented `delayType`s.
fn delay_reason(delay: &str) -> Option<Reason> {
    match delay {
        "MailboxFull" => Some(Reason::MailboxFull),
        "SpamDetected" => Some(Reason::SpamDetected),
        "RecipientServerError" => Some(Reason::SystemError),
        "IPFailure" => Some(Reason::Blocked),
        "TransientCommunicationFailure" => Some(Reason::NetworkError),
        "BYOIPHostNameLookupUnavailable" | "Undetermined" => None,
        _ => None,
    }
}
