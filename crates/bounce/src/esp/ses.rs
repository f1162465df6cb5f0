//! Amazon SES notifications delivered by SNS over HTTPS: the SNS envelope
//! (`SubscriptionConfirmation`, `Notification`, `UnsubscribeConfirmation`) around the SES
//! notification (`notificationType`, or `eventType` for event publishing) with its
//! `mail` object and a `bounce`, `complaint`, `delivery` or `deliveryDelay` object.
//!
//! Also the pure half of SNS message-signature verification as AWS documents it
//! ("Verifying the signatures of Amazon SNS messages"): the string to sign of each message
//! type ([`sns_string_to_sign`]), the signing-certificate and subscribe URL pattern
//! ([`sns_url_allowed`]) and the RSA check against certificate bytes ([`verify_sns`]).
//! Fetching the certificate is the service's business.

use super::{
    EspError, EspPayload, Failure, bounce, complaint, event, json, message_id, rfc3339, shape,
};
use crate::bounce::Reason;
use crate::event::{DeliveryEvent, DeliveryKind};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use ring::signature::{
    RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
};
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

/// The signature scheme an SNS message names in `SignatureVersion`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnsSignatureVersion {
    /// `1`: RSA PKCS#1 v1.5 with SHA-1 (`SHA1withRSA`).
    V1,
    /// `2`: RSA PKCS#1 v1.5 with SHA-256 (`SHA256withRSA`).
    V2,
}

/// What an SNS message's signature covers and what checks it: read from the envelope by
/// [`sns_signed`], checked against the signing certificate by [`verify_sns`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnsSigned {
    /// `Notification`, `SubscriptionConfirmation` or `UnsubscribeConfirmation`.
    pub kind: String,
    /// The SNS topic the message comes from.
    pub topic_arn: String,
    /// For a (un)subscription confirmation: the URL that confirms the subscription.
    pub subscribe_url: Option<String>,
    /// Where the signing certificate is (`SigningCertURL`), unchecked: see
    /// [`sns_url_allowed`].
    pub signing_cert_url: String,
    /// `SignatureVersion`.
    pub version: SnsSignatureVersion,
    /// The decoded `Signature`.
    pub signature: Vec<u8>,
    /// The canonical string the signature is over.
    pub string_to_sign: String,
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

/// Reads the signed parts of an SNS message: its type, topic, signature, signature version,
/// certificate URL and the canonical string to sign. A body without the SNS envelope, or
/// one missing a signed field, is refused: nothing unsigned can be verified.
pub fn sns_signed(body: &[u8]) -> Result<SnsSigned, EspError> {
    let value = json(body)?;
    let field = |k: &str| value.get(k).and_then(Value::as_str);
    let kind = field("Type").ok_or_else(|| {
        EspError::Signature("not an SNS message (no Type): nothing to verify".to_owned())
    })?;
    let version = match field("SignatureVersion") {
        Some("1") => SnsSignatureVersion::V1,
        Some("2") => SnsSignatureVersion::V2,
        Some(other) => {
            return Err(EspError::Signature(format!(
                "unsupported SignatureVersion {other:?} (1 or 2)"
            )));
        }
        None => return Err(EspError::Signature("no SignatureVersion".to_owned())),
    };
    let signature = field("Signature")
        .ok_or_else(|| EspError::Signature("no Signature".to_owned()))
        .and_then(|s| {
            STANDARD
                .decode(s.trim())
                .map_err(|_| EspError::Signature("the Signature is not base64".to_owned()))
        })?;
    let signing_cert_url = field("SigningCertURL")
        .or_else(|| field("SigningCertUrl"))
        .ok_or_else(|| EspError::Signature("no SigningCertURL".to_owned()))?
        .to_owned();
    Ok(SnsSigned {
        kind: kind.to_owned(),
        topic_arn: field("TopicArn")
            .ok_or_else(|| shape(ESP, "the SNS message has no TopicArn"))?
            .to_owned(),
        subscribe_url: field("SubscribeURL").map(str::to_owned),
        signing_cert_url,
        version,
        signature,
        string_to_sign: sns_string_to_sign(&value)?,
    })
}

/// The canonical string an SNS message's signature is over, as AWS documents it: for each
/// signed key in byte order, the key, a newline, the value, a newline. A `Notification`
/// signs `Message`, `MessageId`, `Subject` (only when present), `Timestamp`, `TopicArn`
/// and `Type`; a `SubscriptionConfirmation` or `UnsubscribeConfirmation` signs `Message`,
/// `MessageId`, `SubscribeURL`, `Timestamp`, `Token`, `TopicArn` and `Type`.
pub fn sns_string_to_sign(message: &Value) -> Result<String, EspError> {
    let kind = message
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| shape(ESP, "the SNS message has no Type"))?;
    let keys: &[(&str, bool)] = match kind {
        "Notification" => &[
            ("Message", true),
            ("MessageId", true),
            ("Subject", false),
            ("Timestamp", true),
            ("TopicArn", true),
            ("Type", true),
        ],
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => &[
            ("Message", true),
            ("MessageId", true),
            ("SubscribeURL", true),
            ("Timestamp", true),
            ("Token", true),
            ("TopicArn", true),
            ("Type", true),
        ],
        other => {
            return Err(shape(ESP, format!("unknown SNS message Type {other:?}")));
        }
    };
    let mut out = String::new();
    for (key, required) in keys {
        match message.get(*key) {
            Some(Value::String(v)) => {
                out.push_str(key);
                out.push('\n');
                out.push_str(v);
                out.push('\n');
            }
            // SNS sends an absent Subject as null.
            None | Some(Value::Null) if !required => {}
            _ => {
                return Err(shape(
                    ESP,
                    format!("the SNS {kind} has no {key} string to verify"),
                ));
            }
        }
    }
    Ok(out)
}

/// Whether `url` may be fetched for SNS: `https://sns.<region>.amazonaws.com[.cn]/…`, no
/// user, no port, nothing but printable ASCII. With `pem`, the path must also end in
/// `.pem` (a signing certificate); without, it is a `SubscribeURL`. The error says what
/// is wrong. Pure: callers check this before any network call.
pub fn sns_url_allowed(url: &str, pem: bool) -> Result<(), String> {
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the URL has spaces or non-ASCII characters".to_owned());
    }
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url} is not an https:// URL"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if !is_sns_host(authority) {
        return Err(format!(
            "{authority} is not an Amazon SNS host (sns.<region>.amazonaws.com[.cn])"
        ));
    }
    if pem {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        if !path.starts_with('/') || !path.ends_with(".pem") {
            return Err(format!("{url} is not a .pem certificate URL"));
        }
    }
    Ok(())
}

/// `sns.<region>.amazonaws.com` or `sns.<region>.amazonaws.com.cn`, lower case, the region
/// letters, digits and hyphens.
fn is_sns_host(authority: &str) -> bool {
    let Some(region) = authority.strip_prefix("sns.").and_then(|h| {
        h.strip_suffix(".amazonaws.com")
            .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
    }) else {
        return false;
    };
    !region.is_empty()
        && region.contains('-')
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Verifies an SNS signature against the signing certificate (PEM, as SNS serves it, or
/// DER): the certificate must be valid at `now` and carry an RSA key, and the signature
/// must be RSA PKCS#1 v1.5 over the string to sign with SHA-1 (version 1) or SHA-256
/// (version 2). Every failure is [`EspError::Signature`] naming the cause.
pub fn verify_sns(
    signed: &SnsSigned,
    certificate: &[u8],
    now: DateTime<Utc>,
) -> Result<(), EspError> {
    let bad = |what: String| EspError::Signature(what);
    let der = if certificate.first() == Some(&0x30) {
        certificate.to_vec()
    } else {
        let (_, pem) = x509_parser::pem::parse_x509_pem(certificate)
            .map_err(|e| bad(format!("the signing certificate is not PEM: {e}")))?;
        if pem.label != "CERTIFICATE" {
            return Err(bad(format!(
                "the signing certificate PEM holds a {}, not a CERTIFICATE",
                pem.label
            )));
        }
        pem.contents
    };
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| bad(format!("the signing certificate is not X.509: {e}")))?;
    let validity = cert.validity();
    let (from, until) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    let at = now.timestamp();
    if at < from || at > until {
        return Err(bad(format!(
            "the signing certificate is not valid at {} (valid from {} until {})",
            now.to_rfc3339(),
            validity.not_before,
            validity.not_after
        )));
    }
    let spki = cert.public_key();
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        return Err(bad(
            "the signing certificate does not carry an RSA key".to_owned()
        ));
    }
    let key = spki.subject_public_key.data.as_ref();
    let result = match signed.version {
        SnsSignatureVersion::V1 => {
            UnparsedPublicKey::new(&RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY, key)
                .verify(signed.string_to_sign.as_bytes(), &signed.signature)
        }
        SnsSignatureVersion::V2 => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
            .verify(signed.string_to_sign.as_bytes(), &signed.signature),
    };
    result.map_err(|_| {
        bad(format!(
            "the signature (version {}) does not match the message and its certificate",
            match signed.version {
                SnsSignatureVersion::V1 => 1,
                SnsSignatureVersion::V2 => 2,
            }
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_string_to_sign_follows_the_documented_key_order() {
        let v: Value = serde_json::json!({
            "Type": "Notification", "MessageId": "m", "TopicArn": "t", "Subject": "s",
            "Message": "hello\nworld", "Timestamp": "2012-01-01T00:00:00.000Z",
            "SignatureVersion": "1", "Signature": "x", "SigningCertURL": "u", "UnsubscribeURL": "u2"
        });
        assert_eq!(
            sns_string_to_sign(&v).unwrap(),
            "Message\nhello\nworld\nMessageId\nm\nSubject\ns\nTimestamp\n2012-01-01T00:00:00.000Z\nTopicArn\nt\nType\nNotification\n"
        );
        let mut v = v;
        v["Subject"] = Value::Null;
        assert!(!sns_string_to_sign(&v).unwrap().contains("Subject"));
    }

    #[test]
    fn confirmation_string_to_sign_includes_subscribe_url_and_token() {
        let v: Value = serde_json::json!({
            "Type": "SubscriptionConfirmation", "MessageId": "m", "Token": "tok",
            "TopicArn": "t", "Message": "msg", "SubscribeURL": "https://x",
            "Timestamp": "ts"
        });
        assert_eq!(
            sns_string_to_sign(&v).unwrap(),
            "Message\nmsg\nMessageId\nm\nSubscribeURL\nhttps://x\nTimestamp\nts\nToken\ntok\nTopicArn\nt\nType\nSubscriptionConfirmation\n"
        );
        let mut v = v;
        v.as_object_mut().unwrap().remove("Token");
        assert!(sns_string_to_sign(&v).is_err());
    }

    #[test]
    fn only_sns_hosts_over_https_are_allowed() {
        for ok in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
        ] {
            assert_eq!(sns_url_allowed(ok, true), Ok(()), "{ok}");
        }
        assert_eq!(
            sns_url_allowed(
                "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=x",
                false
            ),
            Ok(())
        );
        for bad in [
            "http://sns.us-east-1.amazonaws.com/a.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/a.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/a.pem",
            "https://sns.us-east-1.amazonaws.com@evil.example/a.pem",
            "https://sns.us-east-1.amazonaws.com:8443/a.pem",
            "https://s3.us-east-1.amazonaws.com/a.pem",
            "https://sns.amazonaws.com/a.pem",
            "https://sns.us-east-1.amazonaws.com/a.txt",
            "https://SNS.us-east-1.amazonaws.com/a.pem",
            "https://sns.us east-1.amazonaws.com/a.pem",
        ] {
            assert!(sns_url_allowed(bad, true).is_err(), "{bad}");
        }
    }
}
