//! `uploadRulePlugin`, `enableRulePlugin`, `disableRulePlugin`, `verifyIssueNow`: an MSP's
//! own rule plugins, switching rules per MSP or client, and re-evaluating an issue now.

use async_graphql::{Context, ID, Object};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use postern_domain::{ClientId, IssueId, PrincipalKind, UserId};
use postern_store::{MAX_PLUGIN_BYTES, NewRulePlugin};

use crate::context::{engine, parse_id, principal, tenant};
use crate::error::ApiError;
use crate::types::issue::IssueNode;
use crate::types::plugin::RulePluginNode;

#[derive(Default)]
pub(crate) struct PluginMutation;

#[Object]
impl PluginMutation {
    /// Uploads a rule plugin (a WebAssembly component of `postern:rules@0.1.0`, base64) for
    /// the caller's MSP; it runs only for the MSP's own clients. The component is compiled
    /// and checked before anything is stored: one that imports anything (WASI included),
    /// was built for another WIT version, is not a component, is larger than 32 MiB or
    /// claims a built-in rule id is refused with `bad_request` and the reason. Uploading a
    /// rule id the MSP already has replaces its component (a new version). MSP owners,
    /// admins and operators.
    async fn upload_rule_plugin(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The component's bytes, base64 (standard alphabet, padded).")]
        component: String,
        #[graphql(
            desc = "Whether it runs for the MSP's clients unless switched off for one.",
            default = true
        )]
        enabled: bool,
    ) -> Result<RulePluginNode, ApiError> {
        let db = tenant(ctx)?;
        if !db.scope().can_operate() {
            return Err(ApiError::Forbidden("uploading rule plugins".to_owned()));
        }
        // Base64 is 4 characters per 3 bytes: refuse what cannot fit before decoding it.
        if component.len() > MAX_PLUGIN_BYTES.div_ceil(3) * 4 + 4 {
            return Err(too_large());
        }
        let bytes = STANDARD
            .decode(component.trim())
            .map_err(|e| ApiError::bad_request(format!("component is not base64: {e}")))?;
        if bytes.len() > MAX_PLUGIN_BYTES {
            return Err(too_large());
        }
        if bytes.is_empty() {
            return Err(ApiError::bad_request("component is empty"));
        }
        let engine = engine(ctx)?;
        let description = engine
            .inspect(bytes.clone())
            .await
            .map_err(|why| ApiError::bad_request(format!("not a usable rule plugin: {why}")))?;
        if engine
            .builtin_rules()
            .iter()
            .any(|b| b.rule_id == description.rule_id)
        {
            return Err(ApiError::bad_request(format!(
                "rule id {} is a built-in rule's; give the plugin an id of its own",
                description.rule_id
            )));
        }
        let upload = db
            .upload_rule_plugin(
                NewRulePlugin {
                    rule_id: description.rule_id,
                    version: description.version,
                    title: description.title,
                    reads: description.reads,
                    sha256: description.sha256,
                    component: bytes,
                    enabled,
                },
                actor(ctx)?,
            )
            .await?;
        tracing::info!(
            tenant = %upload.plugin.msp_id,
            rule = %upload.plugin.rule_id,
            sha256 = %upload.plugin.sha256,
            replaced = upload.replaced.as_deref().unwrap_or(""),
            "rule plugin uploaded"
        );
        let config = db.rule_config(None).await?;
        Ok(RulePluginNode::uploaded(upload.plugin, &config, None))
    }

    /// Switches a rule (built-in or one of the MSP's uploaded ones) on for the whole MSP or,
    /// with `clientId`, for one client (which beats the MSP-wide setting). An unknown rule
    /// id or client answers `not_found`. MSP owners, admins and operators.
    async fn enable_rule_plugin(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule id, e.g. `dmarc.policy`.")] rule_id: String,
        #[graphql(desc = "The client; null: MSP-wide.")] client_id: Option<ID>,
    ) -> Result<RulePluginNode, ApiError> {
        switch(ctx, &rule_id, client_id.as_ref(), true).await
    }

    /// Switches a rule (built-in or one of the MSP's uploaded ones) off for the whole MSP or,
    /// with `clientId`, for one client (which beats the MSP-wide setting). Its open issues
    /// are left as they are. An unknown rule id or client answers `not_found`. MSP owners,
    /// admins and operators.
    async fn disable_rule_plugin(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule id, e.g. `dmarc.policy`.")] rule_id: String,
        #[graphql(desc = "The client; null: MSP-wide.")] client_id: Option<ID>,
    ) -> Result<RulePluginNode, ApiError> {
        switch(ctx, &rule_id, client_id.as_ref(), false).await
    }

    /// Re-evaluates the issue's domain now with its enabled rules and answers the issue as
    /// it then is (resolved, verified, if its finding is gone). Anyone who sees the issue.
    async fn verify_issue_now(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The issue's id.")] id: ID,
    ) -> Result<IssueNode, ApiError> {
        let id: IssueId = parse_id(&id)?;
        let db = tenant(ctx)?;
        let issue = db.issue(id).await?;
        engine(ctx)?
            .evaluate_domain(issue.domain_id)
            .await
            .map_err(|why| {
                tracing::error!(error = %why, domain = %issue.domain_id, "re-evaluation failed");
                ApiError::Internal
            })?;
        Ok(IssueNode(db.issue(id).await?))
    }
}

/// Enables or disables `rule_id` and answers the rule with its new effective state.
async fn switch(
    ctx: &Context<'_>,
    rule_id: &str,
    client_id: Option<&ID>,
    enabled: bool,
) -> Result<RulePluginNode, ApiError> {
    let client: Option<ClientId> = client_id.map(parse_id).transpose()?;
    let db = tenant(ctx)?;
    let builtin = engine(ctx)?
        .builtin_rules()
        .into_iter()
        .find(|b| b.rule_id == rule_id);
    db.set_rule_enabled(rule_id, builtin.is_some(), client, enabled, actor(ctx)?)
        .await?;
    let config = db.rule_config(client).await?;
    match builtin {
        Some(description) => Ok(RulePluginNode::built_in(description, &config, client)),
        None => {
            let plugin = config.plugin(rule_id).cloned().ok_or(ApiError::NotFound)?;
            Ok(RulePluginNode::uploaded(plugin, &config, client))
        }
    }
}

/// The acting user (none for an API token).
fn actor(ctx: &Context<'_>) -> Result<Option<UserId>, ApiError> {
    Ok(match principal(ctx)?.kind {
        PrincipalKind::User(user) => Some(user),
        PrincipalKind::ApiToken(_) => None,
    })
}

fn too_large() -> ApiError {
    ApiError::bad_request(format!(
        "component is larger than {} MiB",
        MAX_PLUGIN_BYTES >> 20
    ))
}
