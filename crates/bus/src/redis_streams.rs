//! The Redis Streams transport: one stream per topic (`{namespace}:{topic}`), consumer groups,
//! `XAUTOCLAIM` to take over what a dead or failing consumer left pending, and a dead-letter
//! stream per topic (`{namespace}:{topic}:dead-letter`).

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{
    StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamRangeReply, StreamReadReply,
};
use tokio::time::Instant;

use crate::bus::{Bus, BusSettings, DeadLetter, Delivery, Handle, Subscription, Tail};
use crate::envelope::Envelope;
use crate::error::BusError;

/// The stream field holding the encoded envelope.
const FIELD_ENVELOPE: &str = "envelope";
/// Slack on top of the longest expected reply before a command counts as timed out.
const RESPONSE_SLACK: Duration = Duration::from_secs(5);
/// The `XAUTOCLAIM` cursor that starts (and ends) a scan of the pending entries; also the id
/// before any entry, where a tail of an empty stream starts.
const SCAN_START: &str = "0-0";
/// Entries a tail reads per `XREAD`.
const TAIL_BATCH: usize = 100;

/// The bus on Redis Streams, for services running as separate processes. Cheap to clone.
///
/// Publishing goes through one shared, auto-reconnecting connection; each subscription opens
/// its own connection, because `XREADGROUP BLOCK` holds the connection it runs on.
#[derive(Clone)]
pub struct RedisBus {
    client: redis::Client,
    conn: ConnectionManager,
    namespace: String,
    settings: BusSettings,
}

/// One consumer of a group on one stream.
struct RedisSubscription {
    conn: ConnectionManager,
    key: String,
    dead_key: String,
    group: String,
    consumer: String,
    settings: BusSettings,
    /// Where the current `XAUTOCLAIM` scan goes on; [`SCAN_START`] when no scan is under way.
    cursor: String,
    /// When the last complete scan ended.
    last_scan: Option<Instant>,
}

/// A reader of a stream's new entries with plain `XREAD` (no group).
struct RedisTail {
    conn: ConnectionManager,
    key: String,
    settings: BusSettings,
    /// The id of the last entry read (or the stream's last entry when the tail was opened).
    last_id: String,
    /// Entries read but not yet returned.
    buffered: VecDeque<Envelope>,
}

impl RedisBus {
    /// Connects to `url` (`redis://host:port/db`). Streams are named `{namespace}:{topic}`, so
    /// installations (or tests) sharing a Redis keep apart by namespace.
    pub async fn connect(
        url: &str,
        namespace: &str,
        settings: BusSettings,
    ) -> Result<Self, BusError> {
        let client = redis::Client::open(url)?;
        let conn = client
            .get_connection_manager_with_config(manager_config(Duration::ZERO))
            .await?;
        Ok(Self {
            client,
            conn,
            namespace: namespace.to_owned(),
            settings,
        })
    }

    /// The Redis key of a topic's stream.
    pub fn stream_key(&self, topic: &str) -> String {
        format!("{}:{topic}", self.namespace)
    }

    /// The Redis key of a topic's dead-letter stream.
    pub fn dead_letter_key(&self, topic: &str) -> String {
        format!("{}:{topic}:dead-letter", self.namespace)
    }
}

impl fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBus")
            .field("namespace", &self.namespace)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RedisSubscription {
    fn claim_due(&self) -> bool {
        self.cursor != SCAN_START
            || self
                .last_scan
                .is_none_or(|at| at.elapsed() >= self.settings.claim_check_every())
    }

    /// One `XAUTOCLAIM` step: claims at most one entry idle for `claim_idle`.
    async fn claim_one(&mut self) -> Result<Option<Delivery>, BusError> {
        let reply: StreamAutoClaimReply = match redis::cmd("XAUTOCLAIM")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(millis(self.settings.claim_idle))
            .arg(&self.cursor)
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn)
            .await
        {
            Ok(reply) => reply,
            Err(e) if e.code() == Some("NOGROUP") => {
                self.recreate_group().await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        self.cursor = reply.next_stream_id;
        if self.cursor == SCAN_START {
            self.last_scan = Some(Instant::now());
        }
        let Some(entry) = reply.claimed.into_iter().next() else {
            return Ok(None);
        };
        let attempt = self.times_delivered(&entry.id).await?;
        if attempt > self.settings.max_attempts {
            let attempts = attempt - 1;
            tracing::warn!(
                stream = %self.key, group = %self.group, entry = %entry.id, attempts,
                "event delivered too often; moved to dead letters"
            );
            let event = entry.get::<Vec<u8>>(FIELD_ENVELOPE).unwrap_or_default();
            let reason = format!("delivered {attempts} times without acknowledgement");
            self.move_to_dead_letters(&entry.id, &event, attempts, &reason)
                .await?;
            return Ok(None);
        }
        self.delivery(entry, attempt).await
    }

    /// One `XREADGROUP … >`: a new entry, or `None` after blocking for the read wait.
    async fn read_new(&mut self) -> Result<Option<Delivery>, BusError> {
        let reply: Option<StreamReadReply> = match redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(millis(self.settings.read_wait()).max(1))
            .arg("STREAMS")
            .arg(&self.key)
            .arg(">")
            .query_async(&mut self.conn)
            .await
        {
            Ok(reply) => reply,
            Err(e) if e.code() == Some("NOGROUP") => {
                self.recreate_group().await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let entry = reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .next();
        match entry {
            Some(entry) => self.delivery(entry, 1).await,
            None => Ok(None),
        }
    }

    /// Turns a stream entry into a delivery; an entry that is not a valid envelope can never
    /// be handled, so it goes to the dead letters at once.
    async fn delivery(
        &mut self,
        entry: StreamId,
        attempt: u32,
    ) -> Result<Option<Delivery>, BusError> {
        let event = entry.get::<Vec<u8>>(FIELD_ENVELOPE).unwrap_or_default();
        match Envelope::decode(&event) {
            Ok(envelope) => Ok(Some(Delivery {
                envelope,
                attempt,
                handle: Handle::Redis {
                    key: self.key.clone(),
                    group: self.group.clone(),
                    entry_id: entry.id,
                },
            })),
            Err(e) => {
                tracing::error!(
                    stream = %self.key, entry = %entry.id, error = %e,
                    "undecodable stream entry; moved to dead letters"
                );
                let reason = format!("undecodable envelope: {e}");
                self.move_to_dead_letters(&entry.id, &event, attempt, &reason)
                    .await?;
                Ok(None)
            }
        }
    }

    /// How many times the group has delivered the entry (`XPENDING` of that one entry).
    async fn times_delivered(&mut self, entry_id: &str) -> Result<u32, BusError> {
        let reply: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&self.key)
            .arg(&self.group)
            .arg(entry_id)
            .arg(entry_id)
            .arg(1)
            .query_async(&mut self.conn)
            .await?;
        let times = reply.ids.first().map_or(1, |p| p.times_delivered);
        Ok(u32::try_from(times).unwrap_or(u32::MAX))
    }

    /// Adds the entry to the dead-letter stream and acknowledges it, atomically.
    async fn move_to_dead_letters(
        &mut self,
        entry_id: &str,
        event: &[u8],
        attempts: u32,
        reason: &str,
    ) -> Result<(), BusError> {
        redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(&self.dead_key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.settings.max_len)
            .arg("*")
            .arg(FIELD_ENVELOPE)
            .arg(event)
            .arg("group")
            .arg(&self.group)
            .arg("consumer")
            .arg(&self.consumer)
            .arg("attempts")
            .arg(attempts)
            .arg("reason")
            .arg(reason)
            .arg("entry")
            .arg(entry_id)
            .ignore()
            .cmd("XACK")
            .arg(&self.key)
            .arg(&self.group)
            .arg(entry_id)
            .ignore()
            .query_async::<()>(&mut self.conn)
            .await?;
        Ok(())
    }

    /// The group vanished (stream deleted, Redis flushed): create it again from the start.
    async fn recreate_group(&mut self) -> Result<(), BusError> {
        tracing::warn!(stream = %self.key, group = %self.group, "consumer group missing; recreating it");
        create_group(&mut self.conn, &self.key, &self.group).await
    }

    /// The delivery's entry id, if this subscription's group delivered it.
    fn own_entry<'d>(&self, delivery: &'d Delivery) -> Result<&'d str, BusError> {
        match &delivery.handle {
            Handle::Redis {
                key,
                group,
                entry_id,
            } if *key == self.key && *group == self.group => Ok(entry_id),
            _ => Err(BusError::ForeignDelivery),
        }
    }
}

impl RedisTail {
    /// One `XREAD … BLOCK` after `last_id`; decodable entries go to the buffer.
    async fn read(&mut self) -> Result<(), BusError> {
        let reply: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(TAIL_BATCH)
            .arg("BLOCK")
            .arg(millis(self.settings.read_wait()).max(1))
            .arg("STREAMS")
            .arg(&self.key)
            .arg(&self.last_id)
            .query_async(&mut self.conn)
            .await?;
        for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            let event = entry.get::<Vec<u8>>(FIELD_ENVELOPE).unwrap_or_default();
            match Envelope::decode(&event) {
                Ok(envelope) => self.buffered.push_back(envelope),
                Err(e) => tracing::warn!(
                    stream = %self.key, entry = %entry.id, error = %e,
                    "undecodable stream entry; the tail skips it"
                ),
            }
            self.last_id = entry.id;
        }
        Ok(())
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        redis::cmd("XADD")
            .arg(self.stream_key(&envelope.topic))
            .arg("MAXLEN")
            .arg("~")
            .arg(self.settings.max_len)
            .arg("*")
            .arg(FIELD_ENVELOPE)
            .arg(envelope.encode())
            .query_async::<String>(&mut conn)
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        consumer: &str,
    ) -> Result<Box<dyn Subscription>, BusError> {
        let key = self.stream_key(topic);
        let mut conn = self
            .client
            .get_connection_manager_with_config(manager_config(self.settings.read_wait()))
            .await?;
        create_group(&mut conn, &key, group).await?;
        Ok(Box::new(RedisSubscription {
            conn,
            key,
            dead_key: self.dead_letter_key(topic),
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            settings: self.settings,
            cursor: SCAN_START.to_owned(),
            last_scan: None,
        }))
    }

    async fn dead_letters(&self, topic: &str, limit: usize) -> Result<Vec<DeadLetter>, BusError> {
        let mut conn = self.conn.clone();
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.dead_letter_key(topic))
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut conn)
            .await?;
        Ok(reply
            .ids
            .into_iter()
            .map(|entry| DeadLetter {
                event: entry.get(FIELD_ENVELOPE).unwrap_or_default(),
                group: entry.get("group").unwrap_or_default(),
                consumer: entry.get("consumer").unwrap_or_default(),
                attempts: entry.get("attempts").unwrap_or_default(),
                reason: entry.get("reason").unwrap_or_default(),
            })
            .collect())
    }

    async fn tail(&self, topic: &str) -> Result<Box<dyn Tail>, BusError> {
        let key = self.stream_key(topic);
        let mut conn = self
            .client
            .get_connection_manager_with_config(manager_config(self.settings.read_wait()))
            .await?;
        // Pin the start now (`$` would mean "the last entry when the first read runs").
        let last: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        let last_id = last
            .ids
            .into_iter()
            .next()
            .map_or_else(|| SCAN_START.to_owned(), |entry| entry.id);
        Ok(Box::new(RedisTail {
            conn,
            key,
            settings: self.settings,
            last_id,
            buffered: VecDeque::new(),
        }))
    }
}

#[async_trait]
impl Tail for RedisTail {
    async fn next(&mut self) -> Result<Envelope, BusError> {
        loop {
            if let Some(envelope) = self.buffered.pop_front() {
                return Ok(envelope);
            }
            self.read().await?;
        }
    }
}

#[async_trait]
impl Subscription for RedisSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            if self.claim_due() {
                if let Some(delivery) = self.claim_one().await? {
                    return Ok(delivery);
                }
                if self.cursor != SCAN_START {
                    continue;
                }
            }
            if let Some(delivery) = self.read_new().await? {
                return Ok(delivery);
            }
        }
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let entry_id = self.own_entry(delivery)?.to_owned();
        redis::cmd("XACK")
            .arg(&self.key)
            .arg(&self.group)
            .arg(entry_id)
            .query_async::<u64>(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn dead_letter(&mut self, delivery: &Delivery, reason: &str) -> Result<(), BusError> {
        let entry_id = self.own_entry(delivery)?.to_owned();
        self.move_to_dead_letters(
            &entry_id,
            &delivery.envelope.encode(),
            delivery.attempt,
            reason,
        )
        .await
    }

    fn max_attempts(&self) -> u32 {
        self.settings.max_attempts
    }
}

/// `XGROUP CREATE key group 0 MKSTREAM`: the group starts at the stream's beginning; an
/// existing group (`BUSYGROUP`) is left as it is.
async fn create_group(
    conn: &mut ConnectionManager,
    key: &str,
    group: &str,
) -> Result<(), BusError> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(key)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() != Some("BUSYGROUP") => Err(e.into()),
        _ => Ok(()),
    }
}

/// A connection manager whose replies may take `longest_wait` (a blocking read) plus slack.
fn manager_config(longest_wait: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(longest_wait + RESPONSE_SLACK))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_saturates_instead_of_wrapping() {
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
