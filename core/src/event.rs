//! The one event type that flows through every graph.

use crate::ack::AckToken;
use crate::value::{Map, Value};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Metadata that travels with an event but is not part of its document.
#[derive(Debug, Clone)]
pub struct EventMeta {
    /// When pipectl received the event, in nanoseconds since the Unix epoch.
    pub ingest_time_ns: i64,
    /// The name of the source component that produced the event.
    pub source: Arc<str>,
    /// The source batch's acknowledgement handle, when the source wants one.
    pub ack: Option<AckToken>,
}

/// A JSON-like document plus metadata.
#[derive(Debug, Clone)]
pub struct Event {
    /// The document; an object for every event a source produces.
    pub value: Value,
    pub meta: EventMeta,
}

/// What channels carry between components: events travel in batches to amortise
/// synchronisation.
pub type Batch = Vec<Event>;

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Event {
    /// A new event from `source`, stamped with the current ingest time.
    pub fn new(value: Value, source: Arc<str>) -> Event {
        Event {
            value,
            meta: EventMeta {
                ingest_time_ns: now_ns(),
                source,
                ack: None,
            },
        }
    }

    /// An event holding `{"message": text}`, as line-oriented sources produce before a
    /// codec runs.
    pub fn from_message(text: &str, source: Arc<str>) -> Event {
        let mut map = Map::with_capacity(1);
        map.push("message", Value::from(text));
        Event::new(Value::Object(map), source)
    }

    /// Marks this event's source batch as failed (a sink could not deliver it).
    pub fn fail_delivery(&self) {
        if let Some(ack) = &self.meta.ack {
            ack.fail();
        }
    }
}
