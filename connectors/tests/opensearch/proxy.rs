//! A loopback proxy in front of the real node that plays an overloaded cluster: it
//! answers 429 to a share of `_bulk` requests without forwarding them, and rewrites a
//! share of the items of forwarded ones to 429 `es_rejected_execution_exception`
//! (those documents were in fact indexed: a retry must overwrite, not duplicate).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request as HttpRequest, Response};
use hyper_util::rt::TokioIo;

use pipectl_connectors::sinks::opensearch::client::{Client, Method, Request};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// What the proxy did.
#[derive(Default)]
pub struct Stats {
    pub bulk_requests: AtomicU64,
    pub rejected_requests: AtomicU64,
    pub rejected_items: AtomicU64,
    items_seen: AtomicU64,
}

/// Every `request_every`-th bulk request gets a 429; every `item_every`-th item of the
/// others is turned into a 429.
pub struct Throttler {
    pub request_every: u64,
    pub item_every: u64,
}

/// Starts the proxy on 127.0.0.1:0; returns its URL and its statistics. It runs until
/// the test's runtime ends.
pub async fn start(upstream: Client, throttler: Throttler) -> (String, Arc<Stats>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the proxy");
    let url = format!("http://{}", listener.local_addr().expect("proxy address"));
    let stats = Arc::new(Stats::default());
    let shared = Arc::new((upstream, throttler, Arc::clone(&stats)));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let shared = Arc::clone(&shared);
                    async move {
                        let (upstream, throttler, stats) = &*shared;
                        Ok::<_, std::convert::Infallible>(
                            handle(upstream, throttler, stats, req).await,
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, stats)
}

fn reply(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

async fn handle(
    upstream: &Client,
    throttler: &Throttler,
    stats: &Stats,
    req: HttpRequest<Incoming>,
) -> Response<Full<Bytes>> {
    let method = match *req.method() {
        hyper::Method::GET => Method::Get,
        hyper::Method::PUT => Method::Put,
        hyper::Method::POST => Method::Post,
        hyper::Method::DELETE => Method::Delete,
        _ => Method::Head,
    };
    let path = req.uri().path().to_string();
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.replace("%2C", ",").replace("%2c", ","))
        })
        .collect();
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let gzipped = req
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(400, b"unreadable body".to_vec()),
    };
    let is_bulk = path.ends_with("/_bulk");
    if is_bulk {
        let n = stats.bulk_requests.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(throttler.request_every) {
            stats.rejected_requests.fetch_add(1, Ordering::Relaxed);
            let error = json!({"error": {"type": "es_rejected_execution_exception", "reason": "rejected by the test proxy"}, "status": 429});
            return reply(429, error.to_string().into_bytes());
        }
    }
    let mut request = Request::new(method, &path);
    for (k, v) in &query {
        request = request.query(k, v.clone());
    }
    if !body.is_empty() {
        request = request.body(body, &content_type);
    }
    if gzipped {
        request = request.header("content-encoding", "gzip");
    }
    let answer = match upstream.send(request).await {
        Ok(a) => a,
        Err(e) => return reply(502, e.to_string().into_bytes()),
    };
    if !is_bulk || !answer.is_success() {
        return reply(answer.status, answer.body.to_vec());
    }
    let Ok(mut parsed) = serde_json::from_slice::<Value>(&answer.body) else {
        return reply(answer.status, answer.body.to_vec());
    };
    let mut rewrote = false;
    if let Some(items) = parsed.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            let seen = stats.items_seen.fetch_add(1, Ordering::Relaxed) + 1;
            if !seen.is_multiple_of(throttler.item_every) {
                continue;
            }
            if let Some(result) = item.as_object_mut().and_then(|o| o.values_mut().next()) {
                result["status"] = json!(429);
                result["error"] = json!({"type": "es_rejected_execution_exception", "reason": "rejected execution (test proxy)"});
                stats.rejected_items.fetch_add(1, Ordering::Relaxed);
                rewrote = true;
            }
        }
    }
    if rewrote {
        parsed["errors"] = json!(true);
    }
    reply(answer.status, parsed.to_string().into_bytes())
}
