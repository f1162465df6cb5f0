//! The GraphQL object, input and enum types. Each wraps a store row or a postern-domain type;
//! the doc comments are the API documentation.

pub(crate) mod access;
pub(crate) mod blocklist;
pub(crate) mod bounces;
pub(crate) mod enums;
pub(crate) mod issue;
pub(crate) mod notify;
pub(crate) mod plugin;
pub(crate) mod posture;
pub(crate) mod rejection;
pub(crate) mod report;
pub(crate) mod tenancy;

crate::connection::node_names!(
    tenancy::ClientNode => "Client",
    tenancy::DomainNode => "Domain",
    report::ReportNode => "Report",
    report::RecordNode => "Record",
    rejection::RejectionNode => "Rejection",
    access::MemberNode => "Member",
    access::ApiTokenNode => "ApiToken",
    issue::IssueNode => "Issue",
    issue::IssueEventNode => "IssueEvent",
    notify::NotificationChannelNode => "NotificationChannel",
    notify::NotificationDeliveryNode => "NotificationDelivery",
    plugin::PluginFailureNode => "PluginFailure",
    bounces::BounceNode => "Bounce",
    bounces::SuppressionNode => "Suppression",
);
