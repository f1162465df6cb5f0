//! Shared test support: a bus on either transport, isolated per test, and small helpers.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use postern_bus::events::ReportIngested;
use postern_bus::{Bus, BusSettings, Delivery, Envelope, InProcessBus, RedisBus, Subscription};

/// Which transport a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Transport {
    InProcess,
    Redis,
}

/// A bus for one test. On Redis its streams live under a namespace of their own, deleted by
/// [`Harness::finish`].
pub struct Harness {
    pub bus: Arc<dyn Bus>,
    redis: Option<(String, String)>,
}

impl Harness {
    pub async fn new(transport: Transport, settings: BusSettings) -> Self {
        match transport {
            Transport::InProcess => Self {
                bus: Arc::new(InProcessBus::new(settings)),
                redis: None,
            },
            Transport::Redis => {
                let url = redis_url();
                let namespace = format!("postern-test-{}", uuid::Uuid::new_v4());
                let bus = RedisBus::connect(&url, &namespace, settings)
                    .await
                    .unwrap_or_else(|e| panic!("Redis at {url} is needed for this test: {e:?}"));
                Self {
                    bus: Arc::new(bus),
                    redis: Some((url, namespace)),
                }
            }
        }
    }

    /// Deletes the test's Redis keys.
    pub async fn finish(self) {
        if let Some((url, namespace)) = self.redis {
            let client = redis::Client::open(url.as_str()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{namespace}:*"))
                .query_async(&mut conn)
                .await
                .unwrap();
            if !keys.is_empty() {
                redis::cmd("DEL")
                    .arg(keys)
                    .query_async::<u64>(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }
}

pub fn redis_url() -> String {
    std::env::var("POSTERN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Short timings so redelivery tests take a fraction of a second.
pub fn fast_settings() -> BusSettings {
    BusSettings {
        claim_idle: Duration::from_millis(200),
        block: Duration::from_millis(100),
        max_attempts: 3,
        max_len: 10_000,
    }
}

/// A `report.ingested` event for `domain`.
pub fn report_event(topic: &str, domain: &str) -> Envelope {
    let message = ReportIngested {
        report_id: uuid::Uuid::now_v7().to_string(),
        kind: "aggregate".to_owned(),
        domain: domain.to_owned(),
        domain_id: String::new(),
    };
    Envelope::new(topic, &message, None, None, Utc::now())
}

/// The next delivery, or `None` if none arrives within `wait`.
pub async fn next_within(sub: &mut dyn Subscription, wait: Duration) -> Option<Delivery> {
    match tokio::time::timeout(wait, sub.next()).await {
        Ok(delivery) => Some(delivery.unwrap()),
        Err(_elapsed) => None,
    }
}

/// Polls `done` every 10 ms until it is true; panics after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Declares one `#[tokio::test]` per scenario and transport: `in_process::NAME` and
/// `redis::NAME`, each calling `NAME(Transport)`.
macro_rules! on_both_transports {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::harness::Transport::InProcess).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::harness::Transport::Redis).await;
                }
            )*
        }
    };
}
