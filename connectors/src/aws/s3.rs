//! S3 `GetObject` and `ListObjectsV2`.
//!
//! Buckets are addressed virtual-host style (`<bucket>.s3.<region>.amazonaws.com`)
//! unless an endpoint override is set or the bucket name holds a dot (which TLS
//! wildcard certificates do not cover); then path style (`<host>/<bucket>/<key>`).

use super::{sigv4::uri_encode, xml, AwsClient, AwsError, Request};
use reqwest::{Method, Url};

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
