//! What one list says about one target, and how a DNS answer becomes that.
//!
//! RFC 5782: an A record in 127.0.0.0/8 means listed (the code says why), NXDOMAIN means
//! not listed. Everything else is **unknown, never clear**: answers in 127.255.255.0/24
//! (Spamhaus's error codes), answers outside 127.0.0.0/8 (a resolver rewriting NXDOMAIN, a
//! wildcard), codes the catalogue marks as refusals, NOERROR without an A record, timeouts
//! and server failures.

use crate::catalogue::Blocklist;
use postern_dns::{DnsError, Lookup};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;

/// A list's verdict on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "state")]
pub enum ListingState {
    /// The list answered with one or more codes in 127.0.0.0/8.
    Listed {
        /// Each code answered, with what the catalogue says it means.
        codes: Vec<Listing>,
        /// The list's TXT reason(s) for the listing, when it publishes them.
        txt: Vec<String>,
    },
    /// The list answered NXDOMAIN.
    Clear,
    /// No trustworthy answer.
    Unknown {
        /// Why.
        reason: UnknownReason,
    },
}

/// One code a list answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The A record answered.
    pub code: Ipv4Addr,
    /// The catalogue's meanings of it (empty when the catalogue does not know the code).
    pub meanings: Vec<String>,
}

/// Why a list's verdict is unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum UnknownReason {
    /// The list refused the query (127.255.255.x, or a code the catalogue marks as a
    /// refusal).
    Refused {
        /// The code answered.
        code: Ipv4Addr,
        /// What it means.
        meaning: String,
    },
    /// Answers outside 127.0.0.0/8: not a DNSxL answer.
    Nonsense {
        /// The addresses answered.
        answers: Vec<Ipv4Addr>,
    },
    /// The name exists but has no A record.
    NoData,
    /// No answer in time.
    Timeout,
    /// The server failed (SERVFAIL, REFUSED, transport).
    ServerFailure {
        /// What went wrong.
        detail: String,
    },
    /// The list failed its health check, so none of its answers are trusted.
    Unhealthy {
        /// The health check's finding.
        detail: String,
    },
    /// The list needs a key and the MSP has none.
    KeyMissing,
    /// The query could not be built (a name too long for the zone).
    InvalidQuery {
        /// Why.
        detail: String,
    },
}

impl ListingState {
    /// `listed`, `clear` or `unknown`.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Listed { .. } => "listed",
            Self::Clear => "clear",
            Self::Unknown { .. } => "unknown",
        }
    }

    /// True for [`ListingState::Listed`].
    pub fn is_listed(&self) -> bool {
        matches!(self, Self::Listed { .. })
    }
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { code, meaning } => {
                write!(f, "the list refused the query ({code}: {meaning})")
            }
            Self::Nonsense { answers } => {
                let list: Vec<String> = answers.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "answer outside 127.0.0.0/8 ({}): not a blocklist answer",
                    list.join(", ")
                )
            }
            Self::NoData => {
                f.write_str("the name exists without an A record: not a blocklist answer")
            }
            Self::Timeout => f.write_str("the query timed out"),
            Self::ServerFailure { detail } => write!(f, "the server failed: {detail}"),
            Self::Unhealthy { detail } => write!(f, "the list failed its health check: {detail}"),
            Self::KeyMissing => f.write_str("the list needs a key and none is set"),
            Self::InvalidQuery { detail } => write!(f, "the query could not be built: {detail}"),
        }
    }
}

/// The meaning of an answer in 127.255.255.0/24 (Spamhaus's published error codes).
pub fn error_code_meaning(code: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, d] = code.octets();
    if (a, b, c) != (127, 255, 255) {
        return None;
    }
    Some(match d {
        252 => "typing error in the blocklist zone name",
        254 => "query through a public or open resolver refused",
        255 => "excessive number of queries",
        _ => "error code of the 127.255.255.0/24 range",
    })
}

/// Reads an A lookup of a DNSxL name as `list`'s verdict (without TXT: the caller asks for
/// it only when listed).
pub fn interpret(list: &Blocklist, answer: Result<Lookup<Ipv4Addr>, DnsError>) -> ListingState {
    let unknown = |reason| ListingState::Unknown { reason };
    let answers = match answer {
        Ok(Lookup::NxDomain) => return ListingState::Clear,
        Ok(Lookup::NoData) => return unknown(UnknownReason::NoData),
        Ok(Lookup::Found(answers)) => answers,
        Err(DnsError::Timeout { .. }) => return unknown(UnknownReason::Timeout),
        Err(DnsError::ServerFailure { detail, .. }) => {
            return unknown(UnknownReason::ServerFailure { detail });
        }
        Err(other) => {
            return unknown(UnknownReason::ServerFailure {
                detail: other.to_string(),
            });
        }
    };
    let outside: Vec<Ipv4Addr> = answers
        .iter()
        .copied()
        .filter(|a| a.octets()[0] != 127)
        .collect();
    if !outside.is_empty() {
        return unknown(UnknownReason::Nonsense { answers: outside });
    }
    for &code in &answers {
        if let Some(meaning) = error_code_meaning(code) {
            return unknown(UnknownReason::Refused {
                code,
                meaning: meaning.to_owned(),
            });
        }
        if let Some(refusal) = list.codes_of(code).find(|c| c.refusal) {
            return unknown(UnknownReason::Refused {
                code,
                meaning: refusal.meaning.clone(),
            });
        }
    }
    let mut codes: Vec<Listing> = answers
        .into_iter()
        .map(|code| Listing {
            code,
            meanings: list.codes_of(code).map(|c| c.meaning.clone()).collect(),
        })
        .collect();
    codes.sort_by_key(|l| l.code);
    codes.dedup_by_key(|l| l.code);
    ListingState::Listed {
        codes,
        txt: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalogue;
    use postern_dns::RecordType;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn list(id: &str) -> Blocklist {
        Catalogue::builtin().unwrap().get(id).unwrap().clone()
    }

    #[test]
    fn codes_in_127_8_are_listings_with_their_meanings() {
        let zen = list("spamhaus-zen");
        let state = interpret(
            &zen,
            Ok(Lookup::Found(vec![ip("127.0.0.10"), ip("127.0.0.4")])),
        );
        let ListingState::Listed { codes, .. } = state else {
            panic!("not listed: {state:?}");
        };
        assert_eq!(codes.len(), 2);
        assert_eq!(codes[0].code, ip("127.0.0.4"));
        assert!(codes[0].meanings[0].starts_with("XBL"));
        assert!(codes[1].meanings[0].starts_with("PBL"));
    }

    #[test]
    fn an_unknown_code_in_127_8_is_still_listed_without_meaning() {
        let state = interpret(&list("spamcop"), Ok(Lookup::Found(vec![ip("127.0.0.77")])));
        assert_eq!(
            state,
            ListingState::Listed {
                codes: vec![Listing {
                    code: ip("127.0.0.77"),
                    meanings: vec![]
                }],
                txt: vec![]
            }
        );
    }

    #[test]
    fn bit_coded_answers_carry_every_bit_meaning() {
        let state = interpret(&list("uribl"), Ok(Lookup::Found(vec![ip("127.0.0.14")])));
        let ListingState::Listed { codes, .. } = state else {
            panic!("not listed");
        };
        assert_eq!(codes[0].meanings.len(), 3);
    }

    #[test]
    fn nxdomain_is_clear_and_nothing_else_is() {
        let zen = list("spamhaus-zen");
        assert_eq!(interpret(&zen, Ok(Lookup::NxDomain)), ListingState::Clear);
        for answer in [
            Ok(Lookup::NoData),
            Ok(Lookup::Found(vec![ip("127.255.255.254")])),
            Ok(Lookup::Found(vec![ip("127.255.255.255")])),
            Ok(Lookup::Found(vec![ip("127.255.255.252")])),
            Ok(Lookup::Found(vec![ip("10.0.0.1")])),
            Ok(Lookup::Found(vec![ip("127.0.0.2"), ip("198.51.100.7")])),
            Err(DnsError::Timeout {
                name: "x".into(),
                rtype: RecordType::A,
            }),
            Err(DnsError::ServerFailure {
                name: "x".into(),
                rtype: RecordType::A,
                detail: "SERVFAIL".into(),
            }),
        ] {
            let state = interpret(&zen, answer.clone());
            assert_eq!(state.word(), "unknown", "{answer:?} gave {state:?}");
        }
    }

    #[test]
    fn spamhaus_error_codes_and_catalogue_refusals_say_why() {
        let zen = list("spamhaus-zen");
        let state = interpret(&zen, Ok(Lookup::Found(vec![ip("127.255.255.254")])));
        let ListingState::Unknown { reason } = state else {
            panic!("not unknown");
        };
        assert!(reason.to_string().contains("open resolver"), "{reason}");
        let state = interpret(&list("uribl"), Ok(Lookup::Found(vec![ip("127.0.0.1")])));
        assert!(matches!(
            state,
            ListingState::Unknown {
                reason: UnknownReason::Refused { .. }
            }
        ));
        let state = interpret(&list("dnswl"), Ok(Lookup::Found(vec![ip("127.0.0.255")])));
        assert_eq!(state.word(), "unknown");
    }

    #[test]
    fn dnswl_answers_carry_category_and_trust() {
        let state = interpret(&list("dnswl"), Ok(Lookup::Found(vec![ip("127.0.15.3")])));
        let ListingState::Listed { codes, .. } = state else {
            panic!("not listed");
        };
        let meanings = codes[0].meanings.join("; ");
        assert!(
            meanings.contains("trust high") && meanings.contains("email marketing"),
            "{meanings}"
        );
    }
}
