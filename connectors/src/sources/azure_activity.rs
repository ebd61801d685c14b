//! `source azure_activity`: the Azure Monitor Activity Log of one or more
//! subscriptions, as the REST API's own `EventData` records.
//!
//! Each subscription is read in time windows: `GET
//! {api}/subscriptions/{id}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=eventTimestamp
//! ge '{start}' and eventTimestamp le '{end}'`, following `nextLink` until the window
//! is exhausted. A window ends `lag` before now, and the next one starts `overlap`
//! before the end of the last: Azure makes Activity Log events visible minutes after
//! their `eventTimestamp`, so a window read once would miss the late ones. What the
//! overlap reads again is dropped by `eventDataId` (the ids of the latest records are
//! kept in the checkpoint, so this holds across a restart). The cursor — the window
//! being read, its `nextLink`, the ids — moves only once the pages read are
//! acknowledged downstream: a restart resumes mid-window, with no gap and no duplicate.
//!
//! Tokens come from the identity platform with the client credentials grant (scope
//! `https://management.azure.com/.default`); the app's service principal needs the
//! `Monitoring Reader` role (or `Reader`) on each subscription. A `403` says so and
//! stops the source; `429` waits what `Retry-After` says, `5xx` and unreadable pages
//! are retried with backoff.
//!
//! Records are emitted unchanged; `transform normalise` with `format =
//! "azure_activity"` maps them to the schema (and reads the same records from a
//! diagnostic setting's `PT1H.json` blobs, read as files).

use super::api::client::{records_body, unless_gone, ApiClient, Auth, Bad, Forbidden, Reply};
use super::api::emit::Emitter;
use super::api::microsoft::{
    MicrosoftApp, API_URL_ATTR, CLIENT_ID_ATTR, CLIENT_SECRET_ATTR, CLOUD_ATTR, LOGIN_URL_ATTR,
    TENANT_ID_ATTR,
};
use super::api::recent::RecentIds;
use super::api::{
    defer, fetch, followed_link, join, percent_encode, poll_interval_attr, round_result,
    run_poller, PollSettings, Poller, Stop, LIMIT_ATTRS, MAX_ATTEMPTS_ATTR, REQUEST_TIMEOUT_ATTR,
};
use super::Run;
use crate::io::BatchOutput;
use crate::limits::RecordsAt;
use crate::settings::positive;
use crate::sinks::opensearch::time::{format_rfc3339, now_ms, parse_rfc3339};
use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Source, SourceContext,
};
use pipectl_core::config::Attrs;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, Url};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The catalogue entry of `source azure_activity`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "azure_activity",
    summary: "Polls the Azure Monitor Activity Log REST API of one or more subscriptions in overlapping time windows, dropping what the overlap reads again by `eventDataId`, checkpointed after acknowledgement; emits Azure's records unchanged.",
    attrs: &[
        TENANT_ID_ATTR,
        CLIENT_ID_ATTR,
        CLIENT_SECRET_ATTR,
        AttrSpec::required(
            "subscription_ids",
            AttrType::List(&AttrType::String),
            "The subscriptions whose Activity Log to read (GUIDs); the app's service principal needs `Monitoring Reader` (or `Reader`) on each.",
        ),
        AttrSpec::with_default(
            "initial_lookback",
            AttrType::Duration,
            "1h",
            "How far back the first run starts (no checkpoint yet); the Activity Log keeps 90 days.",
        ),
        AttrSpec::with_default(
            "lag",
            AttrType::Duration,
            "2m",
            "How long before now a window ends.",
        ),
        AttrSpec::with_default(
            "overlap",
            AttrType::Duration,
            "15m",
            "How far before the end of the last window the next one starts, to catch events Azure makes visible late; what it reads again is dropped by `eventDataId`.",
        ),
        AttrSpec::with_default(
            "dedup_capacity",
            AttrType::Int,
            "20000",
            "How many `eventDataId`s of the latest records each subscription remembers (in its checkpoint) to drop repeats; it must exceed the events of one `overlap`, or repeats older than that come through (duplicates, never losses).",
        ),
        CLOUD_ATTR,
        poll_interval_attr("1m"),
        REQUEST_TIMEOUT_ATTR,
        MAX_ATTEMPTS_ATTR,
        LIMIT_ATTRS[0],
        LIMIT_ATTRS[1],
        LIMIT_ATTRS[2],
        LIMIT_ATTRS[3],
        LOGIN_URL_ATTR,
        API_URL_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source azure_activity`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

/// The Activity Log API's version.
const API_VERSION: &str = "2015-04-01";

/// How far back the Activity Log goes.
const RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// The checked settings of one `source azure_activity`.
#[derive(Debug, Clone)]
pub struct AzureActivityConfig {
    pub(crate) app: MicrosoftApp,
    pub subscriptions: Vec<String>,
    pub initial_lookback: Duration,
    pub lag: Duration,
    pub overlap: Duration,
    pub dedup_capacity: usize,
    pub(crate) poll: PollSettings,
}

/// Whether text can be a subscription id (a GUID: hex digits and dashes), so it can
/// go into a path as it is.
fn is_subscription_id(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl AzureActivityConfig {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<AzureActivityConfig, BuildError> {
        let mut subscriptions = Vec::new();
        for id in attrs.strings("subscription_ids")? {
            let id = id.trim().to_ascii_lowercase();
            if !is_subscription_id(&id) {
                return Err(attrs.error(format!(
                    "attribute `subscription_ids`: `{id}` is not a subscription id (a GUID)"
                )));
            }
            if !subscriptions.contains(&id) {
                subscriptions.push(id);
            }
        }
        if subscriptions.is_empty() {
            return Err(attrs.error("attribute `subscription_ids` is empty"));
        }
        let initial_lookback = attrs.duration("initial_lookback")?;
        if initial_lookback > RETENTION {
            return Err(attrs.error(
                "attribute `initial_lookback` must be at most 90 days (the Activity Log keeps no more)",
            ));
        }
        Ok(AzureActivityConfig {
            app: MicrosoftApp::from_attrs(attrs, |cloud| cloud.management())?,
            subscriptions,
            initial_lookback,
            lag: attrs.duration("lag")?,
            overlap: attrs.duration("overlap")?,
            dedup_capacity: positive(attrs, "dedup_capacity")?,
            poll: PollSettings::from_attrs(attrs, None)?,
        })
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let config = AzureActivityConfig::from_attrs(&Attrs::new(plan, ctx))?;
    Ok(Built::Source(Box::new(AzureActivitySource {
        config,
        data_dir: ctx.data_dir.clone(),
    })))
}

/// A built `source azure_activity`.
pub struct AzureActivitySource {
    config: AzureActivityConfig,
    data_dir: PathBuf,
}

impl AzureActivitySource {
    pub fn new(config: AzureActivityConfig, data_dir: PathBuf) -> AzureActivitySource {
        AzureActivitySource { config, data_dir }
    }

    pub(crate) async fn run_with<O: BatchOutput>(self, run: Run<O>) -> Result<(), ComponentError> {
        let auth = Auth::ClientCredentials {
            credentials: self.config.app.credentials.clone(),
            cached: None,
        };
        let poll = self.config.poll.clone();
        let poller = ActivityPoller {
            config: self.config,
            cursors: BTreeMap::new(),
        };
        run_poller(poller, &poll, auth, &self.data_dir, run).await
    }
}

impl Source for AzureActivitySource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(self.run_with(Run::from_context(ctx)))
    }
}

/// Where reading of one subscription resumes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// The end of the last window read whole (the first window starts at the initial
    /// lookback instead).
    read_to: String,
    /// Whether `read_to` is the end of a window read (the next starts `overlap` before
    /// it) or the initial start (the first window starts there).
    #[serde(default)]
    started: bool,
    /// The window being read: its start and end, and the `nextLink` after the last
    /// page read.
    window: Option<(String, String)>,
    next: Option<String>,
    /// `eventDataId`s of the latest records emitted.
    seen: RecentIds,
}

impl Cursor {
    fn starting(since_ms: i64, capacity: usize) -> Cursor {
        Cursor {
            read_to: format_rfc3339(since_ms),
            started: false,
            window: None,
            next: None,
            seen: RecentIds::new(capacity),
        }
    }

    /// The records not emitted before; each one's id is remembered. Records without
    /// an `eventDataId` (which the API always sends) cannot be recognised and pass.
    fn take_new(&mut self, records: Vec<Value>) -> Vec<Value> {
        records
            .into_iter()
            .filter(|record| {
                match record
                    .as_object()
                    .and_then(|m| m.get("eventDataId"))
                    .and_then(Value::as_str)
                {
                    Some(id) => self.seen.insert(id),
                    None => true,
                }
            })
            .collect()
    }

    /// The window is read: the next one starts `overlap` before its end.
    fn close_window(&mut self) {
        if let Some((_, end)) = self.window.take() {
            self.read_to = end;
            self.started = true;
        }
        self.next = None;
    }
}

struct ActivityPoller {
    config: AzureActivityConfig,
    /// Read positions per subscription (ahead of the checkpoint while batches are in
    /// flight).
    cursors: BTreeMap<String, Cursor>,
}

impl ActivityPoller {
    fn window_url(&self, subscription: &str, start: &str, end: &str) -> Url {
        let mut url = join(
            &self.config.app.api_url,
            &format!(
                "/subscriptions/{subscription}/providers/Microsoft.Insights/eventtypes/management/values"
            ),
        );
        let filter = format!("eventTimestamp ge '{start}' and eventTimestamp le '{end}'");
        url.set_query(Some(&format!(
            "api-version={API_VERSION}&$filter={}",
            percent_encode(&filter)
        )));
        url
    }

    /// The next window, or `None` when less than a millisecond has passed since the
    /// last one ended.
    fn next_window(&self, cursor: &Cursor) -> Option<(String, String)> {
        let lag = i64::try_from(self.config.lag.as_millis()).unwrap_or(i64::MAX);
        let overlap = i64::try_from(self.config.overlap.as_millis()).unwrap_or(i64::MAX);
        let end_ms = now_ms().saturating_sub(lag);
        let read_to = parse_rfc3339(&cursor.read_to).unwrap_or(end_ms);
        if end_ms <= read_to {
            return None;
        }
        let start_ms = if cursor.started {
            read_to.saturating_sub(overlap)
        } else {
            read_to
        };
        Some((format_rfc3339(start_ms), format_rfc3339(end_ms)))
    }

    /// Reads one subscription up to `lag` before now.
    async fn poll_subscription<O: BatchOutput>(
        &self,
        subscription: &str,
        cursor: &mut Cursor,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let (start, end) = match &cursor.window {
            Some(window) => window.clone(),
            None => match self.next_window(cursor) {
                Some(window) => {
                    cursor.window = Some(window.clone());
                    window
                }
                None => return Ok(()),
            },
        };
        loop {
            let (records, next) = match &cursor.next {
                Some(next) => {
                    let url = followed_link(&self.config.app.api_url, next)?;
                    let read = unless_gone(read_page);
                    match fetch(out, client.call(Method::GET, &url, read)).await? {
                        Some(page) => page,
                        None => {
                            tracing::warn!(source = %out.name(), subscription, "Azure refused the stored nextLink (expired?); reading the window again from its start, dropping what was already emitted by eventDataId");
                            cursor.next = None;
                            continue;
                        }
                    }
                }
                None => {
                    let url = self.window_url(subscription, &start, &end);
                    fetch(out, client.call(Method::GET, &url, read_page)).await?
                }
            };
            let mut fresh = cursor.take_new(records);
            fresh.extend(out.rejected(client));
            match next {
                Some(next) => cursor.next = Some(next),
                None => cursor.close_window(),
            }
            out.emit(subscription, fresh, cursor).await?;
            if cursor.window.is_none() {
                return Ok(());
            }
        }
    }
}

impl Poller for ActivityPoller {
    async fn poll<O: BatchOutput>(
        &mut self,
        client: &mut ApiClient,
        out: &mut Emitter<O>,
    ) -> Result<(), Stop> {
        let lookback = i64::try_from(self.config.initial_lookback.as_millis()).unwrap_or(0);
        let capacity = self.config.dedup_capacity;
        let mut failed = None;
        for subscription in self.config.subscriptions.clone() {
            let mut cursor = match self.cursors.remove(&subscription) {
                Some(cursor) => cursor,
                None => match out.cursor::<Cursor>(&subscription) {
                    Some(mut cursor) => {
                        cursor.seen = std::mem::take(&mut cursor.seen).limited(capacity);
                        cursor
                    }
                    None => Cursor::starting(now_ms().saturating_sub(lookback), capacity),
                },
            };
            let result = self
                .poll_subscription(&subscription, &mut cursor, client, out)
                .await;
            self.cursors.insert(subscription, cursor);
            defer(result, &mut failed)?;
        }
        round_result(failed)
    }

    fn forbidden(_reply: &Reply) -> Forbidden {
        Forbidden::Denied(
            "the app's service principal lacks read access to the subscription's Activity Log: assign it the `Monitoring Reader` role (or `Reader`) on the subscription".into(),
        )
    }
}

/// A page: `{"value": [...], "nextLink": "..."}`.
fn read_page(reply: &Reply) -> Result<(Vec<Value>, Option<String>), Bad> {
    let body = records_body(reply, RecordsAt::Member("value"))?;
    let Value::Object(mut map) = body else {
        return Err(Bad::Page(format!(
            "expected an object with `value`, got {}",
            crate::codecs::a_or_an(body.type_name())
        )));
    };
    let next = match map.get("nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(link)) if link.is_empty() => None,
        Some(Value::String(link)) => Some(link.to_string()),
        Some(other) => {
            return Err(Bad::Page(format!(
                "`nextLink` is {}, not a string",
                crate::codecs::a_or_an(other.type_name())
            )))
        }
    };
    match map.remove("value") {
        Some(Value::Array(records)) => Ok((records, next)),
        Some(other) => Err(Bad::Page(format!(
            "`value` is {}, not an array",
            crate::codecs::a_or_an(other.type_name())
        ))),
        None => Err(Bad::Page("the page has no `value`".into())),
    }
}

#[cfg(test)]
mod tests;
