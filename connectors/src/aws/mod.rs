//! A small AWS client for the sources that read logs from S3 and for the AWS responder:
//! credentials, SigV4 signing ([`sigv4`]), and the calls they need — S3 objects,
//! listings, public access blocks and bucket policies ([`s3`]), SQS `ReceiveMessage`
//! and `DeleteMessage` ([`sqs`]), and the Query-protocol calls ([`query`]) of IAM
//! ([`iam`]: access keys, login profiles, inline policies) and EC2 ([`ec2`]: instance
//! state, security groups).
//!
//! The AWS SDK would bring hundreds of crates to build for four calls; this module
//! signs requests itself and sends them with the `reqwest` client already in the build.
//! Transient failures (connection errors, 5xx, throttling: `SlowDown`,
//! `ThrottlingException`...) are retried with exponential backoff and jitter; errors
//! name the operation and the bucket, key or queue, never a credential.

pub mod ec2;
pub mod iam;
pub mod query;
pub mod s3;
mod sigv4;
pub mod sqs;
pub(crate) mod xml;

#[cfg(test)]
pub(crate) mod moto;

use pipectl_core::component::BuildError;
use pipectl_core::config::Attrs;
use pipectl_core::secrets::Secret;
use pipectl_dsl::catalogue::{AttrSpec, AttrType};
use reqwest::{Method, Url};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Static credentials: an access key and, for temporary ones, a session token.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl Credentials {
    /// The standard `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and (optional)
    /// `AWS_SESSION_TOKEN` environment variables.
    pub fn from_env() -> Option<Credentials> {
        let nonempty = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Credentials {
            access_key_id: nonempty("AWS_ACCESS_KEY_ID")?,
            secret_access_key: Secret::new(nonempty("AWS_SECRET_ACCESS_KEY")?),
            session_token: nonempty("AWS_SESSION_TOKEN").map(Secret::new),
        })
    }
}

/// Where and as whom to call AWS.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: String,
    /// A replacement for the AWS endpoints (a local S3/SQS such as moto or MinIO): S3
    /// is then addressed path-style, `<endpoint>/<bucket>/<key>`.
    pub endpoint: Option<Url>,
    pub credentials: Credentials,
}

/// `region`.
pub const REGION_ATTR: AttrSpec = AttrSpec::optional(
    "region",
    AttrType::String,
    "The AWS region of the bucket and queue (`eu-west-1`); defaults to `AWS_REGION`, then `AWS_DEFAULT_REGION`.",
);
/// `endpoint`.
pub const ENDPOINT_ATTR: AttrSpec = AttrSpec::optional(
    "endpoint",
    AttrType::String,
    "Another endpoint for S3 and SQS (`http://127.0.0.1:5000` for a local moto or MinIO); S3 is then addressed path-style.",
);
/// `access_key_id`.
pub const ACCESS_KEY_ID_ATTR: AttrSpec = AttrSpec::optional(
    "access_key_id",
    AttrType::String,
    "The access key id; with `secret_access_key`. Without both, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` are read from the environment.",
);
/// `secret_access_key`.
pub const SECRET_ACCESS_KEY_ATTR: AttrSpec = AttrSpec::optional(
    "secret_access_key",
    AttrType::String,
    "The secret access key.",
)
.sensitive();
/// `session_token`.
pub const SESSION_TOKEN_ATTR: AttrSpec = AttrSpec::optional(
    "session_token",
    AttrType::String,
    "The session token of temporary credentials.",
)
.sensitive();

impl AwsSettings {
    /// Reads the attributes above, falling back to the standard environment variables.
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<AwsSettings, BuildError> {
        let region = match attrs.opt_string("region")? {
            Some(region) => region,
            None => ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
                .ok_or_else(|| {
                    attrs.error("no region: set `region`, or AWS_REGION in the environment")
                })?,
        };
        if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(attrs.error(format!("`region` `{region}` is not an AWS region")));
        }
        let endpoint = match attrs.opt_string("endpoint")? {
            None => None,
            Some(text) => Some(parse_endpoint(&text).map_err(|e| attrs.error(e))?),
        };
        let key_id = attrs.opt_string("access_key_id")?;
        let secret = attrs.opt_secret("secret_access_key")?;
        let token = attrs.opt_secret("session_token")?;
        let credentials = match (key_id, secret) {
            (Some(access_key_id), Some(secret_access_key)) => Credentials {
                access_key_id,
                secret_access_key,
                session_token: token,
            },
            (None, None) if token.is_some() => {
                return Err(attrs.error(
                    "`session_token` goes with `access_key_id` and `secret_access_key`",
                ))
            }
            (None, None) => Credentials::from_env().ok_or_else(|| {
                attrs.error(
                    "no credentials: set `access_key_id` and `secret_access_key`, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment",
                )
            })?,
            _ => {
                return Err(attrs.error(
                    "`access_key_id` and `secret_access_key` go together: set both or neither",
                ))
            }
        };
        Ok(AwsSettings {
            region,
            endpoint,
            credentials,
        })
    }
}

/// An endpoint override: `http(s)://host[:port]`, without a path or query.
fn parse_endpoint(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`endpoint` `{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "`endpoint` `{text}` must be an http:// or https:// URL"
        ));
    }
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(format!(
            "`endpoint` `{text}` must name only a scheme, host and port"
        ));
    }
    Ok(url)
}

/// Why an AWS call failed. `target` names the operation and resource (`S3 GetObject
/// s3://bucket/key`, `SQS ReceiveMessage <queue url>`).
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{target}: {code} (HTTP {status}): {message}")]
    Service {
        target: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{target}: {reason}")]
    Transport { target: String, reason: String },
    #[error("{target}: the response is larger than {limit} bytes")]
    TooLarge { target: String, limit: usize },
    #[error("{target}: unexpected response: {reason}")]
    Malformed { target: String, reason: String },
}

impl AwsError {
    /// The service's error code (`AccessDenied`, `NoSuchEntity`...), when it answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the caller lacks a permission: HTTP 403 or one of the codes the services
    /// use for it. Never worth retrying.
    pub fn is_access_denied(&self) -> bool {
        match self {
            AwsError::Service { status, code, .. } => {
                *status == 403
                    || matches!(
                        code.as_str(),
                        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation"
                    )
            }
            _ => false,
        }
    }

    /// Whether trying again later may succeed (as opposed to bad credentials, missing
    /// permissions, a missing bucket or queue).
    pub fn is_transient(&self) -> bool {
        match self {
            AwsError::Service { status, code, .. } => retryable(*status, code),
            AwsError::Transport { .. } => true,
            AwsError::TooLarge { .. } | AwsError::Malformed { .. } => false,
        }
    }
}

fn retryable(status: u16, code: &str) -> bool {
    status >= 500
        || status == 429
        || code.contains("Throttl")
        || matches!(
            code,
            "SlowDown" | "RequestTimeout" | "RequestLimitExceeded" | "InternalError"
        )
}

/// One request before signing.
pub(crate) struct Request<'a> {
    pub service: &'static str,
    pub method: Method,
    /// The scheme, host and port.
    pub origin: &'a Url,
    /// The path, already URI-encoded.
    pub path: String,
    pub query: Vec<(&'a str, &'a str)>,
    /// Headers to send and sign besides host, date, payload hash and token.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Refuse responses larger than this.
    pub max_response: usize,
}

/// A successful response.
pub(crate) struct Reply {
    pub body: Vec<u8>,
}

/// Signs and sends requests, retrying transient failures.
#[derive(Clone)]
pub struct AwsClient {
    http: reqwest::Client,
    settings: Arc<AwsSettings>,
    retry: Retry,
}

/// How transient failures are retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Retry {
    const DEFAULT: Retry = Retry {
        attempts: 6,
        first_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(10),
    };

    /// The wait before retry `n` (from 0): doubling, capped, with up to half of it
    /// taken off at random so many clients do not retry in step.
    fn delay(&self, n: u32) -> Duration {
        let full = self
            .first_delay
            .saturating_mul(1u32 << n.min(16))
            .min(self.max_delay);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = f64::from(nanos % 1000) / 2000.0;
        full.mul_f64(1.0 - jitter)
    }
}

/// How long to wait for a connection, and for the next bytes of a response (longer
/// than an SQS long poll).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

impl AwsClient {
    pub fn new(settings: AwsSettings) -> Result<AwsClient, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            // Objects are read as stored: a gzip object stays gzip, whatever its
            // Content-Encoding says, and is decompressed (with a size limit) by its reader.
            .no_gzip()
            .build()
            .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
        Ok(AwsClient {
            http,
            settings: Arc::new(settings),
            retry: Retry::DEFAULT,
        })
    }

    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// The same client signing for another region (IAM is global and signs for
    /// `us-east-1` whatever region the rest of the configuration names).
    pub fn for_region(&self, region: &str) -> AwsClient {
        let mut settings = (*self.settings).clone();
        settings.region = region.to_string();
        AwsClient {
            http: self.http.clone(),
            settings: Arc::new(settings),
            retry: self.retry,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_retry(mut self, retry: Retry) -> AwsClient {
        self.retry = retry;
        self
    }

    /// Sends `request`, retrying transient failures; `target` names it in errors.
    pub(crate) async fn send(
        &self,
        request: &Request<'_>,
        target: &str,
    ) -> Result<Reply, AwsError> {
        let mut attempt = 0;
        loop {
            match self.send_once(request, target).await {
                Err(e) if e.is_transient() && attempt + 1 < self.retry.attempts => {
                    let delay = self.retry.delay(attempt);
                    tracing::debug!(error = %e, ?delay, "retrying an AWS call");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send_once(&self, request: &Request<'_>, target: &str) -> Result<Reply, AwsError> {
        let transport = |reason: String| AwsError::Transport {
            target: target.to_string(),
            reason,
        };
        let query = sigv4::canonical_query(&request.query);
        let mut url = request.origin.clone();
        url.set_path(&request.path);
        url.set_query(if query.is_empty() { None } else { Some(&query) });
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => return Err(transport("the URL has no host".into())),
        };
        let payload_sha256 = sigv4::sha256_hex(&request.body);
        let amz_date = amz_date(SystemTime::now());
        let creds = &self.settings.credentials;
        let mut headers: Vec<(&str, &str)> = vec![
            ("host", &host),
            ("x-amz-content-sha256", &payload_sha256),
            ("x-amz-date", &amz_date),
        ];
        if let Some(token) = &creds.session_token {
            headers.push(("x-amz-security-token", token.expose()));
        }
        for (name, value) in &request.headers {
            headers.push((name, value));
        }
        let authorization = sigv4::authorization(
            &sigv4::SigningRequest {
                method: request.method.as_str(),
                canonical_uri: &request.path,
                canonical_query: &query,
                headers: &headers,
                payload_sha256: &payload_sha256,
            },
            &sigv4::Scope {
                access_key_id: &creds.access_key_id,
                secret_access_key: &creds.secret_access_key,
                region: &self.settings.region,
                service: request.service,
                amz_date: &amz_date,
            },
        );
        let mut builder = self.http.request(request.method.clone(), url);
        for (name, value) in headers.iter().filter(|(name, _)| *name != "host") {
            builder = builder.header(*name, *value);
        }
        let mut response = builder
            .header("authorization", authorization)
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| transport(describe(&e)))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport(describe(&e)))?
        {
            if body.len() + chunk.len() > request.max_response {
                return Err(AwsError::TooLarge {
                    target: target.to_string(),
                    limit: request.max_response,
                });
            }
            body.extend_from_slice(&chunk);
        }
        if (200..300).contains(&status) {
            return Ok(Reply { body });
        }
        let (code, message) = error_detail(&body);
        Err(AwsError::Service {
            target: target.to_string(),
            status,
            code: code.unwrap_or_else(|| "error".to_string()),
            message: message.unwrap_or_else(|| "no detail given".to_string()),
        })
    }
}

/// The error code and message of an S3 (XML) or SQS (JSON) error body.
fn error_detail(body: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(body);
    if text.trim_start().starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let field = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_string);
        // `com.amazonaws.sqs#QueueDoesNotExist` → `QueueDoesNotExist`.
        let code = field("__type").map(|t| t.rsplit('#').next().unwrap_or(&t).to_string());
        return (code, field("message").or_else(|| field("Message")));
    }
    let code = xml::text(&text, "Code").ok().flatten();
    let message = xml::text(&text, "Message").ok().flatten();
    (code, message)
}

/// A transport error by its innermost cause (reqwest's outer message repeats the URL).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text = inner.to_string();
        source = inner.source();
    }
    if e.is_timeout() {
        format!("timed out ({text})")
    } else {
        text
    }
}

/// `YYYYMMDDTHHMMSSZ`, SigV4's time format.
fn amz_date(now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let ms = i64::try_from(secs).unwrap_or(0).saturating_mul(1000);
    // `YYYY-MM-DDTHH:MM:SSZ` without the separators.
    pipectl_core::detect::sigma::time::format_rfc3339(ms)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_sigv4_form() {
        let t = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
    }

    #[test]
    fn error_bodies_of_both_protocols() {
        let s3 = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
        assert_eq!(
            error_detail(s3),
            (
                Some("NoSuchKey".into()),
                Some("The specified key does not exist.".into())
            )
        );
        let sqs = br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#;
        assert_eq!(error_detail(sqs).0.as_deref(), Some("QueueDoesNotExist"));
        assert_eq!(error_detail(b"garbage"), (None, None));
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        assert!(retryable(503, "SlowDown"));
        assert!(retryable(400, "ThrottlingException"));
        assert!(retryable(500, "InternalError"));
        assert!(!retryable(403, "AccessDenied"));
        assert!(!retryable(400, "QueueDoesNotExist"));
        let r = Retry::DEFAULT;
        assert!(r.delay(0) <= Duration::from_millis(200));
        assert!(r.delay(0) >= Duration::from_millis(100));
        assert!(r.delay(30) <= Duration::from_secs(10));
    }

    /// Answers each connection with the next canned response; returns the requests.
    async fn serve(replies: Vec<String>) -> (Url, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let task = tokio::spawn(async move {
            let mut requests = Vec::new();
            for reply in replies {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the client closed the connection");
                    head.extend_from_slice(&buf[..n]);
                }
                requests.push(String::from_utf8_lossy(&head).to_string());
                socket.write_all(reply.as_bytes()).await.unwrap();
                socket.shutdown().await.unwrap();
            }
            requests
        });
        (url, task)
    }

    fn reply(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn throttling_is_retried_and_errors_name_the_object_never_the_secret() {
        let error =
            |code: &str| format!("<Error><Code>{code}</Code><Message>try later</Message></Error>");
        let (endpoint, server) = serve(vec![
            reply("503 Service Unavailable", &error("SlowDown")),
            reply("500 Internal Server Error", &error("InternalError")),
            reply("200 OK", "content"),
            reply("403 Forbidden", &error("AccessDenied")),
        ])
        .await;
        let client = AwsClient::new(AwsSettings {
            region: "eu-west-1".into(),
            endpoint: Some(endpoint),
            credentials: Credentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: Secret::new("hunter2-secret"),
                session_token: Some(Secret::new("session-token")),
            },
        })
        .unwrap()
        .with_retry(Retry {
            attempts: 3,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        });
        let s3 = s3::S3::new(client);
        assert_eq!(
            s3.get_object("logs", "a b/c.json.gz", 100).await.unwrap(),
            b"content"
        );
        let err = s3
            .get_object("logs", "k", 100)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "S3 GetObject s3://logs/k: AccessDenied (HTTP 403): try later"
        );
        let requests = server.await.unwrap();
        assert_eq!(requests.len(), 4);
        let first = requests[0].to_ascii_lowercase();
        assert!(
            first.starts_with("get /logs/a%20b/c.json.gz http/1.1"),
            "{first}"
        );
        assert!(
            first.contains("authorization: aws4-hmac-sha256 credential=akidexample/"),
            "{first}"
        );
        assert!(
            first.contains(
                "signedheaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"
            ),
            "{first}"
        );
        assert!(
            first.contains("x-amz-security-token: session-token"),
            "{first}"
        );
        assert!(requests.iter().all(|r| !r.contains("hunter2")));
    }

    #[test]
    fn endpoints_name_only_an_origin() {
        assert!(parse_endpoint("http://127.0.0.1:5000").is_ok());
        assert!(parse_endpoint("http://127.0.0.1:5000/").is_ok());
        assert!(parse_endpoint("ftp://x").is_err());
        assert!(parse_endpoint("http://x/path").is_err());
        assert!(parse_endpoint("not a url").is_err());
    }
}
