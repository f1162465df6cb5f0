//! Session tokens: HS256 JWTs signed with the installation's secret.

use crate::error::AuthError;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use postern_domain::{
    ClientId, ClientReach, MspId, Principal, PrincipalKind, Role, TenantScope, UserId,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The shortest signing secret accepted: 256 bits, the HS256 output size.
pub const MIN_SECRET_LEN: usize = 32;

/// The only algorithm accepted. A list of one: a token whose header names anything else
/// (`none`, `HS512`, `RS256`, …) is refused before its signature is looked at.
const ALGORITHM: Algorithm = Algorithm::HS256;

/// Clock skew tolerated between the issuing and the verifying process, in seconds.
const LEEWAY_SECS: i64 = 30;

/// What every issued token says about where it comes from and how long it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtSettings {
    /// `iss`: this installation.
    pub issuer: String,
    /// `aud`: the API that accepts the token.
    pub audience: String,
    /// Lifetime of an issued token.
    pub ttl: Duration,
}

/// A freshly signed token and the moment it stops being accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Signing and verifying keys for session JWTs, with the checks every token must pass.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    settings: JwtSettings,
}

/// The claims of a session token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user.
    sub: UserId,
    msp: MspId,
    /// Set when the user acts for exactly one client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client: Option<ClientId>,
    role: Role,
    /// The MSP operates the installation (see [`TenantScope::operator`]).
    op: bool,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
    jti: Uuid,
}

impl JwtKeys {
    /// Keys from the configured or generated secret; secrets shorter than
    /// [`MIN_SECRET_LEN`] bytes are refused.
    pub fn from_secret(secret: &[u8], settings: JwtSettings) -> Result<Self, AuthError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(AuthError::WeakSecret {
                len: secret.len(),
                min: MIN_SECRET_LEN,
            });
        }
        let encoding =
            EncodingKey::from_secret(secret).map_err(|e| AuthError::Signing(e.to_string()))?;
        let decoding =
            DecodingKey::from_secret(secret).map_err(|e| AuthError::Signing(e.to_string()))?;

        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        // `exp` (and `iat`) are checked in `verify_at` against the caller's `now`, so that
        // time is injected rather than read from the system clock inside the library.
        // `iat` is required by the `Claims` type itself.
        validation.validate_exp = false;
        validation.validate_nbf = false;

        Ok(Self {
            encoding,
            decoding,
            validation,
            settings,
        })
    }

    /// The issuer, audience and lifetime tokens are made with.
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// Signs a session token for `user` acting under `scope`, valid from `now` for the
    /// configured lifetime.
    pub fn issue(
        &self,
        user: UserId,
        scope: &TenantScope,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AuthError> {
        let client = match scope.reach {
            ClientReach::All => None,
            ClientReach::One(c) => Some(c),
        };
        if client.is_none() && !scope.role.is_msp_staff() {
            return Err(AuthError::Signing(format!(
                "role {} needs a client",
                scope.role
            )));
        }
        let iat = now.timestamp();
        let exp = iat
            .checked_add(self.settings.ttl.num_seconds())
            .filter(|exp| *exp > iat)
            .ok_or_else(|| AuthError::Signing("token lifetime out of range".into()))?;
        let expires_at = DateTime::from_timestamp(exp, 0)
            .ok_or_else(|| AuthError::Signing("expiry out of range".into()))?;
        let claims = Claims {
            sub: user,
            msp: scope.msp,
            client,
            role: scope.role,
            op: scope.operator,
            iat,
            exp,
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            jti: Uuid::new_v4(),
        };
        let token = jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding)
            .map_err(|e| AuthError::Signing(e.to_string()))?;
        Ok(IssuedToken { token, expires_at })
    }

    /// Verifies a session token against the system clock. Prefer [`JwtKeys::verify_at`]
    /// where a `now` is at hand.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_at(token, Utc::now())
    }

    /// Verifies a session token as of `now`: algorithm (HS256 only), signature, issuer,
    /// audience, and that it was issued no later than and expires after `now` (each with a
    /// small leeway for clock skew).
    pub fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Result<Principal, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| refusal(e.kind()))?
            .claims;

        let now = now.timestamp();
        if claims.exp <= claims.iat {
            return Err(AuthError::InvalidToken("expiry not after issue time"));
        }
        if claims.iat > now.saturating_add(LEEWAY_SECS) {
            return Err(AuthError::InvalidToken("issued in the future"));
        }
        if now >= claims.exp.saturating_add(LEEWAY_SECS) {
            return Err(AuthError::Expired);
        }

        let scope = match claims.client {
            Some(client) => TenantScope {
                msp: claims.msp,
                reach: ClientReach::One(client),
                role: claims.role,
                operator: claims.op,
            },
            // A client role without its client would otherwise reach the whole MSP.
            None if !claims.role.is_msp_staff() => {
                return Err(AuthError::InvalidToken("client role without client"));
            }
            None => TenantScope::msp(claims.msp, claims.role, claims.op),
        };
        Ok(Principal {
            kind: PrincipalKind::User(claims.sub),
            scope,
        })
    }
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("settings", &self.settings)
            .field("keys", &"***")
            .finish()
    }
}

/// Maps a library refusal to our error; the reason stays out of the message.
fn refusal(kind: &ErrorKind) -> AuthError {
    AuthError::InvalidToken(match kind {
        ErrorKind::ExpiredSignature => return AuthError::Expired,
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm => "algorithm not allowed",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::MissingRequiredClaim(_) => "missing claim",
        _ => "malformed token",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use chrono::TimeZone;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn settings() -> JwtSettings {
        JwtSettings {
            issuer: "postern-test".into(),
            audience: "postern-api".into(),
            ttl: Duration::hours(1),
        }
    }

    fn keys() -> JwtKeys {
        JwtKeys::from_secret(SECRET, settings()).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn msp_scope() -> TenantScope {
        TenantScope::msp(MspId::new(), Role::MspAdmin, true)
    }

    /// Splits a token into its three base64url parts.
    fn parts(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    fn decode_part(part: &str) -> serde_json::Value {
        serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
    }

    fn encode_part(v: &serde_json::Value) -> String {
        B64.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn issued_token_round_trips_to_the_same_principal() {
        let keys = keys();
        let user = UserId::new();
        for scope in [
            msp_scope(),
            TenantScope::client(MspId::new(), ClientId::new(), Role::ClientViewer),
        ] {
            let issued = keys.issue(user, &scope, now()).unwrap();
            assert_eq!(issued.expires_at, now() + Duration::hours(1));
            let p = keys.verify_at(&issued.token, now()).unwrap();
            assert_eq!(p.kind, PrincipalKind::User(user));
            assert_eq!(p.scope, scope);
        }
    }

    #[test]
    fn claims_carry_the_agreed_names() {
        let keys = keys();
        let scope = TenantScope::client(MspId::new(), ClientId::new(), Role::ClientAdmin);
        let token = keys.issue(UserId::new(), &scope, now()).unwrap().token;
        let header = decode_part(&parts(&token)[0]);
        assert_eq!(header["alg"], "HS256");
        let claims = decode_part(&parts(&token)[1]);
        for name in [
            "sub", "msp", "client", "role", "op", "iat", "exp", "iss", "aud", "jti",
        ] {
            assert!(claims.get(name).is_some(), "missing {name}: {claims}");
        }
        assert_eq!(claims["role"], "client_admin");
        assert_eq!(claims["iss"], "postern-test");
        assert_eq!(claims["aud"], "postern-api");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            3600
        );
    }

    #[test]
    fn each_token_has_its_own_jti() {
        let keys = keys();
        let scope = msp_scope();
        let user = UserId::new();
        let a = keys.issue(user, &scope, now()).unwrap().token;
        let b = keys.issue(user, &scope, now()).unwrap().token;
        assert_ne!(
            decode_part(&parts(&a)[1])["jti"],
            decode_part(&parts(&b)[1])["jti"]
        );
    }

    #[test]
    fn expired_token_is_refused_as_expired() {
        let keys = keys();
        let issued_at = now() - Duration::hours(2);
        let token = keys
            .issue(UserId::new(), &msp_scope(), issued_at)
            .unwrap()
            .token;
        assert!(matches!(
            keys.verify_at(&token, now()),
            Err(AuthError::Expired)
        ));
        // Also against the system clock: issued long ago.
        let old = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        let token = keys.issue(UserId::new(), &msp_scope(), old).unwrap().token;
        assert!(matches!(keys.verify(&token), Err(AuthError::Expired)));
    }

    #[test]
    fn expiry_has_only_a_small_leeway() {
        let keys = keys();
        let token = keys
            .issue(UserId::new(), &msp_scope(), now())
            .unwrap()
            .token;
        let exp = now() + Duration::hours(1);
        assert!(keys.verify_at(&token, exp + Duration::seconds(10)).is_ok());
        assert!(matches!(
            keys.verify_at(&token, exp + Duration::seconds(LEEWAY_SECS)),
            Err(AuthError::Expired)
        ));
    }

    #[test]
    fn token_from_the_future_is_refused() {
        let keys = keys();
        let token = keys
            .issue(UserId::new(), &msp_scope(), now() + Duration::minutes(10))
            .unwrap()
            .token;
        assert!(matches!(
            keys.verify_at(&token, now()),
            Err(AuthError::InvalidToken("issued in the future"))
        ));
    }

    #[test]
    fn tampered_payload_is_refused() {
        let keys = keys();
        let token = keys
            .issue(
                UserId::new(),
                &TenantScope::msp(MspId::new(), Role::MspViewer, false),
                now(),
            )
            .unwrap()
            .token;
        let p = parts(&token);
        let mut claims = decode_part(&p[1]);
        claims["role"] = "msp_owner".into();
        let forged = format!("{}.{}.{}", p[0], encode_part(&claims), p[2]);
        assert!(matches!(
            keys.verify_at(&forged, now()),
            Err(AuthError::InvalidToken("bad signature"))
        ));
    }

    #[test]
    fn tampered_signature_is_refused() {
        let keys = keys();
        let token = keys
            .issue(UserId::new(), &msp_scope(), now())
            .unwrap()
            .token;
        let p = parts(&token);
        let mut sig = B64.decode(&p[2]).unwrap();
        sig[0] ^= 0x01;
        let forged = format!("{}.{}.{}", p[0], p[1], B64.encode(sig));
        assert!(matches!(
            keys.verify_at(&forged, now()),
            Err(AuthError::InvalidToken("bad signature"))
        ));
        // A token signed with another secret is the same case.
        let other = JwtKeys::from_secret(&[7u8; 32], settings()).unwrap();
        let token = other
            .issue(UserId::new(), &msp_scope(), now())
            .unwrap()
            .token;
        assert!(matches!(
            keys.verify_at(&token, now()),
            Err(AuthError::InvalidToken("bad signature"))
        ));
    }

    #[test]
    fn alg_none_token_is_refused() {
        let keys = keys();
        let token = keys
            .issue(UserId::new(), &msp_scope(), now())
            .unwrap()
            .token;
        let claims = parts(&token)[1].clone();
        let header = encode_part(&serde_json::json!({"alg": "none", "typ": "JWT"}));
        for forged in [
            format!("{header}.{claims}."),
            format!("{header}.{claims}"),
            format!("{header}.{claims}.{}", parts(&token)[2]),
        ] {
            assert!(
                matches!(
                    keys.verify_at(&forged, now()),
                    Err(AuthError::InvalidToken(_))
                ),
                "{forged}"
            );
        }
    }

    #[test]
    fn other_algorithms_are_refused_even_with_the_right_secret() {
        let keys = keys();
        let claims = parts(
            &keys
                .issue(UserId::new(), &msp_scope(), now())
                .unwrap()
                .token,
        )[1]
        .clone();
        let claims: serde_json::Value = decode_part(&claims);
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = jsonwebtoken::encode(
                &Header::new(alg),
                &claims,
                &EncodingKey::from_secret(SECRET).unwrap(),
            )
            .unwrap();
            assert!(matches!(
                keys.verify_at(&token, now()),
                Err(AuthError::InvalidToken("algorithm not allowed"))
            ));
        }
        // An RS256 header over an HMAC signature (the classic key-confusion attempt).
        let p = parts(
            &keys
                .issue(UserId::new(), &msp_scope(), now())
                .unwrap()
                .token,
        );
        let header = encode_part(&serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        let forged = format!("{header}.{}.{}", p[1], p[2]);
        assert!(matches!(
            keys.verify_at(&forged, now()),
            Err(AuthError::InvalidToken("algorithm not allowed"))
        ));
    }

    #[test]
    fn wrong_audience_is_refused() {
        let other = JwtKeys::from_secret(
            SECRET,
            JwtSettings {
                audience: "someone-else".into(),
                ..settings()
            },
        )
        .unwrap();
        let token = other
            .issue(UserId::new(), &msp_scope(), now())
            .unwrap()
            .token;
        assert!(matches!(
            keys().verify_at(&token, now()),
            Err(AuthError::InvalidToken("wrong audience"))
        ));
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let other = JwtKeys::from_secret(
            SECRET,
            JwtSettings {
                issuer: "another-installation".into(),
                ..settings()
            },
        )
        .unwrap();
        let token = other
            .issue(UserId::new(), &msp_scope(), now())
            .unwrap()
            .token;
        assert!(matches!(
            keys().verify_at(&token, now()),
            Err(AuthError::InvalidToken("wrong issuer"))
        ));
    }

    #[test]
    fn missing_required_claims_are_refused() {
        let keys = keys();
        let token = keys
            .issue(UserId::new(), &msp_scope(), now())
            .unwrap()
            .token;
        let claims = decode_part(&parts(&token)[1]);
        for drop in ["exp", "iss", "aud", "iat", "sub"] {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove(drop);
            let token = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &c,
                &EncodingKey::from_secret(SECRET).unwrap(),
            )
            .unwrap();
            assert!(
                matches!(
                    keys.verify_at(&token, now()),
                    Err(AuthError::InvalidToken(_))
                ),
                "token without {drop} was accepted"
            );
        }
    }

    #[test]
    fn client_role_without_client_is_neither_issued_nor_accepted() {
        let keys = keys();
        let bad = TenantScope {
            msp: MspId::new(),
            reach: ClientReach::All,
            role: Role::ClientAdmin,
            operator: false,
        };
        assert!(matches!(
            keys.issue(UserId::new(), &bad, now()),
            Err(AuthError::Signing(_))
        ));
        let token = keys
            .issue(UserId::new(), &msp_scope(), now())
            .unwrap()
            .token;
        let mut claims = decode_part(&parts(&token)[1]);
        claims["role"] = "client_admin".into();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            keys.verify_at(&token, now()),
            Err(AuthError::InvalidToken("client role without client"))
        ));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            JwtKeys::from_secret(&[1u8; 31], settings()),
            Err(AuthError::WeakSecret { len: 31, min: 32 })
        ));
        assert!(JwtKeys::from_secret(&[1u8; 32], settings()).is_ok());
    }

    #[test]
    fn garbage_is_refused() {
        let keys = keys();
        for junk in ["", "a", "a.b", "a.b.c", "....", "pst_abc"] {
            assert!(matches!(
                keys.verify_at(junk, now()),
                Err(AuthError::InvalidToken(_))
            ));
        }
    }

    #[test]
    fn debug_does_not_print_key_material() {
        let s = format!("{:?}", keys());
        assert!(!s.contains("0123456789abcdef"), "{s}");
    }
}
