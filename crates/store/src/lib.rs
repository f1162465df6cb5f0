//! Postern's tenant-scoped database layer over sea-orm (SQLite or PostgreSQL).
//!
//! What it promises: every read and write a request makes goes through a [`TenantDb`] built
//! from the caller's verified [`postern_domain::TenantScope`]. Its methods filter by tenant in
//! SQL (first guard) and, on PostgreSQL, run in a transaction whose row-level security
//! settings name the same tenant (second guard). A row of another tenant answers
//! [`StoreError::NotFound`], exactly like a missing id. Jobs that must cross tenants (ingest,
//! analysis, the outbox relay, bootstrap) use the deliberately loud [`SystemDb`]. Events are
//! written to the outbox in the same transaction as the data they describe. Only this crate
//! knows sea-orm: the public API speaks in postern-domain types and plain row structs
//! ([`Client`], [`ReportSummary`], [`Page`], …). Feature `testing` adds [`testing::TestDb`], a
//! throwaway migrated database per test on either backend.

mod entity;
mod error;
mod repo;
mod rows;
mod scope;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{DatabaseError, StoreError};
pub use repo::system::{AggregateWriter, ImapCursor, ScheduledCheck, SystemDb, schedule_factor};
pub use repo::tenant::TenantDb;
pub use rows::notify;
pub use rows::{
    AggregateDetail, ApiToken, Client, DailySummary, DaySummary, Domain, FailureDetail, Issue,
    IssueEvent, IssueEventKind, IssueFilter, IssueOutbox, MAX_PAGE_SIZE, Membership, Msp,
    OutboxEvent, Page, PageRequest, RawInput, ReconcileOutcome, Rejection, ReportFilter,
    ReportSummary, SourceDelta, SourceStats, StoredRecord, TlsDetail, TlsFailureTotal, TlsTotals,
    User,
};
pub use rows::{
    BatchOutcome, BounceBatch, BounceFilter, BounceGroup, BounceGroupBy, BounceKind, BounceOwner,
    BounceRecord, NewBounce, NewDelivery, ReasonCount, SendVolume, Suppression, SuppressionEvent,
    SuppressionFilter, normalize_address,
};
pub use rows::{
    BlocklistListing, BlocklistObservation, BlocklistOverride, BlocklistOverrideWithKey,
    BlocklistState, BlocklistTarget, BlocklistTargetKind, BlocklistTransition, BlocklistVerdict,
    KeyChange, NewBlocklistTarget, SetBlocklistOverride,
};
pub use rows::{DnsSnapshot, NewDnsSnapshot};
pub use rows::{
    MAX_PLUGIN_BYTES, NewPluginFailure, NewRulePlugin, PluginFailureFilter, PluginFailureRecord,
    PluginUpload, RuleConfig, RulePlugin, RuleSetting,
};
pub use store::{Backend, Store};
