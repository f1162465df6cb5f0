//! `POST /v1/esp/{provider}` end to end on SQLite: the providers' documented sample
//! payloads stored for the token's client, the token given the ways ESPs can send it,
//! signature checks, and bad input refused with its reason and its bytes kept.

#![allow(clippy::unwrap_used)]

use actix_web::{App, test, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use postern_auth::{Authenticator, JwtKeys, JwtSettings, generate_api_token};
use postern_domain::{Role, TenantScope};
use postern_ingest::{EspSettings, IngestSettings, Ingestor, IntakeState, StoreTokens, configure};
use postern_store::testing::TestDb;
use postern_store::{Backend, BounceFilter, Client};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/bounce/tests/fixtures/esp")
            .join(name),
    )
    .unwrap()
}

struct World {
    db: TestDb,
    state: IntakeState,
    token: String,
    acme: Client,
    msp: postern_domain::MspId,
}

async fn world(esp: EspSettings) -> World {
    let db = TestDb::open(Backend::Sqlite).await;
    let msp = db.store.system().create_msp("MSP", true).await.unwrap().id;
    let owner = db.store.tenant(TenantScope::msp(msp, Role::MspOwner, true));
    let acme = owner.create_client("Acme").await.unwrap();
    let token = generate_api_token();
    owner
        .create_api_token(
            "esp",
            Role::ClientAdmin,
            Some(acme.id),
            &token.prefix,
            &token.hash,
            None,
        )
        .await
        .unwrap();
    let jwt = JwtKeys::from_secret(
        &[9u8; 64],
        JwtSettings {
            issuer: "postern".into(),
            audience: "postern".into(),
            ttl: chrono::Duration::hours(1),
        },
    )
    .unwrap();
    let state = IntakeState {
        ingestor: Ingestor::new(
            db.store.clone(),
            IngestSettings::default(),
            Arc::new(tokio::sync::Notify::new()),
        ),
        auth: Arc::new(Authenticator::new(jwt, StoreTokens::new(db.store.clone()))),
        max_body_bytes: 64 * 1024,
        esp,
    };
    World {
        db,
        state,
        token: token.plaintext,
        acme,
        msp,
    }
}

async fn post(w: &World, uri: &str, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Value) {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(w.state.clone()))
            .configure(configure),
    )
    .await;
    let mut req = test::TestRequest::post().uri(uri).set_payload(body);
    for (name, value) in headers {
        req = req.insert_header((*name, value.as_str()));
    }
    let resp = test::call_service(&app, req.to_request()).await;
    let status = resp.status().as_u16();
    let body = test::read_body(resp).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn acme_bounces(w: &World) -> u64 {
    w.db.store
        .tenant(TenantScope::msp(w.msp, Role::MspOwner, true))
        .count_bounces(&BounceFilter {
            client: Some(w.acme.id),
            ..BounceFilter::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn sendgrid_sample_with_query_token_is_stored_for_the_tokens_client() {
    let w = world(EspSettings::default()).await;
    let uri = format!("/v1/esp/sendgrid?token={}", w.token);
    let (status, body) = post(&w, &uri, &[], fixture("sendgrid-events.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["intake"]["delivered"], 1, "{body}");
    assert_eq!(body["intake"]["stored"], 5, "{body}");
    assert_eq!(body["skipped"], 3);
    assert_eq!(body["problems"].as_array().unwrap().len(), 1);
    assert_eq!(acme_bounces(&w).await, 5);
    // The same post again is recognised by the event ids.
    let (_, again) = post(&w, &uri, &[], fixture("sendgrid-events.json")).await;
    assert_eq!(again["intake"]["stored"], 0, "{again}");
    assert_eq!(acme_bounces(&w).await, 5);
}

#[tokio::test]
async fn postmark_with_basic_auth_password_and_ses_with_bearer() {
    let w = world(EspSettings::default()).await;
    let basic = format!("Basic {}", STANDARD.encode(format!("postmark:{}", w.token)));
    let (status, body) = post(
        &w,
        "/v1/esp/postmark",
        &[("authorization", basic)],
        fixture("postmark-bounce.json"),
    )
    .await;
    assert_eq!(
        (status, &body["intake"]["stored"]),
        (200, &Value::from(1)),
        "{body}"
    );
    let bearer = format!("Bearer {}", w.token);
    let (status, body) = post(
        &w,
        "/v1/esp/ses",
        &[("authorization", bearer)],
        fixture("ses-bounce.json"),
    )
    .await;
    assert_eq!(
        (status, &body["intake"]["stored"]),
        (200, &Value::from(1)),
        "{body}"
    );
    assert_eq!(acme_bounces(&w).await, 2);
}

#[tokio::test]
async fn missing_tokens_unknown_providers_and_bad_payloads_are_refused_clearly() {
    let w = world(EspSettings::default()).await;
    let (status, _) = post(&w, "/v1/esp/postmark", &[], fixture("postmark-bounce.json")).await;
    assert_eq!(status, 401);
    let (status, _) = post(
        &w,
        "/v1/esp/postmark?token=pst_wrong_token",
        &[],
        fixture("postmark-bounce.json"),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = post(
        &w,
        &format!("/v1/esp/sparkpost?token={}", w.token),
        &[],
        b"[]".to_vec(),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = post(
        &w,
        &format!("/v1/esp/mailgun?token={}", w.token),
        &[],
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["reason"], "invalid_payload");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    // The bytes are kept with the reason.
    let id = body["input"]["id"].as_str().unwrap().parse().unwrap();
    let kept = w.db.system().raw_input(id).await.unwrap();
    assert_eq!(kept.source, "esp:mailgun");
    assert_eq!(kept.size, 9);
}

#[tokio::test]
async fn mailgun_posts_must_be_signed_when_a_key_is_configured() {
    use hmac::{Hmac, Mac};
    let key = "key-mailgun-signing";
    let w = world(EspSettings {
        mailgun_signing_key: Some(key.into()),
        ..EspSettings::default()
    })
    .await;
    let uri = format!("/v1/esp/mailgun?token={}", w.token);
    let (status, body) = post(&w, &uri, &[], fixture("mailgun-failed-permanent.json")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["reason"], "bad_signature");
    assert!(body["input"]["id"].is_string());

    let mut signed: Value =
        serde_json::from_slice(&fixture("mailgun-failed-permanent.json")).unwrap();
    let ts = chrono::Utc::now().timestamp().to_string();
    let token = "0123456789abcdef0123456789abcdef0123456789abcdef01";
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{ts}{token}").as_bytes());
    signed["signature"] = serde_json::json!({
        "timestamp": ts,
        "token": token,
        "signature": hex::encode(mac.finalize().into_bytes()),
    });
    let (status, body) = post(&w, &uri, &[], serde_json::to_vec(&signed).unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["intake"]["stored"], 1);
}

#[tokio::test]
async fn ses_notifications_from_other_topics_are_refused() {
    let w = world(EspSettings {
        ses_topic_arns: vec!["arn:aws:sns:eu-west-1:999999999999:other".into()],
        ..EspSettings::default()
    })
    .await;
    let uri = format!("/v1/esp/ses?token={}", w.token);
    let (status, body) = post(&w, &uri, &[], fixture("ses-bounce.json")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["reason"], "topic_not_allowed");
    assert_eq!(acme_bounces(&w).await, 0);

    let w = world(EspSettings {
        ses_topic_arns: vec!["arn:aws:sns:us-east-1:123456789012:ses-notifications".into()],
        ..EspSettings::default()
    })
    .await;
    let uri = format!("/v1/esp/ses?token={}", w.token);
    let (status, body) = post(&w, &uri, &[], fixture("ses-subscription-confirmation.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sns"]["type"], "SubscriptionConfirmation");
    let (status, _) = post(&w, &uri, &[], fixture("ses-bounce.json")).await;
    assert_eq!(status, 200);
    assert_eq!(acme_bounces(&w).await, 1);
}

#[tokio::test]
async fn sendgrid_posts_must_carry_a_valid_signature_when_a_key_is_configured() {
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey;
    let signing = SigningKey::from_slice(&[3u8; 32]).unwrap();
    let public = STANDARD.encode(
        signing
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
    );
    let w = world(EspSettings {
        sendgrid_public_key: Some(public),
        ..EspSettings::default()
    })
    .await;
    let uri = format!("/v1/esp/sendgrid?token={}", w.token);
    let body = fixture("sendgrid-events.json");
    let (status, _) = post(&w, &uri, &[], body.clone()).await;
    assert_eq!(status, 401);
    let ts = "1700000000".to_owned();
    let mut signed = ts.as_bytes().to_vec();
    signed.extend_from_slice(&body);
    let sig: Signature = signing.sign(&signed);
    let headers = [
        (
            "x-twilio-email-event-webhook-signature",
            STANDARD.encode(sig.to_der().as_bytes()),
        ),
        ("x-twilio-email-event-webhook-timestamp", ts),
    ];
    let (status, reply) = post(&w, &uri, &headers, body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["intake"]["stored"], 5);
}
