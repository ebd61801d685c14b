//! `source box` against a local server that answers like Box: the client
//! credentials grant, `/2.0/events` paged by stream position, streaming repeats,
//! throttling and failures.

use super::super::api::client::ClientSettings;
use super::super::api::retry::RetryPolicy;
use super::super::api::testing::{
    expect_hostile_held_back, hostile_records, text, Answer, Harness, MockApi, Seen,
};
use super::*;
use crate::testkit::{build_error, plan, string, TempDir};
use pipectl_dsl::plan::PlanValue;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SECRET: &str = "box-S3cret-value";
const ENTERPRISE: &str = "1234567";

/// An enterprise's event log: event `n` has id `e{n}` and stream position `n`.
#[derive(Default)]
struct Enterprise {
    events: AtomicUsize,
    tokens: AtomicUsize,
    /// Tokens the API no longer accepts.
    expired: Mutex<Vec<String>>,
    /// Answers given instead of the next event pages, last first.
    failures: Mutex<Vec<Answer>>,
    /// Streaming's at-least-once delivery: every page starts one event early...
    repeat: AtomicBool,
    /// ... but not before the position `now` gave.
    floor: AtomicUsize,
    /// Entries put once into the first page of events asked for.
    hostile: Mutex<Vec<String>>,
}

impl Enterprise {
    fn answer(&self, seen: &Seen) -> Answer {
        if seen.path == "/oauth2/token" {
            let valid = seen.method == "POST"
                && seen.form("grant_type").as_deref() == Some("client_credentials")
                && seen.form("client_id").as_deref() == Some("app-1")
                && seen.form("client_secret").as_deref() == Some(SECRET)
                && seen.form("box_subject_type").as_deref() == Some("enterprise")
                && seen.form("box_subject_id").as_deref() == Some(ENTERPRISE);
            if !valid {
                return Answer::status(
                    400,
                    r#"{"error":"invalid_client","error_description":"The client credentials are invalid"}"#,
                );
            }
            let n = self.tokens.fetch_add(1, Ordering::SeqCst) + 1;
            return Answer::json(format!(
                r#"{{"access_token":"tok-{n}","expires_in":4169,"restricted_to":[],"token_type":"bearer"}}"#
            ));
        }
        let token = seen.authorization.trim_start_matches("Bearer ").to_string();
        if !token.starts_with("tok-") || self.expired.lock().unwrap().contains(&token) {
            return Answer::status(401, "");
        }
        if let Some(failure) = self.failures.lock().unwrap().pop() {
            return failure;
        }
        let total = self.events.load(Ordering::SeqCst);
        let limit: usize = seen
            .param("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(100);
        let start: usize = match seen.param("stream_position").as_deref() {
            Some("now") => {
                self.floor.store(total, Ordering::SeqCst);
                return Answer::json(format!(
                    r#"{{"chunk_size":0,"next_stream_position":"{total}","entries":[]}}"#
                ));
            }
            Some(position) => position.parse().unwrap_or(0),
            None => 0,
        };
        let start = if self.repeat.load(Ordering::SeqCst) {
            start
                .saturating_sub(1)
                .max(self.floor.load(Ordering::SeqCst))
        } else {
            start
        };
        let end = (start + limit).min(total);
        if start >= end {
            return Answer::json(r#"{"chunk_size":0,"next_stream_position":"0","entries":[]}"#);
        }
        let mut entries: Vec<String> = (start..end)
            .map(|n| {
                format!(
                    r#"{{"source":null,"created_by":{{"type":"user","id":"2","login":"a@example.com"}},"created_at":"2026-11-28T08:00:{:02}-08:00","event_id":"e{n}","event_type":"LOGIN","ip_address":"10.0.0.{n}","type":"event","session_id":null,"additional_details":null}}"#,
                    n % 60
                )
            })
            .collect();
        let hostile = std::mem::take(&mut *self.hostile.lock().unwrap());
        let at = entries.len().min(1);
        entries.splice(at..at, hostile);
        Answer::json(format!(
            r#"{{"chunk_size":{},"next_stream_position":"{end}","entries":[{}]}}"#,
            end - start,
            entries.join(",")
        ))
    }
}

fn config(api: &MockApi, stream_type: StreamType) -> BoxConfig {
    let mut retry = RetryPolicy::new(4);
    retry.base_backoff = Duration::from_millis(10);
    BoxConfig {
        api_url: api.base.clone(),
        client_id: "app-1".into(),
        client_secret: Secret::new(SECRET),
        enterprise_id: ENTERPRISE.into(),
        stream_type,
        event_types: Vec::new(),
        initial_lookback: Duration::from_secs(3600),
        limit: 2,
        dedup_capacity: 100,
        poll: PollSettings {
            poll_interval: Duration::from_millis(50),
            client: ClientSettings {
                timeout: Duration::from_secs(5),
                retry,
                pace: None,
                limits: crate::limits::InputLimits::default(),
                max_response_size: crate::sources::api::client::DEFAULT_MAX_RESPONSE_SIZE,
            },
        },
    }
}

async fn serve(enterprise: &Arc<Enterprise>) -> MockApi {
    let enterprise = Arc::clone(enterprise);
    MockApi::start(move |seen| enterprise.answer(seen)).await
}

fn start(config: BoxConfig, dir: &TempDir) -> Harness {
    let source = BoxSource::new(config, dir.path().to_path_buf());
    Harness::start(|run| source.run_with(run))
}

fn event_requests(api: &MockApi) -> Vec<Seen> {
    api.seen()
        .into_iter()
        .filter(|s| s.path == "/2.0/events")
        .collect()
}

/// Waits until the server has seen `n` event requests.
async fn requests_reach(api: &MockApi, n: usize) {
    for _ in 0..200 {
        if event_requests(api).len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the source made fewer than {n} event requests");
}

fn checkpoint(dir: &TempDir) -> serde_json::Value {
    let text = crate::checkpoint::stored_text(dir.path()).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

#[tokio::test]
async fn admin_logs_are_paged_from_the_lookback_and_resumed_after_restart() {
    let enterprise = Arc::new(Enterprise::default());
    enterprise.events.store(5, Ordering::SeqCst);
    let api = serve(&enterprise).await;
    let dir = TempDir::new("box-admin-logs");
    let mut settings = config(&api, StreamType::AdminLogs);
    settings.event_types = vec!["LOGIN".into(), "DOWNLOAD".into()];
    let mut h = start(settings, &dir);
    assert_eq!(
        h.events(5, "event_id").await,
        ["e0", "e1", "e2", "e3", "e4"]
    );
    // Caught up: the empty page ends the round and does not move the position.
    requests_reach(&api, 4).await;
    h.stop().await.unwrap();

    let seen = api.seen();
    assert_eq!(seen[0].path, "/oauth2/token");
    let first = &event_requests(&api)[0];
    assert_eq!(first.authorization, "Bearer tok-1");
    assert_eq!(first.param("stream_type").as_deref(), Some("admin_logs"));
    assert_eq!(first.param("limit").as_deref(), Some("2"));
    assert_eq!(first.param("stream_position"), None);
    assert_eq!(first.param("event_type").as_deref(), Some("LOGIN,DOWNLOAD"));
    let created_after = first.param("created_after").unwrap();
    assert!(created_after.ends_with("+00:00"), "{created_after}");
    let second = &event_requests(&api)[1];
    assert_eq!(second.param("stream_position").as_deref(), Some("2"));
    // Box's SDKs repeat the query's lower bound with every position.
    assert_eq!(second.param("created_after"), Some(created_after.clone()));
    assert_eq!(
        checkpoint(&dir)["streams"]["admin_logs"]["position"],
        serde_json::json!("5")
    );

    // New events after a restart: from the checkpointed position, none twice.
    enterprise.events.store(7, Ordering::SeqCst);
    let before = event_requests(&api).len();
    let mut h = start(config(&api, StreamType::AdminLogs), &dir);
    assert_eq!(h.events(2, "event_id").await, ["e5", "e6"]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(h.rx.try_recv().is_err());
    h.stop().await.unwrap();
    let resumed = &event_requests(&api)[before];
    assert_eq!(resumed.param("stream_position").as_deref(), Some("5"));
    assert_eq!(resumed.param("created_after"), Some(created_after));
}

/// Hostile entries in a page: held back as error records, the good ones emitted once,
/// the position checkpointed past them.
#[tokio::test]
async fn hostile_records_are_held_back_and_passed() {
    let enterprise = Arc::new(Enterprise::default());
    enterprise.events.store(3, Ordering::SeqCst);
    *enterprise.hostile.lock().unwrap() = hostile_records("event_id").to_vec();
    let api = serve(&enterprise).await;
    let dir = TempDir::new("box-hostile");
    let mut h = start(config(&api, StreamType::AdminLogs), &dir);
    expect_hostile_held_back(&mut h, |e| text(e, "event_id"), &["e0", "e1", "e2"]).await;
    requests_reach(&api, 3).await;
    h.stop().await.unwrap();
    assert_eq!(
        checkpoint(&dir)["streams"]["admin_logs"]["position"],
        serde_json::json!("3")
    );
}

#[tokio::test]
async fn the_first_start_is_kept_before_any_event() {
    let enterprise = Arc::new(Enterprise::default());
    let api = serve(&enterprise).await;
    let dir = TempDir::new("box-first-start");
    let h = start(config(&api, StreamType::AdminLogs), &dir);
    requests_reach(&api, 1).await;
    h.stop().await.unwrap();
    let created_after = event_requests(&api)[0].param("created_after").unwrap();
    let stored = checkpoint(&dir);
    assert_eq!(
        stored["streams"]["admin_logs"]["created_after"],
        serde_json::json!(created_after)
    );
    // Box's empty answer (position `0`) was not taken as a position.
    assert!(stored["streams"]["admin_logs"]["position"].is_null());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let h = start(config(&api, StreamType::AdminLogs), &dir);
    let before = event_requests(&api).len();
    requests_reach(&api, before + 1).await;
    h.stop().await.unwrap();
    assert_eq!(
        event_requests(&api)[before].param("created_after"),
        Some(created_after)
    );
}

#[tokio::test]
async fn streaming_starts_now_and_drops_repeats_across_a_restart() {
    let enterprise = Arc::new(Enterprise::default());
    enterprise.events.store(3, Ordering::SeqCst);
    enterprise.repeat.store(true, Ordering::SeqCst);
    let api = serve(&enterprise).await;
    let dir = TempDir::new("box-streaming");
    let mut h = start(config(&api, StreamType::AdminLogsStreaming), &dir);
    // The first run starts at the present: the three old events are not read.
    requests_reach(&api, 1).await;
    let first = &event_requests(&api)[0];
    assert_eq!(first.param("stream_position").as_deref(), Some("now"));
    assert_eq!(first.param("created_after"), None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    enterprise.events.store(8, Ordering::SeqCst);
    // Every page repeats the event before it; each event still comes once.
    assert_eq!(
        h.events(5, "event_id").await,
        ["e3", "e4", "e5", "e6", "e7"]
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(h.rx.try_recv().is_err());
    h.stop().await.unwrap();
    let stored = checkpoint(&dir);
    assert_eq!(
        stored["streams"]["admin_logs_streaming"]["position"],
        serde_json::json!("8")
    );
    assert!(stored["streams"]["admin_logs_streaming"]["recent"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("e7")));

    // After a restart Box sends e7 again: the checkpointed ids drop it.
    let before = event_requests(&api).len();
    enterprise.events.store(9, Ordering::SeqCst);
    let mut h = start(config(&api, StreamType::AdminLogsStreaming), &dir);
    assert_eq!(h.events(1, "event_id").await, ["e8"]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(h.rx.try_recv().is_err());
    h.stop().await.unwrap();
    assert_eq!(
        event_requests(&api)[before]
            .param("stream_position")
            .as_deref(),
        Some("8")
    );
}

#[tokio::test]
async fn throttling_server_errors_and_a_bad_page_lose_nothing() {
    let enterprise = Arc::new(Enterprise::default());
    enterprise.events.store(3, Ordering::SeqCst);
    *enterprise.failures.lock().unwrap() = vec![
        Answer::json(r#"{"chunk_size":1,"entries":{"oops":true}}"#),
        Answer::status(
            500,
            r#"{"type":"error","status":500,"code":"internal_server_error"}"#,
        ),
        Answer::status(
            429,
            r#"{"type":"error","status":429,"code":"rate_limit_exceeded"}"#,
        )
        .header("retry-after", "1"),
    ];
    let api = serve(&enterprise).await;
    let dir = TempDir::new("box-errors");
    let mut h = start(config(&api, StreamType::AdminLogs), &dir);
    assert_eq!(h.events(3, "event_id").await, ["e0", "e1", "e2"]);
    let counters = Arc::clone(&h.counters);
    h.stop().await.unwrap();
    let requests = event_requests(&api);
    assert!(requests.len() >= 5, "{}", requests.len());
    // The 429's Retry-After was honoured before the next try.
    assert!(requests[1].at.duration_since(requests[0].at) >= Duration::from_millis(990));
    // Every failed try asked for the same first page.
    assert!(requests[..4]
        .iter()
        .all(|r| r.param("stream_position").is_none()));
    // The unreadable page was counted, then read again.
    assert_eq!(counters.snapshot().events_errored, 1);
}

#[tokio::test]
async fn an_expired_token_is_fetched_again_once() {
    let enterprise = Arc::new(Enterprise::default());
    enterprise.events.store(1, Ordering::SeqCst);
    enterprise.expired.lock().unwrap().push("tok-1".into());
    let api = serve(&enterprise).await;
    let dir = TempDir::new("box-expired");
    let mut h = start(config(&api, StreamType::AdminLogs), &dir);
    assert_eq!(h.events(1, "event_id").await, ["e0"]);
    h.stop().await.unwrap();
    assert_eq!(enterprise.tokens.load(Ordering::SeqCst), 2);
    let requests = event_requests(&api);
    assert_eq!(requests[0].authorization, "Bearer tok-1");
    assert_eq!(requests[1].authorization, "Bearer tok-2");
}

#[tokio::test]
async fn refused_credentials_say_what_to_check_without_the_secret() {
    let api = MockApi::start(|_| {
        Answer::status(
            400,
            format!(r#"{{"error":"invalid_client","error_description":"bad secret {SECRET}"}}"#),
        )
    })
    .await;
    let dir = TempDir::new("box-refused");
    let h = start(config(&api, StreamType::AdminLogs), &dir);
    let err = h.ended().await.unwrap_err();
    assert!(
        err.message.contains("token request POST http://127.0.0.1"),
        "{}",
        err.message
    );
    assert!(err.message.contains("enterprise_id"), "{}", err.message);
    assert!(
        err.message.contains("Platform Apps Manager"),
        "{}",
        err.message
    );
    assert!(!err.message.contains(SECRET), "{}", err.message);
}

#[tokio::test]
async fn a_missing_scope_names_the_one_to_grant() {
    let enterprise = Arc::new(Enterprise::default());
    enterprise
        .failures
        .lock()
        .unwrap()
        .push(Answer::status(403, "").header(
            "www-authenticate",
            r#"Bearer realm="Service", error="insufficient_scope""#,
        ));
    let api = serve(&enterprise).await;
    let dir = TempDir::new("box-scope");
    let h = start(config(&api, StreamType::AdminLogs), &dir);
    let err = h.ended().await.unwrap_err();
    assert!(err.message.contains("HTTP 403"), "{}", err.message);
    assert!(
        err.message.contains("Manage enterprise properties"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn the_position_moves_only_after_acknowledgement() {
    let enterprise = Arc::new(Enterprise::default());
    enterprise.events.store(1, Ordering::SeqCst);
    let api = serve(&enterprise).await;
    let dir = TempDir::new("box-unacked");
    let mut h = start(config(&api, StreamType::AdminLogs), &dir);
    let batch = h.batch().await;
    // Held, not acknowledged: the checkpoint does not move past it.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(checkpoint(&dir)["streams"]["admin_logs"]["position"].is_null());
    batch.iter().for_each(|e| e.fail_delivery());
    drop(batch);
    h.stop().await.unwrap();
    // Refused downstream: read again after a restart, then committed.
    let mut h = start(config(&api, StreamType::AdminLogs), &dir);
    assert_eq!(h.events(1, "event_id").await, ["e0"]);
    h.stop().await.unwrap();
    assert_eq!(
        checkpoint(&dir)["streams"]["admin_logs"]["position"],
        serde_json::json!("1")
    );
}

#[test]
fn pages_are_checked() {
    let reply = |body: &str| {
        Reply::new(
            reqwest::StatusCode::OK,
            Default::default(),
            bytes::Bytes::from(body.to_string()),
        )
    };
    let page = read_page(&reply(
        r#"{"chunk_size":1,"next_stream_position":1152922976252290886,"entries":[{"event_id":"x"}]}"#,
    ))
    .ok()
    .unwrap();
    assert_eq!(page.next.as_deref(), Some("1152922976252290886"));
    let empty = read_page(&reply(
        r#"{"chunk_size":0,"next_stream_position":"77","entries":[]}"#,
    ))
    .ok()
    .unwrap();
    assert_eq!(
        (empty.next, empty.empty_position.as_deref()),
        (None, Some("77"))
    );
    for bad in [
        r#"[]"#,
        r#"{"chunk_size":0}"#,
        r#"{"entries":[{"event_id":"x"}]}"#,
        r#"{"next_stream_position":1.5,"entries":[]}"#,
    ] {
        assert!(matches!(read_page(&reply(bad)), Err(Bad::Page(_))), "{bad}");
    }
}

#[test]
fn configuration_is_checked() {
    let base = || {
        vec![
            ("client_id", string("app")),
            ("client_secret", string("s")),
            ("enterprise_id", string(ENTERPRISE)),
        ]
    };
    let mut attrs = base();
    attrs[2] = ("enterprise_id", string("acme"));
    assert!(build_error(&FACTORY, &plan(&SPEC, "b", attrs)).contains("not a Box enterprise ID"));
    let mut attrs = base();
    attrs.push(("limit", PlanValue::Int(501)));
    assert!(build_error(&FACTORY, &plan(&SPEC, "b", attrs)).contains("at most 500"));
    let mut attrs = base();
    attrs.push(("api_url", string("http://api.box.example")));
    assert!(build_error(&FACTORY, &plan(&SPEC, "b", attrs)).contains("https://"));
    let mut attrs = base();
    attrs.push((
        "event_types",
        PlanValue::List(vec![string("LOGIN,DOWNLOAD")]),
    ));
    assert!(build_error(&FACTORY, &plan(&SPEC, "b", attrs)).contains("not a Box event type"));
}
