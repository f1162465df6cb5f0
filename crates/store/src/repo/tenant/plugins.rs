//! Rule plugins of the scope's MSP: uploading (a new rule id, or a new version replacing the
//! MSP's component of that id), switching rules (built-in or uploaded) on and off for the
//! whole MSP or one client, and reading `plugin_failed` records.
//!
//! Who may do what: MSP owners, admins and operators upload and switch rules. Every MSP role
//! reads the MSP's plugins and settings; client-bound users do not (they are MSP rows).
//! Every role reads the plugin failures it reaches (client users: their own client's).

use super::TenantDb;
use crate::entity::{client, count, plugin_failure, rule_plugin, rule_setting, to_json};
use crate::error::{StoreError, conflict_on_unique};
use crate::repo::now;
use crate::rows::{
    MAX_PAGE_SIZE, MAX_PLUGIN_BYTES, NewRulePlugin, Page, PageRequest, PluginFailureFilter,
    PluginFailureRecord, PluginUpload, RuleConfig, RulePlugin, RuleSetting,
};
use crate::scope::owned_by;
use postern_domain::{ClientId, UserId};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

impl TenantDb {
    /// Stores an uploaded plugin the host has checked. A new rule id adds a plugin; the
    /// MSP's existing rule id gets the new component, version, title and uploader in place
    /// (its id stays, so settings keep applying) and the answer names the replaced hash.
    /// `Invalid` when the bytes are empty, too large or do not match `sha256`. MSP owners,
    /// admins and operators.
    pub async fn upload_rule_plugin(
        &self,
        new: NewRulePlugin,
        actor: Option<UserId>,
    ) -> Result<PluginUpload, StoreError> {
        self.require_plugin_admin("uploading rule plugins")?;
        if new.component.is_empty() || new.component.len() > MAX_PLUGIN_BYTES {
            return Err(StoreError::Invalid(format!(
                "a plugin must be 1 to {MAX_PLUGIN_BYTES} bytes, not {}",
                new.component.len()
            )));
        }
        if hex_sha256(&new.component) != new.sha256 {
            return Err(StoreError::Invalid(
                "the sha256 does not match the component".into(),
            ));
        }
        let size = count("plugin size", new.component.len() as u64)?;
        let reads = to_json("plugin reads", &new.reads)?;
        let now = now();
        let txn = self.write().await?;
        let existing = self
            .plugins()
            .filter(rule_plugin::Column::RuleId.eq(new.rule_id.as_str()))
            .select_only()
            .columns([rule_plugin::Column::Id, rule_plugin::Column::Sha256])
            .into_tuple::<(Uuid, String)>()
            .one(&txn)
            .await?;
        let id = existing.as_ref().map_or_else(Uuid::now_v7, |(id, _)| *id);
        let model = rule_plugin::Model {
            id,
            msp_id: self.scope.msp.as_uuid(),
            client_id: None,
            rule_id: new.rule_id,
            version: new.version,
            title: new.title,
            reads,
            sha256: new.sha256,
            size,
            component: new.component,
            uploaded_by: actor.map(|u| u.as_uuid()),
            uploaded_at: now,
            enabled: new.enabled,
        };
        if existing.is_some() {
            let changes = rule_plugin::ActiveModel {
                version: Set(model.version),
                title: Set(model.title),
                reads: Set(model.reads),
                sha256: Set(model.sha256),
                size: Set(model.size),
                component: Set(model.component),
                uploaded_by: Set(model.uploaded_by),
                uploaded_at: Set(model.uploaded_at),
                enabled: Set(model.enabled),
                ..Default::default()
            };
            rule_plugin::Entity::update_many()
                .set(changes)
                .filter(rule_plugin::Column::Id.eq(id))
                .filter(rule_plugin::Column::MspId.eq(self.scope.msp.as_uuid()))
                .exec(&txn)
                .await?;
        } else {
            rule_plugin::Entity::insert(model.into_active_model())
                .exec_without_returning(&txn)
                .await
                .map_err(|e| {
                    conflict_on_unique(e, "a plugin with this rule id was just uploaded")
                })?;
        }
        let plugin = self.load_plugin(&txn, id).await?;
        txn.commit().await?;
        Ok(PluginUpload {
            plugin,
            replaced: existing.map(|(_, sha)| sha),
        })
    }

    /// The MSP's uploaded plugins, by rule id. MSP roles only.
    pub async fn rule_plugins(&self) -> Result<Vec<RulePlugin>, StoreError> {
        self.require_msp_reader("listing rule plugins")?;
        let txn = self.read().await?;
        let plugins = self.load_plugins(&txn).await?;
        txn.commit().await?;
        Ok(plugins)
    }

    /// The MSP's plugin with this rule id; `NotFound` when the MSP has none (another MSP's
    /// answers the same). MSP roles only.
    pub async fn rule_plugin(&self, rule_id: &str) -> Result<RulePlugin, StoreError> {
        self.require_msp_reader("reading rule plugins")?;
        let txn = self.read().await?;
        let plugin = self.plugin_by_rule(&txn, rule_id).await?;
        txn.commit().await?;
        plugin.ok_or(StoreError::NotFound)
    }

    /// The MSP's plugins and the settings for the MSP and, if given, `client` (which must
    /// be the MSP's: `NotFound` otherwise). MSP roles only.
    pub async fn rule_config(&self, client: Option<ClientId>) -> Result<RuleConfig, StoreError> {
        self.require_msp_reader("reading rule settings")?;
        let txn = self.read().await?;
        if let Some(client) = client {
            self.check_client(&txn, client).await?;
        }
        let plugins = self.load_plugins(&txn).await?;
        let settings = self
            .settings()
            .filter(
                sea_orm::Condition::any()
                    .add(rule_setting::Column::ClientId.is_null())
                    .add(rule_setting::Column::ClientId.is_in(client.map(|c| c.as_uuid()))),
            )
            .order_by_asc(rule_setting::Column::RuleId)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(RuleConfig {
            plugins,
            settings: settings.into_iter().map(RuleSetting::from).collect(),
        })
    }

    /// Every setting of the MSP (MSP-wide and per client), by rule id. MSP roles only.
    pub async fn rule_settings(&self) -> Result<Vec<RuleSetting>, StoreError> {
        self.require_msp_reader("reading rule settings")?;
        let txn = self.read().await?;
        let rows = self
            .settings()
            .order_by_asc(rule_setting::Column::RuleId)
            .order_by_asc(rule_setting::Column::Id)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows.into_iter().map(RuleSetting::from).collect())
    }

    /// Switches `rule_id` on or off for the whole MSP (`client` `None`) or for one of its
    /// clients (another MSP's client: `NotFound`). A rule that is not `builtin` must be one
    /// of the MSP's uploaded plugins (`NotFound` otherwise). MSP owners, admins, operators.
    pub async fn set_rule_enabled(
        &self,
        rule_id: &str,
        builtin: bool,
        client: Option<ClientId>,
        enabled: bool,
        actor: Option<UserId>,
    ) -> Result<RuleSetting, StoreError> {
        self.require_plugin_admin("switching rules on or off")?;
        let txn = self.write().await?;
        if let Some(client) = client {
            self.check_client(&txn, client).await?;
        }
        if !builtin && self.plugin_by_rule(&txn, rule_id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let client_uuid = client.map(|c| c.as_uuid());
        let mut query = self
            .settings()
            .filter(rule_setting::Column::RuleId.eq(rule_id));
        query = match client_uuid {
            Some(c) => query.filter(rule_setting::Column::ClientId.eq(c)),
            None => query.filter(rule_setting::Column::ClientId.is_null()),
        };
        let existing = query.one(&txn).await?;
        let now = now();
        let row = match existing {
            Some(row) => {
                let mut active = row.into_active_model();
                active.enabled = Set(enabled);
                active.updated_by = Set(actor.map(|u| u.as_uuid()));
                active.updated_at = Set(now);
                rule_setting::Entity::update(active).exec(&txn).await?
            }
            None => {
                let row = rule_setting::Model {
                    id: Uuid::now_v7(),
                    msp_id: self.scope.msp.as_uuid(),
                    client_id: client_uuid,
                    rule_id: rule_id.to_owned(),
                    enabled,
                    updated_by: actor.map(|u| u.as_uuid()),
                    updated_at: now,
                };
                rule_setting::Entity::insert(row.clone().into_active_model())
                    .exec_without_returning(&txn)
                    .await
                    .map_err(|e| conflict_on_unique(e, "the setting was changed concurrently"))?;
                row
            }
        };
        txn.commit().await?;
        Ok(RuleSetting::from(row))
    }

    /// The plugin failures the scope reaches that match `filter`, newest first.
    pub async fn list_plugin_failures(
        &self,
        filter: &PluginFailureFilter,
        page: PageRequest,
    ) -> Result<Page<PluginFailureRecord>, StoreError> {
        let txn = self.read().await?;
        let mut query = self.failures_matching(filter);
        if let Some(after) = page.after {
            query = query.filter(plugin_failure::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(plugin_failure::Column::Id)
            .limit(page.fetch().min(MAX_PAGE_SIZE + 1))
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(page.page(rows.into_iter().map(PluginFailureRecord::from).collect()))
    }

    /// How many failures [`list_plugin_failures`](Self::list_plugin_failures) pages through.
    pub async fn count_plugin_failures(
        &self,
        filter: &PluginFailureFilter,
    ) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        let count = self.failures_matching(filter).count(&txn).await?;
        txn.commit().await?;
        Ok(count)
    }

    fn plugins(&self) -> sea_orm::Select<rule_plugin::Entity> {
        rule_plugin::Entity::find().filter(rule_plugin::Column::MspId.eq(self.scope.msp.as_uuid()))
    }

    fn settings(&self) -> sea_orm::Select<rule_setting::Entity> {
        rule_setting::Entity::find()
            .filter(rule_setting::Column::MspId.eq(self.scope.msp.as_uuid()))
    }

    fn failures_matching(
        &self,
        filter: &PluginFailureFilter,
    ) -> sea_orm::Select<plugin_failure::Entity> {
        let mut query = plugin_failure::Entity::find().filter(owned_by(
            &self.scope,
            plugin_failure::Column::MspId,
            plugin_failure::Column::ClientId,
        ));
        if let Some(domain) = filter.domain {
            query = query.filter(plugin_failure::Column::DomainId.eq(domain.as_uuid()));
        }
        if let Some(rule) = &filter.rule_id {
            query = query.filter(plugin_failure::Column::RuleId.eq(rule.as_str()));
        }
        query
    }

    async fn load_plugins(&self, txn: &DatabaseTransaction) -> Result<Vec<RulePlugin>, StoreError> {
        self.plugins()
            .select_only()
            .columns(rule_plugin::META)
            .order_by_asc(rule_plugin::Column::RuleId)
            .into_model::<rule_plugin::Meta>()
            .all(txn)
            .await?
            .into_iter()
            .map(RulePlugin::try_from)
            .collect()
    }

    async fn plugin_by_rule(
        &self,
        txn: &DatabaseTransaction,
        rule_id: &str,
    ) -> Result<Option<RulePlugin>, StoreError> {
        self.plugins()
            .filter(rule_plugin::Column::RuleId.eq(rule_id))
            .select_only()
            .columns(rule_plugin::META)
            .into_model::<rule_plugin::Meta>()
            .one(txn)
            .await?
            .map(RulePlugin::try_from)
            .transpose()
    }

    async fn load_plugin(
        &self,
        txn: &DatabaseTransaction,
        id: Uuid,
    ) -> Result<RulePlugin, StoreError> {
        self.plugins()
            .filter(rule_plugin::Column::Id.eq(id))
            .select_only()
            .columns(rule_plugin::META)
            .into_model::<rule_plugin::Meta>()
            .one(txn)
            .await?
            .ok_or(StoreError::NotFound)
            .and_then(RulePlugin::try_from)
    }

    /// `client` is one of the scope's clients.
    async fn check_client(
        &self,
        txn: &DatabaseTransaction,
        client: ClientId,
    ) -> Result<(), StoreError> {
        let found = self
            .clients()
            .filter(client::Column::Id.eq(client.as_uuid()))
            .count(txn)
            .await?;
        if found == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// MSP owners, admins and operators.
    fn require_plugin_admin(&self, what: &'static str) -> Result<(), StoreError> {
        if self.scope.can_operate() {
            Ok(())
        } else {
            Err(StoreError::Forbidden(what))
        }
    }

    /// Any MSP-wide scope (plugins and settings are MSP rows).
    fn require_msp_reader(&self, what: &'static str) -> Result<(), StoreError> {
        if self.scope.client_id().is_none() {
            Ok(())
        } else {
            Err(StoreError::Forbidden(what))
        }
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
