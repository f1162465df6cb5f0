//! API tokens for automation: `pst_<id>_<secret>`, shown once, stored as a SHA-256 hash.
//!
//! The id part (10 base62 characters) is stored in clear as the token's prefix, so a token
//! is found by one indexed lookup and recognisable in logs and secret scanners; the secret
//! part (32 base62 characters, about 190 bits) is what makes it unguessable.
//!
//! A single unsalted SHA-256 is enough here, unlike for passwords: the hashed value is
//! itself ≥ 190 bits of uniform randomness (plus ~59 bits in the id), so there is no
//! dictionary to precompute and brute force is out of reach; a slow hash would only make
//! every API call slower.

use rand::CryptoRng;
use rand::distr::{Alphanumeric, Distribution};
use sha2::{Digest, Sha256};

/// Every API token starts with this.
pub const API_TOKEN_PREFIX: &str = "pst_";
const ID_LEN: usize = 10;
const SECRET_LEN: usize = 32;
/// `pst_` + id.
const PREFIX_LEN: usize = API_TOKEN_PREFIX.len() + ID_LEN;
/// `pst_` + id + `_` + secret.
const TOKEN_LEN: usize = PREFIX_LEN + 1 + SECRET_LEN;

/// A token just made: show `plaintext` once, store `prefix` and `hash`.
#[derive(Clone, PartialEq, Eq)]
pub struct NewApiToken {
    /// The whole token, `pst_` + 10-character id + `_` + 32-character secret.
    pub plaintext: String,
    /// `pst_` + the id part: stored in clear, used to find the token.
    pub prefix: String,
    /// Lowercase hex SHA-256 of `plaintext`.
    pub hash: String,
}

impl std::fmt::Debug for NewApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiToken")
            .field("plaintext", &"***")
            .field("prefix", &self.prefix)
            .field("hash", &self.hash)
            .finish()
    }
}

/// A new token from the thread-local CSPRNG.
pub fn generate_api_token() -> NewApiToken {
    generate_api_token_with(&mut rand::rng())
}

/// A new token from `rng` (tests pass a seeded one).
pub fn generate_api_token_with<R: CryptoRng + ?Sized>(rng: &mut R) -> NewApiToken {
    let mut base62 = |n: usize| -> String {
        (0..n)
            .map(|_| char::from(Alphanumeric.sample(&mut *rng)))
            .collect()
    };
    let id = base62(ID_LEN);
    let secret = base62(SECRET_LEN);
    let plaintext = format!("{API_TOKEN_PREFIX}{id}_{secret}");
    NewApiToken {
        prefix: plaintext[..PREFIX_LEN].to_owned(),
        hash: api_token_hash(&plaintext),
        plaintext,
    }
}

/// The stored prefix (`pst_` + id) of a well-formed token; `None` if `token` does not have
/// the API token shape.
pub fn api_token_prefix(token: &str) -> Option<&str> {
    let b = token.as_bytes();
    let well_formed = b.len() == TOKEN_LEN
        && token.starts_with(API_TOKEN_PREFIX)
        && b[PREFIX_LEN] == b'_'
        && b[API_TOKEN_PREFIX.len()..PREFIX_LEN]
            .iter()
            .chain(&b[PREFIX_LEN + 1..])
            .all(u8::is_ascii_alphanumeric);
    well_formed.then(|| &token[..PREFIX_LEN])
}

/// Lowercase hex SHA-256 of the whole token.
pub fn api_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` hashes to `stored_hash`, compared in constant time.
pub fn api_token_matches(token: &str, stored_hash: &str) -> bool {
    constant_time_eq(api_token_hash(token).as_bytes(), stored_hash.as_bytes())
}

/// Compares without an early exit, so the time taken does not say how much matched.
/// (Lengths are public: every stored hash is 64 hex characters.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn token_has_the_documented_shape() {
        let t = generate_api_token();
        assert_eq!(t.plaintext.len(), 47);
        assert!(t.plaintext.starts_with("pst_"));
        assert_eq!(&t.plaintext[14..15], "_");
        assert!(
            t.plaintext[4..14]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert!(t.plaintext[15..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(t.prefix, &t.plaintext[..14]);
        assert_eq!(api_token_prefix(&t.plaintext), Some(t.prefix.as_str()));
    }

    #[test]
    fn hash_is_sha256_hex_of_the_whole_token() {
        let t = generate_api_token();
        assert_eq!(t.hash.len(), 64);
        assert_eq!(t.hash, api_token_hash(&t.plaintext));
        // Known answer: sha256("abc").
        assert_eq!(
            api_token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn tokens_match_only_their_own_hash() {
        let a = generate_api_token();
        let b = generate_api_token();
        assert_ne!(a.plaintext, b.plaintext);
        assert!(api_token_matches(&a.plaintext, &a.hash));
        assert!(!api_token_matches(&a.plaintext, &b.hash));
        assert!(!api_token_matches(&a.plaintext, ""));
        assert!(!api_token_matches(&a.plaintext, &a.hash[..63]));
        // Same prefix, different secret.
        let mut forged = a.plaintext.clone();
        forged.replace_range(46.., if a.plaintext.ends_with('x') { "y" } else { "x" });
        assert_eq!(api_token_prefix(&forged), Some(a.prefix.as_str()));
        assert!(!api_token_matches(&forged, &a.hash));
    }

    #[test]
    fn seeded_rng_gives_the_same_token() {
        let a = generate_api_token_with(&mut StdRng::seed_from_u64(7));
        let b = generate_api_token_with(&mut StdRng::seed_from_u64(7));
        let c = generate_api_token_with(&mut StdRng::seed_from_u64(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn prefix_rejects_misshapen_tokens() {
        let good = generate_api_token().plaintext;
        let mut wrong_sep = good.clone();
        wrong_sep.replace_range(14..15, "-");
        let mut bad_char = good.clone();
        bad_char.replace_range(20..21, "!");
        for bad in [
            "",
            "pst_",
            "eyJhbGciOiJIUzI1NiJ9.e30.x",
            &good[..46],
            &format!("{good}a"),
            &good.replacen("pst_", "PST_", 1),
            &wrong_sep,
            &bad_char,
            // Right byte length and separator, but not base62.
            &format!("pst_{}_{}", "é".repeat(5), "a".repeat(32)),
        ] {
            assert_eq!(api_token_prefix(bad), None, "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_plaintext() {
        let t = generate_api_token();
        assert!(!format!("{t:?}").contains(&t.plaintext));
    }
}
