//! The AWS Query protocol that IAM and EC2 speak: a form-encoded POST of
//! `Action=...&Version=...&<parameters>` to the service's endpoint, answered in XML.
//! Errors (`<Error><Code>AccessDenied</Code>...`) come back through [`AwsClient::send`]
//! like S3's; throttling and 5xx are retried there, a 403 never is.

use super::{sigv4::canonical_query, xml, AwsClient, AwsError, Request};
use reqwest::{Method, Url};

/// Answers of these calls are small; a page of EC2 instances is the largest.
const MAX_RESPONSE: usize = 8 * 1024 * 1024;

/// One Query-protocol service (IAM or EC2) at one endpoint.
#[derive(Clone)]
pub struct QueryService {
    client: AwsClient,
    origin: Url,
    service: &'static str,
    version: &'static str,
}

/// A successful answer: its XML and the request id AWS gave it (for the audit record).
#[derive(Debug)]
pub struct QueryReply {
    pub xml: String,
    pub request_id: Option<String>,
}

impl QueryService {
    pub(crate) fn new(
        client: AwsClient,
        origin: Url,
        service: &'static str,
        version: &'static str,
    ) -> QueryService {
        QueryService {
            client,
            origin,
            service,
            version,
        }
    }

    /// Calls `action` with `params`; `target` names the resource in errors.
    pub async fn call(
        &self,
        action: &str,
        params: &[(&str, &str)],
        target: &str,
    ) -> Result<QueryReply, AwsError> {
        let what = format!("{} {action} {target}", self.service.to_uppercase());
        let mut form: Vec<(&str, &str)> = vec![("Action", action), ("Version", self.version)];
        form.extend_from_slice(params);
        let request = Request {
            service: self.service,
            method: Method::POST,
            origin: &self.origin,
            path: "/".to_string(),
            query: Vec::new(),
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            )],
            body: canonical_query(&form).into_bytes(),
            max_response: MAX_RESPONSE,
        };
        let reply = self.client.send(&request, &what).await?;
        let text = String::from_utf8(reply.body).map_err(|_| AwsError::Malformed {
            target: what.clone(),
            reason: "the answer is not UTF-8".to_string(),
        })?;
        // IAM writes `<RequestId>`, EC2 `<RequestID>`.
        let request_id = match xml::text(&text, "RequestId") {
            Ok(Some(id)) => Some(id),
            _ => xml::text(&text, "RequestID").ok().flatten(),
        };
        Ok(QueryReply {
            xml: text,
            request_id,
        })
    }
}
