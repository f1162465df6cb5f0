//! Clients: an MSP reaches only its own, a client user only itself.

use crate::support::{TestDb, World, on_both_backends, send};
use postern_domain::{Role, TenantScope};
use postern_store::{PageRequest, StoreError};

on_both_backends!(
    msp_user_cannot_reach_another_msps_clients,
    client_user_cannot_see_a_sibling_client,
    only_msp_owners_and_admins_create_clients,
    clients_page_newest_first,
    clients_by_ids_leaves_out_what_the_scope_does_not_reach,
);

async fn msp_user_cannot_reach_another_msps_clients(db: &TestDb) {
    let w = World::build(db).await;
    let b = db.tenant(w.b_owner());
    let page = b.list_clients(PageRequest::first(50)).await.unwrap();
    let ids: Vec<_> = page.items.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![w.b1.id]);
    assert_eq!(b.count_clients().await.unwrap(), 1);
    assert!(matches!(b.client(w.a1.id).await, Err(StoreError::NotFound)));
    let a = db.tenant(w.a_owner());
    assert_eq!(a.count_clients().await.unwrap(), 2);
    assert!(matches!(a.client(w.b1.id).await, Err(StoreError::NotFound)));
    assert_eq!(a.client(w.a2.id).await.unwrap().name, "A2");
}

async fn client_user_cannot_see_a_sibling_client(db: &TestDb) {
    let w = World::build(db).await;
    let a1 = db.tenant(w.a1_admin());
    let page = a1.list_clients(PageRequest::first(50)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, w.a1.id);
    assert_eq!(a1.count_clients().await.unwrap(), 1);
    assert!(matches!(
        a1.client(w.a2.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        a1.client(w.b1.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn only_msp_owners_and_admins_create_clients(db: &TestDb) {
    let w = World::build(db).await;
    for scope in [
        w.a1_admin(),
        w.a_viewer(),
        TenantScope::msp(w.msp_a, Role::MspOperator, true),
    ] {
        let result = db.tenant(scope).create_client("nope").await;
        assert!(matches!(result, Err(StoreError::Forbidden(_))), "{scope:?}");
    }
    let admin = db.tenant(TenantScope::msp(w.msp_b, Role::MspAdmin, false));
    assert!(matches!(
        admin.create_client("  ").await,
        Err(StoreError::Invalid(_))
    ));
    let created = send(admin.create_client(" B2 ")).await.unwrap();
    assert_eq!((created.name.as_str(), created.msp_id), ("B2", w.msp_b));
    assert_eq!(
        admin.client(created.id).await.unwrap().created_at,
        created.created_at
    );
    let a = db.tenant(w.a_owner());
    assert!(matches!(
        a.client(created.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(a.count_clients().await.unwrap(), 2);
}

async fn clients_page_newest_first(db: &TestDb) {
    let w = World::build(db).await;
    let a = db.tenant(w.a_owner());
    let a3 = a.create_client("A3").await.unwrap();
    let first = a.list_clients(PageRequest::first(2)).await.unwrap();
    let names: Vec<_> = first.items.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["A3", "A2"]);
    assert!(first.has_next);
    let last = first.items.last().unwrap().id.as_uuid();
    let second = a.list_clients(PageRequest::after(last, 2)).await.unwrap();
    let names: Vec<_> = second.items.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["A1"]);
    assert!(!second.has_next);
    assert_eq!(first.items[0].id, a3.id);
}

async fn clients_by_ids_leaves_out_what_the_scope_does_not_reach(db: &TestDb) {
    let w = World::build(db).await;
    let ids = [w.a1.id, w.a2.id, w.b1.id];
    let names = |scope| {
        let db = db.tenant(scope);
        async move {
            let mut names: Vec<String> = db
                .clients_by_ids(&ids)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.name)
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(names(w.a_owner()).await, ["A1", "A2"]);
    assert_eq!(names(w.a1_admin()).await, ["A1"]);
    assert_eq!(names(w.b_owner()).await, ["B1"]);
}
