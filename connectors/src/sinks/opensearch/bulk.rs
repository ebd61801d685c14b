//! One `_bulk` call: the compressed body out, the per-item verdicts back.
//!
//! The response is asked for with `filter_path` so that only `errors` and each item's
//! `status` and `error` come back: a fully successful answer to 5,000 documents is then
//! a few dozen kilobytes instead of a megabyte of `_shards`, `_version` and `result`.

use super::client::{Client, ClientError, Request};
use super::retry::is_retryable;
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Deserialize;
use std::io::Write;
use std::time::Duration;

/// What OpenSearch said about one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Indexed (or, for a versioned document, already there in the same or a newer
    /// version: a 409 conflict is the sink's "already delivered").
    Done,
    /// Refused under load or by a failing shard: send it again.
    Retry { status: u16, reason: String },
    /// Refused for good (mapping or parse errors, a blocked or missing index, ...).
    Reject {
        status: u16,
        error_type: String,
        reason: String,
    },
}

/// What became of a whole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkOutcome {
    /// Every document was accepted.
    AllDone,
    /// Per-document verdicts, in request order.
    Items(Vec<ItemOutcome>),
    /// Refused as a whole, for now (429, 5xx, or an answer that cannot be read):
    /// send it all again.
    Transient {
        status: u16,
        reason: String,
        retry_after: Option<Duration>,
    },
    /// HTTP 413: the body exceeds `http.max_content_length`.
    TooLarge,
    /// Refused as a whole for a reason waiting will not fix (401, 403, 404, 400 ...).
    Fatal { status: u16, reason: String },
}

#[derive(Deserialize)]
struct Response {
    errors: bool,
    #[serde(default)]
    items: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(alias = "create", alias = "update", alias = "delete")]
    index: ItemResult,
}

#[derive(Deserialize)]
struct ItemResult {
    status: u16,
    #[serde(default)]
    error: Option<ItemError>,
}

#[derive(Deserialize)]
struct ItemError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    caused_by: Option<Box<ItemError>>,
}

impl ItemError {
    /// The reason with its first cause, which usually says what was wrong with the
    /// value ("failed to parse date field [yesterday]").
    fn describe(&self) -> String {
        match &self.caused_by {
            Some(cause) if !cause.reason.is_empty() && cause.reason != self.reason => {
                format!("{}: {}", self.reason, cause.reason)
            }
            _ => self.reason.clone(),
        }
    }
}

/// gzip at the fastest level: bulk NDJSON shrinks 5–10× even so, and the CPU the
/// sink spends is CPU a co-located node does not get.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// Sends one bulk body (`compressed`: already gzipped) holding `documents` documents.
pub async fn send(
    client: &Client,
    body: Bytes,
    compressed: bool,
    documents: usize,
) -> Result<BulkOutcome, ClientError> {
    let mut request = Request::post("/_bulk")
        .query("filter_path", "errors,items.*.status,items.*.error")
        .body(body, "application/x-ndjson");
    if compressed {
        request = request.gzipped();
    }
    let reply = client.send(request).await?;
    let status = reply.status;
    Ok(match status {
        200..=299 => read_items(&reply.body, documents),
        413 => BulkOutcome::TooLarge,
        s if is_retryable(s) => BulkOutcome::Transient {
            status,
            reason: client.scrub(reply.error_reason()),
            retry_after: reply.retry_after,
        },
        _ => BulkOutcome::Fatal {
            status,
            reason: client.scrub(reply.error_reason()),
        },
    })
}

/// Reads a 2xx bulk answer.
fn read_items(body: &[u8], documents: usize) -> BulkOutcome {
    let unreadable = |reason: String| BulkOutcome::Transient {
        status: 200,
        reason,
        retry_after: None,
    };
    let response: Response = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return unreadable(format!("the bulk answer could not be read: {e}")),
    };
    if !response.errors {
        return BulkOutcome::AllDone;
    }
    if response.items.len() != documents {
        return unreadable(format!(
            "the bulk answer has {} items for {documents} documents",
            response.items.len()
        ));
    }
    let outcomes = response
        .items
        .into_iter()
        .map(|entry| {
            let ItemResult { status, error } = entry.index;
            match (status, error) {
                (200..=299, _) => ItemOutcome::Done,
                (409, Some(e)) if e.kind == "version_conflict_engine_exception" => {
                    ItemOutcome::Done
                }
                (s, e) if is_retryable(s) => ItemOutcome::Retry {
                    status: s,
                    reason: e.map(|e| e.describe()).unwrap_or_default(),
                },
                (s, e) => {
                    let (error_type, reason) = match e {
                        Some(e) => (e.kind.clone(), e.describe()),
                        None => ("unknown".to_string(), format!("HTTP {s} without an error")),
                    };
                    ItemOutcome::Reject {
                        status: s,
                        error_type,
                        reason,
                    }
                }
            }
        })
        .collect();
    BulkOutcome::Items(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn a_clean_answer_is_all_done() {
        let body =
            br#"{"errors":false,"items":[{"index":{"status":201}},{"index":{"status":200}}]}"#;
        assert_eq!(read_items(body, 2), BulkOutcome::AllDone);
    }

    #[test]
    fn items_are_sorted_into_done_retry_and_reject() {
        let body = br#"{"errors":true,"items":[
            {"index":{"status":201}},
            {"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [@timestamp] of type [date]","caused_by":{"type":"illegal_argument_exception","reason":"failed to parse date field [yesterday]"}}}},
            {"index":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"v"}}},
            {"create":{"status":503}}
        ]}"#;
        let BulkOutcome::Items(items) = read_items(body, 5) else {
            panic!("expected items");
        };
        assert_eq!(items[0], ItemOutcome::Done);
        assert_eq!(
            items[1],
            ItemOutcome::Retry {
                status: 429,
                reason: "queue full".into()
            }
        );
        assert_eq!(
            items[2],
            ItemOutcome::Reject {
                status: 400,
                error_type: "mapper_parsing_exception".into(),
                reason: "failed to parse field [@timestamp] of type [date]: failed to parse date field [yesterday]".into()
            }
        );
        assert_eq!(items[3], ItemOutcome::Done);
        assert!(matches!(items[4], ItemOutcome::Retry { status: 503, .. }));
    }

    #[test]
    fn an_answer_that_does_not_match_the_request_is_sent_again() {
        let body = br#"{"errors":true,"items":[{"index":{"status":201}}]}"#;
        assert!(matches!(read_items(body, 2), BulkOutcome::Transient { .. }));
        assert!(matches!(
            read_items(b"<html>", 2),
            BulkOutcome::Transient { .. }
        ));
    }

    #[test]
    fn gzip_round_trips() {
        let text = b"{\"index\":{}}\n{\"a\":1}\n".repeat(100);
        let packed = gzip(&text);
        assert!(packed.len() < text.len() / 5);
        let mut out = Vec::new();
        GzDecoder::new(&packed[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, text);
    }
}
