//! DNS lookups for Postern's posture checks (SPF, DMARC, DKIM, MTA-STS, MX, blocklists).
//!
//! [`Resolver`] is the one interface the checks use. Every lookup answers with a
//! [`Lookup`] that keeps apart what the checks must tell apart: records
//! ([`Lookup::Found`]), a name that exists without records of the asked type
//! ([`Lookup::NoData`], NOERROR with an empty answer) and a name that does not exist
//! ([`Lookup::NxDomain`]); SPF's "void lookups" are exactly the last two. Timeouts and
//! server failures are [`DnsError`]s, never an empty answer. Both implementations follow
//! CNAME chains: the records answered are those at the end of the chain.
//!
//! * [`HickoryResolver`]: hickory-resolver with configurable upstreams (`IP` or `IP:PORT`),
//!   a per-lookup timeout, hickory's TTL-respecting cache (positive and negative answers)
//!   and a bound on concurrent lookups.
//! * [`ZoneResolver`]: a test double serving zones from memory or from a small zone-file
//!   format, able to simulate timeouts and server failures, and logging every query it
//!   answers so tests can count them.

mod error;
mod hickory;
mod lookup;
mod public;
#[cfg(feature = "reqwest")]
mod public_http;
mod stub;
#[cfg(feature = "testing")]
pub mod testing;
mod zone;

pub use error::DnsError;
pub use hickory::{HickoryResolver, ResolverSettings, parse_nameserver};
pub use lookup::{Lookup, Mx, Record, RecordType, Resolver, Txt, reverse_name};
pub use public::is_public;
#[cfg(feature = "reqwest")]
pub use public_http::PublicOnly;
pub use stub::StubResolver;
pub use zone::{ZoneEntry, ZoneResolver};
