//! ESP webhooks: each provider's documented sample payloads become the delivery events
//! they describe, and the signature checks accept what the provider signs and nothing else.

// Fixture helpers are plain fns, which clippy's allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use anyhow::Result;
use chrono::{DateTime, TimeZone, Utc};
use postern_bounce::{DeliveryKind, Esp, EspError, Reason, verify_mailgun, verify_sendgrid};
use std::path::Path;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/esp")
            .join(name),
    )
    .unwrap()
}

fn parse(esp: Esp, name: &str) -> postern_bounce::EspPayload {
    esp.parse(&fixture(name), now()).unwrap()
}

#[test]
fn ses_permanent_bounce_is_a_hard_user_unknown_with_its_mail_details() {
    let p = parse(Esp::Ses, "ses-bounce.json");
    let sns = p.sns.as_ref().unwrap();
    assert_eq!(sns.kind, "Notification");
    assert_eq!(
        sns.topic_arn,
        "arn:aws:sns:us-east-1:123456789012:ses-notifications"
    );
    assert_eq!(p.events.len(), 1);
    let e = &p.events[0];
    assert_eq!(e.kind, DeliveryKind::Bounced);
    assert_eq!(e.recipient, "jane@example.com");
    assert_eq!(e.sender.as_deref(), Some("john@example.com"));
    assert_eq!(e.message_id.as_deref(), Some("custom-message-ID"));
    assert_eq!(e.provider, "ses");
    assert!(
        e.provider_event_id
            .as_deref()
            .unwrap()
            .ends_with("/jane@example.com")
    );
    let b = e.bounce.as_ref().unwrap();
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert_eq!(b.reply_code, Some(550));
    assert_eq!(b.reason, Reason::UserUnknown);
    assert!(b.hard);
    assert_eq!(b.reporting_mta.as_deref(), Some("email.example.com"));
    assert_eq!(
        e.time,
        Utc.with_ymd_and_hms(2016, 1, 27, 14, 59, 38).unwrap()
            + chrono::Duration::milliseconds(237)
    );
}

#[test]
fn ses_transient_subtypes_name_the_reason_and_stay_soft() {
    let p = parse(Esp::Ses, "ses-transient-bounce.json");
    assert_eq!(p.events.len(), 2);
    for e in &p.events {
        let b = e.bounce.as_ref().unwrap();
        assert_eq!(b.reason, Reason::MailboxFull, "{}", e.recipient);
        assert!(!b.hard);
    }
    // Two recipients of one notification keep distinct event ids.
    assert_ne!(p.events[0].provider_event_id, p.events[1].provider_event_id);
}

#[test]
fn ses_complaint_delivery_and_subscription_confirmation() {
    let p = parse(Esp::Ses, "ses-complaint.json");
    assert_eq!(p.events[0].kind, DeliveryKind::Complained);
    let b = p.events[0].bounce.as_ref().unwrap();
    assert_eq!(
        (b.reason, b.feedback_type.as_deref()),
        (Reason::Feedback, Some("abuse"))
    );

    let p = parse(Esp::Ses, "ses-delivery.json");
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].kind, DeliveryKind::Delivered);
    assert!(p.events[0].bounce.is_none());

    let p = parse(Esp::Ses, "ses-subscription-confirmation.json");
    assert!(p.events.is_empty());
    let sns = p.sns.unwrap();
    assert_eq!(sns.kind, "SubscriptionConfirmation");
    assert!(
        sns.subscribe_url
            .unwrap()
            .starts_with("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")
    );
}

#[test]
fn sendgrid_sample_array_maps_every_delivery_event_and_skips_engagement() {
    let p = parse(Esp::SendGrid, "sendgrid-events.json");
    let kinds: Vec<_> = p
        .events
        .iter()
        .map(|e| (e.kind, e.provider_event_id.clone().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            (DeliveryKind::Deferred, "sg_event_id_deferred".to_owned()),
            (DeliveryKind::Delivered, "sg_event_id_delivered".to_owned()),
            (DeliveryKind::Bounced, "sg_event_id_bounce".to_owned()),
            (DeliveryKind::Bounced, "sg_event_id_blocked".to_owned()),
            (DeliveryKind::Bounced, "sg_event_id_dropped".to_owned()),
            (
                DeliveryKind::Complained,
                "sg_event_id_spamreport".to_owned()
            ),
        ]
    );
    assert_eq!(p.skipped, 3, "processed, open, unsubscribe");
    assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
    assert!(p.problems[0].starts_with("event 8"));
    let by_id = |id: &str| {
        p.events
            .iter()
            .find(|e| e.provider_event_id.as_deref() == Some(id))
            .unwrap()
    };
    let bounce = by_id("sg_event_id_bounce");
    assert_eq!(
        bounce.message_id.as_deref(),
        Some("14c5d75ce93.dfd.64b469@ismtpd-555")
    );
    assert_eq!(bounce.sending_ip.as_deref(), Some("168.1.1.1"));
    assert_eq!(bounce.campaign.as_deref(), Some("cat facts"));
    let b = bounce.bounce.as_ref().unwrap();
    assert_eq!((b.reason, b.hard), (Reason::UserUnknown, true));
    let blocked = by_id("sg_event_id_blocked");
    assert_eq!(blocked.campaign.as_deref(), Some("cat facts"));
    assert!(!blocked.bounce.as_ref().unwrap().hard);
    assert_eq!(
        by_id("sg_event_id_dropped").bounce.as_ref().unwrap().reason,
        Reason::Suppressed
    );
    assert_eq!(
        by_id("sg_event_id_delivered").time,
        Utc.timestamp_opt(1_513_299_569, 0).unwrap()
    );
}

#[test]
fn mailgun_failures_follow_their_severity() {
    let p = parse(Esp::Mailgun, "mailgun-failed-permanent.json");
    let e = &p.events[0];
    assert_eq!(e.kind, DeliveryKind::Bounced);
    assert_eq!(e.recipient, "alice@example.com");
    assert_eq!(e.sender.as_deref(), Some("bob@sandbox.mailgun.example"));
    assert_eq!(e.sending_ip.as_deref(), Some("209.61.154.250"));
    assert_eq!(e.campaign.as_deref(), Some("my_tag_1"));
    assert_eq!(
        e.message_id.as_deref(),
        Some("20130503192659.13651.20287@sandbox.mailgun.example")
    );
    let b = e.bounce.as_ref().unwrap();
    assert_eq!(
        (b.reason, b.hard, b.reply_code),
        (Reason::UserUnknown, true, Some(550))
    );
    assert_eq!(b.remote_host.as_deref(), Some("smtp-in.example.com"));

    let p = parse(Esp::Mailgun, "mailgun-failed-temporary.json");
    assert_eq!(p.events[0].kind, DeliveryKind::Deferred);
    assert_eq!(
        p.events[0].bounce.as_ref().unwrap().reason,
        Reason::MailboxFull
    );

    let p = parse(Esp::Mailgun, "mailgun-failed-suppressed.json");
    assert_eq!(
        p.events[0].bounce.as_ref().unwrap().reason,
        Reason::Suppressed
    );

    assert_eq!(
        parse(Esp::Mailgun, "mailgun-delivered.json").events[0].kind,
        DeliveryKind::Delivered
    );
    assert_eq!(
        parse(Esp::Mailgun, "mailgun-complained.json").events[0].kind,
        DeliveryKind::Complained
    );
    let opened = parse(Esp::Mailgun, "mailgun-opened.json");
    assert!(opened.events.is_empty());
    assert_eq!(opened.skipped, 1);
}

#[test]
fn postmark_types_name_kind_reason_and_hardness() {
    let p = parse(Esp::Postmark, "postmark-bounce.json");
    let e = &p.events[0];
    assert_eq!(
        (e.kind, e.recipient.as_str()),
        (DeliveryKind::Bounced, "john@example.com")
    );
    assert_eq!(e.sender.as_deref(), Some("sender@example.com"));
    assert_eq!(e.campaign.as_deref(), Some("Invitation"));
    assert_eq!(
        e.provider_event_id.as_deref(),
        Some("bounce/4323372036854775807")
    );
    let b = e.bounce.as_ref().unwrap();
    assert_eq!(
        (b.reason, b.hard, b.status.as_deref()),
        (Reason::UserUnknown, true, Some("5.1.1"))
    );

    let soft = parse(Esp::Postmark, "postmark-soft-bounce.json");
    let b = soft.events[0].bounce.as_ref().unwrap();
    assert_eq!((b.reason, b.hard), (Reason::MailboxFull, false));
    assert_eq!(soft.events[0].campaign, None);

    let d = parse(Esp::Postmark, "postmark-delivery.json");
    assert_eq!(d.events[0].kind, DeliveryKind::Delivered);
    assert_eq!(d.events[0].campaign.as_deref(), Some("welcome-email"));

    let c = parse(Esp::Postmark, "postmark-spam-complaint.json");
    assert_eq!(c.events[0].kind, DeliveryKind::Complained);

    let o = parse(Esp::Postmark, "postmark-open.json");
    assert!(o.events.is_empty());
    assert_eq!(o.skipped, 1);
}

#[test]
fn malformed_payloads_are_clear_errors() {
    for esp in postern_bounce::Esp::ALL {
        assert!(
            matches!(esp.parse(b"not json", now()), Err(EspError::Json(_))),
            "{esp:?}"
        );
        assert!(
            matches!(esp.parse(b"42", now()), Err(EspError::Shape { .. })),
            "{esp:?}"
        );
    }
    let wrapped_garbage =
        br#"{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:x","Message":"{oops"}"#;
    let err = Esp::Ses.parse(wrapped_garbage, now()).unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");
}

#[test]
fn mailgun_signature_is_hmac_sha256_of_timestamp_and_token() -> Result<()> {
    use hmac::{Hmac, Mac};
    let key = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
    let ts = now().timestamp().to_string();
    let token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes())?;
    mac.update(format!("{ts}{token}").as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    let body = |ts: &str, token: &str, sig: &str| {
        format!(
            r#"{{"signature":{{"timestamp":"{ts}","token":"{token}","signature":"{sig}"}},"event-data":{{"event":"delivered"}}}}"#
        )
    };
    verify_mailgun(body(&ts, token, &sig).as_bytes(), key, now(), 900)?;
    assert!(verify_mailgun(body(&ts, "other-token", &sig).as_bytes(), key, now(), 900).is_err());
    assert!(verify_mailgun(body(&ts, token, &sig).as_bytes(), "wrong-key", now(), 900).is_err());
    let later = now() + chrono::Duration::hours(1);
    assert!(verify_mailgun(body(&ts, token, &sig).as_bytes(), key, later, 900).is_err());
    // The documentation's sample has a signature but no key to check it with.
    assert!(matches!(
        verify_mailgun(&fixture("mailgun-delivered.json"), key, now(), 900),
        Err(EspError::Signature(_))
    ));
    Ok(())
}

#[test]
fn sendgrid_signature_is_ecdsa_p256_over_timestamp_and_body() -> Result<()> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey;
    let signing = SigningKey::from_slice(&[7u8; 32])?;
    let public = STANDARD.encode(signing.verifying_key().to_public_key_der()?.as_bytes());
    let body = fixture("sendgrid-events.json");
    let ts = "1600112502";
    let mut signed = ts.as_bytes().to_vec();
    signed.extend_from_slice(&body);
    let sig: Signature = signing.sign(&signed);
    let sig = STANDARD.encode(sig.to_der().as_bytes());
    verify_sendgrid(&public, ts, &body, &sig)?;
    assert!(verify_sendgrid(&public, "1600112503", &body, &sig).is_err());
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert!(verify_sendgrid(&public, ts, &tampered, &sig).is_err());
    assert!(verify_sendgrid("not base64!", ts, &body, &sig).is_err());
    assert!(verify_sendgrid(&public, ts, &body, "AAAA").is_err());
    Ok(())
}

/// The DER inside a PEM file of the SNS fixtures.
fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// PEM text of a DER certificate, as SNS serves it.
fn cert_pem(der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out.into_bytes()
}

/// A self-signed certificate for the SNS test key (`sns/test-key.pem`, which signed the
/// `sns/*-signed-*.json` fixtures with openssl), valid in the given years.
fn sns_cert(from_year: i32, until_year: i32) -> Vec<u8> {
    let key = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/esp/sns/test-key.pem"),
    )
    .unwrap();
    let key = rcgen::KeyPair::try_from(pem_der(&key).as_slice()).unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["sns.us-east-1.amazonaws.com".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(from_year, 1, 1);
    params.not_after = rcgen::date_time_ymd(until_year, 1, 1);
    cert_pem(params.self_signed(&key).unwrap().der())
}

#[test]
fn sns_signatures_of_version_1_and_2_verify_against_the_signing_certificate() {
    let cert = sns_cert(2020, 2040);
    for (file, version) in [
        (
            "sns/ses-bounce-signed-v1.json",
            postern_bounce::SnsSignatureVersion::V1,
        ),
        (
            "sns/ses-bounce-signed-v2.json",
            postern_bounce::SnsSignatureVersion::V2,
        ),
    ] {
        let signed = postern_bounce::sns_signed(&fixture(file)).unwrap();
        assert_eq!(signed.version, version);
        assert_eq!(signed.kind, "Notification");
        assert!(
            signed
                .string_to_sign
                .starts_with("Message\n{\"notificationType\"")
        );
        assert_eq!(
            postern_bounce::verify_sns(&signed, &cert, now()),
            Ok(()),
            "{file}"
        );
        // The DER form of the certificate is accepted too.
        assert_eq!(
            postern_bounce::verify_sns(
                &signed,
                &pem_der(std::str::from_utf8(&cert).unwrap()),
                now()
            ),
            Ok(())
        );
    }
}

#[test]
fn a_tampered_sns_message_or_a_swapped_signature_version_fails() {
    let cert = sns_cert(2020, 2040);
    let mut message: serde_json::Value =
        serde_json::from_slice(&fixture("sns/ses-bounce-signed-v2.json")).unwrap();
    let original = message["Message"].as_str().unwrap().to_owned();
    message["Message"] = original
        .replace("jane@example.com", "john@example.com")
        .into();
    let signed = postern_bounce::sns_signed(&serde_json::to_vec(&message).unwrap()).unwrap();
    let Err(EspError::Signature(why)) = postern_bounce::verify_sns(&signed, &cert, now()) else {
        panic!("a tampered message verified");
    };
    assert!(why.contains("does not match"), "{why}");

    // A version 2 signature presented as version 1.
    message["Message"] = original.into();
    message["SignatureVersion"] = "1".into();
    let signed = postern_bounce::sns_signed(&serde_json::to_vec(&message).unwrap()).unwrap();
    assert!(postern_bounce::verify_sns(&signed, &cert, now()).is_err());
    // Unknown versions and unsigned bodies are refused before any check.
    message["SignatureVersion"] = "3".into();
    assert!(matches!(
        postern_bounce::sns_signed(&serde_json::to_vec(&message).unwrap()),
        Err(EspError::Signature(_))
    ));
    let bare =
        serde_json::from_str::<serde_json::Value>(message["Message"].as_str().unwrap()).unwrap();
    assert!(matches!(
        postern_bounce::sns_signed(&serde_json::to_vec(&bare).unwrap()),
        Err(EspError::Signature(_))
    ));
}

#[test]
fn an_sns_signing_certificate_outside_its_validity_or_with_another_key_is_refused() {
    let signed = postern_bounce::sns_signed(&fixture("sns/ses-bounce-signed-v1.json")).unwrap();
    let Err(EspError::Signature(why)) =
        postern_bounce::verify_sns(&signed, &sns_cert(2020, 2025), now())
    else {
        panic!("an expired certificate was accepted");
    };
    assert!(why.contains("not valid at"), "{why}");
    assert!(postern_bounce::verify_sns(&signed, &sns_cert(2030, 2040), now()).is_err());
    // A certificate of another (EC) key.
    let other = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["sns.example".to_owned()]).unwrap();
    let cert = cert_pem(params.self_signed(&other).unwrap().der());
    let Err(EspError::Signature(why)) = postern_bounce::verify_sns(&signed, &cert, Utc::now())
    else {
        panic!("a certificate of another key was accepted");
    };
    assert!(why.contains("RSA"), "{why}");
    assert!(postern_bounce::verify_sns(&signed, b"not a certificate", now()).is_err());
}
