//! `POST /v1/esp/{provider}` end to end on SQLite: the providers' documented sample
//! payloads stored for the token's client, the token given the ways ESPs can send it,
//! signature checks (SNS signatures against a certificate served by a local HTTPS server
//! standing in for Amazon SNS), and bad input refused with its reason and its bytes kept.

#![allow(clippy::unwrap_used)]

use actix_web::{App, test, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use postern_auth::{Authenticator, JwtKeys, JwtSettings, generate_api_token};
use postern_domain::{Role, TenantScope};
use postern_ingest::{
    EspSettings, IngestSettings, Ingestor, IntakeState, SnsVerifier, StoreTokens, configure,
};
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
    let sns = SnsServer::start().await;
    let w = world(sns.settings(Vec::new())).await;
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
        sns.signed_fixture("sns/ses-bounce-signed-v1.json", "/cert.pem"),
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
    let sns = SnsServer::start().await;
    let w = world(sns.settings(vec!["arn:aws:sns:eu-west-1:999999999999:other".into()])).await;
    let uri = format!("/v1/esp/ses?token={}", w.token);
    let signed = sns.signed_fixture("sns/ses-bounce-signed-v2.json", "/cert.pem");
    let (status, body) = post(&w, &uri, &[], signed.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["reason"], "topic_not_allowed");
    assert_eq!(acme_bounces(&w).await, 0);

    let w = world(sns.settings(vec![TOPIC.into()])).await;
    let uri = format!("/v1/esp/ses?token={}", w.token);
    let (status, body) = post(&w, &uri, &[], signed).await;
    assert_eq!(status, 200, "{body}");
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

// ---- SNS signatures -------------------------------------------------------------------

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ses-notifications";

/// The SNS test key (`crates/bounce/tests/fixtures/esp/sns/test-key.pem`) as PKCS#8 DER.
fn sns_key() -> Vec<u8> {
    let pem = String::from_utf8(fixture("sns/test-key.pem")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// A self-signed certificate of the SNS test key valid in the given years, as PEM.
fn sns_cert_pem(from_year: i32, until_year: i32) -> Vec<u8> {
    let key = rcgen::KeyPair::try_from(sns_key().as_slice()).unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["sns.us-east-1.amazonaws.com".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(from_year, 1, 1);
    params.not_after = rcgen::date_time_ymd(until_year, 1, 1);
    let der = params.self_signed(&key).unwrap().der().to_vec();
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
    .into_bytes()
}

/// Signs a confirmation as SNS does (SignatureVersion 2, SHA256withRSA), the string to
/// sign written out here from AWS's documentation.
fn sign_confirmation(message: &mut Value) {
    let mut text = String::new();
    for key in [
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ] {
        text.push_str(&format!("{key}\n{}\n", message[key].as_str().unwrap()));
    }
    let key = ring::signature::RsaKeyPair::from_pkcs8(&sns_key()).unwrap();
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        text.as_bytes(),
        &mut signature,
    )
    .unwrap();
    message["SignatureVersion"] = "2".into();
    message["Signature"] = STANDARD.encode(signature).into();
}

/// An HTTPS server on loopback standing in for Amazon SNS: `/cert.pem` is a valid
/// certificate of the SNS test key, `/expired.pem` an expired one, anything else answers
/// 200 (a confirmation). Every request's path is recorded.
struct SnsServer {
    port: u16,
    ca: Vec<u8>,
    requests: Arc<std::sync::Mutex<Vec<String>>>,
}

impl SnsServer {
    async fn start() -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap().der().to_vec();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        let (valid, expired) = (sns_cert_pem(2020, 2100), sns_cert_pem(2020, 2021));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, seen) = (acceptor.clone(), seen.clone());
                let (valid, expired) = (valid.clone(), expired.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head);
                    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                    seen.lock().unwrap().push(path.clone());
                    let body = match path.as_str() {
                        "/cert.pem" => valid,
                        "/expired.pem" => expired,
                        _ => b"<ConfirmSubscriptionResponse/>".to_vec(),
                    };
                    let mut out = format!(
                        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    out.extend_from_slice(&body);
                    let _ = tls.write_all(&out).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self { port, ca, requests }
    }

    /// ESP settings trusting only this server, for the given topics.
    fn settings(&self, topics: Vec<String>) -> EspSettings {
        EspSettings {
            ses_topic_arns: topics,
            sns: SnsVerifier::unsafe_for_testing(
                vec![format!("localhost:{}", self.port)],
                vec![self.ca.clone()],
            ),
            ..EspSettings::default()
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// A signed fixture with its (unsigned) `SigningCertURL` pointed at `cert_path` here.
    fn signed_fixture(&self, name: &str, cert_path: &str) -> Vec<u8> {
        let mut message: Value = serde_json::from_slice(&fixture(name)).unwrap();
        message["SigningCertURL"] = self.url(cert_path).into();
        serde_json::to_vec(&message).unwrap()
    }

    /// A signed subscription confirmation of `topic` whose SubscribeURL is on this server.
    fn confirmation(&self, topic: &str) -> Vec<u8> {
        let mut message: Value =
            serde_json::from_slice(&fixture("ses-subscription-confirmation.json")).unwrap();
        message["TopicArn"] = topic.into();
        message["SubscribeURL"] = self
            .url(&format!(
                "/?Action=ConfirmSubscription&TopicArn={topic}&Token=2336412f37"
            ))
            .into();
        message["SigningCertURL"] = self.url("/cert.pem").into();
        sign_confirmation(&mut message);
        serde_json::to_vec(&message).unwrap()
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn signed_ses_notifications_of_version_1_and_2_are_stored_and_the_certificate_cached() {
    let sns = SnsServer::start().await;
    let w = world(sns.settings(Vec::new())).await;
    let uri = format!("/v1/esp/ses?token={}", w.token);
    for file in [
        "sns/ses-bounce-signed-v1.json",
        "sns/ses-bounce-signed-v2.json",
    ] {
        let (status, body) = post(&w, &uri, &[], sns.signed_fixture(file, "/cert.pem")).await;
        assert_eq!(status, 200, "{file}: {body}");
        assert_eq!(body["sns"]["type"], "Notification");
    }
    // The same bounce twice (one feedback id): stored once.
    assert_eq!(acme_bounces(&w).await, 1);
    assert_eq!(sns.requests(), ["/cert.pem"], "fetched once, then cached");
}

#[tokio::test]
async fn a_tampered_or_unsigned_ses_notification_is_refused_with_its_bytes_kept() {
    let sns = SnsServer::start().await;
    let w = world(sns.settings(Vec::new())).await;
    let uri = format!("/v1/esp/ses?token={}", w.token);
    let mut message: Value =
        serde_json::from_slice(&sns.signed_fixture("sns/ses-bounce-signed-v1.json", "/cert.pem"))
            .unwrap();
    let text = message["Message"]
        .as_str()
        .unwrap()
        .replace("Permanent", "Transient");
    message["Message"] = text.into();
    let tampered = serde_json::to_vec(&message).unwrap();
    let (status, body) = post(&w, &uri, &[], tampered.clone()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["reason"], "bad_signature");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{body}"
    );
    let id = body["input"]["id"].as_str().unwrap().parse().unwrap();
    let kept = w.db.system().raw_input(id).await.unwrap();
    assert_eq!(
        (kept.source.as_str(), kept.size),
        ("esp:ses", tampered.len() as u64)
    );
    assert_eq!(acme_bounces(&w).await, 0);

    // The documentation's sample carries a placeholder signature; a bare SES notification
    // none at all. Both are refused before anything is fetched.
    let before = sns.requests().len();
    let (status, body) = post(&w, &uri, &[], fixture("ses-bounce.json")).await;
    assert_eq!(
        (status, &body["error"]["reason"]),
        (401, &Value::from("bad_signature")),
        "{body}"
    );
    let bare = message["Message"].as_str().unwrap().as_bytes().to_vec();
    let (status, body) = post(&w, &uri, &[], bare).await;
    assert_eq!(
        (status, &body["error"]["reason"]),
        (401, &Value::from("bad_signature")),
        "{body}"
    );
    assert_eq!(sns.requests().len(), before);
}

#[tokio::test]
async fn a_signing_certificate_url_outside_sns_is_refused_without_a_fetch() {
    let sns = SnsServer::start().await;
    let w = world(sns.settings(Vec::new())).await;
    let uri = format!("/v1/esp/ses?token={}", w.token);
    for cert_url in [
        // The same server under another name than the allowed one.
        format!("https://127.0.0.1:{}/cert.pem", sns.port),
        format!("http://localhost:{}/cert.pem", sns.port),
        format!("https://localhost:{}/cert.txt", sns.port),
        format!("https://user@localhost:{}/cert.pem", sns.port),
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem".to_owned(),
    ] {
        let mut message: Value =
            serde_json::from_slice(&fixture("sns/ses-bounce-signed-v2.json")).unwrap();
        message["SigningCertURL"] = cert_url.clone().into();
        let (status, body) = post(&w, &uri, &[], serde_json::to_vec(&message).unwrap()).await;
        assert_eq!(status, 403, "{cert_url}: {body}");
        assert_eq!(body["error"]["reason"], "cert_url_refused", "{cert_url}");
        assert!(body["input"]["id"].is_string());
    }
    assert!(sns.requests().is_empty(), "{:?}", sns.requests());
    assert_eq!(acme_bounces(&w).await, 0);
}

#[tokio::test]
async fn an_expired_signing_certificate_is_refused() {
    let sns = SnsServer::start().await;
    let w = world(sns.settings(Vec::new())).await;
    let uri = format!("/v1/esp/ses?token={}", w.token);
    let signed = sns.signed_fixture("sns/ses-bounce-signed-v1.json", "/expired.pem");
    let (status, body) = post(&w, &uri, &[], signed).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["reason"], "bad_signature");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid at"),
        "{body}"
    );
    assert_eq!(sns.requests(), ["/expired.pem"]);
    assert_eq!(acme_bounces(&w).await, 0);
}

#[tokio::test]
async fn a_subscription_is_confirmed_for_a_configured_topic_and_refused_for_another() {
    let sns = SnsServer::start().await;
    let other = "arn:aws:sns:us-east-1:123456789012:someone-elses";
    let w = world(sns.settings(vec![TOPIC.into()])).await;
    let uri = format!("/v1/esp/ses?token={}", w.token);

    let (status, body) = post(&w, &uri, &[], sns.confirmation(TOPIC)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sns"]["type"], "SubscriptionConfirmation");
    assert_eq!(body["sns"]["confirmed"], true);
    let confirmations = |r: Vec<String>| {
        r.into_iter()
            .filter(|p| p.starts_with("/?Action=ConfirmSubscription"))
            .count()
    };
    assert_eq!(confirmations(sns.requests()), 1, "{:?}", sns.requests());
    // Recorded: the confirmation is kept as an input of the token's client.
    let id = body["intake"]["input"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(w.db.system().raw_input(id).await.unwrap().source, "esp:ses");

    // Another topic: verified, refused, and SNS is not asked to confirm.
    let (status, body) = post(&w, &uri, &[], sns.confirmation(other)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["reason"], "topic_not_allowed");
    assert_eq!(confirmations(sns.requests()), 1);

    // No topics configured: notifications of any topic are taken, but nothing is confirmed.
    let w = world(sns.settings(Vec::new())).await;
    let uri = format!("/v1/esp/ses?token={}", w.token);
    let (status, body) = post(&w, &uri, &[], sns.confirmation(other)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["reason"], "topic_not_configured");
    assert_eq!(confirmations(sns.requests()), 1);
}
