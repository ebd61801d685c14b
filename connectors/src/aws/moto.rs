//! Tests against moto's server (PyPI `moto[server]`): a guard that starts
//! `moto_server` on 127.0.0.1 on a free port, waits until it answers and kills it when
//! dropped, and the set-up calls (buckets, queues, objects, messages) the tests make.

use super::s3::S3;
use super::sqs::Sqs;
use super::{AwsClient, AwsSettings, Credentials};
use pipectl_core::secrets::Secret;
use reqwest::Url;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// moto's fixed account id.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// A running moto server, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: Url,
}

impl Moto {
    /// Starts `moto_server`; fails the test with instructions when it is not installed.
    pub async fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free port on 127.0.0.1");
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto_server ({e}): these tests need moto's server; install it with `pip install 'moto[server]>=5.1'`"
                )
            });
        let endpoint = Url::parse(&format!("http://127.0.0.1:{port}")).expect("endpoint URL");
        let moto = Moto { child, endpoint };
        moto.wait_ready().await;
        moto
    }

    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let url = format!("{}moto-api/", self.endpoint);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "moto_server did not answer on {} within 30 s",
            self.endpoint
        );
    }

    pub fn settings(&self) -> AwsSettings {
        AwsSettings {
            region: REGION.to_string(),
            endpoint: Some(self.endpoint.clone()),
            credentials: Credentials {
                access_key_id: "testing".to_string(),
                secret_access_key: Secret::new("testing"),
                session_token: None,
            },
        }
    }

    pub fn client(&self) -> AwsClient {
        AwsClient::new(self.settings()).expect("client")
    }

    pub fn s3(&self) -> S3 {
        S3::new(self.client())
    }

    pub fn queue_url(&self, name: &str) -> String {
        format!("{}{ACCOUNT}/{name}", self.endpoint)
    }

    pub fn sqs(&self, queue: &str) -> Sqs {
        Sqs::new(self.client(), &self.queue_url(queue)).expect("sqs")
    }

    pub async fn create_bucket(&self, bucket: &str) {
        self.s3()
            .put(bucket, None, Vec::new(), Vec::new())
            .await
            .expect("CreateBucket");
    }

    pub async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.s3()
            .put(bucket, Some(key), Vec::new(), body)
            .await
            .expect("PutObject");
    }

    /// A queue whose received messages stay invisible for `visibility` seconds.
    pub async fn create_queue(&self, name: &str, visibility: u32) -> Sqs {
        let sqs = self.sqs(name);
        sqs.call(
            "CreateQueue",
            serde_json::json!({"QueueName": name, "Attributes": {"VisibilityTimeout": visibility.to_string()}}),
        )
        .await
        .expect("CreateQueue");
        sqs
    }

    /// Has `bucket` announce created objects on `queue` (moto then sends the
    /// `s3:TestEvent` first, as S3 does).
    pub async fn notify_queue(&self, bucket: &str, queue: &str) {
        let config = format!(
            "<NotificationConfiguration><QueueConfiguration><Queue>arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>"
        );
        self.s3()
            .put(
                bucket,
                None,
                vec![("notification", "")],
                config.into_bytes(),
            )
            .await
            .expect("PutBucketNotificationConfiguration");
    }

    pub async fn send_message(&self, queue: &str, body: &str) {
        self.sqs(queue)
            .call(
                "SendMessage",
                serde_json::json!({"QueueUrl": self.queue_url(queue), "MessageBody": body}),
            )
            .await
            .expect("SendMessage");
    }

    /// Messages on the queue, visible or in flight.
    pub async fn messages_on(&self, queue: &str) -> u64 {
        let reply = self
            .sqs(queue)
            .call(
                "GetQueueAttributes",
                serde_json::json!({"QueueUrl": self.queue_url(queue), "AttributeNames": ["All"]}),
            )
            .await
            .expect("GetQueueAttributes");
        let json: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
        [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
        ]
        .iter()
        .map(|name| {
            json["Attributes"][name]
                .as_str()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
