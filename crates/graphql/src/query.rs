//! The root query type, merged from one object per area.

mod access;
mod blocklist;
mod bounces;
mod issues;
mod notify;
mod plugins;
mod reports;
mod tenancy;
mod viewer;

use async_graphql::MergedObject;

/// Everything that can be read. Every field needs a verified credential; what it returns is
/// limited to the caller's MSP or client.
#[derive(MergedObject, Default)]
pub struct Query(
    viewer::ViewerQuery,
    tenancy::TenancyQuery,
    reports::ReportQuery,
    access::AccessQuery,
    bounces::BounceQuery,
    issues::IssueQuery,
    notify::NotifyQuery,
    plugins::PluginQuery,
    blocklist::BlocklistQuery,
);
