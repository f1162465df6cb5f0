//! Password hashing with argon2id (the `argon2` crate's defaults: m = 19 MiB, t = 2, p = 1,
//! the OWASP minimum) and a fresh random salt per hash.
//!
//! Both functions are CPU-heavy on purpose (tens of milliseconds in release builds): call them
//! from `spawn_blocking` in async code.

use crate::error::AuthError;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{Error as HashError, PasswordHasher, PasswordVerifier};
use rand::Rng;
use rand::distr::Alphanumeric;

/// Length of generated passwords: 24 base62 characters, about 143 bits.
const GENERATED_PASSWORD_LEN: usize = 24;

/// Hashes `password` with argon2id and a new random salt; returns the PHC string
/// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) to store.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// Checks `password` against a stored PHC string. A wrong password is `Ok(false)`; a stored
/// string that is not a valid argon2 PHC string is an error.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, AuthError> {
    let parsed = PasswordHash::new(phc).map_err(|e| AuthError::Hash(e.to_string()))?;
    // The parameters (algorithm, version, cost) come from the stored string, so hashes made
    // with older parameters keep verifying.
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(HashError::PasswordInvalid) => Ok(false),
        Err(e) => Err(AuthError::Hash(e.to_string())),
    }
}

/// A random password (24 base62 characters, about 143 bits) for accounts made by the
/// installation itself, such as the first owner; shown once, stored only as its hash.
pub fn generate_password() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(GENERATED_PASSWORD_LEN)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_base62_and_distinct() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn hash_is_argon2id_phc_and_verifies_only_the_same_password() {
        let phc = hash_password("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(verify_password("correct horse battery staple", &phc).unwrap());
        assert!(!verify_password("correct horse battery stapl", &phc).unwrap());
        assert!(!verify_password("", &phc).unwrap());
    }

    #[test]
    fn each_hash_has_its_own_salt() {
        let a = hash_password("same").unwrap();
        let b = hash_password("same").unwrap();
        assert_ne!(a, b);
        assert!(verify_password("same", &a).unwrap());
        assert!(verify_password("same", &b).unwrap());
    }

    #[test]
    fn garbage_phc_string_is_an_error_not_a_mismatch() {
        assert!(matches!(
            verify_password("x", "not a phc string"),
            Err(AuthError::Hash(_))
        ));
    }
}
