//! Google service-account authentication with domain-wide delegation (RFC 7523): a
//! JWT naming the service account (`iss`), the admin it acts for (`sub`), the scope
//! and the token endpoint (`aud`), valid for an hour and signed RS256 with the
//! account's private key, is exchanged at the token endpoint
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`) for an access token.
//!
//! The key comes as the JSON file Google issues (`client_email`, `private_key` as a
//! PKCS#8 PEM, `token_uri`), through `secret()`. Reading it never quotes it: errors
//! name the field that is wrong, not its content.

use super::error::ApiError;
use super::is_safe_url;
use super::oauth::{form_encode, TokenGrant};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use pipectl_core::secrets::Secret;
use pipectl_core::value::Value;
use reqwest::Url;
use std::time::{SystemTime, UNIX_EPOCH};

/// Google's token endpoint, when the key names none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// How long an assertion is valid (Google accepts at most an hour).
const ASSERTION_LIFETIME_S: u64 = 3600;

/// A service account acting for a Workspace user, for one scope.
pub(crate) struct ServiceAccountGrant {
    client_email: String,
    /// The account's numeric OAuth client id, which domain-wide delegation is granted to.
    client_id: Option<String>,
    key_id: Option<String>,
    key: RsaKeyPair,
    /// The key JSON as given, for scrubbing error text.
    key_json: Secret,
    /// `token_uri` as written: the assertion's audience must match it exactly.
    audience: String,
    token_url: Url,
    scope: String,
    subject: String,
}

impl ServiceAccountGrant {
    /// Reads a service-account key JSON; the error names what is wrong in it.
    pub fn from_key_json(
        key_json: &Secret,
        scope: &str,
        subject: &str,
    ) -> Result<ServiceAccountGrant, String> {
        let value = pipectl_core::json::from_str(key_json.expose())
            .map_err(|e| format!("is not JSON ({e}); expected a service-account key file"))?;
        let map = value
            .as_object()
            .ok_or("is not a JSON object; expected a service-account key file")?;
        let field = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_string);
        if let Some(kind) = field("type").filter(|k| k != "service_account") {
            return Err(format!(
                "is a key of type `{kind}`, not `service_account` (create a key for a service account)"
            ));
        }
        let client_email = field("client_email")
            .filter(|e| e.contains('@'))
            .ok_or("has no `client_email`")?;
        let pem = field("private_key").ok_or("has no `private_key`")?;
        let der = pem_body(&pem, "PRIVATE KEY")
            .ok_or("`private_key` is not a PEM \"PRIVATE KEY\" (PKCS#8) block")?;
        let key = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| format!("`private_key` is not a usable PKCS#8 RSA key ({e})"))?;
        let audience = field("token_uri").unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string());
        let token_url = Url::parse(&audience)
            .ok()
            .filter(is_safe_url)
            .ok_or("has a `token_uri` that is not an https:// URL")?;
        Ok(ServiceAccountGrant {
            client_email,
            client_id: field("client_id"),
            key_id: field("private_key_id"),
            key,
            key_json: key_json.clone(),
            audience,
            token_url,
            scope: scope.to_string(),
            subject: subject.to_string(),
        })
    }

    /// A signed assertion issued at `now` (Unix seconds).
    fn assertion(&self, now: u64) -> Result<String, ApiError> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let (Some(kid), Some(map)) = (&self.key_id, header.as_object_mut()) {
            map.insert("kid".into(), serde_json::Value::from(kid.as_str()));
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "sub": self.subject,
            "scope": self.scope,
            "aud": self.audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| ApiError::permanent("cannot sign the service-account assertion"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

impl TokenGrant for ServiceAccountGrant {
    fn token_url(&self) -> &Url {
        &self.token_url
    }

    fn form_body(&self) -> Result<String, ApiError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let assertion = self.assertion(now)?;
        Ok(form_encode(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &assertion),
        ]))
    }

    fn refusal_hint(&self, body: &[u8]) -> String {
        let answer = pipectl_core::json::from_slice(body).ok();
        let text = |key: &str| {
            answer
                .as_ref()
                .and_then(Value::as_object)
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (error, description) = (text("error"), text("error_description"));
        match error.as_str() {
            "unauthorized_client" => format!(
                "the service account lacks domain-wide delegation for scope {}: in the Admin console (Security → Access and data control → API controls → Domain-wide delegation) add client ID {} with that scope",
                self.scope,
                self.client_id.as_deref().unwrap_or("(the service account's client_id)")
            ),
            "invalid_grant" if description.contains("email") || description.contains("User ID") => format!(
                "`subject` ({}) is not a user of the Workspace domain; set it to an administrator's address",
                self.subject
            ),
            "invalid_grant" if description.contains("Signature") => {
                "the key in the service-account JSON was deleted or does not belong to the account; create a new key".into()
            }
            "invalid_grant" if description.contains("iat") || description.contains("timeframe") => {
                "the assertion's times were refused; check this machine's clock".into()
            }
            "invalid_client" | "disabled_client" => {
                "the service account or its key no longer exists or is disabled".into()
            }
            _ => "check the service-account key JSON, that its key is still active, and `subject`".into(),
        }
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.key_json]
    }
}

/// The bytes of the PEM block labelled `label`.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem.get(start..)?.find(&end)?;
    let text: String = pem
        .get(start..stop)?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(text).ok()
}

#[cfg(test)]
pub(crate) mod testing {
    //! A throwaway service-account key generated per test run, and the check a token
    //! endpoint makes of an assertion.

    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    /// A test key: a private key JSON and its public key.
    pub struct TestKey {
        pub json: String,
        pub public_key: Vec<u8>,
    }

    /// Generates an RSA-2048 key and its service-account JSON naming `token_uri`.
    pub fn test_key(token_uri: &str) -> TestKey {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
        let body = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let json = serde_json::json!({
            "type": "service_account",
            "project_id": "pipectl-test",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": "reader@pipectl-test.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": token_uri,
        });
        TestKey {
            json: json.to_string(),
            public_key: pair.public_key().as_ref().to_vec(),
        }
    }

    /// The claims of `assertion` if its RS256 signature verifies with `public_key`.
    pub fn verified_claims(assertion: &str, public_key: &[u8]) -> Option<serde_json::Value> {
        let (signing_input, signature) = assertion.rsplit_once('.')?;
        let (header, claims) = signing_input.split_once('.')?;
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header["alg"] != "RS256" {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
            .verify(signing_input.as_bytes(), &signature)
            .ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{test_key, verified_claims};
    use super::*;

    const SCOPE: &str = "https://www.googleapis.com/auth/admin.reports.audit.readonly";

    #[test]
    fn the_assertion_is_signed_and_carries_the_claims() {
        let key = test_key("https://oauth2.googleapis.com/token");
        let grant =
            ServiceAccountGrant::from_key_json(&Secret::new(&key.json), SCOPE, "admin@acme.test")
                .unwrap();
        let assertion = grant.assertion(1_800_000_000).unwrap();
        let claims = verified_claims(&assertion, &key.public_key).unwrap();
        assert_eq!(claims["iss"], "reader@pipectl-test.iam.gserviceaccount.com");
        assert_eq!(claims["sub"], "admin@acme.test");
        assert_eq!(claims["scope"], SCOPE);
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
        assert_eq!(claims["iat"], 1_800_000_000u64);
        assert_eq!(claims["exp"], 1_800_003_600u64);
        // Another key does not verify it.
        let other = test_key("https://oauth2.googleapis.com/token");
        assert!(verified_claims(&assertion, &other.public_key).is_none());
    }

    #[test]
    fn bad_keys_are_named_without_being_quoted() {
        let read = |json: &str| {
            ServiceAccountGrant::from_key_json(&Secret::new(json), SCOPE, "a@b")
                .err()
                .unwrap()
        };
        assert!(read("{not json").contains("is not JSON"));
        let no_key = r#"{"type":"service_account","client_email":"a@b.c"}"#;
        assert!(read(no_key).contains("no `private_key`"));
        let bad_pem = r#"{"client_email":"a@b.c","private_key":"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n"}"#;
        let err = read(bad_pem);
        assert!(err.contains("not a usable PKCS#8 RSA key"), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
        let user = r#"{"type":"authorized_user","client_secret":"s3cr3t"}"#;
        let err = read(user);
        assert!(err.contains("`authorized_user`"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
        let key = test_key("http://evil.example/token");
        assert!(read(&key.json).contains("`token_uri`"));
    }

    #[test]
    fn refusals_say_what_to_fix() {
        let key = test_key("https://oauth2.googleapis.com/token");
        let grant =
            ServiceAccountGrant::from_key_json(&Secret::new(&key.json), SCOPE, "admin@acme.test")
                .unwrap();
        let hint = grant.refusal_hint(
            br#"{"error":"unauthorized_client","error_description":"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."}"#,
        );
        assert!(
            hint.contains("lacks domain-wide delegation for scope https://www.googleapis.com/auth/admin.reports.audit.readonly"),
            "{hint}"
        );
        assert!(hint.contains("client ID 1234567890"), "{hint}");
        let hint = grant.refusal_hint(
            br#"{"error":"invalid_grant","error_description":"Invalid email or User ID"}"#,
        );
        assert!(hint.contains("`subject` (admin@acme.test)"), "{hint}");
    }
}
