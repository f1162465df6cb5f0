//! Enums mirrored from postern-domain (`remote`: a variant added there fails to compile here
//! until the API names it).

use async_graphql::Enum;

/// What a membership or an API token may do. MSP roles reach every client of the MSP; client
/// roles reach one client.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::Role")]
pub(crate) enum Role {
    /// Owns the MSP: everything, including other owners.
    MspOwner,
    /// Manages clients, domains, users and tokens of the MSP.
    MspAdmin,
    /// Works the MSP's clients day to day: domains, issues, imports.
    MspOperator,
    /// Reads everything of the MSP, changes nothing.
    MspViewer,
    /// Manages one client's users and tokens, reads its data.
    ClientAdmin,
    /// Reads one client's data.
    ClientViewer,
}

/// The kinds of report Postern ingests.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::ReportKind")]
pub(crate) enum ReportKind {
    /// DMARC aggregate report (RFC 7489, RFC 9990).
    Aggregate,
    /// DMARC failure report (RFC 6591 ARF, RFC 9991).
    Failure,
    /// SMTP TLS report (RFC 8460).
    Tls,
}

/// Which specification an aggregate report follows.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::AggregateSchema")]
pub(crate) enum AggregateSchema {
    /// RFC 7489 (no namespace, or version 1.0).
    #[graphql(name = "RFC7489")]
    Rfc7489,
    /// RFC 9990 (namespace `urn:ietf:params:xml:ns:dmarc-2.0`).
    #[graphql(name = "RFC9990")]
    Rfc9990,
    /// A DMARCbis draft (version 2.0 without the RFC 9990 namespace).
    Draft,
}

/// DKIM or SPF identifier alignment mode (`adkim`, `aspf`).
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::Alignment")]
pub(crate) enum Alignment {
    /// `r`: the organizational domains must match.
    Relaxed,
    /// `s`: the domains must be identical.
    Strict,
}

/// A requested DMARC policy (`p`, `sp`, `np`).
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::RequestedPolicy")]
pub(crate) enum RequestedPolicy {
    /// Monitor only: take no action on failing mail.
    None,
    /// Treat failing mail as suspicious (e.g. spam folder).
    Quarantine,
    /// Refuse failing mail.
    Reject,
}

/// How the receiver discovered the policy (RFC 9990 `discovery_method`).
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::DiscoveryMethod")]
pub(crate) enum DiscoveryMethod {
    /// Public suffix list.
    Psl,
    /// DNS tree walk (RFC 9989).
    TreeWalk,
}

/// What the receiver did with the messages of a record.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::Disposition")]
pub(crate) enum Disposition {
    /// Delivered without policy action.
    None,
    /// Quarantined.
    Quarantine,
    /// Rejected.
    Reject,
    /// RFC 9990: the messages passed DMARC.
    Pass,
}

/// The DMARC-aligned verdict of DKIM or SPF (`policy_evaluated`).
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::DmarcResult")]
pub(crate) enum DmarcResult {
    /// Passed and aligned with the From domain.
    Pass,
    /// Failed or not aligned.
    Fail,
}

/// A raw DKIM verdict (`auth_results`).
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::DkimResult")]
pub(crate) enum DkimResult {
    /// The message was not signed.
    None,
    /// The signature verified.
    Pass,
    /// The signature did not verify.
    Fail,
    /// The signature verified but the receiver's policy did not accept it.
    Policy,
    /// The signature could not be judged.
    Neutral,
    /// A transient error (e.g. a DNS timeout) prevented verification.
    TempError,
    /// A permanent error (e.g. a malformed key record) prevented verification.
    PermError,
}

/// A raw SPF verdict (`auth_results`).
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::SpfResult")]
pub(crate) enum SpfResult {
    /// No SPF record was found.
    None,
    /// The record makes no assertion about the sender (`?`).
    Neutral,
    /// The sender is authorized.
    Pass,
    /// The sender is not authorized (`-`).
    Fail,
    /// The sender is probably not authorized (`~`).
    SoftFail,
    /// A transient error (e.g. a DNS timeout) prevented the check.
    TempError,
    /// A permanent error (e.g. too many DNS lookups) prevented the check.
    PermError,
}

/// Which identity SPF checked.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::SpfDomainScope")]
pub(crate) enum SpfDomainScope {
    /// The HELO/EHLO name.
    Helo,
    /// The envelope sender (MAIL FROM).
    MailFrom,
}

/// Why the receiver departed from the published policy.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::PolicyOverride")]
pub(crate) enum PolicyOverride {
    /// The message was forwarded.
    Forwarded,
    /// The message fell outside the `pct` sample.
    SampledOut,
    /// The message came through a forwarder the receiver trusts.
    TrustedForwarder,
    /// The message came through a mailing list.
    MailingList,
    /// The receiver's local policy.
    LocalPolicy,
    /// RFC 9990: the domain published `t=y`.
    PolicyTestMode,
    /// Another reason; see the comment.
    Other,
}

/// The policy type of a TLS-RPT policy block.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::TlsPolicyType")]
pub(crate) enum TlsPolicyType {
    /// MTA-STS.
    Sts,
    /// DANE TLSA.
    Tlsa,
    /// The sender found no policy.
    NoPolicyFound,
}

/// Who a principal is.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
pub(crate) enum PrincipalKind {
    /// A person, signed in with a session token from `login`.
    User,
    /// Automation, with an API token.
    ApiToken,
}
