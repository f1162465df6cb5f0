//! `rulePlugins`, `pluginFailures`.

use async_graphql::{Context, ID, InputObject, Object};
use postern_domain::ClientId;
use postern_store::PluginFailureFilter as StoreFailureFilter;

use crate::connection::{Conn, CountSource, connection, page_request};
use crate::context::{engine, parse_id, tenant};
use crate::error::ApiError;
use crate::types::plugin::{PluginFailureNode, RulePluginNode};

#[derive(Default)]
pub(crate) struct PluginQuery;

/// Narrows a list of plugin failures; every field given must match.
#[derive(InputObject, Default)]
pub(crate) struct PluginFailureFilter {
    /// Only failures while evaluating this domain.
    domain_id: Option<ID>,
    /// Only failures of this rule.
    rule_id: Option<String>,
}

#[Object]
impl PluginQuery {
    /// The built-in rules and the MSP's uploaded ones, each with whether it runs for
    /// `clientId` (or MSP-wide without one). MSP roles only.
    async fn rule_plugins(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client whose effective state to show; null: MSP-wide.")]
        client_id: Option<ID>,
    ) -> Result<Vec<RulePluginNode>, ApiError> {
        let client: Option<ClientId> = client_id.as_ref().map(parse_id).transpose()?;
        let config = tenant(ctx)?.rule_config(client).await?;
        let mut rules: Vec<RulePluginNode> = engine(ctx)?
            .builtin_rules()
            .into_iter()
            .map(|d| RulePluginNode::built_in(d, &config, client))
            .collect();
        rules.extend(
            config
                .plugins
                .iter()
                .cloned()
                .map(|p| RulePluginNode::uploaded(p, &config, client)),
        );
        Ok(rules)
    }

    /// Failed plugin evaluations on the domains the caller reaches, newest first.
    async fn plugin_failures(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Which failures to list.")] filter: Option<PluginFailureFilter>,
    ) -> Result<Conn<PluginFailureNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let filter = StoreFailureFilter {
            domain: filter.domain_id.as_ref().map(parse_id).transpose()?,
            rule_id: filter.rule_id,
        };
        let page = db.list_plugin_failures(&filter, request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::PluginFailures(filter),
            |f| (f.id, PluginFailureNode(f)),
        ))
    }
}
