//! The HTTP client pipectl uses for OpenSearch (and for OpenSearch Dashboards): the
//! `opensearch` crate's transport with basic auth, TLS (a CA file, or an explicit
//! insecure flag for labs) and a per-request timeout.
//!
//! Requests go through the transport's raw `send`, not the typed API builders: bulk
//! bodies are pre-encoded NDJSON, gzip-compressed by us (the builders take JSON values
//! and cannot send a compressed body), and every answer is wanted as status plus bytes
//! so that per-item results and error texts can be read. Errors name the URL and the
//! underlying cause (connection refused, TLS, timeout) and never the password.

use bytes::Bytes;
use opensearch::auth::Credentials;
use opensearch::cert::{Certificate, CertificateValidation};
use opensearch::http::headers::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use opensearch::http::transport::{SingleNodeConnectionPool, Transport, TransportBuilder};
/// The request methods, re-exported so users need not depend on `opensearch`.
pub use opensearch::http::Method;
use opensearch::http::Url;
use pipectl_core::secrets::Secret;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where and how to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    /// `http(s)://host:port[/prefix]`; credentials in the URL are taken out of it and
    /// used for basic auth unless `username` is set.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// PEM file of the CA(s) that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate: for labs only, loudly warned about.
    pub insecure_skip_verify: bool,
    pub timeout: Duration,
}

impl ConnectOptions {
    /// Plain options for `url`: no auth, system CAs, a 60 s timeout.
    pub fn new(url: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            url: url.into(),
            username: None,
            password: None,
            ca_file: None,
            insecure_skip_verify: false,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Why a request could not be made or answered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("invalid URL `{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    Build(String),
    /// Nothing answered: refused, reset, DNS, TLS or a timeout. Worth retrying.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
}

/// A status, the `Retry-After` hint and the (decompressed) body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("the answer is not JSON: {e}"))
    }

    /// The start of the body as text, for error messages.
    pub fn preview(&self) -> String {
        const MAX: usize = 400;
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(MAX) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_string(),
        }
    }

    /// OpenSearch's `error.reason` (or the body's start), for error messages.
    pub fn error_reason(&self) -> String {
        let reason = self.json().ok().and_then(|v| {
            let error = v.get("error")?;
            let text = error
                .get("reason")
                .and_then(|r| r.as_str())
                .or_else(|| error.as_str())?;
            Some(text.to_string())
        });
        reason.unwrap_or_else(|| self.preview())
    }
}

/// One request.
pub struct Request<'a> {
    method: Method,
    path: &'a str,
    query: Vec<(&'a str, String)>,
    headers: HeaderMap,
    body: Option<Bytes>,
}

impl<'a> Request<'a> {
    pub fn new(method: Method, path: &'a str) -> Request<'a> {
        Request {
            method,
            path,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
        }
    }

    pub fn get(path: &'a str) -> Request<'a> {
        Request::new(Method::Get, path)
    }

    pub fn put(path: &'a str) -> Request<'a> {
        Request::new(Method::Put, path)
    }

    pub fn post(path: &'a str) -> Request<'a> {
        Request::new(Method::Post, path)
    }

    pub fn delete(path: &'a str) -> Request<'a> {
        Request::new(Method::Delete, path)
    }

    pub fn query(mut self, key: &'a str, value: impl Into<String>) -> Request<'a> {
        self.query.push((key, value.into()));
        self
    }

    /// Adds a header; an invalid name or value is left out (callers pass constants).
    pub fn header(mut self, name: &str, value: &str) -> Request<'a> {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.insert(n, v);
        }
        self
    }

    pub fn json(self, body: impl Into<Bytes>) -> Request<'a> {
        self.body(body, "application/json")
    }

    /// A body with its content type.
    pub fn body(mut self, body: impl Into<Bytes>, content_type: &str) -> Request<'a> {
        self.body = Some(body.into());
        self.header("content-type", content_type)
    }

    /// Marks the body as gzip-compressed.
    pub fn gzipped(self) -> Request<'a> {
        self.header("content-encoding", "gzip")
    }
}

/// A connection to one OpenSearch (or Dashboards) endpoint. Cheap to clone: clones
/// share the connection pool.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    /// The URL without credentials, for messages.
    url: Arc<str>,
    /// The password, so that it can be scrubbed from any error text.
    password: Option<Secret>,
    pub username: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(options: &ConnectOptions) -> Result<Client, ClientError> {
        let bad_url = |reason: String| ClientError::Url {
            url: options.url.clone(),
            reason,
        };
        let mut url = Url::parse(options.url.trim()).map_err(|e| bad_url(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad_url("the scheme must be http or https".into()));
        }
        if url.host_str().is_none() {
            return Err(bad_url("there is no host".into()));
        }
        let mut username = options.username.clone();
        let mut password = options.password.clone();
        if !url.username().is_empty() {
            if username.is_none() {
                username = Some(url.username().to_string());
                password = url.password().map(Secret::new).or(password);
            }
            // Neither can fail for an http(s) URL with a host.
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        let display = url.as_str().trim_end_matches('/').to_string();
        let mut builder =
            TransportBuilder::new(SingleNodeConnectionPool::new(url)).timeout(options.timeout);
        if let Some(user) = &username {
            let secret = password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            builder = builder.auth(Credentials::Basic(user.clone(), secret));
        }
        if options.insecure_skip_verify {
            builder = builder.cert_validation(CertificateValidation::None);
        } else if let Some(path) = &options.ca_file {
            let ca_error = |reason: String| ClientError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| ca_error(e.to_string()))?;
            builder = builder.cert_validation(CertificateValidation::Full(cert));
        }
        let transport = builder
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        Ok(Client {
            transport,
            url: Arc::from(display),
            password,
            username,
            timeout: options.timeout,
        })
    }

    /// The endpoint, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends a request; any HTTP answer is a [`Reply`], whatever its status.
    pub async fn send(&self, request: Request<'_>) -> Result<Reply, ClientError> {
        let Request {
            method,
            path,
            query,
            headers,
            body,
        } = request;
        let query = (!query.is_empty()).then_some(query);
        let sent = self
            .transport
            .send(method, path, headers, query.as_deref(), body, None)
            .await;
        let response = sent.map_err(|e| self.unreachable(&e, e.is_timeout()))?;
        let status = response.status_code().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .bytes()
            .await
            .map_err(|e| self.unreachable(&e, e.is_timeout()))?;
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }

    /// Describes a transport failure by its innermost cause, scrubbed of secrets.
    fn unreachable(&self, err: &(dyn std::error::Error + 'static), timed_out: bool) -> ClientError {
        let reason = if timed_out {
            format!("no answer within {}s", self.timeout.as_secs_f64())
        } else {
            let mut causes = vec![err.to_string()];
            let mut next = err.source();
            while let Some(cause) = next {
                causes.push(cause.to_string());
                next = cause.source();
            }
            // The innermost cause says what happened ("Connection refused (os error
            // 111)"); the outer ones repeat the URL and the layer.
            causes.pop().unwrap_or_default()
        };
        ClientError::Unreachable {
            url: self.url.to_string(),
            reason: self.scrub(reason),
        }
    }

    /// Removes the password from a text that came from elsewhere.
    pub fn scrub(&self, text: String) -> String {
        match &self.password {
            Some(p) if !p.expose().is_empty() && text.contains(p.expose()) => {
                text.replace(p.expose(), "[redacted]")
            }
            _ => text,
        }
    }
}

/// What `GET /` told about the cluster.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub version: String,
    pub cluster_name: String,
}

/// Why the start-up check failed, in words a person can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("OpenSearch at {url} refused the credentials (HTTP 401): {hint}")]
    Unauthorized { url: String, hint: String },
    #[error("OpenSearch at {url} answered HTTP 403 (forbidden){who}: the user needs the cluster monitor and index write permissions")]
    Forbidden { url: String, who: String },
    #[error("{url} is not OpenSearch: {what}")]
    NotOpenSearch { url: String, what: String },
    #[error("OpenSearch {version} at {url} is not supported: pipectl needs OpenSearch 2.x{hint}")]
    Unsupported {
        url: String,
        version: String,
        hint: &'static str,
    },
    #[error("OpenSearch at {url} answered GET / with HTTP {status}: {reason}")]
    Status {
        url: String,
        status: u16,
        reason: String,
    },
}

impl CheckError {
    /// Whether waiting may help (nothing answered, or the node is busy or starting).
    pub fn is_transient(&self) -> bool {
        match self {
            CheckError::Client(ClientError::Unreachable { .. }) => true,
            CheckError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// `GET /`: reachable, credentials accepted, OpenSearch 2.x.
pub async fn check_cluster(client: &Client) -> Result<ClusterInfo, CheckError> {
    let url = client.url().to_string();
    let reply = client.send(Request::get("/")).await?;
    match reply.status {
        401 => {
            let hint = match &client.username {
                Some(user) => format!("check the password of `{user}`"),
                None => "set `username` and `password`".to_string(),
            };
            return Err(CheckError::Unauthorized { url, hint });
        }
        403 => {
            let who = client
                .username
                .as_ref()
                .map(|u| format!(" for `{u}`"))
                .unwrap_or_default();
            return Err(CheckError::Forbidden { url, who });
        }
        s if !(200..300).contains(&s) => {
            return Err(CheckError::Status {
                url,
                status: s,
                reason: client.scrub(reply.error_reason()),
            })
        }
        _ => {}
    }
    let not_opensearch = |what: String| CheckError::NotOpenSearch {
        url: url.clone(),
        what,
    };
    let info = reply.json().map_err(not_opensearch)?;
    let version = info
        .pointer("/version/number")
        .and_then(|v| v.as_str())
        .ok_or_else(|| not_opensearch("GET / has no version.number".into()))?
        .to_string();
    let distribution = info
        .pointer("/version/distribution")
        .and_then(|v| v.as_str())
        .unwrap_or("elasticsearch");
    if distribution != "opensearch" {
        return Err(not_opensearch(format!(
            "it reports {distribution} {version}; pipectl needs OpenSearch 2.x"
        )));
    }
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    let hint = match major {
        Some(2) => "",
        Some(1) => " (1.x lacks features the templates use, such as flat_object: upgrade to 2.x)",
        Some(m) if m > 2 => " (newer majors are not tested yet)",
        _ => "",
    };
    if major != Some(2) {
        return Err(CheckError::Unsupported { url, version, hint });
    }
    let cluster_name = info
        .get("cluster_name")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    Ok(ClusterInfo {
        version,
        cluster_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_move_to_basic_auth() {
        let client =
            Client::new(&ConnectOptions::new("http://admin:s3cret@127.0.0.1:9200/")).unwrap();
        assert_eq!(client.url(), "http://127.0.0.1:9200");
        assert_eq!(client.username.as_deref(), Some("admin"));
        assert_eq!(client.scrub("x s3cret y".into()), "x [redacted] y");
        assert!(!format!("{client:?}").contains("s3cret"));
    }

    #[test]
    fn bad_urls_and_ca_files_are_reported() {
        let err = Client::new(&ConnectOptions::new("ftp://x")).unwrap_err();
        assert!(err.to_string().contains("http or https"), "{err}");
        let err = Client::new(&ConnectOptions::new("not a url")).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid URL `not a url`"),
            "{err}"
        );
        let mut options = ConnectOptions::new("https://127.0.0.1:9200");
        options.ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
        let err = Client::new(&options).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let dir = std::env::temp_dir().join(format!("pipectl-ca-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate").unwrap();
        options.ca_file = Some(dir.clone());
        let err = Client::new(&options).unwrap_err();
        let _ = std::fs::remove_file(&dir);
        assert!(err.to_string().contains("PEM"), "{err}");
    }

    async fn check(status: &'static str, body: &str) -> Result<ClusterInfo, CheckError> {
        let mut options =
            ConnectOptions::new(crate::sinks::opensearch::tests::answering(status, body).await);
        options.username = Some("ingest".into());
        options.password = Some(Secret::new("hunter2"));
        check_cluster(&Client::new(&options).unwrap()).await
    }

    fn version(distribution: Option<&str>, number: &str) -> String {
        let distribution = distribution
            .map(|d| format!("\"distribution\":\"{d}\","))
            .unwrap_or_default();
        format!("{{\"cluster_name\":\"c\",\"version\":{{{distribution}\"number\":\"{number}\"}}}}")
    }

    #[tokio::test]
    async fn the_start_up_check_says_plainly_what_is_wrong() {
        let ok = check("200 OK", &version(Some("opensearch"), "2.19.6"))
            .await
            .unwrap();
        assert_eq!(
            (ok.version.as_str(), ok.cluster_name.as_str()),
            ("2.19.6", "c")
        );

        let err = check("401 Unauthorized", r#"{"error":"unauthorized"}"#)
            .await
            .unwrap_err();
        assert!(!err.is_transient());
        let text = err.to_string();
        assert!(
            text.contains("refused the credentials (HTTP 401)") && text.contains("`ingest`"),
            "{text}"
        );

        let text = check("403 Forbidden", "{}").await.unwrap_err().to_string();
        assert!(
            text.contains("HTTP 403") && text.contains("`ingest`"),
            "{text}"
        );

        let text = check("200 OK", &version(Some("opensearch"), "1.3.19"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("OpenSearch 1.3.19") && text.contains("needs OpenSearch 2.x"),
            "{text}"
        );
        let text = check("200 OK", &version(Some("opensearch"), "3.1.0"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("OpenSearch 3.1.0") && text.contains("needs OpenSearch 2.x"),
            "{text}"
        );
        let text = check("200 OK", &version(None, "8.11.0"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("is not OpenSearch") && text.contains("elasticsearch 8.11.0"),
            "{text}"
        );
        let text = check("200 OK", "<html>hello</html>")
            .await
            .unwrap_err()
            .to_string();
        assert!(text.contains("is not OpenSearch"), "{text}");

        let err = check(
            "503 Service Unavailable",
            r#"{"error":{"reason":"hunter2 starting"}}"#,
        )
        .await
        .unwrap_err();
        assert!(err.is_transient());
        let text = err.to_string();
        assert!(
            text.contains("HTTP 503") && text.contains("[redacted] starting"),
            "{text}"
        );
        assert!(!text.contains("hunter2"));
    }

    #[tokio::test]
    async fn an_unreachable_node_is_named_with_its_cause() {
        // Bind and close a listener to find a port nothing listens on.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut options = ConnectOptions::new(format!("http://127.0.0.1:{port}"));
        options.username = Some("u".into());
        options.password = Some(Secret::new("hunter2"));
        let client = Client::new(&options).unwrap();
        let err = check_cluster(&client).await.unwrap_err();
        assert!(err.is_transient());
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cannot reach http://127.0.0.1:{port}: ")),
            "{text}"
        );
        assert!(text.to_lowercase().contains("refused"), "{text}");
        assert!(!text.contains("hunter2"));
    }
}
