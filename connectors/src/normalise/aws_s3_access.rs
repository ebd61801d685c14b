//! Amazon S3 server access logs → `event.dataset: aws.s3access`: the native text lines
//! S3 writes to the target bucket (`79a5... my-bucket [06/Feb/2019:00:00:38 +0000]
//! 192.0.2.3 arn:aws:iam::...:user/alice 3E57427F3EXAMPLE REST.GET.OBJECT key "GET /..."
//! 200 - 113 113 7 - "-" "curl/7.64" - host-id SigV4 ...`), and the same records parsed
//! into JSON with the field names run together in lower case (`bucketowner`,
//! `remoteip`, `httpstatus`, ...) as log pipelines store them.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `time` (`[06/Feb/2019:00:00:38 +0000]`, or `2020-06-21 20:41:25.000000000` UTC) |
//! | `event.action` | `operation` (`REST.GET.OBJECT`, `REST.PUT.OBJECT`, `BATCH.DELETE.OBJECT`, ...); a record without `bucket` is refused |
//! | `event.outcome`, `http.response.status_code`, `error.code` | `httpstatus` below 400 `success`, else `failure`; `errorcode` |
//! | `user.id`, `user.name`, `cloud.account.id` | `requester`: an IAM ARN (an assumed role's session names its role, `arn:aws:iam::<acct>:role/<role>`, so every session of a role is one entity), its last segment, its account; `-` (anonymous) leaves them out |
//! | `source.ip` | `remoteip` |
//! | `file.directory`, `file.path`, `file.name`, `file.size` | `s3://<bucket>`, `s3://<bucket>/<key>`, the key's last segment, `objectsize` (as the CloudTrail normaliser names S3 objects) |
//! | `http.request.method`, `url.original`, `http.response.body.bytes` | the method and path of `requesturi`, `bytessent` |
//! | `user_agent.original`, `tls.version`, `destination.domain` | `useragent`, `tlsversion`, `hostheader` |
//! | `event.category`, `event.type` | `file` with `access` (GET, HEAD), `creation` (PUT, POST, COPY), `deletion` (DELETE), else `info` |
//! | `event.id` | over `requestid`, `hostid`, `operation` and `key` (a request id alone repeats across the lines of one batch request) |

use super::{number, text, timestamp, Dataset, Doc, Format, NormaliseError, Received};
use pipectl_core::value::{Map, Value};

const DATASET: Dataset = Dataset {
    module: "aws",
    name: "aws.s3access",
    cloud_provider: "aws",
};

/// The fields of a text line, in order (later ones are missing from older logs).
const FIELDS: [&str; 26] = [
    "bucketowner",
    "bucket",
    "time",
    "remoteip",
    "requester",
    "requestid",
    "operation",
    "key",
    "requesturi",
    "httpstatus",
    "errorcode",
    "bytessent",
    "objectsize",
    "totaltime",
    "turnaroundtime",
    "referrer",
    "useragent",
    "versionid",
    "hostid",
    "signatureversion",
    "ciphersuite",
    "authenticationtype",
    "hostheader",
    "tlsversion",
    "accesspointarn",
    "aclrequired",
];

/// Fields a line must have: up to the HTTP status.
const REQUIRED_FIELDS: usize = 10;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Splits a text line into its fields: words, `[bracketed]` and `"quoted"` values.
fn split(line: &str) -> Result<Vec<&str>, String> {
    let mut fields = Vec::with_capacity(FIELDS.len());
    let mut rest = line.trim();
    while !rest.is_empty() {
        let (value, after) = match rest.as_bytes()[0] {
            b'[' => {
                let end = rest.find(']').ok_or("a `[` is never closed")?;
                (&rest[1..end], &rest[end + 1..])
            }
            b'"' => {
                let end = rest[1..].find('"').ok_or("a `\"` is never closed")? + 1;
                (&rest[1..end], &rest[end + 1..])
            }
            _ => match rest.find(' ') {
                Some(end) => (&rest[..end], &rest[end..]),
                None => (rest, ""),
            },
        };
        fields.push(value);
        rest = after.trim_start();
    }
    Ok(fields)
}

/// `06/Feb/2019:00:00:38 +0000` as RFC 3339.
fn log_time(text: &str) -> Option<String> {
    let (clock, offset) = text.split_once(' ').unwrap_or((text, "+0000"));
    let mut parts = clock.splitn(3, '/');
    let day = parts.next()?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? + 1;
    let (year, time) = parts.next()?.split_once(':')?;
    let offset = super::colon_offset(offset)?;
    timestamp(&format!("{year}-{month:02}-{day}T{time}{offset}"))
}

/// A text line as the JSON record the parsed form would be.
pub(crate) fn parse_line(line: &str) -> Result<Value, NormaliseError> {
    let refuse = |why: String| NormaliseError::new(Format::AwsS3Access, why);
    let values = split(line).map_err(|e| refuse(format!("not an S3 access log line: {e}")))?;
    if values.len() < REQUIRED_FIELDS {
        return Err(refuse(format!(
            "not an S3 access log line: {} fields, at least {REQUIRED_FIELDS} expected",
            values.len()
        )));
    }
    let mut map = Map::with_capacity(values.len());
    for (name, value) in FIELDS.iter().zip(&values) {
        map.push(*name, Value::from(*value));
    }
    Ok(Value::Object(map))
}

/// The IAM identity behind a requester ARN: an STS assumed-role session names its role.
fn identity(arn: &str) -> String {
    match arn.strip_prefix("arn:aws:sts::") {
        Some(rest) => match rest.split_once(":assumed-role/") {
            Some((account, role_session)) => {
                let role = role_session.split('/').next().unwrap_or(role_session);
                format!("arn:aws:iam::{account}:role/{role}")
            }
            None => arn.to_string(),
        },
        None => arn.to_string(),
    }
}

/// Normalises a record (parsed JSON, or what [`parse_line`] made of a text line).
pub(crate) fn normalise(record: Value, received: Received) -> Result<Value, NormaliseError> {
    let r = &record;
    if text(r, "bucket").is_none() {
        return Err(NormaliseError::new(
            Format::AwsS3Access,
            "no `bucket`: not an S3 server access log record",
        ));
    }
    let operation = text(r, "operation").unwrap_or("");
    let time = text(r, "time").and_then(|t| log_time(t).or_else(|| timestamp(t)));
    let mut doc = Doc::new(time, received);
    doc.set_text("event.action", Some(operation).filter(|o| !o.is_empty()));
    doc.set("event.provider", "s3.amazonaws.com");
    if let Some(status) = number(r, "httpstatus") {
        doc.set("http.response.status_code", status);
        doc.set(
            "event.outcome",
            if status < 400 { "success" } else { "failure" },
        );
    }
    doc.set_text("error.code", text(r, "errorcode"));
    if let Some(requester) = text(r, "requester") {
        let id = identity(requester);
        if id.starts_with("arn:") {
            doc.set_text(
                "cloud.account.id",
                id.split(':').nth(4).filter(|a| !a.is_empty()),
            );
            doc.set("user.name", id.rsplit('/').next().unwrap_or(&id));
        } else {
            doc.set("user.name", id.as_str());
        }
        doc.set("user.id", id);
    }
    doc.set_client_ip(text(r, "remoteip"));
    if let Some(bucket) = text(r, "bucket") {
        doc.set("file.directory", format!("s3://{bucket}"));
        if let Some(key) = text(r, "key") {
            doc.set("file.path", format!("s3://{bucket}/{key}"));
            doc.set("file.name", key.rsplit('/').next().unwrap_or(key));
        }
    }
    if let Some(size) = number(r, "objectsize") {
        doc.set("file.size", size);
    }
    if let Some(bytes) = number(r, "bytessent") {
        doc.set("http.response.body.bytes", bytes);
    }
    if let Some(uri) = text(r, "requesturi") {
        let mut parts = uri.split(' ');
        doc.set_text("http.request.method", parts.next());
        doc.set_text("url.original", parts.next());
    }
    doc.set_text("user_agent.original", text(r, "useragent"));
    doc.set_text("tls.version", text(r, "tlsversion"));
    doc.set_text("destination.domain", text(r, "hostheader"));
    let verb = operation.split('.').nth(1).unwrap_or("");
    let kind = match verb {
        "GET" | "HEAD" => "access",
        "PUT" | "POST" | "COPY" => "creation",
        "DELETE" => "deletion",
        _ => "info",
    };
    doc.categorise("file", &[kind]);
    let key = [
        text(r, "requestid"),
        text(r, "hostid"),
        Some(operation).filter(|o| !o.is_empty()),
        text(r, "key"),
    ]
    .map(|p| p.unwrap_or(""))
    .join("/");
    let key = text(r, "requestid").is_some().then_some(key);
    Ok(doc.finish(DATASET, key, record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::samples::{entity_keys, get, s};

    const LINE: &str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 arn:aws:sts::123456789012:assumed-role/etl/session-1 3E57427F3EXAMPLE REST.GET.OBJECT exports/2019/customers.csv "GET /awsexamplebucket1/exports/2019/customers.csv HTTP/1.1" 200 - 113 4096 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.2 - -"#;

    #[test]
    fn a_text_line_of_an_assumed_role() {
        let record = parse_line(LINE).unwrap();
        let e = normalise(record, Received::from_unix_millis(0)).unwrap();
        assert_eq!(s(&e, "@timestamp"), Some("2019-02-06T00:00:38Z"));
        assert_eq!(s(&e, "event.action"), Some("REST.GET.OBJECT"));
        assert_eq!(s(&e, "event.outcome"), Some("success"));
        assert_eq!(s(&e, "user.id"), Some("arn:aws:iam::123456789012:role/etl"));
        assert_eq!(s(&e, "user.name"), Some("etl"));
        assert_eq!(s(&e, "cloud.account.id"), Some("123456789012"));
        assert_eq!(s(&e, "source.ip"), Some("192.0.2.3"));
        assert_eq!(s(&e, "file.directory"), Some("s3://awsexamplebucket1"));
        assert_eq!(s(&e, "file.name"), Some("customers.csv"));
        assert_eq!(get(&e, "file.size").and_then(Value::as_i64), Some(4096));
        assert_eq!(s(&e, "http.request.method"), Some("GET"));
        assert_eq!(s(&e, "user_agent.original"), Some("S3Console/0.4"));
        assert_eq!(
            entity_keys(&e),
            ["aws_user:arn:aws:iam::123456789012:role/etl"]
        );
    }

    #[test]
    fn broken_lines_are_refused_with_the_reason() {
        let short = parse_line("owner bucket [06/Feb/2019:00:00:38 +0000] 1.2.3.4").unwrap_err();
        assert!(short.reason.contains("4 fields"), "{short}");
        let open = parse_line(r#"owner bucket [06/Feb/2019:00:00:38"#).unwrap_err();
        assert!(open.reason.contains("never closed"), "{open}");
        let anonymous =
            parse_line(&LINE.replace("arn:aws:sts::123456789012:assumed-role/etl/session-1", "-"))
                .unwrap();
        let e = normalise(anonymous, Received::from_unix_millis(0)).unwrap();
        assert_eq!(get(&e, "user"), None);
    }

    #[test]
    fn log_times_with_offsets() {
        assert_eq!(
            log_time("06/Feb/2019:23:00:38 -0130").as_deref(),
            Some("2019-02-07T00:30:38Z")
        );
        assert_eq!(log_time("06/Fab/2019:00:00:38 +0000"), None);
    }
}
