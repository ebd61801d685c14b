//! Bulk request bodies: an action line and a document line per event, and the
//! bookkeeping that lets any subset of them be re-sent or dead-lettered.
//!
//! Every event becomes an `index` action (docs/schema.md: create or overwrite) with a
//! deterministic `_id`, so sending it twice — a retry, a restart, a replay — leaves one
//! document:
//!
//! - the value of `id_field` (`event.id` by default, which producers set as the schema
//!   defines) when it is a non-empty string of at most 512 bytes, or an integer;
//! - otherwise the lowercase hex of the first 16 bytes of SHA-256 over the source
//!   component's name, U+001F, and the document's JSON. That JSON is the event as
//!   serialised (maps keep their order, so the same record parsed the same way always
//!   gives the same bytes); fields that change per delivery, such as an ingest time a
//!   transform adds, would change the id, which is what `id_field` is for. SHA-256 and
//!   not a faster hash: event content is attacker-controlled, and a crafted collision
//!   would overwrite another event's document.
//!
//! A document carrying `pipectl.version` (mutable types: incidents, profiles, actions)
//! is sent with `version_type=external_gte`, so an older state retried late is refused
//! with 409, which counts as delivered, instead of overwriting a newer one.

use super::routing::{Refused, Router};
use pipectl_core::ack::AckToken;
use pipectl_core::event::Event;
use pipectl_core::path::FieldPath;
use pipectl_core::value::{Str, Value};
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::sync::Arc;

/// The longest `_id` OpenSearch accepts, in bytes.
const MAX_ID_BYTES: usize = 512;

/// An event's acknowledgement while the sink owns it. Dropping it without
/// [`Pending::delivered`] marks the source batch failed, so no path — an error, an
/// aborted task, a panic — can acknowledge an event by accident.
#[derive(Debug)]
pub struct Pending(Option<AckToken>);

impl Pending {
    pub fn new(token: Option<AckToken>) -> Pending {
        Pending(token)
    }

    /// OpenSearch accepted the event (or it was durably dead-lettered).
    pub fn delivered(mut self) {
        // Dropping the token without failing it acknowledges this copy.
        self.0.take();
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.fail();
        }
    }
}

/// One document in a bulk body.
#[derive(Debug)]
pub struct Item {
    pub ack: Pending,
    /// The source component that produced the event.
    pub source: Arc<str>,
    pub index: Arc<str>,
    /// The document type, for dead-letter records.
    pub kind: &'static str,
    pub id: Str,
    /// The action and document lines in the body, newlines included.
    span: Range<usize>,
    /// Where the document line starts.
    doc_start: usize,
    /// Sends so far (filled in by delivery).
    pub attempts: u32,
    /// When it first failed, in Unix milliseconds.
    pub first_failed: Option<i64>,
}

impl Item {
    /// An item whose lines are added with [`BulkBatch::push_lines`].
    pub fn new(
        ack: Pending,
        source: Arc<str>,
        index: Arc<str>,
        kind: &'static str,
        id: Str,
    ) -> Item {
        Item {
            ack,
            source,
            index,
            kind,
            id,
            span: 0..0,
            doc_start: 0,
            attempts: 0,
            first_failed: None,
        }
    }
}

/// A bulk request being built or sent: the NDJSON body and its items, in order.
#[derive(Debug, Default)]
pub struct BulkBatch {
    pub body: Vec<u8>,
    pub items: Vec<Item>,
}

impl BulkBatch {
    /// An empty batch with room for `bytes` of body and `items` items.
    pub fn with_capacity(bytes: usize, items: usize) -> BulkBatch {
        BulkBatch {
            body: Vec::with_capacity(bytes),
            items: Vec::with_capacity(items),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The document line of an item of this batch, without its newline.
    pub fn document(&self, item: &Item) -> &[u8] {
        let end = item.span.end.saturating_sub(1);
        self.body.get(item.doc_start..end).unwrap_or_default()
    }

    /// A new batch of `items` (taken from this one), their lines copied in order.
    pub fn subset(&self, items: Vec<Item>) -> BulkBatch {
        let size = items.iter().map(|i| i.span.len()).sum();
        let mut out = BulkBatch {
            body: Vec::with_capacity(size),
            items: Vec::with_capacity(items.len()),
        };
        for mut item in items {
            let start = out.body.len();
            let lines = self.body.get(item.span.clone()).unwrap_or_default();
            out.body.extend_from_slice(lines);
            item.doc_start = start + (item.doc_start - item.span.start);
            item.span = start..out.body.len();
            out.items.push(item);
        }
        out
    }

    /// Appends an item whose lines are `action` and `document` (no newlines).
    pub fn push_lines(&mut self, mut item: Item, action: &[u8], document: &[u8]) {
        let start = self.body.len();
        self.body.extend_from_slice(action);
        self.body.push(b'\n');
        item.doc_start = self.body.len();
        self.body.extend_from_slice(document);
        self.body.push(b'\n');
        item.span = start..self.body.len();
        self.items.push(item);
    }
}

/// A document refused before sending, on its way to the dead-letter index.
#[derive(Debug)]
pub struct Rejection {
    pub ack: Pending,
    pub source: Arc<str>,
    pub index: String,
    pub kind: &'static str,
    pub id: Str,
    pub document: Vec<u8>,
    pub reason: String,
    pub error_type: String,
    /// The bulk item's HTTP status; `None` when pipectl refused it itself.
    pub status: Option<u16>,
    pub attempts: u32,
    pub first_failed: i64,
}

/// Turns events into bulk lines.
pub struct Encoder {
    router: Router,
    id_field: Option<FieldPath>,
    version_field: FieldPath,
    doc: Vec<u8>,
    action: Vec<u8>,
}

impl Encoder {
    pub fn new(router: Router, id_field: Option<FieldPath>) -> Encoder {
        let version_field =
            FieldPath::parse("pipectl.version").unwrap_or_else(|_| FieldPath::root());
        Encoder {
            router,
            id_field,
            version_field,
            doc: Vec::with_capacity(4096),
            action: Vec::with_capacity(256),
        }
    }

    /// Appends `event` to `batch`, or returns it as a rejection when it cannot be
    /// routed. `now_ms` is the clock future timestamps are judged by.
    pub fn push(&mut self, event: Event, batch: &mut BulkBatch, now_ms: i64) -> Option<Rejection> {
        let Event { value, mut meta } = event;
        self.doc.clear();
        pipectl_core::json::write(&value, &mut self.doc);
        let id = self.id_of(&value, &meta.source);
        let ack = Pending::new(meta.ack.take());
        let target = match self.router.route(&value, now_ms) {
            Ok(target) => target,
            Err(Refused {
                index,
                kind,
                reason,
            }) => {
                return Some(Rejection {
                    ack,
                    source: meta.source,
                    index,
                    kind,
                    id,
                    document: std::mem::take(&mut self.doc),
                    reason,
                    error_type: "timestamp_out_of_range".into(),
                    status: None,
                    attempts: 0,
                    first_failed: now_ms,
                });
            }
        };
        self.action.clear();
        self.action.extend_from_slice(b"{\"index\":{\"_index\":");
        pipectl_core::json::write_str(&target.index, &mut self.action);
        self.action.extend_from_slice(b",\"_id\":");
        pipectl_core::json::write_str(&id, &mut self.action);
        if let Some(version) = value.get_path(&self.version_field).and_then(Value::as_i64) {
            if version >= 0 {
                self.action.extend_from_slice(b",\"version\":");
                self.action
                    .extend_from_slice(version.to_string().as_bytes());
                self.action
                    .extend_from_slice(b",\"version_type\":\"external_gte\"");
            }
        }
        self.action.extend_from_slice(b"}}");
        let item = Item::new(ack, meta.source, target.index, target.kind, id);
        batch.push_lines(item, &self.action, &self.doc);
        None
    }

    /// The `_id`: `id_field` when usable, else the content hash (the document's JSON
    /// must already be in `self.doc`).
    fn id_of(&self, value: &Value, source: &str) -> Str {
        if let Some(field) = &self.id_field {
            match value.get_path(field) {
                Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_BYTES => {
                    return s.clone()
                }
                Some(Value::Int(i)) => return Str::from(i.to_string()),
                _ => {}
            }
        }
        content_id(&[source.as_bytes(), &self.doc])
    }
}

/// The lowercase hex of the first 16 bytes of SHA-256 over `parts` joined with U+001F,
/// as docs/schema.md derives every id.
pub fn content_id(parts: &[&[u8]]) -> Str {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0x1f]);
        }
        hasher.update(part);
    }
    let digest = hasher.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(32);
    for byte in digest.iter().take(16) {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    Str::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::opensearch::routing::IndexPattern;
    use pipectl_core::ack::BatchStatus;

    const NOW: i64 = 1_759_529_645_000;

    fn encoder(id_field: Option<&str>) -> Encoder {
        let pattern = IndexPattern::parse("pipectl-events-t-%Y.%m.%d").unwrap();
        let router = Router::pattern(pattern, FieldPath::parse("@timestamp").unwrap());
        Encoder::new(router, id_field.map(|f| FieldPath::parse(f).unwrap()))
    }

    fn event(json: &str) -> Event {
        Event::new(
            pipectl_core::json::from_str(json).unwrap(),
            Arc::from("p.src"),
        )
    }

    #[test]
    fn writes_an_index_action_and_the_document() {
        let mut enc = encoder(Some("event.id"));
        let mut batch = BulkBatch::default();
        let doc = r#"{"@timestamp":"2025-10-03T10:00:00Z","event":{"id":"abc\"1"}}"#;
        assert!(enc.push(event(doc), &mut batch, NOW).is_none());
        let text = String::from_utf8(batch.body.clone()).unwrap();
        assert_eq!(
            text,
            format!("{{\"index\":{{\"_index\":\"pipectl-events-t-2025.10.03\",\"_id\":\"abc\\\"1\"}}}}\n{doc}\n")
        );
        assert_eq!(batch.document(&batch.items[0]), doc.as_bytes());
        assert_eq!(batch.items[0].id, "abc\"1");
    }

    #[test]
    fn ids_are_content_hashes_when_the_field_is_missing() {
        let mut enc = encoder(Some("event.id"));
        let mut batch = BulkBatch::default();
        let doc = r#"{"@timestamp":"2025-10-03T10:00:00Z","a":1}"#;
        enc.push(event(doc), &mut batch, NOW);
        enc.push(event(doc), &mut batch, NOW);
        enc.push(
            event(r#"{"@timestamp":"2025-10-03T10:00:00Z","a":2}"#),
            &mut batch,
            NOW,
        );
        let ids: Vec<&str> = batch.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert_eq!(ids[0].len(), 32);
        assert_eq!(ids[0], content_id(&[b"p.src", doc.as_bytes()]).as_str());
        // Another source gives the same record another id.
        let mut other = event(doc);
        other.meta.source = Arc::from("p.other");
        enc.push(other, &mut batch, NOW);
        assert_ne!(batch.items[3].id, batch.items[0].id);
    }

    #[test]
    fn content_id_matches_the_schema_definition() {
        // sha256("a\u{1f}b") = 0a8a08f4...; the schema keeps the first 16 bytes in hex.
        let expected = {
            let digest = Sha256::digest("a\u{1f}b".as_bytes());
            digest
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(content_id(&[b"a", b"b"]).as_str(), expected);
    }

    #[test]
    fn versions_become_external_gte() {
        let mut enc = encoder(None);
        let mut batch = BulkBatch::default();
        enc.push(
            event(r#"{"@timestamp":"2025-10-03T10:00:00Z","pipectl":{"version":7}}"#),
            &mut batch,
            NOW,
        );
        let text = String::from_utf8(batch.body.clone()).unwrap();
        assert!(
            text.contains(",\"version\":7,\"version_type\":\"external_gte\"}}"),
            "{text}"
        );
    }

    #[test]
    fn unroutable_documents_are_rejections_with_their_ack() {
        let mut enc = encoder(None);
        let mut batch = BulkBatch::default();
        let (token, rx) = AckToken::new();
        let mut e = event(r#"{"a":1}"#);
        e.meta.ack = Some(token);
        let rejection = enc.push(e, &mut batch, NOW).unwrap();
        assert!(batch.is_empty());
        assert_eq!(rejection.error_type, "timestamp_out_of_range");
        assert_eq!(rejection.document, br#"{"a":1}"#);
        assert_eq!(rejection.index, "pipectl-events-t-%Y.%m.%d");
        rejection.ack.delivered();
        let mut rx = rx;
        assert_eq!(rx.try_status(), Some(BatchStatus::Delivered));
    }

    #[test]
    fn subsets_copy_lines_and_dropping_pending_fails_the_batch() {
        let mut enc = encoder(None);
        let mut batch = BulkBatch::default();
        let (token, rx) = AckToken::new();
        for n in 0..3 {
            let mut e = event(&format!(
                r#"{{"@timestamp":"2025-10-03T10:00:00Z","n":{n}}}"#
            ));
            e.meta.ack = Some(token.clone());
            enc.push(e, &mut batch, NOW);
        }
        drop(token);
        let mut items = std::mem::take(&mut batch.items);
        let last = items.pop().unwrap();
        let first = items.remove(0);
        let subset = batch.subset(vec![last]);
        assert_eq!(
            subset.document(&subset.items[0]),
            br#"{"@timestamp":"2025-10-03T10:00:00Z","n":2}"#
        );
        assert_eq!(subset.body.iter().filter(|b| **b == b'\n').count(), 2);
        first.ack.delivered();
        drop(items);
        drop(subset);
        let mut rx = rx;
        assert_eq!(rx.try_status(), Some(BatchStatus::Failed));
    }
}
