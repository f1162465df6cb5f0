//! Every credential the API refuses, refused over HTTP: expired, tampered, `alg: none`,
//! wrong audience and wrong issuer JWTs, and a body over the configured limit.

// Helpers are plain fns, which clippy's allow-expect-in-tests does not cover.
#![allow(clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use postern_auth::{JwtKeys, JwtSettings};
use postern_domain::{MspId, Role, TenantScope, UserId};
use postern_tests::{App, Backends, aggregate_report};
use serde_json::{Value, json};

/// The claims of a token (its middle part).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap_or_default();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap_or_default())
        .unwrap_or(Value::Null)
}

fn keys(app: &App, issuer: &str, audience: &str) -> JwtKeys {
    let secret = std::fs::read(app.data.path().join("jwt-secret")).expect("secret file");
    JwtKeys::from_secret(
        &secret,
        JwtSettings {
            issuer: issuer.into(),
            audience: audience.into(),
            ttl: Duration::minutes(15),
        },
    )
    .expect("keys")
}

async fn status_of(app: &App, token: &str) -> (u16, Value) {
    let r = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_stale_jwts_are_refused() -> anyhow::Result<()> {
    let app = App::start(Backends::Embedded).await?;
    let good = app.login_admin().await?;
    assert_eq!(status_of(&app, &good).await.0, 200);
    let c = claims(&good);
    let user: UserId = c["sub"].as_str().unwrap_or_default().parse()?;
    let msp: MspId = c["msp"].as_str().unwrap_or_default().parse()?;
    let scope = TenantScope::msp(msp, Role::MspOwner, true);

    let expired = keys(&app, "postern", "postern")
        .issue(user, &scope, Utc::now() - Duration::hours(3))?
        .token;
    let wrong_audience = keys(&app, "postern", "someone-else")
        .issue(user, &scope, Utc::now())?
        .token;
    let wrong_issuer = keys(&app, "evil", "postern")
        .issue(user, &scope, Utc::now())?
        .token;
    let parts: Vec<&str> = good.split('.').collect();
    let mut tampered_claims = c.clone();
    tampered_claims["msp"] = json!(MspId::new().to_string());
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
        parts[2]
    );
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    for (what, token) in [
        ("expired", expired),
        ("wrong audience", wrong_audience),
        ("wrong issuer", wrong_issuer),
        ("tampered", tampered),
        ("alg none", alg_none),
    ] {
        let (status, body) = status_of(&app, &token).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "unauthenticated",
            "{what}"
        );
        assert!(body["data"].is_null(), "{what}: no data may leak");
    }
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_and_recorded() -> anyhow::Result<()> {
    let app = App::start_with(
        Backends::Embedded,
        vec![("POSTERN__INGEST__MAX_BODY_BYTES".into(), "4096".into())],
    )
    .await?;
    let token = app.login_admin().await?;
    let mut big = aggregate_report("acme.example", "big", 1, 1);
    big.push_str(&" ".repeat(10_000));
    let (status, body) = app.upload(Some(&token), big).await?;
    assert_eq!(status, 413);
    assert_eq!(body["items"][0]["reason"], "body_too_large");
    let data = app
        .graphql_ok(
            Some(&token),
            "{ rejections(first: 5) { totalCount nodes { reason } } }",
            json!({}),
        )
        .await?;
    assert_eq!(data["rejections"]["nodes"][0]["reason"], "body_too_large");
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_bodies_are_bounded_and_must_be_requests() -> anyhow::Result<()> {
    let app = App::start(Backends::Embedded).await?;
    // Far over the 1 MiB GraphQL limit, sent without any credential.
    let huge = format!(
        "{{\"query\": \"{{ viewer {{ role }} }}\", \"pad\": \"{}\"}}",
        "x".repeat(4 << 20)
    );
    let r = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 413);
    let r = app
        .http
        .post(app.url("/graphql"))
        .body("not json")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "bad_request");
    // A batch is answered as a batch.
    let token = app.login_admin().await?;
    let r: Value = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!([{ "query": "{ viewer { role } }" }, { "query": "{ clients(first: 1) { totalCount } }" }]))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(r[0]["data"]["viewer"]["role"], "MSP_OWNER");
    assert_eq!(r[1]["data"]["clients"]["totalCount"], 0);
    app.stop().await;
    Ok(())
}
