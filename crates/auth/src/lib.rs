//! Who is calling: passwords, session JWTs, API tokens and the authenticator that turns an
//! `Authorization` header into a verified [`Principal`](postern_domain::Principal).
//!
//! Promises: passwords are stored only as argon2id PHC strings; JWTs are HS256 only (an
//! explicit algorithm list, so `alg: none` and algorithm swaps are refused) with issuer,
//! audience, issue and expiry times required; API tokens (`pst_…`) are shown once and stored
//! only as a SHA-256 hash, compared in constant time. Every failure is an [`AuthError`] whose
//! message says no more than "missing", "invalid", "expired" or "revoked", so the edges can
//! answer `unauthenticated` without telling a caller which check failed. Time is always
//! passed in (`now`), never read from the clock inside a check.

mod api_token;
mod authenticator;
mod credential;
mod error;
mod jwt;
mod password;
mod secret;

pub use api_token::{
    API_TOKEN_PREFIX, NewApiToken, api_token_hash, api_token_matches, api_token_prefix,
    generate_api_token, generate_api_token_with,
};
pub use authenticator::{ApiTokenLookup, Authenticator, StoredApiToken};
pub use credential::{Credential, parse_authorization};
pub use error::AuthError;
pub use jwt::{IssuedToken, JwtKeys, JwtSettings, MIN_SECRET_LEN};
pub use password::{generate_password, hash_password, verify_password};
pub use secret::load_or_generate_secret;
