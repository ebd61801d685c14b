//! S3 `GetObject` and `ListObjectsV2` (the log sources), and a bucket's public access
//! block and policy (the AWS responder).
//!
//! Buckets are addressed virtual-host style (`<bucket>.s3.<region>.amazonaws.com`)
//! unless an endpoint override is set or the bucket name holds a dot (which TLS
//! wildcard certificates do not cover); then path style (`<host>/<bucket>/<key>`).

use super::{sigv4::uri_encode, xml, AwsClient, AwsError, Request};
use reqwest::{Method, Url};
use sha2::{Digest, Sha256};

/// A bucket policy is at most 20 KiB; a public access block a few hundred bytes.
const MAX_CONFIG_RESPONSE: usize = 1024 * 1024;

/// A bucket's S3 Block Public Access settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// Every setting on: no public access through ACLs or policies.
    pub const ALL: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    fn to_xml(self) -> String {
        format!(
            "<PublicAccessBlockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><BlockPublicAcls>{}</BlockPublicAcls><IgnorePublicAcls>{}</IgnorePublicAcls><BlockPublicPolicy>{}</BlockPublicPolicy><RestrictPublicBuckets>{}</RestrictPublicBuckets></PublicAccessBlockConfiguration>",
            self.block_public_acls,
            self.ignore_public_acls,
            self.block_public_policy,
            self.restrict_public_buckets
        )
    }

    fn from_xml(text: &str) -> Result<PublicAccessBlock, String> {
        let flag = |tag: &str| -> Result<bool, String> {
            Ok(xml::text(text, tag)?.is_some_and(|v| v.trim().eq_ignore_ascii_case("true")))
        };
        Ok(PublicAccessBlock {
            block_public_acls: flag("BlockPublicAcls")?,
            ignore_public_acls: flag("IgnorePublicAcls")?,
            block_public_policy: flag("BlockPublicPolicy")?,
            restrict_public_buckets: flag("RestrictPublicBuckets")?,
        })
    }
}

/// A listing page can hold 1000 keys of up to 1 KiB, plus XML around them.
const MAX_LIST_RESPONSE: usize = 16 * 1024 * 1024;

/// One page of `ListObjectsV2`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Keys in UTF-8 binary order, as S3 lists them.
    pub keys: Vec<String>,
    /// Where the next page starts, when the listing was truncated.
    pub continuation: Option<String>,
}

/// S3 calls of one client.
#[derive(Clone)]
pub struct S3 {
    client: AwsClient,
}

impl S3 {
    pub fn new(client: AwsClient) -> S3 {
        S3 { client }
    }

    /// The origin and path of `bucket` (and `key`, when given).
    fn locate(&self, bucket: &str, key: Option<&str>) -> Result<(Url, String), AwsError> {
        let settings = self.client.settings();
        let key_path = key
            .map(|k| format!("/{}", uri_encode(k, true)))
            .unwrap_or_default();
        let bucket_path = format!("/{}", uri_encode(bucket, false));
        let (origin, path) = match &settings.endpoint {
            Some(endpoint) => (endpoint.clone(), format!("{bucket_path}{key_path}")),
            None if bucket.contains('.') => (
                aws_origin(&format!("s3.{}.amazonaws.com", settings.region), bucket)?,
                format!("{bucket_path}{key_path}"),
            ),
            None => (
                aws_origin(
                    &format!("{bucket}.s3.{}.amazonaws.com", settings.region),
                    bucket,
                )?,
                if key_path.is_empty() {
                    "/".to_string()
                } else {
                    key_path
                },
            ),
        };
        Ok((origin, path))
    }

    /// The whole object, refused when larger than `max_bytes`.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, AwsError> {
        let target = format!("S3 GetObject s3://{bucket}/{key}");
        let (origin, path) = self.locate(bucket, Some(key))?;
        let request = Request {
            service: "s3",
            method: Method::GET,
            origin: &origin,
            path,
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            max_response: max_bytes,
        };
        Ok(self.client.send(&request, &target).await?.body)
    }

    /// One page of keys under `prefix`, after `start_after` or from a continuation token.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
    ) -> Result<ListPage, AwsError> {
        let target = format!("S3 ListObjectsV2 s3://{bucket}/{prefix}");
        let (origin, path) = self.locate(bucket, None)?;
        let mut query = vec![("list-type", "2"), ("prefix", prefix)];
        if let Some(after) = start_after {
            query.push(("start-after", after));
        }
        if let Some(token) = continuation {
            query.push(("continuation-token", token));
        }
        let request = Request {
            service: "s3",
            method: Method::GET,
            origin: &origin,
            path,
            query,
            headers: Vec::new(),
            body: Vec::new(),
            max_response: MAX_LIST_RESPONSE,
        };
        let reply = self.client.send(&request, &target).await?;
        parse_list(&reply.body).map_err(|reason| AwsError::Malformed { target, reason })
    }

    /// A bucket sub-resource call (`?publicAccessBlock`, `?policy`). PUT bodies carry
    /// `x-amz-checksum-sha256`, the integrity check S3 requires of these calls.
    async fn bucket_config(
        &self,
        method: Method,
        bucket: &str,
        subresource: &'static str,
        body: Vec<u8>,
        operation: &str,
    ) -> Result<Vec<u8>, AwsError> {
        let target = format!("S3 {operation} s3://{bucket}");
        let (origin, path) = self.locate(bucket, None)?;
        let mut headers = Vec::new();
        if method == Method::PUT {
            headers.push(("x-amz-checksum-sha256", base64(&Sha256::digest(&body))));
        }
        let request = Request {
            service: "s3",
            method,
            origin: &origin,
            path,
            query: vec![(subresource, "")],
            headers,
            body,
            max_response: MAX_CONFIG_RESPONSE,
        };
        Ok(self.client.send(&request, &target).await?.body)
    }

    /// The bucket's public access block; `None` when it has none.
    pub async fn get_public_access_block(
        &self,
        bucket: &str,
    ) -> Result<Option<PublicAccessBlock>, AwsError> {
        let operation = "GetPublicAccessBlock";
        match self
            .bucket_config(
                Method::GET,
                bucket,
                "publicAccessBlock",
                Vec::new(),
                operation,
            )
            .await
        {
            Ok(body) => {
                let text = String::from_utf8_lossy(&body);
                PublicAccessBlock::from_xml(&text)
                    .map(Some)
                    .map_err(|reason| AwsError::Malformed {
                        target: format!("S3 {operation} s3://{bucket}"),
                        reason,
                    })
            }
            Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn put_public_access_block(
        &self,
        bucket: &str,
        config: PublicAccessBlock,
    ) -> Result<(), AwsError> {
        self.bucket_config(
            Method::PUT,
            bucket,
            "publicAccessBlock",
            config.to_xml().into_bytes(),
            "PutPublicAccessBlock",
        )
        .await
        .map(|_| ())
    }

    pub async fn delete_public_access_block(&self, bucket: &str) -> Result<(), AwsError> {
        self.bucket_config(
            Method::DELETE,
            bucket,
            "publicAccessBlock",
            Vec::new(),
            "DeletePublicAccessBlock",
        )
        .await
        .map(|_| ())
    }

    /// The bucket policy (JSON text); `None` when the bucket has none.
    pub async fn get_bucket_policy(&self, bucket: &str) -> Result<Option<String>, AwsError> {
        match self
            .bucket_config(Method::GET, bucket, "policy", Vec::new(), "GetBucketPolicy")
            .await
        {
            Ok(body) => Ok(Some(String::from_utf8_lossy(&body).into_owned())),
            Err(e) if e.code() == Some("NoSuchBucketPolicy") => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn put_bucket_policy(&self, bucket: &str, policy: &str) -> Result<(), AwsError> {
        self.bucket_config(
            Method::PUT,
            bucket,
            "policy",
            policy.as_bytes().to_vec(),
            "PutBucketPolicy",
        )
        .await
        .map(|_| ())
    }

    pub async fn delete_bucket_policy(&self, bucket: &str) -> Result<(), AwsError> {
        self.bucket_config(
            Method::DELETE,
            bucket,
            "policy",
            Vec::new(),
            "DeleteBucketPolicy",
        )
        .await
        .map(|_| ())
    }

    /// Test helpers: what the tests need to set up buckets.
    #[cfg(test)]
    pub(crate) async fn put(
        &self,
        bucket: &str,
        key: Option<&str>,
        query: Vec<(&str, &str)>,
        body: Vec<u8>,
    ) -> Result<(), AwsError> {
        let (origin, path) = self.locate(bucket, key)?;
        let request = Request {
            service: "s3",
            method: Method::PUT,
            origin: &origin,
            path,
            query,
            headers: vec![("content-type", "application/octet-stream".to_string())],
            body,
            max_response: MAX_LIST_RESPONSE,
        };
        self.client
            .send(&request, &format!("S3 PUT s3://{bucket}"))
            .await
            .map(|_| ())
    }
}

/// Standard base64 with padding (the checksum header's encoding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn aws_origin(host: &str, bucket: &str) -> Result<Url, AwsError> {
    Url::parse(&format!("https://{host}")).map_err(|e| AwsError::Malformed {
        target: format!("S3 s3://{bucket}"),
        reason: format!("the bucket name does not make a host name: {e}"),
    })
}

/// The keys and continuation token of a `ListBucketResult`.
fn parse_list(body: &[u8]) -> Result<ListPage, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the listing is not UTF-8".to_string())?;
    if !text.contains("<ListBucketResult") {
        return Err("not a ListBucketResult".to_string());
    }
    let keys = xml::texts(text, "Key")?;
    let truncated = xml::text(text, "IsTruncated")?.as_deref() == Some("true");
    let continuation = match xml::text(text, "NextContinuationToken")? {
        Some(token) if truncated && !token.is_empty() => Some(token),
        _ if truncated => return Err("truncated without a NextContinuationToken".to_string()),
        _ => None,
    };
    Ok(ListPage { keys, continuation })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn public_access_blocks_round_trip() {
        let pab = PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: false,
            block_public_policy: true,
            restrict_public_buckets: false,
        };
        assert_eq!(PublicAccessBlock::from_xml(&pab.to_xml()).unwrap(), pab);
    }

    #[test]
    fn listing_pages() {
        let page = parse_list(br#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>true</IsTruncated><Contents><Key>AWSLogs/1/a b.json.gz</Key><Size>3</Size></Contents><Contents><Key>x&amp;y</Key></Contents><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>"#).unwrap();
        assert_eq!(page.keys, ["AWSLogs/1/a b.json.gz", "x&y"]);
        assert_eq!(
            page.continuation.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
        let last =
            parse_list(b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>")
                .unwrap();
        assert_eq!(last, ListPage::default());
        assert!(parse_list(
            b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"
        )
        .is_err());
        assert!(parse_list(b"<Error><Code>x</Code></Error>").is_err());
    }
}
