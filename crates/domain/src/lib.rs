//! Pure types shared by every Postern crate: identifiers, validated names, roles and the
//! tenant scope of a verified principal, and the parsed forms of the reports Postern ingests.
//!
//! Nothing here does I/O. A bare `Uuid` or `String` never stands for a tenant: use the
//! newtypes ([`MspId`], [`ClientId`], …) and [`TenantScope`].

#[macro_use]
mod vocabulary;
mod error_code;
mod finding;
mod ids;
mod name;
mod report;
mod tenancy;

pub use error_code::ErrorCode;
pub use finding::{
    DnsRecordChange, Evidence, Finding, FixStep, FixStepKind, IssueState, Severity, Verification,
};
pub use ids::{
    ApiTokenId, ClientId, DomainId, EventId, IssueEventId, IssueId, MspId, RawInputId, RejectionId,
    ReportId, UserId,
};
pub use name::{DomainName, DomainNameError};
pub use report::{
    AggregateHeader, AggregateRecord, AggregateSchema, Alignment, DiscoveryMethod, Disposition,
    DkimAuthResult, DkimResult, DmarcResult, FailureReport, PolicyOverride, PolicyOverrideReason,
    PolicyPublished, ReportKind, RequestedPolicy, SpfAuthResult, SpfDomainScope, SpfResult,
    TlsFailureDetail, TlsPolicy, TlsPolicyType, TlsReport,
};
pub use tenancy::{ClientReach, Principal, PrincipalKind, Role, RoleParseError, TenantScope};
