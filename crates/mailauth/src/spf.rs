//! SPF (RFC 7208): record parsing with error positions, `check_host()` evaluation over a
//! [`postern_dns::Resolver`], and the posture findings built on it.
//!
//! Why our own evaluator: the `mail-auth` crate (already a dependency) has an SPF
//! verifier, which we read before writing this one. It answers only the verdict (its
//! `SpfResult` carries no cause), does not count void lookups, counts each `ptr` name's
//! address lookup against the 10-term limit, stops on a 20-second wall clock and queries
//! through its own hickory resolver. Posture checks need the position of a syntax error,
//! the include/redirect tree with the DNS-querying terms and void lookups per term (RFC
//! 7208 §4.6.4), the `mx`/`ptr` name counts, an audit mode that walks every branch instead
//! of stopping at the first match, and lookups through [`postern_dns::Resolver`] (so tests
//! run on in-memory zones). So parsing, macros and evaluation live here; [`suite`] runs the
//! OpenSPF RFC 7208 test suite against them (all 203 tests pass).
//!
//! Evaluation reads no clock: `%{t}` comes from [`SpfOptions::now`].

mod eval;
mod macros;
mod posture;
mod record;
pub mod suite;

pub use eval::{
    CheckHost, MAX_DNS_TERMS, MAX_MX_NAMES, MAX_PTR_NAMES, MAX_VOID_LOOKUPS, SpfEvaluation,
    SpfNode, SpfOptions, SpfResult, TermOutcome, TermTrace, Via, check_host,
};
pub use macros::{MacroContext, expand, expand_domain};
pub use posture::{Finding, Severity, SpfPosture, audit};
pub use record::{
    Macro, MacroPart, MacroString, Mechanism, ParseError, ParseErrorKind, Qualifier, SpfRecord,
    Term, TermKind, is_spf1, parse_record,
};
