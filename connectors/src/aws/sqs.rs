//! SQS `ReceiveMessage` and `DeleteMessage` over the JSON protocol (`X-Amz-Target:
//! AmazonSQS.<Action>`, `application/x-amz-json-1.0`), posted to the regional endpoint
//! (or the endpoint override) with the queue URL in the body.

use super::{AwsClient, AwsError, Request};
use reqwest::{Method, Url};
use serde::Deserialize;
use std::time::Duration;

/// Ten messages of up to 256 KiB, plus JSON around them.
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// A received message.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    pub message_id: String,
    pub receipt_handle: String,
    #[serde(default)]
    pub body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveReply {
    #[serde(default)]
    messages: Vec<Message>,
}

/// The SQS calls on one queue.
#[derive(Clone)]
pub struct Sqs {
    client: AwsClient,
    origin: Url,
    queue_url: String,
}

impl Sqs {
    pub fn new(client: AwsClient, queue_url: &str) -> Result<Sqs, String> {
        let settings = client.settings();
        let origin = match &settings.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => Url::parse(&format!("https://sqs.{}.amazonaws.com", settings.region))
                .map_err(|e| format!("no SQS endpoint for region `{}`: {e}", settings.region))?,
        };
        Ok(Sqs {
            client,
            origin,
            queue_url: queue_url.to_string(),
        })
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// One JSON-protocol call.
    pub(crate) async fn call(
        &self,
        action: &str,
        body: serde_json::Value,
    ) -> Result<Vec<u8>, AwsError> {
        let target = format!("SQS {action} {}", self.queue_url);
        let request = Request {
            service: "sqs",
            method: Method::POST,
            origin: &self.origin,
            path: "/".to_string(),
            query: Vec::new(),
            headers: vec![
                ("content-type", "application/x-amz-json-1.0".to_string()),
                ("x-amz-target", format!("AmazonSQS.{action}")),
            ],
            body: body.to_string().into_bytes(),
            max_response: MAX_RESPONSE,
        };
        Ok(self.client.send(&request, &target).await?.body)
    }

    /// Up to `max` messages, waiting up to `wait` for the first (long polling); they
    /// stay invisible to other receivers for `visibility`.
    pub async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, AwsError> {
        let body = serde_json::json!({
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max,
            "WaitTimeSeconds": wait.as_secs(),
            "VisibilityTimeout": visibility.as_secs(),
        });
        let reply = self.call("ReceiveMessage", body).await?;
        let parsed: ReceiveReply =
            serde_json::from_slice(&reply).map_err(|e| AwsError::Malformed {
                target: format!("SQS ReceiveMessage {}", self.queue_url),
                reason: e.to_string(),
            })?;
        Ok(parsed.messages)
    }

    /// Removes a received message for good.
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), AwsError> {
        let body = serde_json::json!({
            "QueueUrl": self.queue_url,
            "ReceiptHandle": receipt_handle,
        });
        self.call("DeleteMessage", body).await.map(|_| ())
    }
}
