//! Blocklist monitoring through the schema (no HTTP) on an in-memory SQLite store: targets
//! with their verdicts and history, the catalogue with the MSP's overrides, who may change
//! what, and the tenant boundaries (another MSP's target is `not_found`, a client user sees
//! only its own client).

#![allow(clippy::unwrap_used)]

mod support;

use chrono::Utc;
use postern_store::{BlocklistObservation, BlocklistVerdict, Client, OutboxEvent};
use serde_json::json;
use support::{Tenants as World, code};

impl World {
    async fn add(&self, client: &Client, value: &str) -> String {
        let r = self
            .run(
                ADD,
                json!({"c": client.id.to_string(), "v": value}),
                self.msp_admin,
            )
            .await;
        assert!(r["errors"].is_null(), "{r}");
        r["data"]["addBlocklistTarget"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

const ADD: &str = "mutation($c: ID!, $v: String!) { addBlocklistTarget(clientId: $c, value: $v, note: \"relay\") { id kind value note automatic lists { listId } } }";
const TARGETS: &str = "query($c: ID) { blocklistTargets(clientId: $c) { id value clientId listed lists { listId listName kind state codes meanings txt reason delistUrl } history(first: 5) { listId until } } }";
const REMOVE: &str = "mutation($id: ID!) { removeBlocklistTarget(id: $id) }";
const CATALOGUE: &str = "{ blocklistCatalogue { id name zone kind enabled needsKey hasKey overridden delistUrl codes { code meaning } } }";
const SET: &str = "mutation($l: String!, $e: Boolean, $p: JSON, $k: String) { setBlocklistOverride(listId: $l, enabled: $e, patch: $p, key: $k) { id zone enabled hasKey overridden } }";
const UNSET: &str = "mutation($l: String!) { removeBlocklistOverride(listId: $l) }";

#[tokio::test]
async fn targets_carry_their_verdicts_and_history_within_the_tenant() {
    let w = World::new().await;
    let r = w
        .run(
            ADD,
            json!({"c": w.a1.id.to_string(), "v": " 192.0.2.7 "}),
            w.msp_admin,
        )
        .await;
    assert_eq!(r["data"]["addBlocklistTarget"]["kind"], "ip", "{r}");
    assert_eq!(r["data"]["addBlocklistTarget"]["value"], "192.0.2.7");
    assert_eq!(r["data"]["addBlocklistTarget"]["automatic"], false);
    let id = r["data"]["addBlocklistTarget"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.add(&w.a2, "mail.a2.example").await;
    let bad = w
        .run(
            ADD,
            json!({"c": w.a1.id.to_string(), "v": "not a target"}),
            w.msp_admin,
        )
        .await;
    assert_eq!(code(&bad), Some("bad_request"), "{bad}");
    let again = w
        .run(
            ADD,
            json!({"c": w.a1.id.to_string(), "v": "192.0.2.7"}),
            w.msp_admin,
        )
        .await;
    assert_eq!(code(&again), Some("conflict"), "{again}");

    // A check recorded by monitoring: zen lists it.
    let target = w.store.system().blocklist_targets(None).await.unwrap();
    let target = target.iter().find(|t| t.value == "192.0.2.7").unwrap();
    let detail = json!({"state": "listed", "codes": [{"code": "127.0.0.2", "meanings": ["SBL"]}], "txt": ["see https://example.org"]});
    w.store
        .system()
        .record_blocklist_check(
            target,
            &[BlocklistObservation {
                list_id: "spamhaus-zen".into(),
                verdict: BlocklistVerdict::Listed,
                detail,
            }],
            Utc::now(),
            &|_| OutboxEvent {
                id: postern_domain::EventId::new(),
                topic: "blocklist.listed".into(),
                payload: Vec::new(),
            },
        )
        .await
        .unwrap();

    let r = w
        .run(TARGETS, json!({"c": w.a1.id.to_string()}), w.msp_admin)
        .await;
    let targets = r["data"]["blocklistTargets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{r}");
    let t = &targets[0];
    assert_eq!(t["listed"], true);
    let zen = &t["lists"][0];
    assert_eq!(zen["listId"], "spamhaus-zen");
    assert_eq!(zen["listName"], "Spamhaus ZEN");
    assert_eq!(zen["kind"], "dnsbl");
    assert_eq!(zen["state"], "listed");
    assert_eq!(zen["codes"], json!(["127.0.0.2"]));
    assert_eq!(zen["meanings"], json!(["SBL"]));
    assert_eq!(zen["txt"], json!(["see https://example.org"]));
    assert_eq!(t["history"][0]["listId"], "spamhaus-zen");
    assert!(t["history"][0]["until"].is_null());

    // The client user sees its own client only; another MSP sees nothing and cannot remove.
    let r = w.run(TARGETS, json!({}), w.a1_admin).await;
    let values: Vec<&str> = r["data"]["blocklistTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["192.0.2.7"], "{r}");
    let r = w.run(TARGETS, json!({}), w.b_admin).await;
    assert_eq!(r["data"]["blocklistTargets"], json!([]), "{r}");
    let r = w.run(REMOVE, json!({"id": id}), w.b_admin).await;
    assert_eq!(code(&r), Some("not_found"), "{r}");
    let r = w
        .run(
            ADD,
            json!({"c": w.a1.id.to_string(), "v": "198.51.100.1"}),
            w.b_admin,
        )
        .await;
    assert_eq!(code(&r), Some("not_found"), "{r}");
    // A client admin reads but does not change targets.
    let r = w.run(REMOVE, json!({"id": id}), w.a1_admin).await;
    assert_eq!(code(&r), Some("forbidden"), "{r}");
    let r = w.run(REMOVE, json!({"id": id}), w.msp_admin).await;
    assert_eq!(r["data"]["removeBlocklistTarget"], true, "{r}");
    let r = w
        .run(TARGETS, json!({"c": w.a1.id.to_string()}), w.msp_admin)
        .await;
    assert_eq!(r["data"]["blocklistTargets"], json!([]), "{r}");
}

#[tokio::test]
async fn the_catalogue_merges_each_msps_overrides_and_refuses_bad_ones() {
    let w = World::new().await;
    let r = w.run(CATALOGUE, json!({}), w.msp_admin).await;
    let lists = r["data"]["blocklistCatalogue"].as_array().unwrap();
    let zen = lists.iter().find(|l| l["id"] == "spamhaus-zen").unwrap();
    assert_eq!(zen["zone"], "zen.spamhaus.org", "{r}");
    assert_eq!(zen["overridden"], false);
    assert!(!zen["codes"].as_array().unwrap().is_empty());

    let r = w
        .run(
            SET,
            json!({"l": "spamcop", "e": false, "p": {"zone": "bl.example.net"}}),
            w.msp_admin,
        )
        .await;
    let set = &r["data"]["setBlocklistOverride"];
    assert_eq!(set["zone"], "bl.example.net", "{r}");
    assert_eq!(set["enabled"], false);
    assert_eq!(set["overridden"], true);
    // A key is stored, never read back.
    let r = w
        .run(
            SET,
            json!({"l": "spamhaus-zen", "k": "abc123"}),
            w.msp_admin,
        )
        .await;
    assert_eq!(r["data"]["setBlocklistOverride"]["hasKey"], true, "{r}");
    assert!(!r.to_string().contains("abc123"));
    // Another MSP's catalogue is untouched.
    let r = w.run(CATALOGUE, json!({}), w.b_admin).await;
    let spamcop = r["data"]["blocklistCatalogue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "spamcop")
        .unwrap()
        .clone();
    assert_eq!(spamcop["enabled"], true, "{r}");
    assert_eq!(spamcop["overridden"], false);

    // Bad overrides are refused: a new list without a zone, a bad key, a non-object patch.
    for (vars, why) in [
        (json!({"l": "my-list", "p": {"name": "Mine"}}), "no zone"),
        (json!({"l": "spamcop", "k": "not one label"}), "bad key"),
        (json!({"l": "spamcop", "p": [1, 2]}), "not an object"),
        (json!({"l": "spamcop", "p": {"zone": "x"}}), "bad zone"),
    ] {
        let r = w.run(SET, vars, w.msp_admin).await;
        assert_eq!(code(&r), Some("bad_request"), "{why}: {r}");
    }
    // Client users neither read nor change the catalogue.
    let r = w.run(CATALOGUE, json!({}), w.a1_admin).await;
    assert_eq!(code(&r), Some("forbidden"), "{r}");
    let r = w
        .run(SET, json!({"l": "spamcop", "e": true}), w.a1_admin)
        .await;
    assert_eq!(code(&r), Some("forbidden"), "{r}");

    let r = w.run(UNSET, json!({"l": "spamcop"}), w.msp_admin).await;
    assert_eq!(r["data"]["removeBlocklistOverride"], true, "{r}");
    let r = w.run(UNSET, json!({"l": "spamcop"}), w.msp_admin).await;
    assert_eq!(code(&r), Some("not_found"), "{r}");
    let r = w.run(UNSET, json!({"l": "spamhaus-zen"}), w.b_admin).await;
    assert_eq!(code(&r), Some("not_found"), "{r}");
}
