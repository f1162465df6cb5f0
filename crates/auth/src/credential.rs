//! Reading the `Authorization` header.

use crate::api_token::API_TOKEN_PREFIX;
use crate::error::AuthError;

/// A bearer credential, told apart by its shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A session JWT.
    Jwt(&'a str),
    /// An API token (`pst_…`).
    ApiToken(&'a str),
}

/// Parses `Bearer <token>` (the scheme is case-insensitive). A token starting with `pst_` is
/// an API token; anything else is taken for a JWT and left to its verifier.
pub fn parse_authorization(header: &str) -> Result<Credential<'_>, AuthError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(AuthError::MissingCredential);
    }
    let (scheme, token) = header
        .split_once(char::is_whitespace)
        .ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed);
    }
    let token = token.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(AuthError::Malformed);
    }
    Ok(if token.starts_with(API_TOKEN_PREFIX) {
        Credential::ApiToken(token)
    } else {
        Credential::Jwt(token)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for h in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER  abc.def.ghi ",
        ] {
            assert_eq!(
                parse_authorization(h).unwrap(),
                Credential::Jwt("abc.def.ghi")
            );
        }
    }

    #[test]
    fn pst_prefix_means_api_token() {
        assert_eq!(
            parse_authorization("Bearer pst_abc_def").unwrap(),
            Credential::ApiToken("pst_abc_def")
        );
    }

    #[test]
    fn empty_header_is_missing() {
        assert!(matches!(
            parse_authorization(""),
            Err(AuthError::MissingCredential)
        ));
        assert!(matches!(
            parse_authorization("  "),
            Err(AuthError::MissingCredential)
        ));
    }

    #[test]
    fn other_shapes_are_malformed() {
        for h in [
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Token abc",
            "abc.def.ghi",
            "Bearer a b",
            "Bearerabc",
        ] {
            assert!(
                matches!(parse_authorization(h), Err(AuthError::Malformed)),
                "{h}"
            );
        }
    }
}
