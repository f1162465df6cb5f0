//! Users, memberships and API tokens: granted within reach only, listed per tenant.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, at, send};
use postern_domain::{Role, TenantScope};
use postern_store::{PageRequest, StoreError};

on_both_backends!(
    users_are_created_only_within_the_granters_reach,
    members_are_listed_per_tenant,
    api_tokens_of_other_tenants_cannot_be_read_or_revoked,
    login_lookup_finds_users_and_their_memberships,
);

async fn users_are_created_only_within_the_granters_reach(db: &TestDb) {
    let w = World::build(db).await;
    let a1 = db.tenant(w.a1_admin());
    let user = send(a1.create_user(
        "Viewer@A1.example",
        " Vera ",
        "hash",
        Role::ClientViewer,
        Some(w.a1.id),
    ))
    .await
    .unwrap();
    assert_eq!(
        (
            user.email.as_str(),
            user.display_name.as_str(),
            user.disabled
        ),
        ("viewer@a1.example", "Vera", false)
    );
    // A client admin cannot grant for a sibling client or grant MSP roles.
    let sibling = a1
        .create_user("x@a2.example", "X", "h", Role::ClientViewer, Some(w.a2.id))
        .await;
    assert!(matches!(sibling, Err(StoreError::Forbidden(_))));
    let msp_role = a1
        .create_user("y@a1.example", "Y", "h", Role::MspViewer, None)
        .await;
    assert!(matches!(msp_role, Err(StoreError::Forbidden(_))));
    // Another MSP's owner may grant client roles, but not for A's clients.
    let b = db.tenant(w.b_owner());
    let foreign = b
        .create_user("z@b.example", "Z", "h", Role::ClientViewer, Some(w.a1.id))
        .await;
    assert!(matches!(foreign, Err(StoreError::NotFound)));
    // Viewers grant nothing; e-mail addresses are unique in the installation.
    let viewer = db.tenant(w.a_viewer());
    assert!(matches!(
        viewer
            .create_user("v@a.example", "V", "h", Role::ClientViewer, Some(w.a1.id))
            .await,
        Err(StoreError::Forbidden(_))
    ));
    let dup = b
        .create_user("VIEWER@a1.example", "dup", "h", Role::MspViewer, None)
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    assert!(matches!(
        b.create_user("not-an-address", "n", "h", Role::MspViewer, None)
            .await,
        Err(StoreError::Invalid(_))
    ));
}

async fn members_are_listed_per_tenant(db: &TestDb) {
    let w = World::build(db).await;
    let a = db.tenant(w.a_owner());
    a.create_user("ops@a.example", "Ops", "h", Role::MspOperator, None)
        .await
        .unwrap();
    a.create_user(
        "one@a1.example",
        "One",
        "h",
        Role::ClientAdmin,
        Some(w.a1.id),
    )
    .await
    .unwrap();
    a.create_user(
        "two@a2.example",
        "Two",
        "h",
        Role::ClientViewer,
        Some(w.a2.id),
    )
    .await
    .unwrap();
    db.tenant(w.b_owner())
        .create_user("bee@b.example", "Bee", "h", Role::MspAdmin, None)
        .await
        .unwrap();
    let emails = |scope| {
        let db = db.tenant(scope);
        async move {
            let page = db.list_members(PageRequest::first(10)).await.unwrap();
            page.items
                .into_iter()
                .map(|(u, m)| (u.email, m.role))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        emails(w.a_owner()).await,
        vec![
            ("two@a2.example".to_owned(), Role::ClientViewer),
            ("one@a1.example".to_owned(), Role::ClientAdmin),
            ("ops@a.example".to_owned(), Role::MspOperator),
        ]
    );
    assert_eq!(
        emails(w.a1_admin()).await,
        vec![("one@a1.example".to_owned(), Role::ClientAdmin)]
    );
    assert_eq!(
        emails(w.b_owner()).await,
        vec![("bee@b.example".to_owned(), Role::MspAdmin)]
    );
    let page = db
        .tenant(w.a_owner())
        .list_members(PageRequest::first(2))
        .await
        .unwrap();
    assert!(page.has_next);
    assert_eq!(page.items[0].1.client_id, Some(w.a2.id));
    assert_eq!(page.items[1].1.msp_id, w.msp_a);
    // The next page starts after the last membership id and holds the rest.
    let rest = db
        .tenant(w.a_owner())
        .list_members(PageRequest {
            after: Some(page.items[1].1.id),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].0.email, "ops@a.example");
    // Counts see exactly what the lists see.
    assert_eq!(db.tenant(w.a_owner()).count_members().await.unwrap(), 3);
    assert_eq!(db.tenant(w.a1_admin()).count_members().await.unwrap(), 1);
    assert_eq!(db.tenant(w.b_owner()).count_members().await.unwrap(), 1);
    // A user row by id, for the verified principal's own profile.
    let (ops, _) = &rest.items[0];
    assert_eq!(
        db.system().user(ops.id).await.unwrap().email,
        "ops@a.example"
    );
    assert!(matches!(
        db.system().user(postern_domain::UserId::new()).await,
        Err(StoreError::NotFound)
    ));
}

async fn api_tokens_of_other_tenants_cannot_be_read_or_revoked(db: &TestDb) {
    let w = World::build(db).await;
    let a1 = db.tenant(w.a1_admin());
    let token = a1
        .create_api_token(
            " ci ",
            Role::ClientViewer,
            Some(w.a1.id),
            "pst_a1",
            "hash-a1",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (token.name.as_str(), token.client_id, token.revoked_at),
        ("ci", Some(w.a1.id), None)
    );
    let a = db.tenant(w.a_owner());
    let msp_token = a
        .create_api_token("sync", Role::MspViewer, None, "pst_a", "hash-a", None)
        .await
        .unwrap();
    assert!(matches!(
        a.create_api_token("again", Role::MspViewer, None, "pst_a", "h", None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        a1.create_api_token("up", Role::MspViewer, None, "pst_x", "h", None)
            .await,
        Err(StoreError::Forbidden(_))
    ));
    let listed = |scope| {
        let db = db.tenant(scope);
        async move {
            db.list_api_tokens(PageRequest::first(10))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(w.a_owner()).await, vec![msp_token.id, token.id]);
    assert_eq!(listed(w.a1_admin()).await, vec![token.id]);
    assert!(listed(w.a2_admin()).await.is_empty());
    assert!(listed(w.b_owner()).await.is_empty());
    for (scope, n) in [
        (w.a_owner(), 2),
        (w.a1_admin(), 1),
        (w.a2_admin(), 0),
        (w.b_owner(), 0),
    ] {
        assert_eq!(
            db.tenant(scope).count_api_tokens().await.unwrap(),
            n,
            "{scope:?}"
        );
    }
    for scope in [w.b_owner(), w.a2_admin(), w.b1_admin()] {
        let result = db.tenant(scope).revoke_api_token(token.id, at(20, 0)).await;
        assert!(matches!(result, Err(StoreError::NotFound)), "{scope:?}");
    }
    // A client admin sees the MSP token? No: and cannot revoke it either.
    assert!(matches!(
        a1.revoke_api_token(msp_token.id, at(20, 0)).await,
        Err(StoreError::NotFound)
    ));
    // A viewer of the MSP sees the token but may not revoke it.
    assert!(matches!(
        db.tenant(w.a_viewer())
            .revoke_api_token(token.id, at(20, 0))
            .await,
        Err(StoreError::Forbidden(_))
    ));
    let sys = db.system();
    let (found, hash, operator) = sys.api_token_by_prefix("pst_a1").await.unwrap().unwrap();
    assert_eq!(
        (found.id, hash.as_str(), operator, found.revoked_at),
        (token.id, "hash-a1", true, None)
    );
    sys.touch_api_token(token.id, at(19, 0)).await.unwrap();
    let revoked = a1.revoke_api_token(token.id, at(20, 0)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(at(20, 0)));
    let again = a1.revoke_api_token(token.id, at(21, 0)).await.unwrap();
    assert_eq!(again.revoked_at, Some(at(20, 0)));
    let (found, _, _) = sys.api_token_by_prefix("pst_a1").await.unwrap().unwrap();
    assert_eq!(
        (found.revoked_at, found.last_used_at),
        (Some(at(20, 0)), Some(at(19, 0)))
    );
    assert!(sys.api_token_by_prefix("pst_none").await.unwrap().is_none());
    let (_, _, operator) = {
        let b = db.tenant(w.b_owner());
        b.create_api_token("b", Role::MspAdmin, None, "pst_b", "h", None)
            .await
            .unwrap();
        sys.api_token_by_prefix("pst_b").await.unwrap().unwrap()
    };
    assert!(!operator);
}

async fn login_lookup_finds_users_and_their_memberships(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let user = sys
        .create_user_with_membership(
            "Owner@A.example",
            "Owner",
            "argon",
            w.msp_a,
            None,
            Role::MspOwner,
        )
        .await
        .unwrap();
    let (found, hash, memberships) = sys
        .user_for_login(" OWNER@a.example ")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, hash.as_str()), (user.id, "argon"));
    assert_eq!(memberships.len(), 1);
    assert_eq!(
        (
            memberships[0].msp_id,
            memberships[0].client_id,
            memberships[0].role
        ),
        (w.msp_a, None, Role::MspOwner)
    );
    assert!(
        sys.user_for_login("nobody@a.example")
            .await
            .unwrap()
            .is_none()
    );
    // The client must belong to the MSP, and the role must fit the reach.
    assert!(matches!(
        sys.create_user_with_membership(
            "c@b.example",
            "C",
            "h",
            w.msp_b,
            Some(w.a1.id),
            Role::ClientAdmin
        )
        .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sys.create_user_with_membership("c@b.example", "C", "h", w.msp_b, None, Role::ClientAdmin)
            .await,
        Err(StoreError::Invalid(_))
    ));
    let msp = sys.msp(w.msp_a).await.unwrap();
    assert!(msp.operator);
    assert_eq!(sys.msp_count().await.unwrap(), 2);
    assert!(matches!(
        sys.msp(postern_domain::MspId::new()).await,
        Err(StoreError::NotFound)
    ));
    // A client user's scope built from the membership reaches its client only.
    let client_user = sys
        .create_user_with_membership(
            "c@a1.example",
            "C",
            "h",
            w.msp_a,
            Some(w.a1.id),
            Role::ClientViewer,
        )
        .await
        .unwrap();
    let (_, _, memberships) = sys.user_for_login("c@a1.example").await.unwrap().unwrap();
    let m = &memberships[0];
    assert_eq!(m.user_id, client_user.id);
    let scope = TenantScope::client(m.msp_id, m.client_id.unwrap(), m.role);
    assert_eq!(db.tenant(scope).count_clients().await.unwrap(), 1);
}
