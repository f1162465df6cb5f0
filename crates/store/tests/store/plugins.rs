//! Rule plugins: uploads and replacement per (MSP, rule id), MSP-wide and per-client rule
//! settings with their precedence, `plugin_failed` records, role checks and tenant isolation.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, at, send};
use postern_domain::{Role, TenantScope};
use postern_store::{
    NewPluginFailure, NewRulePlugin, PageRequest, PluginFailureFilter, StoreError,
};
use sha2::{Digest, Sha256};

on_both_backends!(
    uploads_are_one_plugin_per_msp_and_rule_id_and_replace_by_version,
    settings_are_per_msp_or_client_and_the_client_wins,
    plugin_failures_are_recorded_and_listed_per_tenant,
    roles_and_tenants_guard_plugins_and_settings,
);

fn plugin(rule_id: &str, version: &str, bytes: &[u8]) -> NewRulePlugin {
    NewRulePlugin {
        rule_id: rule_id.to_owned(),
        version: version.to_owned(),
        title: format!("{rule_id} rule"),
        reads: vec!["sources".to_owned()],
        sha256: hex::encode(Sha256::digest(bytes)),
        component: bytes.to_vec(),
        enabled: true,
    }
}

async fn uploads_are_one_plugin_per_msp_and_rule_id_and_replace_by_version(db: &TestDb) {
    let w = World::build(db).await;
    let a = db.tenant(w.a_owner());
    let first = send(a.upload_rule_plugin(plugin("acme.rule", "1.0.0", b"one"), None))
        .await
        .unwrap();
    assert_eq!(first.replaced, None);
    assert_eq!(first.plugin.size, 3);
    assert_eq!(first.plugin.reads, vec!["sources".to_owned()]);
    let second = a
        .upload_rule_plugin(plugin("acme.rule", "2.0.0", b"two!"), None)
        .await
        .unwrap();
    assert_eq!(
        second.replaced.as_deref(),
        Some(first.plugin.sha256.as_str())
    );
    assert_eq!(second.plugin.id, first.plugin.id);
    assert_eq!(second.plugin.version, "2.0.0");
    a.upload_rule_plugin(plugin("acme.other", "1.0.0", b"three"), None)
        .await
        .unwrap();
    let listed = a.rule_plugins().await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|p| p.rule_id.as_str()).collect();
    assert_eq!(ids, ["acme.other", "acme.rule"]);
    let sys = db.system();
    assert_eq!(
        sys.rule_plugin_component(w.msp_a, &second.plugin.sha256)
            .await
            .unwrap(),
        Some(b"two!".to_vec())
    );
    // The replaced component is gone, and another MSP's hash answers nothing.
    assert_eq!(
        sys.rule_plugin_component(w.msp_a, &first.plugin.sha256)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        sys.rule_plugin_component(w.msp_b, &second.plugin.sha256)
            .await
            .unwrap(),
        None
    );
    // B may use the same rule id: it is B's own plugin.
    let b = db.tenant(w.b_owner());
    b.upload_rule_plugin(plugin("acme.rule", "9.0.0", b"bee"), None)
        .await
        .unwrap();
    assert_eq!(b.rule_plugins().await.unwrap().len(), 1);
    assert_eq!(a.rule_plugin("acme.rule").await.unwrap().version, "2.0.0");
    // A mismatched hash or an empty component is refused.
    let mut bad = plugin("acme.bad", "1", b"x");
    bad.sha256 = "00".repeat(32);
    assert!(matches!(
        a.upload_rule_plugin(bad, None).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        a.upload_rule_plugin(plugin("acme.bad", "1", b""), None)
            .await,
        Err(StoreError::Invalid(_))
    ));
}

async fn settings_are_per_msp_or_client_and_the_client_wins(db: &TestDb) {
    let w = World::build(db).await;
    let a = db.tenant(w.a_owner());
    let mut uploaded = plugin("acme.rule", "1", b"one");
    uploaded.enabled = false;
    a.upload_rule_plugin(uploaded, None).await.unwrap();
    a.set_rule_enabled("dmarc.policy", true, None, false, None)
        .await
        .unwrap();
    a.set_rule_enabled("dmarc.policy", true, Some(w.a1.id), true, None)
        .await
        .unwrap();
    // Setting it again updates the row instead of adding one.
    a.set_rule_enabled("dmarc.policy", true, Some(w.a1.id), true, None)
        .await
        .unwrap();
    a.set_rule_enabled("acme.rule", false, Some(w.a2.id), true, None)
        .await
        .unwrap();
    assert_eq!(a.rule_settings().await.unwrap().len(), 3);

    let sys = db.system();
    let a1 = sys.rule_config(w.msp_a, w.a1.id).await.unwrap();
    let a2 = sys.rule_config(w.msp_a, w.a2.id).await.unwrap();
    assert_eq!(a1.settings.len(), 2);
    assert!(a1.enabled("dmarc.policy", true, Some(w.a1.id)));
    assert!(!a2.enabled("dmarc.policy", true, Some(w.a2.id)));
    assert!(!a1.enabled("acme.rule", false, Some(w.a1.id)));
    assert!(a2.enabled("acme.rule", false, Some(w.a2.id)));
    assert!(a1.enabled("tlsrpt.failures", true, Some(w.a1.id)));
    // B's configuration holds nothing of A's.
    let b1 = sys.rule_config(w.msp_b, w.b1.id).await.unwrap();
    assert!(b1.plugins.is_empty() && b1.settings.is_empty());
    assert!(!b1.enabled("acme.rule", false, Some(w.b1.id)));
    // The tenant view for one client matches.
    let view = a.rule_config(Some(w.a2.id)).await.unwrap();
    assert!(view.enabled("acme.rule", false, Some(w.a2.id)));
}

async fn plugin_failures_are_recorded_and_listed_per_tenant(db: &TestDb) {
    let w = World::build(db).await;
    let failure = |rule: &str| NewPluginFailure {
        rule_id: rule.to_owned(),
        kind: "out_of_fuel".to_owned(),
        reason: "ran out of fuel (10 units)".to_owned(),
    };
    let sys = db.system();
    sys.record_plugin_failures(
        &w.a1_domain,
        &[failure("acme.a"), failure("acme.b")],
        at(3, 0),
    )
    .await
    .unwrap();
    sys.record_plugin_failures(&w.a2_domain, &[failure("acme.a")], at(3, 1))
        .await
        .unwrap();
    sys.record_plugin_failures(&w.b1_domain, &[failure("acme.a")], at(3, 2))
        .await
        .unwrap();
    let all = PluginFailureFilter::default();
    let owner = db.tenant(w.a_owner());
    assert_eq!(owner.count_plugin_failures(&all).await.unwrap(), 3);
    let by_rule = PluginFailureFilter {
        rule_id: Some("acme.a".to_owned()),
        ..all.clone()
    };
    assert_eq!(owner.count_plugin_failures(&by_rule).await.unwrap(), 2);
    let by_domain = PluginFailureFilter {
        domain: Some(w.a1_domain.id),
        ..all.clone()
    };
    let page = owner
        .list_plugin_failures(&by_domain, PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.has_next);
    let rest = owner
        .list_plugin_failures(&by_domain, PageRequest::after(page.items[0].id, 10))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(!rest.has_next);
    assert_ne!(rest.items[0].id, page.items[0].id);
    assert_eq!(rest.items[0].kind, "out_of_fuel");

    // A client user sees their client's; another MSP sees none of A's.
    let a1 = db.tenant(w.a1_admin());
    assert_eq!(a1.count_plugin_failures(&all).await.unwrap(), 2);
    let viewer = db.tenant(TenantScope::client(w.msp_a, w.a2.id, Role::ClientViewer));
    assert_eq!(viewer.count_plugin_failures(&all).await.unwrap(), 1);
    let b = db.tenant(w.b_owner());
    assert_eq!(b.count_plugin_failures(&all).await.unwrap(), 1);
    let a1_domain_for_b = PluginFailureFilter {
        domain: Some(w.a1_domain.id),
        ..all
    };
    assert_eq!(b.count_plugin_failures(&a1_domain_for_b).await.unwrap(), 0);
}

async fn roles_and_tenants_guard_plugins_and_settings(db: &TestDb) {
    let w = World::build(db).await;
    let a = db.tenant(w.a_owner());
    a.upload_rule_plugin(plugin("acme.rule", "1", b"one"), None)
        .await
        .unwrap();
    for scope in [w.a1_admin(), w.a_viewer()] {
        let t = db.tenant(scope);
        assert!(matches!(
            t.upload_rule_plugin(plugin("acme.x", "1", b"x"), None)
                .await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            t.set_rule_enabled("dmarc.policy", true, None, false, None)
                .await,
            Err(StoreError::Forbidden(_))
        ));
    }
    // Client users do not read the MSP's plugins; an MSP viewer does.
    assert!(matches!(
        db.tenant(w.a1_admin()).rule_plugins().await,
        Err(StoreError::Forbidden(_))
    ));
    assert_eq!(
        db.tenant(w.a_viewer()).rule_plugins().await.unwrap().len(),
        1
    );
    let operator = db.tenant(TenantScope::msp(w.msp_a, Role::MspOperator, false));
    operator
        .set_rule_enabled("acme.rule", false, Some(w.a1.id), false, None)
        .await
        .unwrap();

    // Another MSP's rule id, client or plugin answers NotFound.
    let b = db.tenant(w.b_owner());
    assert!(matches!(
        b.set_rule_enabled("acme.rule", false, None, false, None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        b.set_rule_enabled("dmarc.policy", true, Some(w.a1.id), false, None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        b.rule_plugin("acme.rule").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        b.rule_config(Some(w.a1.id)).await,
        Err(StoreError::NotFound)
    ));
    assert!(b.rule_plugins().await.unwrap().is_empty());
    assert!(b.rule_settings().await.unwrap().is_empty());
    // An unknown uploaded rule id is NotFound for its own MSP too.
    assert!(matches!(
        a.set_rule_enabled("acme.nothing", false, None, true, None)
            .await,
        Err(StoreError::NotFound)
    ));
}
