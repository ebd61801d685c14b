//! What went wrong talking to an API, worded for the person running the pipeline and
//! free of secrets.
//!
//! Messages name the request as method and URL *without its query* (queries can carry
//! tokens or signatures), the HTTP status and a short excerpt of the body, from which
//! every secret the client knows is scrubbed (an API that echoes a token back cannot
//! leak it through us).

use pipectl_core::secrets::Secret;
use reqwest::Url;

/// A failed API call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ApiError {
    /// Retrying later cannot help (bad credentials, missing permission, a request the
    /// API refuses): the source stops with this error instead of polling on.
    pub permanent: bool,
    pub message: String,
    /// The HTTP status the API answered with, when it answered: responders tell a
    /// refusal (`403`, a missing permission) from other failures by it.
    pub status: Option<u16>,
}

impl ApiError {
    /// A failure that may pass (network, throttling, server errors, bad pages).
    pub fn transient(message: impl Into<String>) -> ApiError {
        ApiError {
            permanent: false,
            message: message.into(),
            status: None,
        }
    }

    /// A failure only a change of configuration or permissions can fix.
    pub fn permanent(message: impl Into<String>) -> ApiError {
        ApiError {
            permanent: true,
            message: message.into(),
            status: None,
        }
    }

    /// The same error, noting the HTTP status it came with.
    pub fn with_status(mut self, status: reqwest::StatusCode) -> ApiError {
        self.status = Some(status.as_u16());
        self
    }
}

/// `scheme://host[:port]/path`, with `?…` standing for a query that is left out.
pub(crate) fn display_url(url: &Url) -> String {
    let mut text = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        text.push_str(&format!(":{port}"));
    }
    text.push_str(url.path());
    if url.query().is_some() {
        text.push_str("?…");
    }
    text
}

/// How much of a response body an error quotes.
const EXCERPT_CHARS: usize = 200;

/// The start of a response body, on one line, with known secrets replaced.
pub(crate) fn excerpt(body: &[u8], secrets: &[&Secret]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut text = scrub(&text, secrets);
    if text.chars().count() > EXCERPT_CHARS {
        text = text.chars().take(EXCERPT_CHARS).collect::<String>() + "…";
    }
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// `text` with every occurrence of a (non-empty) secret replaced by `[redacted]`.
pub(crate) fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut text = text.to_string();
    for secret in secrets {
        let value = secret.expose();
        if !value.is_empty() && text.contains(value) {
            text = text.replace(value, "[redacted]");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_query_and_bodies_their_secrets() {
        let url = Url::parse("https://acme.okta.com:8443/api/v1/logs?after=abc&sig=s3").unwrap();
        assert_eq!(
            display_url(&url),
            "https://acme.okta.com:8443/api/v1/logs?…"
        );
        let secret = Secret::new("hunter2");
        let body = format!("{{\"error\":\"bad token hunter2\"}}\n{}", "x".repeat(300));
        let text = excerpt(body.as_bytes(), &[&secret]);
        assert!(
            text.starts_with("{\"error\":\"bad token [redacted]\"} x"),
            "{text}"
        );
        assert!(!text.contains("hunter2"));
        assert!(text.ends_with('…'));
    }
}
