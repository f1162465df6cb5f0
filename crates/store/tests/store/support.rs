//! Scenarios on both backends (databases from `postern_store::testing`: on PostgreSQL the
//! store connects as the non-superuser `postern_app`, so row-level security is live), and
//! the tenants most tests start from.

pub use postern_store::testing::TestDb;

use chrono::{DateTime, TimeZone, Utc};
use postern_domain::{
    AggregateHeader, AggregateRecord, AggregateSchema, Alignment, ClientId, DiscoveryMethod,
    Disposition, DkimAuthResult, DkimResult, DmarcResult, DomainName, EventId, MspId,
    PolicyOverride, PolicyOverrideReason, PolicyPublished, RawInputId, ReportId, RequestedPolicy,
    Role, SpfAuthResult, SpfDomainScope, SpfResult, TenantScope,
};
use postern_store::{Client, Domain, OutboxEvent, SystemDb, TenantDb};
use std::future::Future;
use std::net::IpAddr;

/// Defines `mod <scenario> { sqlite(), postgres() }` running the scenario on each backend.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = postern_store::testing::TestDb::open(postern_store::Backend::Sqlite).await;
                super::$scenario(&db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = postern_store::testing::TestDb::open(postern_store::Backend::Postgres).await;
                super::$scenario(&db).await;
            }
        }
    )*};
}
pub(crate) use on_both_backends;

/// Fails to compile unless the future is `Send` (services run store calls on multi-threaded
/// runtimes and in async-graphql resolvers).
pub fn send<F: Future + Send>(future: F) -> F {
    future
}

/// Two MSPs: A operates the installation (clients A1, A2), B does not (client B1). Each
/// client has one domain.
pub struct World {
    pub msp_a: MspId,
    pub msp_b: MspId,
    pub a1: Client,
    pub a2: Client,
    pub b1: Client,
    pub a1_domain: Domain,
    pub a2_domain: Domain,
    pub b1_domain: Domain,
}

impl World {
    pub async fn build(db: &TestDb) -> World {
        let sys = db.system();
        let msp_a = sys.create_msp("MSP A", true).await.unwrap().id;
        let msp_b = sys.create_msp("MSP B", false).await.unwrap().id;
        let a = db.tenant(TenantScope::msp(msp_a, Role::MspOwner, true));
        let b = db.tenant(TenantScope::msp(msp_b, Role::MspOwner, false));
        let a1 = a.create_client("A1").await.unwrap();
        let a2 = a.create_client("A2").await.unwrap();
        let b1 = b.create_client("B1").await.unwrap();
        let a1_domain = add_domain(&a, a1.id, "a1.example").await;
        let a2_domain = add_domain(&a, a2.id, "a2.example").await;
        let b1_domain = add_domain(&b, b1.id, "b1.example").await;
        World {
            msp_a,
            msp_b,
            a1,
            a2,
            b1,
            a1_domain,
            a2_domain,
            b1_domain,
        }
    }

    /// MSP A's owner (A operates the installation: sees unassigned input).
    pub fn a_owner(&self) -> TenantScope {
        TenantScope::msp(self.msp_a, Role::MspOwner, true)
    }
    pub fn a_viewer(&self) -> TenantScope {
        TenantScope::msp(self.msp_a, Role::MspViewer, true)
    }
    pub fn a1_admin(&self) -> TenantScope {
        TenantScope::client(self.msp_a, self.a1.id, Role::ClientAdmin)
    }
    pub fn a2_admin(&self) -> TenantScope {
        TenantScope::client(self.msp_a, self.a2.id, Role::ClientAdmin)
    }
    pub fn b_owner(&self) -> TenantScope {
        TenantScope::msp(self.msp_b, Role::MspOwner, false)
    }
    pub fn b1_admin(&self) -> TenantScope {
        TenantScope::client(self.msp_b, self.b1.id, Role::ClientAdmin)
    }
}

pub async fn add_domain(db: &TenantDb, client: ClientId, name: &str) -> Domain {
    let name = DomainName::parse(name).unwrap();
    db.add_domain(client, &name, &|_, _| Vec::new())
        .await
        .unwrap()
        .0
}

pub fn event(topic: &str) -> OutboxEvent {
    OutboxEvent {
        id: EventId::new(),
        topic: topic.to_owned(),
        payload: topic.as_bytes().to_vec(),
    }
}

pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
}

/// An RFC 9990 header with every optional field set.
pub fn header(domain: &str, report_id: &str, org: &str, day: u32) -> AggregateHeader {
    AggregateHeader {
        schema: AggregateSchema::Rfc9990,
        version: Some("1.0".into()),
        org_name: org.into(),
        org_email: Some(format!("noreply@{org}")),
        extra_contact_info: Some("https://example.org/dmarc".into()),
        report_id: report_id.into(),
        date_begin: at(day, 0),
        date_end: at(day + 1, 0),
        errors: vec!["one error".into()],
        generator: Some("generator 1.2".into()),
        policy: PolicyPublished {
            domain: domain.into(),
            adkim: Some(Alignment::Strict),
            aspf: Some(Alignment::Relaxed),
            p: Some(RequestedPolicy::Reject),
            sp: Some(RequestedPolicy::Quarantine),
            np: Some(RequestedPolicy::None),
            pct: Some(50),
            fo: Some("1".into()),
            testing: Some(true),
            discovery_method: Some(DiscoveryMethod::TreeWalk),
        },
    }
}

/// Record `n` of a report: varying source, count and outcome.
pub fn record(n: u32) -> AggregateRecord {
    let ip: IpAddr = if n.is_multiple_of(3) {
        format!("2001:db8::{:x}", n % 65_536).parse().unwrap()
    } else {
        format!("192.0.2.{}", n % 250).parse().unwrap()
    };
    AggregateRecord {
        source_ip: ip,
        count: u64::from(n % 7 + 1),
        disposition: [
            Disposition::None,
            Disposition::Quarantine,
            Disposition::Reject,
            Disposition::Pass,
        ][(n % 4) as usize],
        dkim: Some(if n.is_multiple_of(2) {
            DmarcResult::Pass
        } else {
            DmarcResult::Fail
        }),
        spf: if n.is_multiple_of(5) {
            None
        } else {
            Some(DmarcResult::Pass)
        },
        reasons: if n.is_multiple_of(2) {
            vec![PolicyOverrideReason {
                kind: PolicyOverride::PolicyTestMode,
                comment: Some("t=y".into()),
            }]
        } else {
            Vec::new()
        },
        header_from: "example.com".into(),
        envelope_from: Some("bounce.example.com".into()),
        envelope_to: None,
        dkim_results: vec![DkimAuthResult {
            domain: "example.com".into(),
            selector: Some("s1".into()),
            result: DkimResult::Pass,
            human_result: None,
        }],
        spf_results: vec![SpfAuthResult {
            domain: "bounce.example.com".into(),
            scope: Some(SpfDomainScope::MailFrom),
            result: SpfResult::SoftFail,
            human_result: Some("soft".into()),
        }],
    }
}

pub fn records(n: u32) -> Vec<AggregateRecord> {
    (0..n).map(record).collect()
}

/// Stores raw bytes and a complete aggregate report with `records`; returns its ids.
pub async fn aggregate(
    sys: &SystemDb,
    owner: Option<&Domain>,
    header: &AggregateHeader,
    records: &[AggregateRecord],
) -> (ReportId, RawInputId) {
    let bytes = format!(
        "{}|{}|{}",
        header.org_name, header.report_id, header.policy.domain
    );
    let (raw, _) = sys
        .store_raw_input(bytes.as_bytes(), "test", Some("text/xml"), at(20, 0))
        .await
        .unwrap();
    let id = ReportId::new();
    let mut writer = sys
        .begin_aggregate(id, raw, owner, header, at(20, 0))
        .await
        .unwrap();
    writer.add_records(records).await.unwrap();
    writer
        .commit(&["a problem".to_owned()], event("report.ingested"))
        .await
        .unwrap();
    (id, raw)
}
