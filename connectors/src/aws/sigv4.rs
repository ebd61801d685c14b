//! AWS Signature Version 4, as the AWS General Reference describes it: a canonical
//! request, the string to sign over its hash, and an HMAC-SHA256 chain from the secret
//! key through the date, region and service. Written here (rather than taken from the
//! SDK) because only these few lines of the SDK are needed.

use aws_lc_rs::hmac;
use pipectl_core::secrets::Secret;
use sha2::{Digest, Sha256};

/// The parts of a request that are signed. Header names are lowercase; the values are
/// as sent (they are trimmed and their inner runs of spaces collapsed here).
pub(crate) struct SigningRequest<'a> {
    pub method: &'a str,
    /// The path, already URI-encoded ([`uri_encode`] with `/` kept).
    pub canonical_uri: &'a str,
    /// The query string in canonical form ([`canonical_query`]).
    pub canonical_query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body.
    pub payload_sha256: &'a str,
}

/// Who signs, where and when: `amz_date` is `YYYYMMDDTHHMMSSZ`.
pub(crate) struct Scope<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a Secret,
    pub region: &'a str,
    pub service: &'a str,
    pub amz_date: &'a str,
}

/// The `Authorization` header value for `request`.
pub(crate) fn authorization(request: &SigningRequest<'_>, scope: &Scope<'_>) -> String {
    let mut headers: Vec<(&str, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (*name, collapse_spaces(value)))
        .collect();
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let signed_headers = headers
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");
    let mut canonical = format!(
        "{}\n{}\n{}\n",
        request.method, request.canonical_uri, request.canonical_query
    );
    for (name, value) in &headers {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed_headers);
    canonical.push('\n');
    canonical.push_str(request.payload_sha256);

    let date = scope.amz_date.get(..8).unwrap_or(scope.amz_date);
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{credential_scope}\n{}",
        scope.amz_date,
        sha256_hex(canonical.as_bytes())
    );
    let secret = format!("AWS4{}", scope.secret_access_key.expose());
    let mut key = hmac_sha256(secret.as_bytes(), date.as_bytes());
    for part in [scope.region, scope.service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
        scope.access_key_id
    )
}

/// Hex SHA-256, as the payload hash and the canonical request hash are written.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A header value trimmed, with inner runs of spaces as one.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// SigV4's URI encoding: every byte but the unreserved characters (`A-Z a-z 0-9 - . _
/// ~`) as `%XX` in upper-case hex; `/` kept when `keep_slash` (object key paths).
pub(crate) fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string: names and values encoded, sorted by name then value,
/// joined with `&`. Sent as is, so what is signed is what is sent.
pub(crate) fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// The `get-vanilla` case of AWS's SigV4 test suite.
    #[test]
    fn signs_the_sigv4_test_suite_get_vanilla_request() {
        let secret = Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let auth = authorization(
            &SigningRequest {
                method: "GET",
                canonical_uri: "/",
                canonical_query: "",
                headers: &[
                    ("host", "example.amazonaws.com"),
                    ("x-amz-date", "20150830T123600Z"),
                ],
                payload_sha256: EMPTY_SHA256,
            },
            &Scope {
                access_key_id: "AKIDEXAMPLE",
                secret_access_key: &secret,
                region: "us-east-1",
                service: "service",
                amz_date: "20150830T123600Z",
            },
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// The GET Object example of the S3 SigV4 documentation ("Signature Calculations
    /// for the Authorization Header: Transferring Payload in a Single Chunk").
    #[test]
    fn signs_the_s3_documentation_get_object_example() {
        let secret = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        let auth = authorization(
            &SigningRequest {
                method: "GET",
                canonical_uri: &format!("/{}", uri_encode("test.txt", true)),
                canonical_query: "",
                headers: &[
                    ("host", "examplebucket.s3.amazonaws.com"),
                    ("range", "bytes=0-9"),
                    ("x-amz-content-sha256", EMPTY_SHA256),
                    ("x-amz-date", "20130524T000000Z"),
                ],
                payload_sha256: EMPTY_SHA256,
            },
            &Scope {
                access_key_id: "AKIAIOSFODNN7EXAMPLE",
                secret_access_key: &secret,
                region: "us-east-1",
                service: "s3",
                amz_date: "20130524T000000Z",
            },
        );
        assert!(
            auth.ends_with(
                "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
                 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ),
            "{auth}"
        );
    }

    /// The ListObjects example of the same page: a query string in canonical form.
    #[test]
    fn signs_the_s3_documentation_list_objects_example() {
        let secret = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        let query = canonical_query(&[("prefix", "J"), ("max-keys", "2")]);
        assert_eq!(query, "max-keys=2&prefix=J");
        let auth = authorization(
            &SigningRequest {
                method: "GET",
                canonical_uri: "/",
                canonical_query: &query,
                headers: &[
                    ("host", "examplebucket.s3.amazonaws.com"),
                    ("x-amz-content-sha256", EMPTY_SHA256),
                    ("x-amz-date", "20130524T000000Z"),
                ],
                payload_sha256: EMPTY_SHA256,
            },
            &Scope {
                access_key_id: "AKIAIOSFODNN7EXAMPLE",
                secret_access_key: &secret,
                region: "us-east-1",
                service: "s3",
                amz_date: "20130524T000000Z",
            },
        );
        assert!(
            auth.ends_with(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{auth}"
        );
    }

    #[test]
    fn uri_encoding_keeps_only_unreserved_characters() {
        assert_eq!(uri_encode("a b/c=d+é~", true), "a%20b/c%3Dd%2B%C3%A9~");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
    }
}
