//! Blocklist monitoring: whether a client's sending IPs and domains are on DNSBLs, DNSWLs
//! or domain lists (RHSBL, URI lists), asked through [`postern_dns::Resolver`].
//!
//! * [`Catalogue`]: the lists (zone, kind, return-code meanings, key, delisting URL, rate
//!   limit). [`Catalogue::builtin`] is the embedded `catalogue.toml`;
//!   [`Catalogue::with_overrides`] applies one MSP's [`ListOverride`]s (disable, edit, add,
//!   keys of DQS-style keyed zones).
//! * [`Target`] and its query names (RFC 5782: reversed IPv4 octets, IPv6 nibbles,
//!   `<domain>.<zone>`); [`interpret`] turns an A answer into a [`ListingState`].
//! * [`BlocklistMonitor`]: checks targets against lists, each list behind its RFC 5782
//!   health check, a per-list token bucket ([`RateLimiter`]), a verdict cache
//!   ([`AnswerCache`]) and a bound on queries in flight.
//!
//! What it promises: a verdict is `clear` only on NXDOMAIN from a healthy list. Refusals
//! (127.255.255.0/24, catalogue refusal codes), answers outside 127.0.0.0/8, NOERROR without
//! an A record, timeouts, server failures, a missing key and a failed health check are all
//! `unknown`, with the reason.

mod cache;
mod catalogue;
mod error;
mod limit;
mod monitor;
mod query;
mod state;

pub use cache::{AnswerCache, CacheTtls};
pub use catalogue::{
    Blocklist, Catalogue, ListKey, ListKind, ListOverride, ListPatch, OverrideProblem, RateLimit,
    ReturnCode,
};
pub use error::BlocklistError;
pub use limit::{RateLimiter, TokenBucket};
pub use monitor::{
    BlocklistMonitor, ListHealth, MonitorSettings, Observation, TEST_CLEAR_V4, TEST_LISTED_V4,
    TEST_LISTED_V6,
};
pub use query::{Target, reversed};
pub use state::{Listing, ListingState, UnknownReason, error_code_meaning, interpret};
