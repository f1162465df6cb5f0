//! The authenticator end to end, with a fake token store.

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use postern_auth::{
    ApiTokenLookup, AuthError, Authenticator, JwtKeys, JwtSettings, StoredApiToken,
    generate_api_token,
};
use postern_domain::{ApiTokenId, ClientId, MspId, PrincipalKind, Role, TenantScope, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct FakeTokens {
    by_prefix: HashMap<String, StoredApiToken>,
    touched: Mutex<Vec<(ApiTokenId, DateTime<Utc>)>>,
    fail_touch: bool,
    fail_lookup: bool,
}

#[async_trait]
impl ApiTokenLookup for FakeTokens {
    async fn find_by_prefix(&self, prefix: &str) -> Result<Option<StoredApiToken>, AuthError> {
        if self.fail_lookup {
            return Err(AuthError::Lookup("store unavailable".into()));
        }
        Ok(self.by_prefix.get(prefix).cloned())
    }

    async fn touch(&self, id: ApiTokenId, now: DateTime<Utc>) -> Result<(), AuthError> {
        if self.fail_touch {
            return Err(AuthError::Lookup("store unavailable".into()));
        }
        let mut touched = self
            .touched
            .lock()
            .map_err(|_| AuthError::Lookup("poisoned".into()))?;
        touched.push((id, now));
        Ok(())
    }
}

struct Fixture {
    tokens: Arc<FakeTokens>,
    auth: Authenticator<Arc<FakeTokens>>,
    live: String,
    live_id: ApiTokenId,
    revoked: String,
    scope: TenantScope,
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn jwt() -> Result<JwtKeys, AuthError> {
    JwtKeys::from_secret(
        &[42u8; 32],
        JwtSettings {
            issuer: "postern".into(),
            audience: "postern".into(),
            ttl: Duration::minutes(15),
        },
    )
}

/// A store holding one live and one revoked token.
fn fixture(tweak: impl FnOnce(&mut FakeTokens)) -> Result<Fixture, AuthError> {
    let scope = TenantScope::client(MspId::new(), ClientId::new(), Role::ClientAdmin);
    let live = generate_api_token();
    let revoked = generate_api_token();
    let live_id = ApiTokenId::new();
    let mut fake = FakeTokens::default();
    for (t, id, is_revoked) in [(&live, live_id, false), (&revoked, ApiTokenId::new(), true)] {
        fake.by_prefix.insert(
            t.prefix.clone(),
            StoredApiToken {
                id,
                hash: t.hash.clone(),
                scope,
                revoked: is_revoked,
            },
        );
    }
    tweak(&mut fake);
    let tokens = Arc::new(fake);
    Ok(Fixture {
        auth: Authenticator::new(jwt()?, tokens.clone()),
        tokens,
        live: live.plaintext,
        live_id,
        revoked: revoked.plaintext,
        scope,
    })
}

#[tokio::test]
async fn live_api_token_gives_its_scope_and_is_touched() {
    let f = fixture(|_| {}).unwrap();
    let p = f
        .auth
        .authenticate(&format!("Bearer {}", f.live), now())
        .await
        .unwrap();
    assert_eq!(p.kind, PrincipalKind::ApiToken(f.live_id));
    assert_eq!(p.scope, f.scope);
    assert_eq!(*f.tokens.touched.lock().unwrap(), vec![(f.live_id, now())]);
}

#[tokio::test]
async fn revoked_api_token_is_refused() {
    let f = fixture(|_| {}).unwrap();
    let err = f
        .auth
        .authenticate(&format!("Bearer {}", f.revoked), now())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Revoked), "{err:?}");
    assert!(f.tokens.touched.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_api_token_is_refused() {
    let f = fixture(|_| {}).unwrap();
    let stranger = generate_api_token().plaintext;
    let err = f
        .auth
        .authenticate(&format!("Bearer {stranger}"), now())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::UnknownToken), "{err:?}");
}

#[tokio::test]
async fn known_prefix_with_wrong_secret_is_unknown_even_when_revoked() {
    let f = fixture(|_| {}).unwrap();
    for real in [&f.live, &f.revoked] {
        let forged = format!("{}_{}", &real[..14], "A".repeat(32));
        assert_ne!(&forged, real);
        let err = f
            .auth
            .authenticate(&format!("Bearer {forged}"), now())
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::UnknownToken), "{err:?}");
    }
}

#[tokio::test]
async fn misshapen_api_token_is_refused_without_lookup() {
    // The lookup would fail loudly if it were asked.
    let f = fixture(|t| t.fail_lookup = true).unwrap();
    let err = f
        .auth
        .authenticate("Bearer pst_short", now())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::UnknownToken), "{err:?}");
}

#[tokio::test]
async fn lookup_failure_is_an_internal_error() {
    let f = fixture(|t| t.fail_lookup = true).unwrap();
    let err = f
        .auth
        .authenticate(&format!("Bearer {}", f.live), now())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Lookup(_)), "{err:?}");
    assert!(err.is_internal());
}

#[tokio::test]
async fn failed_touch_does_not_refuse_a_valid_token() {
    let f = fixture(|t| t.fail_touch = true).unwrap();
    let p = f
        .auth
        .authenticate(&format!("Bearer {}", f.live), now())
        .await
        .unwrap();
    assert_eq!(p.kind, PrincipalKind::ApiToken(f.live_id));
}

#[tokio::test]
async fn session_jwt_is_verified_at_the_given_time() {
    let f = fixture(|_| {}).unwrap();
    let user = UserId::new();
    let scope = TenantScope::msp(MspId::new(), Role::MspOperator, false);
    let issued = f.auth.jwt().issue(user, &scope, now()).unwrap();
    let header = format!("bearer {}", issued.token);
    let p = f.auth.authenticate(&header, now()).await.unwrap();
    assert_eq!(p.kind, PrincipalKind::User(user));
    assert_eq!(p.scope, scope);
    let later = issued.expires_at + Duration::minutes(5);
    assert!(matches!(
        f.auth.authenticate(&header, later).await,
        Err(AuthError::Expired)
    ));
}

#[tokio::test]
async fn missing_and_malformed_headers_are_refused() {
    let f = fixture(|_| {}).unwrap();
    assert!(matches!(
        f.auth.authenticate("", now()).await,
        Err(AuthError::MissingCredential)
    ));
    assert!(matches!(
        f.auth
            .authenticate(&format!("Basic {}", f.live), now())
            .await,
        Err(AuthError::Malformed)
    ));
    assert!(matches!(
        f.auth.authenticate("Bearer not-a-jwt", now()).await,
        Err(AuthError::InvalidToken(_))
    ));
}
