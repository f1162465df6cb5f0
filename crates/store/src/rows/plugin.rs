//! The row types of MSP rule plugins: uploaded components, the rule switches of an MSP and
//! its clients, the effective configuration analysis runs, and `plugin_failed` records.

use chrono::{DateTime, Utc};
use postern_domain::{ClientId, DomainId, MspId, UserId};
use serde::Serialize;
use uuid::Uuid;

/// The largest component an MSP may upload, in bytes (the size of a componentize-js plugin
/// with room to spare; a Rust one is ~40 KiB).
pub const MAX_PLUGIN_BYTES: usize = 32 << 20;

/// A rule plugin an MSP uploaded, without its bytes. It runs only for the MSP's clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RulePlugin {
    pub id: Uuid,
    pub msp_id: MspId,
    /// The plugin's `describe()` id; unique per MSP.
    pub rule_id: String,
    pub version: String,
    pub title: String,
    /// Which parts of the facts it reads.
    pub reads: Vec<String>,
    /// SHA-256 of the component's bytes, lower-case hex.
    pub sha256: String,
    /// The component's size in bytes.
    pub size: u64,
    /// Who uploaded this version (`None`: an API token).
    pub uploaded_by: Option<UserId>,
    pub uploaded_at: DateTime<Utc>,
    /// Whether it runs for the MSP's clients unless a setting says otherwise.
    pub enabled: bool,
}

/// A component to store, described by the host that checked it.
#[derive(Clone, Debug)]
pub struct NewRulePlugin {
    pub rule_id: String,
    pub version: String,
    pub title: String,
    pub reads: Vec<String>,
    /// SHA-256 of `component`, lower-case hex.
    pub sha256: String,
    pub component: Vec<u8>,
    pub enabled: bool,
}

/// What storing an upload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginUpload {
    pub plugin: RulePlugin,
    /// The SHA-256 of the component it replaced (same MSP, same rule id), if any.
    pub replaced: Option<String>,
}

/// A rule switched on or off for a whole MSP (`client_id` `None`) or for one client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleSetting {
    pub msp_id: MspId,
    pub client_id: Option<ClientId>,
    /// A built-in rule id or one of the MSP's uploaded rule ids.
    pub rule_id: String,
    pub enabled: bool,
    /// Who changed it last (`None`: an API token).
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

/// The rule configuration of one MSP (and optionally one of its clients): its uploaded
/// plugins and the settings that apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleConfig {
    /// The MSP's uploaded plugins (never another MSP's), by rule id.
    pub plugins: Vec<RulePlugin>,
    /// The MSP-wide settings and, when a client was asked for, that client's.
    pub settings: Vec<RuleSetting>,
}

/// Narrows a list of plugin failures; every field given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginFailureFilter {
    pub domain: Option<DomainId>,
    pub rule_id: Option<String>,
}

/// One failed evaluation of a rule plugin on a domain (a `plugin_failed` record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PluginFailureRecord {
    pub id: Uuid,
    pub msp_id: MspId,
    pub client_id: ClientId,
    pub domain_id: DomainId,
    pub rule_id: String,
    /// The kind of failure (`trap`, `out_of_fuel`, `deadline`, `memory_limit`, …).
    pub kind: String,
    /// Why, in words.
    pub reason: String,
    pub occurred_at: DateTime<Utc>,
}

/// A failure to record: which rule, what kind, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPluginFailure {
    pub rule_id: String,
    pub kind: String,
    pub reason: String,
}

impl RuleConfig {
    /// Whether `rule_id` runs for `client`: the client's setting beats the MSP-wide setting,
    /// which beats the default (a built-in rule runs; an uploaded one when it was uploaded
    /// enabled). A rule that is neither built in nor uploaded by this MSP never runs.
    pub fn enabled(&self, rule_id: &str, builtin: bool, client: Option<ClientId>) -> bool {
        let setting = |wanted: Option<ClientId>| {
            self.settings
                .iter()
                .find(|s| s.rule_id == rule_id && s.client_id == wanted)
                .map(|s| s.enabled)
        };
        let client_setting = client.and_then(|c| setting(Some(c)));
        if let Some(enabled) = client_setting.or_else(|| setting(None)) {
            return enabled && (builtin || self.plugin(rule_id).is_some());
        }
        if builtin {
            return true;
        }
        self.plugin(rule_id).is_some_and(|p| p.enabled)
    }

    /// The MSP's uploaded plugin with this rule id.
    pub fn plugin(&self, rule_id: &str) -> Option<&RulePlugin> {
        self.plugins.iter().find(|p| p.rule_id == rule_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(rule_id: &str, enabled: bool) -> RulePlugin {
        RulePlugin {
            id: Uuid::nil(),
            msp_id: MspId::from_uuid(Uuid::nil()),
            rule_id: rule_id.to_owned(),
            version: "1".to_owned(),
            title: String::new(),
            reads: Vec::new(),
            sha256: String::new(),
            size: 0,
            uploaded_by: None,
            uploaded_at: DateTime::UNIX_EPOCH,
            enabled,
        }
    }

    fn setting(rule_id: &str, client: Option<ClientId>, enabled: bool) -> RuleSetting {
        RuleSetting {
            msp_id: MspId::from_uuid(Uuid::nil()),
            client_id: client,
            rule_id: rule_id.to_owned(),
            enabled,
            updated_by: None,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn client_setting_beats_msp_setting_beats_default() {
        let (c1, c2) = (ClientId::new(), ClientId::new());
        let config = RuleConfig {
            plugins: vec![plugin("acme.on", true), plugin("acme.off", false)],
            settings: vec![
                setting("dmarc.policy", None, false),
                setting("dmarc.policy", Some(c1), true),
                setting("acme.off", Some(c2), true),
            ],
        };
        assert!(config.enabled("dmarc.policy", true, Some(c1)));
        assert!(!config.enabled("dmarc.policy", true, Some(c2)));
        assert!(!config.enabled("dmarc.policy", true, None));
        assert!(config.enabled("tlsrpt.failures", true, Some(c2)));
        assert!(config.enabled("acme.on", false, Some(c1)));
        assert!(!config.enabled("acme.off", false, Some(c1)));
        assert!(config.enabled("acme.off", false, Some(c2)));
    }

    #[test]
    fn a_rule_the_msp_did_not_upload_never_runs() {
        let client = ClientId::new();
        let config = RuleConfig {
            plugins: Vec::new(),
            settings: vec![setting("other.rule", Some(client), true)],
        };
        assert!(!config.enabled("other.rule", false, Some(client)));
        assert!(!config.enabled("other.rule", false, None));
    }
}
