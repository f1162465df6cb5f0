//! Rule plugins (built-in and uploaded) with their effective state, and `plugin_failed`
//! records.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use postern_domain::ClientId;
use postern_store::{PluginFailureRecord, RuleConfig, RulePlugin};

use crate::context::to_id;
use crate::engine::PluginDescription;
use crate::error::ApiError;
use crate::loader::domain_by_id;
use crate::types::tenancy::DomainNode;

/// A rule as an MSP sees it: built in or uploaded, and whether it runs.
pub(crate) struct RulePluginNode {
    builtin: bool,
    description: PluginDescription,
    uploaded: Option<RulePlugin>,
    enabled: bool,
}

pub(crate) struct PluginFailureNode(pub(crate) PluginFailureRecord);

impl RulePluginNode {
    /// A built-in rule under `config` (for `client`, or MSP-wide).
    pub(crate) fn built_in(
        description: PluginDescription,
        config: &RuleConfig,
        client: Option<ClientId>,
    ) -> Self {
        let enabled = config.enabled(&description.rule_id, true, client);
        Self {
            builtin: true,
            description,
            uploaded: None,
            enabled,
        }
    }

    /// An uploaded rule under `config` (for `client`, or MSP-wide).
    pub(crate) fn uploaded(
        plugin: RulePlugin,
        config: &RuleConfig,
        client: Option<ClientId>,
    ) -> Self {
        let enabled = config.enabled(&plugin.rule_id, false, client);
        Self {
            builtin: false,
            description: PluginDescription {
                rule_id: plugin.rule_id.clone(),
                version: plugin.version.clone(),
                title: plugin.title.clone(),
                reads: plugin.reads.clone(),
                sha256: plugin.sha256.clone(),
            },
            uploaded: Some(plugin),
            enabled,
        }
    }
}

/// A rule plugin: one of Postern's built-in rules or one the MSP uploaded (which runs only
/// for the MSP's own clients).
#[Object(name = "RulePlugin")]
impl RulePluginNode {
    /// The rule id from the plugin's `describe()`, e.g. `dmarc.policy`; what
    /// `enableRulePlugin` and `disableRulePlugin` take.
    async fn rule_id(&self) -> &str {
        &self.description.rule_id
    }

    /// The plugin's own version.
    async fn version(&self) -> &str {
        &self.description.version
    }

    /// What the rule checks, in words.
    async fn title(&self) -> &str {
        &self.description.title
    }

    /// Which parts of a domain's facts the rule reads.
    async fn reads(&self) -> &[String] {
        &self.description.reads
    }

    /// SHA-256 of the component's bytes, lower-case hex.
    async fn sha256(&self) -> &str {
        &self.description.sha256
    }

    /// Shipped with Postern (true) or uploaded by the MSP (false).
    async fn builtin(&self) -> bool {
        self.builtin
    }

    /// Whether the rule runs for the client asked about (or, without one, MSP-wide): a
    /// client's setting beats the MSP's, which beats the default (built-in rules run;
    /// uploaded ones as uploaded).
    async fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether an uploaded rule runs by default for the MSP's clients; null for built-ins.
    async fn enabled_by_default(&self) -> Option<bool> {
        self.uploaded.as_ref().map(|p| p.enabled)
    }

    /// The uploaded component's size in bytes; null for built-ins.
    async fn size(&self) -> Option<u64> {
        self.uploaded.as_ref().map(|p| p.size)
    }

    /// When this version was uploaded; null for built-ins.
    async fn uploaded_at(&self) -> Option<DateTime<Utc>> {
        self.uploaded.as_ref().map(|p| p.uploaded_at)
    }

    /// Who uploaded this version (a user's id); null for built-ins and API tokens.
    async fn uploaded_by(&self) -> Option<ID> {
        self.uploaded
            .as_ref()
            .and_then(|p| p.uploaded_by)
            .map(to_id)
    }
}

/// One failed evaluation of a rule plugin on a domain: the plugin trapped, ran out of fuel
/// or time, used too much memory, returned too much or returned an invalid code. The other
/// rules of that evaluation still ran.
#[Object(name = "PluginFailure")]
impl PluginFailureNode {
    /// The record's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The rule that failed.
    async fn rule_id(&self) -> &str {
        &self.0.rule_id
    }

    /// The kind of failure: `trap`, `out_of_fuel`, `deadline`, `memory_limit`,
    /// `output_too_large`, `invalid_code`, `host` or `load_failed`.
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    /// Why, in words.
    async fn reason(&self) -> &str {
        &self.0.reason
    }

    /// When the evaluation ran.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    /// The domain being evaluated.
    async fn domain(&self, ctx: &Context<'_>) -> Result<DomainNode, ApiError> {
        Ok(DomainNode(domain_by_id(ctx, self.0.domain_id).await?))
    }
}
