//! S3 event notifications as SQS message bodies: the notification JSON itself, or
//! wrapped by SNS (`{"Type": "Notification", "Message": "<the notification>"}`) when
//! the bucket notifies a topic the queue subscribes to. Object keys arrive URL-encoded
//! (`+` for a space, `%XX` for other bytes) and are decoded here.

/// What a message announces.
#[derive(Debug, PartialEq, Eq)]
pub enum Notification {
    /// `s3:TestEvent`, sent once when notifications are configured.
    Test,
    /// Records of object events, in the order given.
    Objects(Vec<ObjectEvent>),
}

/// One record of a notification.
#[derive(Debug, PartialEq, Eq)]
pub struct ObjectEvent {
    pub bucket: String,
    /// Decoded.
    pub key: String,
    /// Whether the event is an `ObjectCreated:*` one (others name no new log).
    pub created: bool,
}

/// Reads a message body; an error says why it is not an S3 event notification.
pub fn parse(body: &str) -> Result<Notification, String> {
    let mut json: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if json.get("Type").and_then(|t| t.as_str()) == Some("Notification") {
        let inner = json
            .get("Message")
            .and_then(|m| m.as_str())
            .ok_or("an SNS notification without a `Message`")?;
        json = serde_json::from_str(inner)
            .map_err(|e| format!("the SNS `Message` is not JSON: {e}"))?;
    }
    if json.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    let records = json
        .get("Records")
        .and_then(|r| r.as_array())
        .ok_or("no `Records`: not an S3 event notification")?;
    records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let text = |path: &[&str]| {
                path.iter()
                    .try_fold(record, |v, k| v.get(k))
                    .and_then(|v| v.as_str())
            };
            if text(&["eventSource"]) != Some("aws:s3") {
                return Err(format!(
                    "record {i} is not an S3 event (`eventSource` is not `aws:s3`)"
                ));
            }
            let bucket = text(&["s3", "bucket", "name"])
                .ok_or_else(|| format!("record {i} names no bucket"))?;
            let key = text(&["s3", "object", "key"])
                .ok_or_else(|| format!("record {i} names no object key"))?;
            Ok(ObjectEvent {
                bucket: bucket.to_string(),
                key: decode_key(key).map_err(|e| format!("record {i}: {e}"))?,
                created: text(&["eventName"]).is_some_and(|n| n.starts_with("ObjectCreated:")),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Notification::Objects)
}

/// A key as notifications encode it: `+` is a space, `%XX` a byte; UTF-8 once decoded.
pub fn decode_key(encoded: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.bytes();
    while let Some(b) = rest.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = [rest.next(), rest.next()];
                let value = match hex {
                    [Some(h), Some(l)] => hex_digit(h).zip(hex_digit(l)).map(|(h, l)| h * 16 + l),
                    _ => None,
                };
                bytes.push(value.ok_or_else(|| format!("bad %-escape in key `{encoded}`"))?);
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|_| format!("key `{encoded}` is not UTF-8 once decoded"))
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(decode_key("a+b%3Dc%2Fd").unwrap(), "a b=c/d");
        assert_eq!(decode_key("caf%C3%A9").unwrap(), "café");
        assert!(decode_key("bad%2").is_err());
        assert!(decode_key("bad%zz").is_err());
        assert!(decode_key("%FF").is_err());
    }

    #[test]
    fn plain_sns_and_test_notifications() {
        let plain = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"AWSLogs/x+y.json.gz","size":3}}},{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#;
        let expected = Notification::Objects(vec![
            ObjectEvent {
                bucket: "b".into(),
                key: "AWSLogs/x y.json.gz".into(),
                created: true,
            },
            ObjectEvent {
                bucket: "b".into(),
                key: "k".into(),
                created: false,
            },
        ]);
        assert_eq!(parse(plain).unwrap(), expected);
        let sns = serde_json::json!({"Type": "Notification", "MessageId": "m", "Message": plain})
            .to_string();
        assert_eq!(parse(&sns).unwrap(), expected);
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-01T00:00:00.000Z","Bucket":"b"}"#;
        assert_eq!(parse(test).unwrap(), Notification::Test);
    }

    #[test]
    fn other_messages_are_refused_with_a_reason() {
        assert!(parse("hello").unwrap_err().starts_with("not JSON"));
        assert!(parse("{}")
            .unwrap_err()
            .contains("not an S3 event notification"));
        assert!(parse(r#"{"Records":[{"eventSource":"aws:sqs"}]}"#)
            .unwrap_err()
            .contains("not an S3 event"));
        assert!(
            parse(r#"{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"b"}}}]}"#)
                .unwrap_err()
                .contains("no object key")
        );
        assert!(parse(r#"{"Type":"Notification"}"#)
            .unwrap_err()
            .contains("without a `Message`"));
    }
}
