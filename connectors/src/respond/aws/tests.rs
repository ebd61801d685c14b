//! The AWS actions against moto's server (state checked through the API, never by
//! using a key: moto keeps honouring inactive keys), and against local servers for what
//! moto cannot show: a refusal (403) and a responder that must not call at all.

use super::*;
use crate::aws::moto::Moto;
use crate::aws::{Credentials, Retry};
use crate::respond::engine::Policy;
use crate::respond::journal::{Decision, Journal};
use crate::respond::policy::{Glob, Mode, HOUR_MS};
use crate::respond::tests::{incident, policy};
use crate::testkit::TempDir;
use pipectl_core::secrets::Secret;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_790_000_000_000;
const ACCOUNT: &str = "123456789012";

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

fn aws_actions(client: &AwsClient) -> AwsActions {
    AwsActions::with_client(
        client,
        "pipectl-quarantine".into(),
        "pipectl-deny-all".into(),
    )
    .unwrap()
}

/// A responder of `action` in `mode` over `client`, on a clock the test moves.
fn responder_for(
    client: &AwsClient,
    dir: &TempDir,
    mut policy: Policy,
) -> (Responder<AwsActions>, Arc<AtomicI64>) {
    policy.protected = vec![Glob::new("*:user/break-glass")];
    let (clock, handle) = Clock::manual(T0);
    let r = responder(policy, aws_actions(client), dir.path(), clock).unwrap();
    (r, handle)
}

fn statuses(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| {
            ["pipectl", "action", "status"]
                .iter()
                .try_fold(d, |v, k| v.as_object()?.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn last_status(docs: &[Value]) -> String {
    statuses(docs).pop().unwrap_or_default()
}

async fn iam_call(iam: &Iam, action: &str, params: &[(&str, &str)]) -> String {
    iam.call(action, params, "test set-up")
        .await
        .unwrap_or_else(|e| panic!("{action}: {e}"))
        .xml
}

async fn create_user_with_keys(iam: &Iam, user: &str) -> (String, String) {
    iam_call(iam, "CreateUser", &[("UserName", user)]).await;
    let mut keys = Vec::new();
    for _ in 0..2 {
        let xml = iam_call(iam, "CreateAccessKey", &[("UserName", user)]).await;
        keys.push(crate::aws::xml::text(&xml, "AccessKeyId").unwrap().unwrap());
    }
    // The second key was already inactive before the incident.
    iam.update_access_key(user, &keys[1], "Inactive")
        .await
        .unwrap();
    (keys[0].clone(), keys[1].clone())
}

async fn key_statuses(iam: &Iam, user: &str) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = iam
        .list_access_keys(user)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.id, k.status))
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn iam_user_actions_act_and_revert_exactly() {
    let moto = Moto::start().await;
    let client = moto.client();
    let iam = Iam::new(&client).unwrap();

    // disable_access_keys, reverted by expiry on the injected clock.
    let (active, inactive) = create_user_with_keys(&iam, "alice").await;
    let before = key_statuses(&iam, "alice").await;
    let dir = TempDir::new("aws-keys");
    let (mut r, clock) = responder_for(
        &client,
        &dir,
        policy("disable_access_keys", Mode::Autonomous),
    );
    let docs = r
        .incident(&incident(
            "inc-keys",
            "aws_user",
            &user_arn("alice"),
            0.97,
            1,
        ))
        .await
        .unwrap();
    assert_eq!(last_status(&docs), "succeeded", "{docs:?}");
    for (_, status) in key_statuses(&iam, "alice").await {
        assert_eq!(status, "Inactive");
    }
    let record = r.records().next().unwrap();
    assert_eq!(record.target.id, "alice");
    assert_eq!(record.target.account.as_deref(), Some(ACCOUNT));
    assert_eq!(
        record.revert.state.as_ref().unwrap()["keys"][&active],
        "Active"
    );
    assert!(record.provider_request_id.is_some());
    clock.store(T0 + 4 * HOUR_MS - 1, Ordering::SeqCst);
    assert!(r.tick().await.unwrap().is_empty());
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    let docs = r.tick().await.unwrap();
    assert_eq!(statuses(&docs), ["expired", "reverting", "reverted"]);
    // Exactly the key that was active is active again; the other stays inactive.
    assert_eq!(key_statuses(&iam, "alice").await, before);
    assert!(before.contains(&(inactive, "Inactive".to_string())));

    // A protected user is never touched.
    let (_, _) = create_user_with_keys(&iam, "break-glass").await;
    let guarded = key_statuses(&iam, "break-glass").await;
    let docs = r
        .incident(&incident(
            "inc-bg",
            "aws_user",
            &user_arn("break-glass"),
            0.99,
            1,
        ))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["suppressed"]);
    assert_eq!(key_statuses(&iam, "break-glass").await, guarded);

    // remove_console_access: done, and said to be irreversible.
    iam_call(&iam, "CreateUser", &[("UserName", "bob")]).await;
    iam_call(
        &iam,
        "CreateLoginProfile",
        &[("UserName", "bob"), ("Password", "Correct-Horse-9")],
    )
    .await;
    assert_eq!(iam.get_login_profile("bob").await.unwrap(), Some(false));
    let dir = TempDir::new("aws-console");
    let mut p = policy("remove_console_access", Mode::Autonomous);
    p.allow_irreversible = true;
    let (mut r, _) = responder_for(&client, &dir, p);
    let docs = r
        .incident(&incident(
            "inc-console",
            "aws_user",
            &user_arn("bob"),
            0.97,
            1,
        ))
        .await
        .unwrap();
    assert_eq!(last_status(&docs), "succeeded", "{docs:?}");
    assert_eq!(iam.get_login_profile("bob").await.unwrap(), None);
    let record = r.records().next().unwrap().clone();
    assert!(!record.revert.reversible);
    assert_eq!(record.expires_at, None);
    submit(&dir, &record.id, "revert").await;
    assert!(
        r.tick().await.unwrap().is_empty(),
        "a revert of it is refused"
    );

    // attach_deny_all on a user and on a role, detached by revert.
    for (kind_arn, name) in [
        (user_arn("carol"), "carol"),
        (format!("arn:aws:iam::{ACCOUNT}:role/deploy"), "deploy"),
    ] {
        let principal = if kind_arn.contains(":role/") {
            iam_call(
                &iam,
                "CreateRole",
                &[
                    ("RoleName", name),
                    (
                        "AssumeRolePolicyDocument",
                        r#"{"Version":"2012-10-17","Statement":[]}"#,
                    ),
                ],
            )
            .await;
            Principal::Role
        } else {
            iam_call(&iam, "CreateUser", &[("UserName", name)]).await;
            Principal::User
        };
        let dir = TempDir::new("aws-deny");
        let (mut r, _) = responder_for(&client, &dir, policy("attach_deny_all", Mode::Autonomous));
        let docs = r
            .incident(&incident(
                &format!("inc-deny-{name}"),
                "aws_user",
                &kind_arn,
                0.97,
                1,
            ))
            .await
            .unwrap();
        assert_eq!(last_status(&docs), "succeeded", "{docs:?}");
        let doc = iam
            .get_inline_policy(principal, name, "pipectl-deny-all")
            .await
            .unwrap()
            .expect("the deny policy is attached");
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(doc["Statement"][0]["Effect"], "Deny");
        assert_eq!(doc["Statement"][0]["Action"], "*");
        let id = r.records().next().unwrap().id.clone();
        submit(&dir, &id, "revert").await;
        assert_eq!(last_status(&r.tick().await.unwrap()), "reverted");
        assert_eq!(
            iam.get_inline_policy(principal, name, "pipectl-deny-all")
                .await
                .unwrap(),
            None
        );
    }
}

/// Leaves a person's decision, as `pipectl actions` does.
async fn submit(dir: &TempDir, id: &str, verb: &str) {
    Journal::open(dir.path())
        .unwrap()
        .submit(&Decision {
            action_id: id.to_string(),
            verb: verb.to_string(),
            by: "soc.analyst".to_string(),
            at: T0,
            comment: None,
        })
        .unwrap();
}

fn bucket_policy(incident_id: &str, bucket: &str) -> (Value, Policy) {
    let mut doc = incident(incident_id, "aws_user", &user_arn("mallory"), 0.97, 1);
    if let Some(map) = doc.as_object_mut() {
        let mut labels = pipectl_core::value::Map::new();
        labels.push("bucket", Value::from(bucket));
        map.insert("labels", Value::Object(labels));
    }
    (doc, policy("block_public_bucket", Mode::Autonomous))
}

fn target_labels_bucket() -> pipectl_core::expr::CompiledExpr {
    pipectl_core::expr::CompiledExpr::compile(&pipectl_dsl::plan::Expr::Field(
        crate::testkit::field("labels.bucket"),
    ))
    .unwrap()
}

#[tokio::test]
async fn bucket_actions_restore_the_exact_previous_configuration() {
    let moto = Moto::start().await;
    let client = moto.client();
    let s3 = S3::new(client.clone());

    // No public access block before: after the revert there is none again.
    moto.create_bucket("open-data").await;
    assert_eq!(s3.get_public_access_block("open-data").await.unwrap(), None);
    let dir = TempDir::new("aws-pab");
    let (doc, mut p) = bucket_policy("inc-pab", "open-data");
    p.target = Some(target_labels_bucket());
    let (mut r, _) = responder_for(&client, &dir, p);
    let docs = r.incident(&doc).await.unwrap();
    assert_eq!(last_status(&docs), "succeeded", "{docs:?}");
    assert_eq!(
        s3.get_public_access_block("open-data").await.unwrap(),
        Some(PublicAccessBlock::ALL)
    );
    let id = r.records().next().unwrap().id.clone();
    submit(&dir, &id, "revert").await;
    assert_eq!(last_status(&r.tick().await.unwrap()), "reverted");
    assert_eq!(s3.get_public_access_block("open-data").await.unwrap(), None);

    // A partial configuration before: restored as it was.
    moto.create_bucket("half-open").await;
    let partial = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: false,
        block_public_policy: false,
        restrict_public_buckets: true,
    };
    s3.put_public_access_block("half-open", partial)
        .await
        .unwrap();
    let dir = TempDir::new("aws-pab2");
    let (doc, mut p) = bucket_policy("inc-pab2", "half-open");
    p.target = Some(target_labels_bucket());
    let (mut r, _) = responder_for(&client, &dir, p);
    assert_eq!(last_status(&r.incident(&doc).await.unwrap()), "succeeded");
    assert_eq!(
        s3.get_public_access_block("half-open").await.unwrap(),
        Some(PublicAccessBlock::ALL)
    );
    let id = r.records().next().unwrap().id.clone();
    submit(&dir, &id, "revert").await;
    assert_eq!(last_status(&r.tick().await.unwrap()), "reverted");
    assert_eq!(
        s3.get_public_access_block("half-open").await.unwrap(),
        Some(partial)
    );

    // A public statement removed from the policy, the rest kept; revert puts it back.
    moto.create_bucket("shared").await;
    let original = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"},
            {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}
        ]
    });
    s3.put_bucket_policy("shared", &original.to_string())
        .await
        .unwrap();
    let dir = TempDir::new("aws-policy");
    let (doc, mut p) = bucket_policy("inc-policy", "shared");
    p.action = "remove_public_bucket_policy_statement".into();
    p.target = Some(target_labels_bucket());
    let (mut r, _) = responder_for(&client, &dir, p);
    assert_eq!(last_status(&r.incident(&doc).await.unwrap()), "succeeded");
    let now: serde_json::Value =
        serde_json::from_str(&s3.get_bucket_policy("shared").await.unwrap().unwrap()).unwrap();
    let sids: Vec<&str> = now["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    assert_eq!(sids, ["Partner"]);
    let id = r.records().next().unwrap().id.clone();
    submit(&dir, &id, "revert").await;
    assert_eq!(last_status(&r.tick().await.unwrap()), "reverted");
    let restored: serde_json::Value =
        serde_json::from_str(&s3.get_bucket_policy("shared").await.unwrap().unwrap()).unwrap();
    assert_eq!(restored, original);
}

async fn run_instance(ec2: &Ec2) -> String {
    let xml = ec2
        .call(
            "RunInstances",
            &[
                ("ImageId", "ami-12c6146b"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
                ("InstanceType", "t2.micro"),
            ],
            "test set-up",
        )
        .await
        .unwrap()
        .xml;
    crate::aws::xml::text(&xml, "instanceId").unwrap().unwrap()
}

#[tokio::test]
async fn instance_actions_stop_isolate_and_terminate() {
    let moto = Moto::start().await;
    let client = moto.client();
    let ec2 = Ec2::new(&client).unwrap();

    // stop_instance, started again by revert.
    let id = run_instance(&ec2).await;
    let dir = TempDir::new("aws-stop");
    let (mut r, _) = responder_for(&client, &dir, policy("stop_instance", Mode::Autonomous));
    let docs = r
        .incident(&incident("inc-stop", "host", &id, 0.97, 1))
        .await
        .unwrap();
    assert_eq!(last_status(&docs), "succeeded", "{docs:?}");
    assert_eq!(ec2.describe_instance(&id).await.unwrap().state, "stopped");
    let action = r.records().next().unwrap().id.clone();
    submit(&dir, &action, "revert").await;
    assert_eq!(last_status(&r.tick().await.unwrap()), "reverted");
    assert_eq!(ec2.describe_instance(&id).await.unwrap().state, "running");

    // isolate_instance: every interface in the closed quarantine group, then back.
    let before = ec2.describe_instance(&id).await.unwrap();
    assert!(!before.interfaces.is_empty());
    let dir = TempDir::new("aws-isolate");
    let (mut r, _) = responder_for(&client, &dir, policy("isolate_instance", Mode::Autonomous));
    let docs = r
        .incident(&incident("inc-iso", "host", &id, 0.97, 1))
        .await
        .unwrap();
    assert_eq!(last_status(&docs), "succeeded", "{docs:?}");
    let vpc = before.vpc_id.clone().unwrap();
    let quarantine = ec2
        .find_security_group(&vpc, "pipectl-quarantine")
        .await
        .unwrap()
        .expect("the quarantine group was created");
    let isolated = ec2.describe_instance(&id).await.unwrap();
    for interface in &isolated.interfaces {
        assert_eq!(interface.groups, std::slice::from_ref(&quarantine));
    }
    let rules = ec2
        .call(
            "DescribeSecurityGroups",
            &[("GroupId.1", &quarantine)],
            "test",
        )
        .await
        .unwrap()
        .xml;
    let group = crate::aws::xml::block(&rules, "securityGroupInfo")
        .unwrap()
        .unwrap();
    for set in ["ipPermissions", "ipPermissionsEgress"] {
        let rules = crate::aws::xml::block(group, set)
            .unwrap()
            .unwrap_or_default();
        assert!(
            !rules.contains("<item>"),
            "{set} of the quarantine group: {rules}"
        );
    }
    let action = r.records().next().unwrap().id.clone();
    submit(&dir, &action, "revert").await;
    assert_eq!(last_status(&r.tick().await.unwrap()), "reverted");
    assert_eq!(
        ec2.describe_instance(&id).await.unwrap().interfaces,
        before.interfaces
    );

    // terminate_instance: refused when autonomous, done once a person approves.
    let dir = TempDir::new("aws-term");
    let (mut r, _) = responder_for(
        &client,
        &dir,
        policy("terminate_instance", Mode::Autonomous),
    );
    let docs = r
        .incident(&incident("inc-term", "host", &id, 0.99, 1))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["suppressed"]);
    assert_eq!(ec2.describe_instance(&id).await.unwrap().state, "running");
    let dir = TempDir::new("aws-term2");
    let (mut r, _) = responder_for(&client, &dir, policy("terminate_instance", Mode::Confirm));
    let docs = r
        .incident(&incident("inc-term", "host", &id, 0.99, 1))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["pending_approval"]);
    let action = r.records().next().unwrap().id.clone();
    submit(&dir, &action, "approve").await;
    assert_eq!(last_status(&r.tick().await.unwrap()), "succeeded");
    let state = ec2.describe_instance(&id).await.unwrap().state;
    assert!(
        matches!(state.as_str(), "terminated" | "shutting-down"),
        "{state}"
    );
}

/// A local server answering each request with `reply(request)` (an HTTP response
/// built by [`http`]); keeps every request (head and body) it saw.
async fn answering(
    reply: fn(&str) -> String,
) -> (reqwest::Url, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = reqwest::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            // The head, then as many body bytes as content-length says.
            let request = loop {
                let Ok(n) = socket.read(&mut buf).await else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                data.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&data).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if data.len() >= end + 4 + length {
                        break Some(text);
                    }
                }
            };
            let Some(request) = request else { continue };
            let answer = reply(&request);
            log.lock().unwrap().push(request);
            let _ = socket.write_all(answer.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (url, seen)
}

/// An HTTP/1.1 response.
fn http(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn local_client(endpoint: reqwest::Url) -> AwsClient {
    AwsClient::new(AwsSettings {
        region: "us-east-1".into(),
        endpoint: Some(endpoint),
        credentials: Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("not-a-real-secret"),
            session_token: None,
        },
    })
    .unwrap()
    .with_retry(Retry {
        attempts: 3,
        first_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    })
}

#[tokio::test]
async fn a_refusal_is_a_failed_action_naming_the_permission_never_retried() {
    let (endpoint, seen) = answering(|_| {
        http(
            "403 Forbidden",
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/pipectl is not authorized</Message></Error><RequestId>r-1</RequestId></ErrorResponse>",
        )
    })
    .await;
    let client = local_client(endpoint);
    let dir = TempDir::new("aws-403");
    let (mut r, _) = responder_for(
        &client,
        &dir,
        policy("disable_access_keys", Mode::Autonomous),
    );
    let docs = r
        .incident(&incident(
            "inc-403",
            "aws_user",
            &user_arn("alice"),
            0.97,
            1,
        ))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["failed"]);
    let record = r.records().next().unwrap();
    let error = record.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("missing permission iam:ListAccessKeys: IAM ListAccessKeys user alice: AccessDenied (HTTP 403)"),
        "{error}"
    );
    assert!(!error.contains("not-a-real-secret"));
    assert_eq!(seen.lock().unwrap().len(), 1, "a refusal is never retried");
}

#[tokio::test]
async fn throttling_is_retried_a_bounded_number_of_times_then_fails() {
    let (endpoint, seen) = answering(|_| {
        http(
            "400 Bad Request",
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-9</RequestID></Response>",
        )
    })
    .await;
    let client = local_client(endpoint);
    let dir = TempDir::new("aws-throttle");
    let (mut r, _) = responder_for(&client, &dir, policy("stop_instance", Mode::Autonomous));
    let docs = r
        .incident(&incident("inc-thr", "host", "i-0abc234", 0.97, 1))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["failed"]);
    let error = r
        .records()
        .next()
        .unwrap()
        .error
        .clone()
        .unwrap_or_default();
    assert!(error.contains("RequestLimitExceeded"), "{error}");
    assert!(!error.contains("missing permission"), "{error}");
    // local_client allows 3 attempts.
    assert_eq!(seen.lock().unwrap().len(), 3);
}

/// moto's UpdateLoginProfile erases the password when none is given (AWS keeps it), so
/// the reset is checked on the wire: the documented form, no password sent.
#[tokio::test]
async fn force_password_reset_sends_the_documented_calls_and_reverts() {
    let (endpoint, seen) = answering(|request| {
        if request.contains("Action=GetLoginProfile") {
            http("200 OK", "<GetLoginProfileResponse><GetLoginProfileResult><LoginProfile><UserName>bob</UserName><PasswordResetRequired>false</PasswordResetRequired></LoginProfile></GetLoginProfileResult><ResponseMetadata><RequestId>r-get</RequestId></ResponseMetadata></GetLoginProfileResponse>")
        } else {
            http("200 OK", "<UpdateLoginProfileResponse><ResponseMetadata><RequestId>r-update</RequestId></ResponseMetadata></UpdateLoginProfileResponse>")
        }
    })
    .await;
    let client = local_client(endpoint);
    let dir = TempDir::new("aws-reset");
    let (mut r, _) = responder_for(
        &client,
        &dir,
        policy("force_password_reset", Mode::Autonomous),
    );
    let docs = r
        .incident(&incident(
            "inc-reset",
            "aws_user",
            &user_arn("bob"),
            0.97,
            1,
        ))
        .await
        .unwrap();
    assert_eq!(last_status(&docs), "succeeded", "{docs:?}");
    let record = r.records().next().unwrap().clone();
    assert_eq!(record.provider_request_id.as_deref(), Some("r-update"));
    submit(&dir, &record.id, "revert").await;
    assert_eq!(last_status(&r.tick().await.unwrap()), "reverted");
    let requests = seen.lock().unwrap().clone();
    let bodies: Vec<&str> = requests
        .iter()
        .map(|r| r.split("\r\n\r\n").nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        bodies,
        [
            "Action=GetLoginProfile&UserName=bob&Version=2010-05-08",
            "Action=UpdateLoginProfile&PasswordResetRequired=true&UserName=bob&Version=2010-05-08",
            "Action=UpdateLoginProfile&PasswordResetRequired=false&UserName=bob&Version=2010-05-08",
        ]
    );
    for request in &requests {
        let head = request.to_ascii_lowercase();
        assert!(head.starts_with("post / http/1.1"), "{head}");
        assert!(head.contains("content-type: application/x-www-form-urlencoded"));
        assert!(head.contains("authorization: aws4-hmac-sha256 credential=akidexample/"));
        assert!(head.contains("/us-east-1/iam/aws4_request"));
    }
}

#[tokio::test]
async fn observe_mode_and_dry_run_make_no_call_at_all() {
    let (endpoint, seen) = answering(|_| http("500 Internal Server Error", "")).await;
    let client = local_client(endpoint);
    let dir = TempDir::new("aws-observe");
    let (mut r, _) = responder_for(&client, &dir, policy("disable_access_keys", Mode::Observe));
    let docs = r
        .incident(&incident(
            "inc-obs",
            "aws_user",
            &user_arn("alice"),
            0.97,
            1,
        ))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["observed"]);
    let dir = TempDir::new("aws-dry");
    let mut p = policy("isolate_instance", Mode::Autonomous);
    p.dry_run = true;
    let (mut r2, _) = responder_for(&client, &dir, p);
    let docs = r2
        .incident(&incident("inc-dry", "host", "i-0abc234", 0.97, 1))
        .await
        .unwrap();
    assert_eq!(statuses(&docs), ["observed"]);
    r.tick().await.unwrap();
    r2.tick().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        seen.lock().unwrap().is_empty(),
        "observe mode called the provider"
    );
}

#[test]
fn targets_come_from_the_incident_or_the_target_expression() {
    let actions = aws_actions(&local_client(
        reqwest::Url::parse("http://127.0.0.1:9").unwrap(),
    ));
    let doc = incident(
        "i",
        "aws_user",
        "arn:aws:iam::123456789012:user/ops/alice",
        0.9,
        1,
    );
    let t = actions.target("disable_access_keys", &doc, None).unwrap();
    assert_eq!((t.kind.as_str(), t.id.as_str()), ("aws_iam_user", "alice"));
    let role = incident(
        "i",
        "aws_user",
        "arn:aws:iam::123456789012:role/deploy",
        0.9,
        1,
    );
    assert!(actions.target("disable_access_keys", &role, None).is_err());
    let t = actions.target("attach_deny_all", &role, None).unwrap();
    assert_eq!((t.kind.as_str(), t.id.as_str()), ("aws_iam_role", "deploy"));
    let root = incident("i", "aws_user", "arn:aws:iam::123456789012:root", 0.9, 1);
    assert!(actions
        .target("attach_deny_all", &root, None)
        .unwrap_err()
        .contains("root"));
    let host = incident("i", "host", "i-0abc234", 0.9, 1);
    assert_eq!(
        actions.target("stop_instance", &host, None).unwrap().id,
        "i-0abc234"
    );
    assert!(actions.target("stop_instance", &doc, None).is_err());
    assert!(actions
        .target("stop_instance", &host, Some("web-1"))
        .is_err());
    assert!(actions.target("block_public_bucket", &doc, None).is_err());
    assert_eq!(
        actions
            .target("block_public_bucket", &doc, Some("acme-data"))
            .unwrap()
            .id,
        "acme-data"
    );
    assert!(actions
        .target("block_public_bucket", &doc, Some("Bad_Bucket"))
        .is_err());
}

#[test]
fn public_statements_are_found_in_every_principal_form() {
    let policy = r#"{"Statement":[{"Effect":"Allow","Principal":"*"},{"Effect":"Allow","Principal":{"AWS":["arn:x","*"]}},{"Effect":"Deny","Principal":"*"},{"Effect":"Allow","Principal":{"AWS":"arn:x"}}]}"#;
    let kept = without_public_statements(policy).unwrap().unwrap();
    assert_eq!(kept["Statement"].as_array().unwrap().len(), 2);
    assert_eq!(
        without_public_statements(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:x"}}}"#
        )
        .unwrap(),
        None
    );
    assert!(without_public_statements("not json").is_err());
}

#[test]
fn docs_response_md_describes_every_action_and_its_permissions() {
    let doc = include_str!("../../../../docs/response.md");
    for action in ACTIONS {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", action.name)))
            .unwrap_or_else(|| panic!("docs/response.md has no row for {}", action.name));
        for permission in action.permissions {
            let service = permission.split(':').next().unwrap_or_default();
            // `iam:*RolePolicy` stands for the role variants of the user calls.
            let named = row.contains(permission)
                || (permission.contains("RolePolicy")
                    && row.contains(&format!("{service}:*RolePolicy")));
            assert!(named, "{}: {permission} missing from its row", action.name);
        }
        match action.revert {
            Some(revert) => assert!(row.contains(revert), "{}: revert {revert}", action.name),
            None => assert!(
                row.contains("**none**"),
                "{}: say it cannot be undone",
                action.name
            ),
        }
    }
}
