//! `source dropbox` against a local server that answers like Dropbox: the refresh
//! token grant, `team_log/get_events` and `/continue` with cursors, `has_more`
//! without events, cursor resets, throttling and failures.

use super::super::api::client::ClientSettings;
use super::super::api::retry::RetryPolicy;
use super::super::api::testing::{
    expect_hostile_held_back, hostile_records, Answer, Harness, MockApi, Seen,
};
use super::*;
use crate::testkit::{build_error, plan, string, value, TempDir};
use pipectl_dsl::plan::PlanValue;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SECRET: &str = "dbx-App-S3cret";
const REFRESH: &str = "dbx-Refresh-T0ken";

/// A team's activity log: event `n` happened at `times[n]`. Cursors are
/// `{epoch}:{index}`; a new epoch resets every older cursor.
#[derive(Default)]
struct Team {
    times: Mutex<Vec<i64>>,
    epoch: AtomicUsize,
    tokens: AtomicUsize,
    /// Tokens the API no longer accepts.
    expired: Mutex<Vec<String>>,
    /// Answers given instead of the next log pages, last first.
    failures: Mutex<Vec<Answer>>,
    /// `/continue` pages with `has_more` but no events still to give.
    empty_pages: AtomicUsize,
    /// "Now" for the test, on a whole second (Dropbox's times have no fractions).
    now: std::sync::OnceLock<i64>,
    /// Events put once into the first page of the log asked for.
    hostile: Mutex<Vec<String>>,
}

fn team_event(n: usize, ms: i64, reordered: bool) -> String {
    let time = dropbox_time(ms);
    let category = r#""event_category":{".tag":"logins"}"#;
    let kind = r#""event_type":{".tag":"login_success","description":"Signed in"}"#;
    let actor = r#""actor":{".tag":"user","user":{".tag":"team_member","email":"a@example.com"}}"#;
    let details =
        format!(r#""details":{{".tag":"login_success_details","is_emm_managed":false,"n":{n}}}"#);
    let timestamp = format!(r#""timestamp":"{time}""#);
    if reordered {
        format!("{{{details},{actor},{kind},{category},{timestamp}}}")
    } else {
        format!("{{{timestamp},{category},{kind},{actor},{details}}}")
    }
}

impl Team {
    fn add(&self, seconds_ago: i64) {
        let now = *self.now.get_or_init(|| now_ms() / 1000 * 1000);
        self.times.lock().unwrap().push(now - seconds_ago * 1000);
    }

    fn page(&self, start: usize, limit: usize) -> Answer {
        let times = self.times.lock().unwrap();
        let epoch = self.epoch.load(Ordering::SeqCst);
        let end = (start + limit).min(times.len());
        let mut events: Vec<String> = (start..end)
            .map(|n| team_event(n, times[n], epoch > 0))
            .collect();
        let hostile = std::mem::take(&mut *self.hostile.lock().unwrap());
        events.splice(1.min(events.len())..1.min(events.len()), hostile);
        Answer::json(format!(
            r#"{{"events":[{}],"cursor":"{epoch}:{end}","has_more":{}}}"#,
            events.join(","),
            end < times.len()
        ))
    }

    fn answer(&self, seen: &Seen) -> Answer {
        if seen.path == "/oauth2/token" {
            let valid = seen.method == "POST"
                && seen.form("grant_type").as_deref() == Some("refresh_token")
                && seen.form("refresh_token").as_deref() == Some(REFRESH)
                && seen.form("client_id").as_deref() == Some("app-key")
                && seen.form("client_secret").as_deref() == Some(SECRET);
            if !valid {
                return Answer::status(
                    400,
                    r#"{"error":"invalid_grant","error_description":"refresh token is invalid or revoked"}"#,
                );
            }
            let n = self.tokens.fetch_add(1, Ordering::SeqCst) + 1;
            return Answer::json(format!(
                r#"{{"access_token":"sl.tok-{n}","token_type":"bearer","expires_in":14400}}"#
            ));
        }
        let token = seen.authorization.trim_start_matches("Bearer ").to_string();
        if !token.starts_with("sl.tok-") {
            return Answer::status(
                401,
                r#"{"error_summary":"invalid_access_token/..","error":{".tag":"invalid_access_token"}}"#,
            );
        }
        if self.expired.lock().unwrap().contains(&token) {
            return Answer::status(
                401,
                r#"{"error_summary":"expired_access_token/","error":{".tag":"expired_access_token"}}"#,
            );
        }
        if let Some(failure) = self.failures.lock().unwrap().pop() {
            return failure;
        }
        let Ok(body) = serde_json::from_str::<serde_json::Value>(&seen.body) else {
            return Answer::status(
                400,
                "Error in call to API function: request body: could not decode input as JSON",
            );
        };
        match seen.path.as_str() {
            "/2/team_log/get_events" => {
                let limit = body["limit"].as_u64().unwrap_or(1000) as usize;
                let Some(start) = body["time"]["start_time"].as_str().and_then(parse_rfc3339)
                else {
                    return Answer::status(400, "Error in call to API function: bad time");
                };
                let first = self
                    .times
                    .lock()
                    .unwrap()
                    .iter()
                    .position(|t| *t >= start)
                    .unwrap_or(usize::MAX);
                let len = self.times.lock().unwrap().len();
                self.page(first.min(len), limit)
            }
            "/2/team_log/get_events/continue" => {
                let cursor = body["cursor"].as_str().unwrap_or_default();
                let (epoch, index) = cursor.split_once(':').unwrap_or(("x", "0"));
                if epoch != self.epoch.load(Ordering::SeqCst).to_string() {
                    let times = self.times.lock().unwrap();
                    return Answer::status(
                        409,
                        format!(
                            r#"{{"error_summary":"reset/..","error":{{".tag":"reset","reset":"{}"}}}}"#,
                            dropbox_time(times.last().copied().unwrap_or(0))
                        ),
                    );
                }
                let index: usize = index.parse().unwrap_or(0);
                if self.empty_pages.load(Ordering::SeqCst) > 0 {
                    self.empty_pages.fetch_sub(1, Ordering::SeqCst);
                    return Answer::json(format!(
                        r#"{{"events":[],"cursor":"{epoch}:{index}","has_more":true}}"#
                    ));
                }
                self.page(index, 2)
            }
            _ => Answer::status(404, "not found"),
        }
    }
}

fn config(api: &MockApi, poll_interval: Duration) -> DropboxConfig {
    let mut retry = RetryPolicy::new(4);
    retry.base_backoff = Duration::from_millis(10);
    DropboxConfig {
        api_url: api.base.clone(),
        login_url: api.base.clone(),
        client_id: "app-key".into(),
        client_secret: Secret::new(SECRET),
        refresh_token: Secret::new(REFRESH),
        category: None,
        initial_lookback: Duration::from_secs(3600),
        limit: 2,
        dedup_capacity: 100,
        poll: PollSettings {
            poll_interval,
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

async fn serve(team: &Arc<Team>) -> MockApi {
    let team = Arc::clone(team);
    MockApi::start(move |seen| team.answer(seen)).await
}

fn start(config: DropboxConfig, dir: &TempDir) -> Harness {
    let source = DropboxSource::new(config, dir.path().to_path_buf());
    Harness::start(|run| source.run_with(run))
}

fn log_requests(api: &MockApi) -> Vec<Seen> {
    api.seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/2/team_log/"))
        .collect()
}

fn body(seen: &Seen) -> serde_json::Value {
    serde_json::from_str(&seen.body).unwrap()
}

/// `details.n` of each event.
async fn numbers(h: &mut Harness, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    while out.len() < n {
        let batch = h.batch().await;
        out.extend(batch.iter().map(|e| {
            e.value
                .as_object()
                .and_then(|m| m.get("details"))
                .and_then(Value::as_object)
                .and_then(|d| d.get("n"))
                .and_then(Value::as_i64)
                .unwrap_or(-1)
        }));
    }
    out
}

fn checkpoint(dir: &TempDir) -> serde_json::Value {
    let text = crate::checkpoint::stored_text(dir.path()).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

#[tokio::test]
async fn pages_continue_through_empty_ones_and_resume_after_restart() {
    let team = Arc::new(Team::default());
    for ago in [600, 500, 400, 300, 200] {
        team.add(ago);
    }
    // Dropbox is still scanning: three pages say "more" but hold nothing.
    team.empty_pages.store(3, Ordering::SeqCst);
    let api = serve(&team).await;
    let dir = TempDir::new("dropbox-pages");
    let mut h = start(config(&api, Duration::from_millis(50)), &dir);
    assert_eq!(numbers(&mut h, 5).await, [0, 1, 2, 3, 4]);
    h.stop().await.unwrap();

    let seen = api.seen();
    assert_eq!(seen[0].path, "/oauth2/token");
    let requests = log_requests(&api);
    assert_eq!(requests[0].path, "/2/team_log/get_events");
    assert_eq!(requests[0].authorization, "Bearer sl.tok-1");
    let first = body(&requests[0]);
    assert_eq!(first["limit"], 2);
    assert!(first.get("category").is_none());
    let start_time = first["time"]["start_time"].as_str().unwrap();
    assert!(
        start_time.len() == 20 && start_time.ends_with('Z'),
        "{start_time}"
    );
    assert_eq!(requests[1].path, "/2/team_log/get_events/continue");
    assert_eq!(body(&requests[1])["cursor"], "0:2");
    assert_eq!(
        checkpoint(&dir)["streams"]["team_log"]["cursor"],
        serde_json::json!("0:5")
    );

    // Caught up, the cursor is kept: after a restart the same cursor brings the new
    // events, and nothing comes twice.
    team.add(100);
    team.add(50);
    let before = log_requests(&api).len();
    let mut h = start(config(&api, Duration::from_millis(50)), &dir);
    assert_eq!(numbers(&mut h, 2).await, [5, 6]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(h.rx.try_recv().is_err());
    h.stop().await.unwrap();
    let resumed = &log_requests(&api)[before];
    assert_eq!(resumed.path, "/2/team_log/get_events/continue");
    assert_eq!(body(resumed)["cursor"], "0:5");
    assert!(log_requests(&api)
        .iter()
        .skip(1)
        .all(|r| r.path.ends_with("/continue")));
}

/// Hostile events in a page: held back as error records, the good ones emitted once,
/// the cursor checkpointed past them.
#[tokio::test]
async fn hostile_records_are_held_back_and_passed() {
    let team = Arc::new(Team::default());
    for ago in [300, 200, 100] {
        team.add(ago);
    }
    *team.hostile.lock().unwrap() = hostile_records("event").to_vec();
    let api = serve(&team).await;
    let dir = TempDir::new("dropbox-hostile");
    let number = |e: &pipectl_core::event::Event| {
        let n = e.value.as_object().and_then(|m| m.get("details"));
        let n = n.and_then(Value::as_object).and_then(|d| d.get("n"));
        n.and_then(Value::as_i64).unwrap_or(-1).to_string()
    };
    let mut h = start(config(&api, Duration::from_millis(50)), &dir);
    expect_hostile_held_back(&mut h, number, &["0", "1", "2"]).await;
    h.stop().await.unwrap();
    assert_eq!(
        checkpoint(&dir)["streams"]["team_log"]["cursor"],
        serde_json::json!("0:3")
    );
}

#[tokio::test]
async fn a_reset_cursor_restarts_a_little_before_the_newest_event_without_repeats() {
    let team = Arc::new(Team::default());
    for ago in [1200, 900, 600, 300] {
        team.add(ago);
    }
    let api = serve(&team).await;
    let dir = TempDir::new("dropbox-reset");
    let mut h = start(config(&api, Duration::from_millis(50)), &dir);
    assert_eq!(numbers(&mut h, 4).await, [0, 1, 2, 3]);
    h.stop().await.unwrap();
    let newest = team.times.lock().unwrap()[3];

    // Dropbox resets every cursor; two events arrive meanwhile, and the log is now
    // served with its keys in another order.
    team.epoch.store(1, Ordering::SeqCst);
    team.add(120);
    team.add(60);
    let before = log_requests(&api).len();
    let mut h = start(config(&api, Duration::from_millis(50)), &dir);
    assert_eq!(numbers(&mut h, 2).await, [4, 5]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(h.rx.try_recv().is_err());
    h.stop().await.unwrap();

    let requests = &log_requests(&api)[before..];
    assert_eq!(requests[0].path, "/2/team_log/get_events/continue");
    assert_eq!(requests[1].path, "/2/team_log/get_events");
    let restart = body(&requests[1])["time"]["start_time"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(restart, dropbox_time(newest - RESET_OVERLAP_MS));
    // e2 (10 minutes old) and e3 were read again and dropped by their digests.
    let cursor = &checkpoint(&dir)["streams"]["team_log"];
    assert_eq!(cursor["cursor"], "1:6");
    assert_eq!(cursor["recent"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn has_more_without_events_is_bounded_per_round() {
    let team = Arc::new(Team::default());
    team.add(60);
    team.empty_pages.store(1000, Ordering::SeqCst);
    let api = serve(&team).await;
    let dir = TempDir::new("dropbox-empty");
    let poll_interval = Duration::from_millis(400);
    let mut h = start(config(&api, poll_interval), &dir);
    assert_eq!(numbers(&mut h, 1).await, [0]);
    // Round one ends with the log read (`has_more` false); round two meets the
    // empty pages and gives up after a bounded run of them.
    tokio::time::sleep(Duration::from_millis(600)).await;
    h.stop().await.unwrap();
    let more: Vec<Seen> = log_requests(&api)
        .into_iter()
        .filter(|r| r.path.ends_with("/continue"))
        .collect();
    assert!(more.len() >= MAX_EMPTY_PAGES, "{}", more.len());
    assert!(more.len() < 2 * MAX_EMPTY_PAGES, "{}", more.len());
    let burst = &more[..MAX_EMPTY_PAGES];
    assert!(burst[MAX_EMPTY_PAGES - 1].at.duration_since(burst[0].at) < poll_interval);
}

#[tokio::test]
async fn throttling_server_errors_and_a_bad_page_lose_nothing() {
    let team = Arc::new(Team::default());
    for ago in [300, 200, 100] {
        team.add(ago);
    }
    *team.failures.lock().unwrap() = vec![
        Answer::json(r#"{"events":[],"has_more":false}"#),
        Answer::status(500, "Internal Server Error"),
        Answer::status(
            429,
            r#"{"error_summary":"too_many_requests/","error":{"reason":{".tag":"too_many_requests"},"retry_after":1}}"#,
        )
        .header("retry-after", "1"),
    ];
    let api = serve(&team).await;
    let dir = TempDir::new("dropbox-errors");
    let mut settings = config(&api, Duration::from_millis(50));
    settings.category = Some("logins".into());
    let mut h = start(settings, &dir);
    assert_eq!(numbers(&mut h, 3).await, [0, 1, 2]);
    let counters = Arc::clone(&h.counters);
    h.stop().await.unwrap();
    let requests = log_requests(&api);
    assert!(requests.len() >= 5, "{}", requests.len());
    // The 429's Retry-After was honoured before the next try.
    assert!(requests[1].at.duration_since(requests[0].at) >= Duration::from_millis(990));
    assert!(requests[..4]
        .iter()
        .all(|r| r.path == "/2/team_log/get_events" && body(r)["category"] == "logins"));
    // The unreadable page was counted, then read again.
    assert_eq!(counters.snapshot().events_errored, 1);
}

#[tokio::test]
async fn a_cursor_reset_again_at_once_waits_for_the_next_round() {
    let api = MockApi::start(|seen| match seen.path.as_str() {
        "/oauth2/token" => Answer::json(r#"{"access_token":"sl.t","expires_in":14400}"#),
        "/2/team_log/get_events" => Answer::json(format!(
            r#"{{"events":[{}],"cursor":"c","has_more":true}}"#,
            team_event(0, 1_790_000_000_000, false)
        )),
        _ => Answer::status(
            409,
            r#"{"error_summary":"bad_cursor/","error":{".tag":"bad_cursor"}}"#,
        ),
    })
    .await;
    let dir = TempDir::new("dropbox-reset-loop");
    let mut h = start(config(&api, Duration::from_millis(400)), &dir);
    assert_eq!(numbers(&mut h, 1).await, [0]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // One recovery per round, then the round fails and waits: no hot loop, and the
    // event read again with the new cursor is not emitted twice.
    assert_eq!(log_requests(&api).len(), 4);
    assert!(h.rx.try_recv().is_err());
    h.stop().await.unwrap();
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once() {
    let team = Arc::new(Team::default());
    team.add(60);
    team.expired.lock().unwrap().push("sl.tok-1".into());
    let api = serve(&team).await;
    let dir = TempDir::new("dropbox-expired");
    let mut h = start(config(&api, Duration::from_millis(50)), &dir);
    assert_eq!(numbers(&mut h, 1).await, [0]);
    h.stop().await.unwrap();
    assert_eq!(team.tokens.load(Ordering::SeqCst), 2);
    let requests = log_requests(&api);
    assert_eq!(requests[0].authorization, "Bearer sl.tok-1");
    assert_eq!(requests[1].authorization, "Bearer sl.tok-2");
}

#[tokio::test]
async fn a_missing_scope_names_it_and_reveals_no_secret() {
    let api = MockApi::start(|seen| {
        if seen.path == "/oauth2/token" {
            return Answer::json(r#"{"access_token":"sl.tok","token_type":"bearer","expires_in":14400}"#);
        }
        Answer::status(
            401,
            r#"{"error_summary":"missing_scope/","error":{".tag":"missing_scope","required_scope":"events.read"}}"#,
        )
    })
    .await;
    let dir = TempDir::new("dropbox-scope");
    let h = start(config(&api, Duration::from_millis(50)), &dir);
    let err = h.ended().await.unwrap_err();
    assert!(err.message.contains("HTTP 401"), "{}", err.message);
    assert!(err.message.contains("missing_scope"), "{}", err.message);
    assert!(
        err.message.contains("team scope events.read"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("sl.tok"), "{}", err.message);
}

#[tokio::test]
async fn a_refused_refresh_token_says_what_to_check_without_secrets() {
    let api = MockApi::start(|_| {
        Answer::status(
            400,
            format!(
                r#"{{"error":"invalid_grant","error_description":"bad {REFRESH} for {SECRET}"}}"#
            ),
        )
    })
    .await;
    let dir = TempDir::new("dropbox-refused");
    let h = start(config(&api, Duration::from_millis(50)), &dir);
    let err = h.ended().await.unwrap_err();
    assert!(
        err.message.contains("token request POST"),
        "{}",
        err.message
    );
    assert!(err.message.contains("refresh_token"), "{}", err.message);
    assert!(!err.message.contains(REFRESH), "{}", err.message);
    assert!(!err.message.contains(SECRET), "{}", err.message);
}

#[tokio::test]
async fn the_cursor_moves_only_after_acknowledgement() {
    let team = Arc::new(Team::default());
    team.add(60);
    let api = serve(&team).await;
    let dir = TempDir::new("dropbox-unacked");
    let mut h = start(config(&api, Duration::from_millis(50)), &dir);
    let batch = h.batch().await;
    // Held, not acknowledged: the checkpoint does not move past it.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(checkpoint(&dir)["streams"]["team_log"].is_null());
    batch.iter().for_each(|e| e.fail_delivery());
    drop(batch);
    h.stop().await.unwrap();
    // Refused downstream: read again after a restart, then committed.
    let mut h = start(config(&api, Duration::from_millis(50)), &dir);
    assert_eq!(numbers(&mut h, 1).await, [0]);
    h.stop().await.unwrap();
    assert_eq!(
        checkpoint(&dir)["streams"]["team_log"]["cursor"],
        serde_json::json!("0:1")
    );
}

#[test]
fn the_digest_ignores_key_order_but_not_content() {
    let a = value(r#"{"timestamp":"2026-11-28T08:00:00Z","details":{"x":1,"y":[true,null,1.5]}}"#);
    let b = value(r#"{"details":{"y":[true,null,1.5],"x":1},"timestamp":"2026-11-28T08:00:00Z"}"#);
    let c = value(r#"{"timestamp":"2026-11-28T08:00:00Z","details":{"x":2,"y":[true,null,1.5]}}"#);
    assert_eq!(digest(&a), digest(&b));
    assert_ne!(digest(&a), digest(&c));
    assert_eq!(digest(&a).len(), 32);
}

#[test]
fn conflicts_are_told_apart() {
    let reply = |status: u16, body: &str| {
        Reply::new(
            StatusCode::from_u16(status).unwrap(),
            Default::default(),
            bytes::Bytes::from(body.to_string()),
        )
    };
    let reset = read_continued(&reply(
        409,
        r#"{"error_summary":"reset/..","error":{".tag":"reset","reset":"2026-11-28T08:00:00Z"}}"#,
    ));
    assert!(matches!(reset, Ok(Continued::Reset(Some(at))) if at == "2026-11-28T08:00:00Z"));
    let bad = read_continued(&reply(
        409,
        r#"{"error_summary":"bad_cursor/","error":{".tag":"bad_cursor"}}"#,
    ));
    assert!(matches!(bad, Ok(Continued::Reset(None))));
    let other = read_continued(&reply(409, r#"{"error":{".tag":"other"}}"#));
    assert!(matches!(other, Err(Bad::Refused)));
    let page = read_continued(&reply(
        200,
        r#"{"events":[],"cursor":"c","has_more":false}"#,
    ));
    assert!(matches!(page, Ok(Continued::Page(p)) if p.cursor == "c" && !p.has_more));
    let no_cursor = read_continued(&reply(200, r#"{"events":[],"has_more":false}"#));
    assert!(matches!(no_cursor, Err(Bad::Page(_))));
}

#[test]
fn configuration_is_checked() {
    let base = || {
        vec![
            ("client_id", string("app")),
            ("client_secret", string("s")),
            ("refresh_token", string("r")),
        ]
    };
    let mut attrs = base();
    attrs.push(("limit", PlanValue::Int(1001)));
    assert!(build_error(&FACTORY, &plan(&SPEC, "d", attrs)).contains("at most 1000"));
    let mut attrs = base();
    attrs.push(("category", string("Logins!")));
    assert!(
        build_error(&FACTORY, &plan(&SPEC, "d", attrs)).contains("not a Dropbox event category")
    );
    let mut attrs = base();
    attrs[2] = ("refresh_token", string(""));
    assert!(build_error(&FACTORY, &plan(&SPEC, "d", attrs)).contains("`refresh_token` is empty"));
    let mut attrs = base();
    attrs.push(("login_url", string("http://api.dropbox.example")));
    assert!(build_error(&FACTORY, &plan(&SPEC, "d", attrs)).contains("https://"));
}
