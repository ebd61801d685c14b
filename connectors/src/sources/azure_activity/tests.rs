//! `source azure_activity` against a local Azure Resource Manager that keeps events
//! per subscription, pages them two at a time and checks what every request carries.

use super::super::api::client::ClientSettings;
use super::super::api::oauth::ClientCredentials;
use super::super::api::retry::RetryPolicy;
use super::super::api::testing::{
    expect_hostile_held_back, hostile_records, text, Answer, Harness, MockApi, Seen,
};
use super::*;
use crate::testkit::{build_error, plan, string, TempDir};
use pipectl_core::secrets::Secret;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SECRET: &str = "azure-client-secret~42";
const SUB: &str = "11111111-2222-3333-4444-555555555555";
const EVENTS_PATH: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/providers/Microsoft.Insights/eventtypes/management/values";

fn config(api: &MockApi, overlap: Duration) -> AzureActivityConfig {
    let mut retry = RetryPolicy::new(4);
    retry.base_backoff = Duration::from_millis(10);
    AzureActivityConfig {
        app: MicrosoftApp {
            tenant: "contoso".into(),
            api_url: api.base.clone(),
            credentials: ClientCredentials {
                token_url: Url::parse(&api.url("/contoso/oauth2/v2.0/token")).unwrap(),
                client_id: "app-1".into(),
                client_secret: Secret::new(SECRET),
                scope: "https://management.azure.com/.default".into(),
            },
        },
        subscriptions: vec![SUB.to_string()],
        initial_lookback: Duration::from_secs(3600),
        lag: Duration::ZERO,
        overlap,
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

/// A subscription's Activity Log: events `(eventDataId, time ms)`, tokens issued, and
/// answers to give event requests first (in order).
#[derive(Default)]
struct Subscription {
    events: Mutex<Vec<(String, i64)>>,
    tokens: AtomicUsize,
    failures: Mutex<Vec<Answer>>,
    /// Answer every next-page request with `503` while set.
    hold_next: std::sync::atomic::AtomicBool,
    /// Records put once into the first page of events asked for.
    hostile: Mutex<Vec<String>>,
}

impl Subscription {
    fn add(&self, id: &str, minutes_ago: i64) {
        let time = now_ms() - minutes_ago * 60_000;
        self.events.lock().unwrap().push((id.to_string(), time));
    }

    fn answer(&self, seen: &Seen) -> Answer {
        if seen.path == "/contoso/oauth2/v2.0/token" {
            let valid = seen.method == "POST"
                && seen.form("grant_type").as_deref() == Some("client_credentials")
                && seen.form("client_id").as_deref() == Some("app-1")
                && seen.form("client_secret").as_deref() == Some(SECRET)
                && seen.form("scope").as_deref() == Some("https://management.azure.com/.default");
            if !valid {
                return Answer::status(401, r#"{"error":"invalid_client"}"#);
            }
            let n = self.tokens.fetch_add(1, Ordering::SeqCst) + 1;
            return Answer::json(format!(
                r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"arm-{n}"}}"#
            ));
        }
        if !seen.authorization.starts_with("Bearer arm-") {
            return Answer::status(
                401,
                r#"{"error":{"code":"AuthenticationFailed","message":"Authentication failed."}}"#,
            );
        }
        if seen.path != EVENTS_PATH || seen.param("api-version").as_deref() != Some("2015-04-01") {
            return Answer::status(404, r#"{"error":{"code":"InvalidResourceType"}}"#);
        }
        if self.hold_next.load(Ordering::SeqCst) && seen.param("$skipToken").is_some() {
            return Answer::status(503, r#"{"error":{"code":"ServiceUnavailable"}}"#);
        }
        {
            let mut failures = self.failures.lock().unwrap();
            if !failures.is_empty() {
                return failures.remove(0);
            }
        }
        // `eventTimestamp ge '<start>' and eventTimestamp le '<end>'`
        let filter = seen.param("$filter").unwrap_or_default();
        let quoted: Vec<&str> = filter.split('\'').collect();
        let well_formed = quoted.len() == 5
            && quoted[0] == "eventTimestamp ge "
            && quoted[2] == " and eventTimestamp le ";
        let (Some(start), Some(end)) = (
            quoted.get(1).and_then(|t| parse_rfc3339(t)),
            quoted.get(3).and_then(|t| parse_rfc3339(t)),
        ) else {
            return Answer::status(400, r#"{"error":{"code":"BadRequest"}}"#);
        };
        if !well_formed {
            return Answer::status(400, r#"{"error":{"code":"BadRequest"}}"#);
        }
        // Newest first, as Azure returns them.
        let mut matching: Vec<(String, i64)> = self
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, t)| *t >= start && *t <= end)
            .cloned()
            .collect();
        matching.sort_by_key(|(_, t)| -t);
        let skip: usize = seen
            .param("$skipToken")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut page: Vec<String> = matching
            .iter()
            .skip(skip)
            .take(2)
            .map(|(id, t)| {
                format!(
                    r#"{{"eventDataId":"{id}","eventTimestamp":"{}","operationName":{{"value":"Microsoft.Compute/virtualMachines/write"}},"status":{{"value":"Succeeded"}},"subscriptionId":"{SUB}"}}"#,
                    format_rfc3339(*t)
                )
            })
            .collect();
        let hostile = std::mem::take(&mut *self.hostile.lock().unwrap());
        let at = page.len().min(1);
        page.splice(at..at, hostile);
        let next = if skip + 2 < matching.len() {
            format!(
                r#","nextLink":"{}{EVENTS_PATH}?api-version=2015-04-01&$filter={}&$skipToken={}""#,
                seen.base,
                percent_encode(&filter),
                skip + 2
            )
        } else {
            String::new()
        };
        Answer::json(format!(r#"{{"value":[{}]{next}}}"#, page.join(",")))
    }
}

async fn serve(subscription: &Arc<Subscription>) -> MockApi {
    let subscription = Arc::clone(subscription);
    MockApi::start(move |seen| subscription.answer(seen)).await
}

fn start(config: AzureActivityConfig, dir: &TempDir) -> Harness {
    let source = AzureActivitySource::new(config, dir.path().to_path_buf());
    Harness::start(|run| source.run_with(run))
}

fn event_requests(api: &MockApi) -> Vec<Seen> {
    api.seen()
        .into_iter()
        .filter(|s| s.path == EVENTS_PATH)
        .collect()
}

#[tokio::test]
async fn windows_are_paged_and_a_restart_gives_no_gap_and_no_duplicate() {
    let subscription = Arc::new(Subscription::default());
    for (id, minutes_ago) in [("a", 50), ("b", 40), ("c", 30), ("d", 20), ("e", 10)] {
        subscription.add(id, minutes_ago);
    }
    let api = serve(&subscription).await;
    let dir = TempDir::new("azure-activity-resume");
    let overlap = Duration::from_secs(15 * 60);
    let mut h = start(config(&api, overlap), &dir);
    assert_eq!(h.events(5, "eventDataId").await, ["e", "d", "c", "b", "a"]);
    // Later rounds read the overlap again and drop what they read before.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.rx.try_recv().is_err());
    h.stop().await.unwrap();

    let seen = api.seen();
    assert_eq!(seen[0].path, "/contoso/oauth2/v2.0/token");
    let first = &seen[1];
    assert_eq!(first.authorization, "Bearer arm-1");
    let filter = first.param("$filter").unwrap();
    assert!(filter.starts_with("eventTimestamp ge '20"), "{filter}");
    assert!(filter.contains("' and eventTimestamp le '20"), "{filter}");
    assert!(first.query.contains("%24filter=") || first.query.contains("$filter="));
    let requests = event_requests(&api);
    // Three pages for the first window (2 + 2 + 1), then overlapping windows.
    assert!(requests[1].param("$skipToken").as_deref() == Some("2"));
    assert!(requests[2].param("$skipToken").as_deref() == Some("4"));
    let later = requests[3].param("$filter").unwrap();
    let start_of = |f: &str| parse_rfc3339(f.split('\'').nth(1).unwrap()).unwrap();
    let end_of = |f: &str| parse_rfc3339(f.split('\'').nth(3).unwrap()).unwrap();
    // The second window starts the overlap before the end of the first.
    assert_eq!(start_of(&later), end_of(&filter) - 15 * 60_000);

    // A new event, and a late one whose time falls inside the overlap: each once after
    // the restart, and nothing read before comes again.
    subscription.add("f", 0);
    subscription.add("late", 5);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut h = start(config(&api, overlap), &dir);
    let mut got = h.events(2, "eventDataId").await;
    got.sort();
    assert_eq!(got, ["f", "late"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.rx.try_recv().is_err());
    h.stop().await.unwrap();
    assert_eq!(subscription.tokens.load(Ordering::SeqCst), 2);
    let stored = crate::checkpoint::stored_text(dir.path()).unwrap();
    assert!(stored.contains(SUB), "{stored}");
}

#[tokio::test]
async fn a_restart_mid_window_resumes_at_the_stored_next_link() {
    let subscription = Arc::new(Subscription::default());
    for (id, minutes_ago) in [("a", 30), ("b", 20), ("c", 10)] {
        subscription.add(id, minutes_ago);
    }
    subscription.hold_next.store(true, Ordering::SeqCst);
    let api = serve(&subscription).await;
    let dir = TempDir::new("azure-activity-midwindow");
    let mut h = start(config(&api, Duration::ZERO), &dir);
    // The first page, acknowledged; the second cannot be read before the stop.
    let batch = h.batch().await;
    let ids: Vec<String> = batch
        .iter()
        .map(|e| super::super::api::testing::text(e, "eventDataId"))
        .collect();
    assert_eq!(ids, ["c", "b"]);
    drop(batch);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    h.stop().await.unwrap();
    subscription.hold_next.store(false, Ordering::SeqCst);
    let before = event_requests(&api).len();
    let mut h = start(config(&api, Duration::ZERO), &dir);
    assert_eq!(h.events(1, "eventDataId").await, ["a"]);
    h.stop().await.unwrap();
    let after = event_requests(&api);
    assert!(after.len() > before);
    assert_eq!(after[before].param("$skipToken").as_deref(), Some("2"));
}

#[tokio::test]
async fn throttling_server_errors_and_a_malformed_page_lose_nothing() {
    let subscription = Arc::new(Subscription::default());
    subscription.add("a", 30);
    subscription.add("b", 20);
    subscription.add("c", 10);
    *subscription.failures.lock().unwrap() = vec![
        Answer::status(429, r#"{"error":{"code":"TooManyRequests"}}"#).header("retry-after", "1"),
        Answer::status(503, r#"{"error":{"code":"ServiceUnavailable"}}"#),
        Answer::json(r#"{"value":"not a list"}"#),
    ];
    let api = serve(&subscription).await;
    let dir = TempDir::new("azure-activity-errors");
    let mut h = start(config(&api, Duration::ZERO), &dir);
    assert_eq!(h.events(3, "eventDataId").await, ["c", "b", "a"]);
    let counters = Arc::clone(&h.counters);
    h.stop().await.unwrap();
    let requests = event_requests(&api);
    // The 429's Retry-After was honoured before the next try.
    assert!(requests[1].at.duration_since(requests[0].at) >= Duration::from_millis(990));
    // The malformed page was counted, then read again.
    assert_eq!(counters.snapshot().events_errored, 1);
}

#[test]
fn malformed_pages_are_named_plainly() {
    let reply = |body: &str| {
        Reply::new(
            reqwest::StatusCode::OK,
            reqwest::header::HeaderMap::new(),
            bytes::Bytes::from(body.to_string()),
        )
    };
    let reason = |body: &str| match read_page(&reply(body)) {
        Err(Bad::Page(reason)) => reason,
        _ => panic!("{body} was accepted"),
    };
    assert_eq!(
        reason(r#"{"value":"x"}"#),
        "`value` is a string, not an array"
    );
    assert_eq!(reason(r#"{"values":[]}"#), "the page has no `value`");
    assert_eq!(
        reason(r#"{"value":[],"nextLink":5}"#),
        "`nextLink` is an integer, not a string"
    );
    assert!(reason("<html>").starts_with("not JSON"));
    let (records, next) = read_page(&reply(r#"{"value":[{}],"nextLink":null}"#))
        .ok()
        .unwrap();
    assert_eq!((records.len(), next), (1, None));
}

#[tokio::test]
async fn a_missing_role_stops_the_source_and_names_it() {
    let subscription = Arc::new(Subscription::default());
    *subscription.failures.lock().unwrap() = vec![Answer::status(
        403,
        format!(
            r#"{{"error":{{"code":"AuthorizationFailed","message":"The client 'app-1' with object id 'x' does not have authorization to perform action 'Microsoft.Insights/eventtypes/values/read' over scope '/subscriptions/{SUB}'."}}}}"#
        ),
    )];
    let api = serve(&subscription).await;
    let dir = TempDir::new("azure-activity-403");
    let h = start(config(&api, Duration::ZERO), &dir);
    let err = h.ended().await.unwrap_err();
    assert!(err.message.contains("HTTP 403"), "{}", err.message);
    assert!(
        err.message.contains("AuthorizationFailed"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("`Monitoring Reader` role (or `Reader`)"),
        "{}",
        err.message
    );
    // One try: a refusal is not retried.
    assert_eq!(event_requests(&api).len(), 1);
}

#[tokio::test]
async fn refused_credentials_stop_the_source_without_revealing_the_secret() {
    let api = MockApi::start(|_| {
        Answer::status(
            401,
            format!(r#"{{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: {SECRET}"}}"#),
        )
    })
    .await;
    let dir = TempDir::new("azure-activity-401");
    let h = start(config(&api, Duration::ZERO), &dir);
    let err = h.ended().await.unwrap_err();
    assert!(err.message.contains("AADSTS7000215"), "{}", err.message);
    assert!(!err.message.contains(SECRET), "{}", err.message);
}

#[test]
fn the_overlap_is_read_again_only_once() {
    let record = |id: &str| crate::testkit::value(&format!(r#"{{"eventDataId":"{id}"}}"#));
    let mut cursor = Cursor::starting(0, 2);
    assert_eq!(cursor.take_new(vec![record("a"), record("b")]).len(), 2);
    assert_eq!(
        cursor.take_new(vec![record("b"), record("c")]),
        vec![record("c")]
    );
    // Records without an id cannot be recognised, and are never dropped.
    let bare = crate::testkit::value("{}");
    assert_eq!(cursor.take_new(vec![bare.clone(), bare]).len(), 2);
}

#[test]
fn configuration_is_checked() {
    let base = |subs: Vec<&str>| {
        vec![
            ("tenant_id", string("contoso.onmicrosoft.com")),
            ("client_id", string("app")),
            ("client_secret", string("s")),
            (
                "subscription_ids",
                pipectl_dsl::plan::PlanValue::List(subs.into_iter().map(string).collect()),
            ),
        ]
    };
    let p = plan(&SPEC, "a", base(vec!["../../x"]));
    assert!(build_error(&FACTORY, &p).contains("is not a subscription id"));
    let p = plan(&SPEC, "a", base(vec![]));
    assert!(build_error(&FACTORY, &p).contains("`subscription_ids` is empty"));
    let mut attrs = base(vec![SUB]);
    attrs.push((
        "initial_lookback",
        pipectl_dsl::plan::PlanValue::Duration(100 * 24 * 3600 * 1000),
    ));
    assert!(build_error(&FACTORY, &plan(&SPEC, "a", attrs)).contains("at most 90 days"));
    let mut attrs = base(vec![SUB]);
    attrs.push(("api_url", string("http://management.example")));
    assert!(build_error(&FACTORY, &plan(&SPEC, "a", attrs)).contains("https://"));
}

/// Hostile records in a page of events: held back as error records, the good ones
/// emitted once, and a restart reads nothing again.
#[tokio::test]
async fn hostile_records_are_held_back_and_passed() {
    let subscription = Arc::new(Subscription::default());
    for (id, minutes_ago) in [("a", 30), ("b", 20), ("c", 10)] {
        subscription.add(id, minutes_ago);
    }
    *subscription.hostile.lock().unwrap() = hostile_records("eventDataId").to_vec();
    let api = serve(&subscription).await;
    let dir = TempDir::new("azure-activity-hostile");
    let mut h = start(config(&api, Duration::ZERO), &dir);
    expect_hostile_held_back(&mut h, |e| text(e, "eventDataId"), &["c", "b", "a"]).await;
    h.stop().await.unwrap();

    let before = api.seen().len();
    let mut h = start(config(&api, Duration::ZERO), &dir);
    api.request_after(before, EVENTS_PATH).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.rx.try_recv().is_err());
    h.stop().await.unwrap();
}
