//! The envelope every event travels in and its protobuf form.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use postern_domain::{ClientId, EventId, MspId};
use prost::Message;

use crate::error::BusError;
use crate::wire;

/// One event: who it belongs to, when it happened, the producer's trace context and the
/// protobuf payload named by `topic`. Its wire form is `postern.events.v1.Envelope`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The event's id; consumers stay idempotent by it.
    pub id: EventId,
    /// The topic (see [`crate::topics`]), which names the payload's message type.
    pub topic: String,
    /// When the described change happened (millisecond precision on the wire).
    pub occurred_at: DateTime<Utc>,
    /// The MSP the event belongs to, if any.
    pub msp_id: Option<MspId>,
    /// The client (tenant) the event belongs to, if any.
    pub client_id: Option<ClientId>,
    /// W3C trace context of the producer (`traceparent`, `tracestate`), empty if untraced.
    pub trace_context: BTreeMap<String, String>,
    /// The encoded payload message.
    pub payload: Vec<u8>,
}

impl Envelope {
    /// A new event with a fresh id and no trace context. `now` is truncated to milliseconds,
    /// the precision of the wire form, so an envelope equals its own decoded encoding.
    pub fn new<M: Message>(
        topic: &str,
        message: &M,
        msp: Option<MspId>,
        client: Option<ClientId>,
        now: DateTime<Utc>,
    ) -> Self {
        let occurred_at = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        Self {
            id: EventId::new(),
            topic: topic.to_owned(),
            occurred_at,
            msp_id: msp,
            client_id: client,
            trace_context: BTreeMap::new(),
            payload: message.encode_to_vec(),
        }
    }

    /// The same event carrying the producer's trace context.
    #[must_use]
    pub fn with_trace_context(mut self, ctx: BTreeMap<String, String>) -> Self {
        self.trace_context = ctx;
        self
    }

    /// The protobuf encoding (`postern.events.v1.Envelope`): what the outbox stores and the
    /// transports carry.
    pub fn encode(&self) -> Vec<u8> {
        wire::Envelope {
            event_id: self.id.to_string(),
            topic: self.topic.clone(),
            occurred_at_unix_ms: self.occurred_at.timestamp_millis(),
            trace_context: self.trace_context.clone(),
            msp_id: self.msp_id.map(|id| id.to_string()).unwrap_or_default(),
            client_id: self.client_id.map(|id| id.to_string()).unwrap_or_default(),
            payload: self.payload.clone(),
        }
        .encode_to_vec()
    }

    /// Reads an envelope written by [`Envelope::encode`], checking its ids and time.
    pub fn decode(bytes: &[u8]) -> Result<Self, BusError> {
        let wire = wire::Envelope::decode(bytes)?;
        let id = EventId::from_str(&wire.event_id)
            .map_err(|e| BusError::InvalidEnvelope(format!("event_id {:?}: {e}", wire.event_id)))?;
        if wire.topic.is_empty() {
            return Err(BusError::InvalidEnvelope("topic is empty".to_owned()));
        }
        let occurred_at =
            DateTime::from_timestamp_millis(wire.occurred_at_unix_ms).ok_or_else(|| {
                BusError::InvalidEnvelope(format!(
                    "occurred_at_unix_ms {} is out of range",
                    wire.occurred_at_unix_ms
                ))
            })?;
        Ok(Self {
            id,
            topic: wire.topic,
            occurred_at,
            msp_id: optional_id("msp_id", &wire.msp_id)?,
            client_id: optional_id("client_id", &wire.client_id)?,
            trace_context: wire.trace_context,
            payload: wire.payload,
        })
    }

    /// Decodes the payload as `M`. The caller picks `M` from the topic.
    pub fn payload_as<M: Message + Default>(&self) -> Result<M, BusError> {
        Ok(M::decode(self.payload.as_slice())?)
    }
}

/// An optional id field: empty text means none.
fn optional_id<T: FromStr<Err = uuid::Error>>(
    field: &str,
    text: &str,
) -> Result<Option<T>, BusError> {
    if text.is_empty() {
        return Ok(None);
    }
    T::from_str(text)
        .map(Some)
        .map_err(|e| BusError::InvalidEnvelope(format!("{field} {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{DomainAdded, ReportIngested};
    use crate::topics;
    use chrono::TimeZone;

    fn report_ingested() -> ReportIngested {
        ReportIngested {
            report_id: "0190f6a4-5a7b-7c3d-8e9f-0123456789ab".to_owned(),
            kind: "aggregate".to_owned(),
            domain: "example.com".to_owned(),
            domain_id: String::new(),
        }
    }

    #[test]
    fn encode_decode_round_trip_keeps_every_field_including_trace_context() {
        let now = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap();
        let ctx = BTreeMap::from([
            (
                "traceparent".to_owned(),
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
            ),
            ("tracestate".to_owned(), "congo=t61rcWkgMzE".to_owned()),
        ]);
        let envelope = Envelope::new(
            topics::REPORT_INGESTED,
            &report_ingested(),
            Some(MspId::new()),
            Some(ClientId::new()),
            now,
        )
        .with_trace_context(ctx.clone());

        let decoded = Envelope::decode(&envelope.encode()).unwrap();

        assert_eq!(decoded, envelope);
        assert_eq!(decoded.trace_context, ctx);
        assert_eq!(decoded.occurred_at, now);
        assert_eq!(
            decoded.payload_as::<ReportIngested>().unwrap(),
            report_ingested()
        );
    }

    #[test]
    fn absent_tenant_ids_round_trip_as_none() {
        let envelope = Envelope::new(
            topics::REPORT_INGESTED,
            &report_ingested(),
            None,
            None,
            Utc::now(),
        );
        let decoded = Envelope::decode(&envelope.encode()).unwrap();
        assert_eq!(decoded.msp_id, None);
        assert_eq!(decoded.client_id, None);
        assert_eq!(decoded, envelope);
    }

    #[test]
    fn new_truncates_time_to_wire_precision() {
        let now = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
        let envelope = Envelope::new(
            topics::DOMAIN_ADDED,
            &DomainAdded::default(),
            None,
            None,
            now,
        );
        assert_eq!(envelope.occurred_at.timestamp_subsec_nanos(), 123_000_000);
        assert_eq!(Envelope::decode(&envelope.encode()).unwrap(), envelope);
    }

    #[test]
    fn decode_rejects_garbage_bytes() {
        assert!(matches!(
            Envelope::decode(&[0xff, 0xff, 0xff]),
            Err(BusError::Decode(_))
        ));
    }

    #[test]
    fn decode_rejects_a_bad_event_id() {
        let bytes = wire::Envelope {
            event_id: "not-a-uuid".to_owned(),
            topic: topics::DOMAIN_ADDED.to_owned(),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(matches!(
            Envelope::decode(&bytes),
            Err(BusError::InvalidEnvelope(msg)) if msg.contains("event_id")
        ));
    }

    #[test]
    fn decode_rejects_a_bad_client_id_and_an_empty_topic() {
        let bad_client = wire::Envelope {
            event_id: EventId::new().to_string(),
            topic: topics::DOMAIN_ADDED.to_owned(),
            client_id: "42".to_owned(),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(matches!(
            Envelope::decode(&bad_client),
            Err(BusError::InvalidEnvelope(msg)) if msg.contains("client_id")
        ));
        let no_topic = wire::Envelope {
            event_id: EventId::new().to_string(),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(matches!(
            Envelope::decode(&no_topic),
            Err(BusError::InvalidEnvelope(msg)) if msg.contains("topic")
        ));
    }

    #[test]
    fn payload_as_the_wrong_message_fails_to_decode() {
        let envelope = Envelope {
            payload: vec![0x0a, 0xff],
            ..Envelope::new(
                topics::DOMAIN_ADDED,
                &DomainAdded::default(),
                None,
                None,
                Utc::now(),
            )
        };
        assert!(matches!(
            envelope.payload_as::<DomainAdded>(),
            Err(BusError::Decode(_))
        ));
    }
}
