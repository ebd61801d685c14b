//! OAuth2 client credentials (RFC 6749 §4.4), as Microsoft's identity platform and
//! most SaaS APIs use for daemon access: a form POST of the client's id, secret and
//! scope returns an access token valid for `expires_in` seconds. The token is cached
//! and fetched again shortly before it expires (or once when the API answers `401`).

use super::error::ApiError;
use super::percent_encode;
use pipectl_core::secrets::Secret;
use pipectl_core::value::Value;
use reqwest::Url;
use std::time::Duration;
use tokio::time::Instant;

/// What to present at the token endpoint.
#[derive(Debug, Clone)]
pub(crate) struct ClientCredentials {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
    /// `scope` (v2 endpoints, e.g. `https://graph.microsoft.com/.default`).
    pub scope: String,
}

impl ClientCredentials {
    /// The `application/x-www-form-urlencoded` request body.
    pub fn form_body(&self) -> String {
        form_encode(&[
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("client_secret", self.client_secret.expose()),
            ("scope", &self.scope),
        ])
    }
}

/// A token request a source shapes itself (Google's service-account JWT assertion,
/// Salesforce's client credentials), for [`super::client::Auth::Grant`].
pub(crate) trait TokenGrant: Send + Sync {
    /// Where the request is posted.
    fn token_url(&self) -> &Url;
    /// The `application/x-www-form-urlencoded` body of one request, made afresh each
    /// time (a signed assertion carries its issue time).
    fn form_body(&self) -> Result<String, ApiError>;
    /// What to fix when the token endpoint refuses, given its answer's body.
    fn refusal_hint(&self, body: &[u8]) -> String;
    /// The secrets the grant holds, scrubbed from error text.
    fn secrets(&self) -> Vec<&Secret>;
    /// What to fix when the API refuses a fresh token (`401` again) or a permission
    /// (`403`), in the vendor's own terms; `None` keeps the generic advice.
    fn api_help(&self) -> Option<&'static str> {
        None
    }
}

/// A token request whose form the vendor defines beyond the standard client
/// credentials: Box's client credentials name the enterprise they act for
/// (`box_subject_type`, `box_subject_id`), Dropbox exchanges a long-lived refresh
/// token. The help texts let errors say what to fix in the vendor's own terms.
#[derive(Debug, Clone)]
pub(crate) struct FormGrant {
    pub token_url: Url,
    /// Form fields that are not secret (`grant_type`, `client_id`, ...), in order.
    pub fields: Vec<(&'static str, String)>,
    /// Form fields that are: sent after the others, and scrubbed from every error.
    pub secrets: Vec<(&'static str, Secret)>,
    /// What to check when the token endpoint refuses the grant.
    pub token_help: &'static str,
    /// What to check when the API refuses a fresh token (`401` again, or `403`).
    pub api_help: &'static str,
}

impl TokenGrant for FormGrant {
    fn token_url(&self) -> &Url {
        &self.token_url
    }

    fn form_body(&self) -> Result<String, ApiError> {
        let mut pairs: Vec<(&str, &str)> =
            self.fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.extend(self.secrets.iter().map(|(k, v)| (*k, v.expose())));
        Ok(form_encode(&pairs))
    }

    fn refusal_hint(&self, _body: &[u8]) -> String {
        self.token_help.to_string()
    }

    fn secrets(&self) -> Vec<&Secret> {
        self.secrets.iter().map(|(_, s)| s).collect()
    }

    fn api_help(&self) -> Option<&'static str> {
        Some(self.api_help)
    }
}

/// A cached access token.
pub(crate) struct CachedToken {
    pub value: Secret,
    /// When to fetch a new one: a little before it expires.
    pub refresh_at: Instant,
    /// The API host the token endpoint named with it (Salesforce's `instance_url`).
    pub instance_url: Option<String>,
}

/// Margin before expiry at which a token is renewed: requests in flight when it
/// expires would fail.
const RENEW_MARGIN: Duration = Duration::from_secs(120);

/// Reads a token response: `access_token` and `expires_in` (a number, or a string as
/// Azure's v1 endpoint sends it). `None` when the shape is wrong.
pub(crate) fn parse_token(body: &Value, now: Instant) -> Option<CachedToken> {
    let map = body.as_object()?;
    let token = map.get("access_token")?.as_str()?;
    if token.is_empty() {
        return None;
    }
    let expires_in = match map.get("expires_in") {
        Some(Value::String(s)) => s.parse::<u64>().ok()?,
        Some(v) => u64::try_from(v.as_i64()?).ok()?,
        // Without a lifetime, assume the common hour.
        None => 3600,
    };
    let lifetime = Duration::from_secs(expires_in);
    let renew_after = lifetime.checked_sub(RENEW_MARGIN).unwrap_or(lifetime / 2);
    Some(CachedToken {
        value: Secret::new(token),
        refresh_at: now + renew_after,
        instance_url: map
            .get("instance_url")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// `application/x-www-form-urlencoded`, every reserved byte percent-encoded.
pub(crate) fn form_encode(pairs: &[(&str, &str)]) -> String {
    let fields: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
        .collect();
    fields.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::value;

    #[test]
    fn the_form_is_encoded() {
        let creds = ClientCredentials {
            token_url: Url::parse("https://login.example/t").unwrap(),
            client_id: "app id".into(),
            client_secret: Secret::new("a+b/c=&"),
            scope: "https://graph.microsoft.com/.default".into(),
        };
        assert_eq!(
            creds.form_body(),
            "grant_type=client_credentials&client_id=app%20id&client_secret=a%2Bb%2Fc%3D%26&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        );
    }

    #[test]
    fn a_vendor_grant_sends_its_fields_then_its_secrets() {
        let grant = FormGrant {
            token_url: Url::parse("https://api.box.com/oauth2/token").unwrap(),
            fields: vec![
                ("grant_type", "client_credentials".into()),
                ("box_subject_id", "42".into()),
            ],
            secrets: vec![("client_secret", Secret::new("s&t"))],
            token_help: "",
            api_help: "",
        };
        assert_eq!(
            grant.form_body().unwrap(),
            "grant_type=client_credentials&box_subject_id=42&client_secret=s%26t"
        );
        assert!(!format!("{grant:?}").contains("s&t"));
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        let now = Instant::now();
        let t = parse_token(&value(r#"{"access_token":"x","expires_in":3600}"#), now).unwrap();
        assert_eq!(t.refresh_at, now + Duration::from_secs(3480));
        let t = parse_token(&value(r#"{"access_token":"x","expires_in":"60"}"#), now).unwrap();
        assert_eq!(t.refresh_at, now + Duration::from_secs(30));
        assert!(parse_token(&value(r#"{"token":"x"}"#), now).is_none());
        assert!(parse_token(&value(r#"{"access_token":"x","expires_in":-5}"#), now).is_none());
    }
}
