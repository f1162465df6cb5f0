//! What analysis needs of rule plugins: the effective configuration of one client of one
//! MSP, an MSP's component bytes, and storing `plugin_failed` records.

use super::SystemDb;
use crate::entity::{plugin_failure, rule_plugin, rule_setting};
use crate::error::StoreError;
use crate::rows::{Domain, NewPluginFailure, RuleConfig, RulePlugin, RuleSetting};
use chrono::{DateTime, Utc};
use postern_domain::{ClientId, MspId};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

impl SystemDb {
    /// `msp`'s uploaded plugins (never another MSP's) and the settings that apply to
    /// `client`: the MSP-wide ones and the client's own.
    pub async fn rule_config(
        &self,
        msp: MspId,
        client: ClientId,
    ) -> Result<RuleConfig, StoreError> {
        let txn = self.read().await?;
        let plugins = rule_plugin::Entity::find()
            .filter(rule_plugin::Column::MspId.eq(msp.as_uuid()))
            .select_only()
            .columns(rule_plugin::META)
            .order_by_asc(rule_plugin::Column::RuleId)
            .into_model::<rule_plugin::Meta>()
            .all(&txn)
            .await?;
        let settings = rule_setting::Entity::find()
            .filter(rule_setting::Column::MspId.eq(msp.as_uuid()))
            .filter(
                Condition::any()
                    .add(rule_setting::Column::ClientId.is_null())
                    .add(rule_setting::Column::ClientId.eq(client.as_uuid())),
            )
            .order_by_asc(rule_setting::Column::RuleId)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(RuleConfig {
            plugins: plugins
                .into_iter()
                .map(RulePlugin::try_from)
                .collect::<Result<_, _>>()?,
            settings: settings.into_iter().map(RuleSetting::from).collect(),
        })
    }

    /// The bytes of `msp`'s component with this SHA-256 (hex), if the MSP has one.
    pub async fn rule_plugin_component(
        &self,
        msp: MspId,
        sha256: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.read().await?;
        let bytes = rule_plugin::Entity::find()
            .filter(rule_plugin::Column::MspId.eq(msp.as_uuid()))
            .filter(rule_plugin::Column::Sha256.eq(sha256))
            .select_only()
            .column(rule_plugin::Column::Component)
            .into_tuple::<Vec<u8>>()
            .one(&txn)
            .await?;
        txn.commit().await?;
        Ok(bytes)
    }

    /// Stores one `plugin_failed` record per failure of an evaluation of `domain`, in one
    /// transaction.
    pub async fn record_plugin_failures(
        &self,
        domain: &Domain,
        failures: &[NewPluginFailure],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if failures.is_empty() {
            return Ok(());
        }
        let txn = self.write().await?;
        // 8 columns per row; 500 rows stay far below both backends' bind limits.
        for chunk in failures.chunks(500) {
            let rows = chunk.iter().map(|f| {
                plugin_failure::Model {
                    id: Uuid::now_v7(),
                    msp_id: domain.msp_id.as_uuid(),
                    client_id: domain.client_id.as_uuid(),
                    domain_id: domain.id.as_uuid(),
                    rule_id: f.rule_id.clone(),
                    kind: f.kind.clone(),
                    reason: f.reason.clone(),
                    occurred_at: at,
                }
                .into_active_model()
            });
            plugin_failure::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }
}
