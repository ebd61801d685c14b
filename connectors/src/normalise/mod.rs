//! Vendor normalisers: a provider's own record in, an ECS event of docs/schema.md §4 out.
//!
//! Each JSON vendor is a pure function `normalise(record) -> event` (Google Workspace,
//! whose activities may carry several events, `normalise_all(record) -> events`); VPC
//! flow logs and Zeek TSV logs are text lines whose meaning depends on a header line,
//! so those vendors are small stateful parsers ([`aws_vpcflow::FlowLogParser`],
//! [`zeek::ZeekParser`]). Every event gets `@timestamp` (RFC 3339 UTC), `event.kind`,
//! `event.module`, `event.dataset`, a deterministic `event.id` (schema §1), the vendor
//! record untouched under its provider namespace (`aws.cloudtrail`, `o365.audit`, ...)
//! and the entity arrays of [`pipectl_core::entity`].
//!
//! `@timestamp` is the record's own time, so that replays give the same answers. A
//! record of the vendor without a time of its own (or with one that is no time, such as
//! `redacted`) still normalises: its `@timestamp` is the time pipectl received it
//! ([`Received`], the event's ingest time), `event.ingested` holds the same time, and
//! `tags` holds [`TIME_FROM_INGEST`] so that nobody mistakes it for the vendor's time.
//! Its `event.id` does not depend on that time: without a vendor key it is over the
//! record itself (schema §1). What makes a record the vendor's is its action (CloudTrail
//! `eventName`, Okta `eventType`, ...; for Google Workspace the activity's `id`, for VPC
//! flow logs the flow fields): a record without it is an error with the reason, never a
//! guess (a CloudTrail normaliser given an Okta record). The SaaS normalisers also fill
//! `related.user` and `related.ip` from the users and addresses they set. Keys of vendor
//! records are matched exactly first and then ignoring ASCII case, because some
//! collectors and data lakes hand the same records over with lowercased keys
//! (`eventname`, `creationtime`).
//!
//! [`Normaliser`] wraps the formats for callers that hold events rather than records
//! (the `normalise` transform, the CLI's replay): it accepts a parsed record, or an
//! event whose `message` holds the record's text, and works in place so that a failed
//! event is still the input, ready for the `errors` output. One vendor record may carry
//! several events (a Google Workspace activity with several `events[]`): each becomes
//! an event of its own, the first in place and the others through
//! [`Normaliser::apply_all`], so that rules and models see one action per event.

pub mod aws_cloudtrail;
pub mod aws_route53;
pub mod aws_s3_access;
pub mod aws_vpcflow;
pub mod azure_activity;
pub mod azure_nsg_flow;
pub mod box_events;
pub mod dropbox;
pub mod entra_id;
pub mod google_workspace;
pub mod o365;
pub mod okta;
pub mod salesforce;
pub mod suricata;
pub mod windows;
pub mod zeek;

use pipectl_core::detect::sigma::hit::document_id;
use pipectl_core::detect::sigma::time::{format_rfc3339, parse_rfc3339};
use pipectl_core::value::{Map, Value};
use std::net::IpAddr;

/// Why a record could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format}: {reason}")]
pub struct NormaliseError {
    /// The format's name (`aws_cloudtrail`, ...).
    pub format: &'static str,
    /// What was wrong, for a person reading the `errors` output.
    pub reason: String,
}

impl NormaliseError {
    pub(crate) fn new(format: Format, reason: impl Into<String>) -> NormaliseError {
        NormaliseError {
            format: format.name(),
            reason: reason.into(),
        }
    }
}

/// The vendor formats there is a normaliser for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    AwsCloudtrail,
    AwsVpcflow,
    AzureActivity,
    AzureNsgFlow,
    O365,
    Okta,
    EntraId,
    GoogleWorkspace,
    Salesforce,
    Box,
    Dropbox,
    Zeek,
    Suricata,
    AwsS3Access,
}

impl Format {
    /// Every format, in the order the transform's documentation lists them.
    pub const ALL: [Format; 14] = [
        Format::AwsCloudtrail,
        Format::AwsVpcflow,
        Format::AzureActivity,
        Format::AzureNsgFlow,
        Format::O365,
        Format::Okta,
        Format::EntraId,
        Format::GoogleWorkspace,
        Format::Salesforce,
        Format::Box,
        Format::Dropbox,
        Format::Zeek,
        Format::Suricata,
        Format::AwsS3Access,
    ];

    /// The format of a pipeline's `format = "..."`.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The name pipelines use.
    pub fn name(self) -> &'static str {
        match self {
            Format::AwsCloudtrail => "aws_cloudtrail",
            Format::AwsVpcflow => "aws_vpcflow",
            Format::AzureActivity => "azure_activity",
            Format::AzureNsgFlow => "azure_nsg_flow",
            Format::O365 => "o365",
            Format::Okta => "okta",
            Format::EntraId => "entra_id",
            Format::GoogleWorkspace => "google_workspace",
            Format::Salesforce => "salesforce",
            Format::Box => "box",
            Format::Dropbox => "dropbox",
            Format::Zeek => "zeek",
            Format::Suricata => "suricata",
            Format::AwsS3Access => "aws_s3_access",
        }
    }
}

/// A normaliser of one format, for events as sources deliver them.
#[derive(Debug)]
pub enum Normaliser {
    /// A JSON vendor: its check (everything that can fail) and its build.
    Json(Format, JsonVendor),
    /// A JSON vendor whose records may carry several events: all of them, or an error.
    Split(
        Format,
        fn(&Value, Received) -> Result<Vec<Value>, NormaliseError>,
    ),
    /// VPC flow log lines (or their JSON form), with the format the last header set.
    Flow(aws_vpcflow::FlowLogParser),
    /// Zeek log lines (TSV under the last header read, or JSON) and parsed records.
    Zeek(zeek::ZeekParser),
    /// S3 server access log lines (text, or their parsed JSON form) and parsed records.
    S3Access,
    /// Azure NSG / VNet flow logs: a blob, a record or a line of a blob, one event per
    /// flow tuple.
    AzureFlow,
}

/// The two halves of a JSON vendor's `normalise`, split so that a failing record is
/// refused before it is consumed.
#[derive(Debug, Clone, Copy)]
pub struct JsonVendor {
    check: fn(&Value) -> Result<Head, NormaliseError>,
    build: fn(Value, Head, Received) -> Value,
}

/// What the check of a JSON vendor found: the action without which the record is not
/// the vendor's, and its own time when it has one.
#[derive(Debug)]
pub struct Head {
    /// The record's own time, RFC 3339 UTC; `None` when it has none or it is no time
    /// (the event then takes the time it was received).
    pub(crate) time: Option<String>,
    /// `event.action`.
    pub(crate) action: String,
}

impl JsonVendor {
    /// Normalises a record, refusing it (unchanged in `record`) when the check fails.
    fn apply(&self, record: &mut Value, received: Received) -> Result<(), NormaliseError> {
        let head = (self.check)(record)?;
        let taken = std::mem::take(record);
        *record = (self.build)(taken, head, received);
        Ok(())
    }
}

/// The tag of an event whose `@timestamp` is the time pipectl received the record,
/// because the record carries no time of its own (docs/schema.md §4).
pub const TIME_FROM_INGEST: &str = "time_from_ingest";

/// When pipectl received a record: the `@timestamp` of an event whose record names no
/// time of its own. Passed in rather than read from the clock inside the normalisers,
/// so that the transform can use the event's ingest time and tests a fixed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Milliseconds since the Unix epoch.
    millis: i64,
}

impl Received {
    /// The ingest time of an event (`EventMeta::ingest_time_ns`).
    pub fn from_unix_nanos(nanos: i64) -> Received {
        Received {
            millis: nanos.div_euclid(1_000_000),
        }
    }

    /// A time in milliseconds since the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Received {
        Received { millis }
    }

    /// Now, for callers that hold no ingest time.
    pub fn now() -> Received {
        Received::from_unix_nanos(pipectl_core::event::now_ns())
    }

    /// RFC 3339 UTC.
    fn rfc3339(self) -> String {
        format_rfc3339(self.millis)
    }
}

impl Normaliser {
    pub fn new(format: Format) -> Normaliser {
        let vendor = |check, build| Normaliser::Json(format, JsonVendor { check, build });
        match format {
            Format::AwsCloudtrail => vendor(aws_cloudtrail::check, aws_cloudtrail::build),
            Format::O365 => vendor(o365::check, o365::build),
            Format::Okta => vendor(okta::check, okta::build),
            Format::EntraId => vendor(entra_id::check, entra_id::build),
            Format::Salesforce => vendor(salesforce::check, salesforce::build),
            Format::Box => vendor(box_events::check, box_events::build),
            Format::Dropbox => vendor(dropbox::check, dropbox::build),
            Format::Suricata => vendor(suricata::check, suricata::build),
            Format::AwsS3Access => Normaliser::S3Access,
            Format::Zeek => Normaliser::Zeek(zeek::ZeekParser::new(None)),
            Format::GoogleWorkspace => Normaliser::Split(format, google_workspace::normalise_all),
            Format::AzureActivity => Normaliser::Split(format, azure_activity::normalise_all),
            Format::AzureNsgFlow => Normaliser::AzureFlow,
            Format::AwsVpcflow => Normaliser::Flow(aws_vpcflow::FlowLogParser::new()),
        }
    }

    /// The Zeek normaliser for records of one log type (`conn`, `dns`, a custom
    /// path...), whatever their `_path` or `#path` says; `None` reads the type from the
    /// records. Fails for a name that cannot be a dataset (see [`zeek::log_name`]).
    pub fn zeek(log: Option<&str>) -> Result<Normaliser, NormaliseError> {
        let log = log.map(zeek::log_name).transpose()?;
        Ok(Normaliser::Zeek(zeek::ZeekParser::new(log)))
    }

    /// Replaces `event` by its normalised form and returns `true`; returns `false` for
    /// input that carries no event (a flow log header, a NODATA/SKIPDATA record), and
    /// an error, leaving `event` as it was, for input that is not of this format.
    ///
    /// Input is either the vendor record itself or an event whose `message` is its
    /// text (a JSON document, or a flow log line).
    ///
    /// A record that carries several events (Google Workspace) yields only its first
    /// here; callers that may read such records use [`Normaliser::apply_all`].
    ///
    /// A record without a time of its own takes the current time as received
    /// ([`Normaliser::apply_received`] takes the ingest time instead).
    pub fn apply(&mut self, event: &mut Value) -> Result<bool, NormaliseError> {
        self.apply_received(event, Received::now(), &mut Vec::new())
    }

    /// [`Normaliser::apply`], appending to `more` the further events of a record that
    /// carries several (they follow `event` in the record's order).
    pub fn apply_all(
        &mut self,
        event: &mut Value,
        more: &mut Vec<Value>,
    ) -> Result<bool, NormaliseError> {
        self.apply_received(event, Received::now(), more)
    }

    /// [`Normaliser::apply_all`] for a record received at `received`: the
    /// `@timestamp` of the events of a record that names no time of its own.
    pub fn apply_received(
        &mut self,
        event: &mut Value,
        received: Received,
        more: &mut Vec<Value>,
    ) -> Result<bool, NormaliseError> {
        let message = event
            .as_object()
            .and_then(|m| m.get("message"))
            .and_then(Value::as_str);
        match self {
            Normaliser::Json(format, vendor) => {
                match json_message(*format, message)? {
                    Some(mut record) => {
                        vendor.apply(&mut record, received)?;
                        *event = record;
                    }
                    None => vendor.apply(event, received)?,
                }
                Ok(true)
            }
            Normaliser::Split(format, normalise_all) => {
                let events = match json_message(*format, message)? {
                    Some(record) => normalise_all(&record, received)?,
                    None => normalise_all(event, received)?,
                };
                let mut events = events.into_iter();
                match events.next() {
                    Some(first) => {
                        *event = first;
                        more.extend(events);
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
            Normaliser::Flow(parser) => {
                let out = match message {
                    Some(line) => parser.line_received(line, received)?,
                    None => aws_vpcflow::normalise_record(event, received)?,
                };
                match out {
                    Some(normalised) => {
                        *event = normalised;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
            Normaliser::S3Access => {
                let record = match message {
                    Some(line) if line.trim_start().starts_with('{') => {
                        match json_message(Format::AwsS3Access, Some(line))? {
                            Some(record) => record,
                            None => return Ok(false),
                        }
                    }
                    Some(line) => aws_s3_access::parse_line(line)?,
                    None => event.clone(),
                };
                *event = aws_s3_access::normalise(record, received)?;
                Ok(true)
            }
            Normaliser::AzureFlow => {
                let events = match message {
                    Some(line) => azure_nsg_flow::line(line, received)?,
                    None => azure_nsg_flow::normalise_all(event, received)?,
                };
                let mut events = events.into_iter();
                match events.next() {
                    Some(first) => {
                        *event = first;
                        more.extend(events);
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
            Normaliser::Zeek(parser) => {
                let out = match message {
                    Some(line) => parser.line(line)?,
                    None => Some(parser.record(event)?),
                };
                match out {
                    Some(normalised) => {
                        *event = normalised;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
        }
    }
}

/// The record a JSON vendor reads from an event's `message`: `None` when there is no
/// `message` (the event is the record), an error when it is not a JSON object's text.
fn json_message(format: Format, message: Option<&str>) -> Result<Option<Value>, NormaliseError> {
    match message {
        Some(text) if text.trim_start().starts_with('{') => pipectl_core::json::from_str(text)
            .map(Some)
            .map_err(|e| NormaliseError::new(format, format!("`message` is not JSON: {e}"))),
        Some(_) => Err(NormaliseError::new(
            format,
            "`message` holds text that is not a JSON record",
        )),
        None => Ok(None),
    }
}

/// The value under one key of an object (a key that may itself contain a dot, such
/// as Dropbox's `.tag`): matched exactly, else ignoring ASCII case.
pub(crate) fn key<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let map = value.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// An identifier at a path, written as text or as a number (Box and Salesforce ids
/// come either way).
pub(crate) fn id_text(record: &Value, path: &str) -> Option<String> {
    match field(record, path)? {
        Value::String(_) => text(record, path).map(str::to_string),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The value at a dotted path of a vendor record: each key matched exactly, else
/// ignoring ASCII case.
pub(crate) fn field<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(record, |cur, key| {
        let map = cur.as_object()?;
        map.get(key).or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
    })
}

/// The non-empty, non-`null`-placeholder text at a path.
pub(crate) fn text<'a>(record: &'a Value, path: &str) -> Option<&'a str> {
    field(record, path)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "-" && !s.eq_ignore_ascii_case("null"))
}

/// A whole number at a path, written as a number or as decimal text.
pub(crate) fn number(record: &Value, path: &str) -> Option<i64> {
    field(record, path).and_then(as_number)
}

/// A whole number from a number or decimal text.
pub(crate) fn as_number(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => s.trim().parse().ok(),
        other => other.as_i64(),
    }
}

/// An RFC 3339 UTC timestamp from a vendor's time text (`T` or a space, any fraction,
/// an offset or none for UTC).
pub(crate) fn timestamp(text: &str) -> Option<String> {
    parse_rfc3339(text).map(format_rfc3339)
}

/// A `+hhmm` / `-hhmm` offset (as log exports write it) in RFC 3339's `+hh:mm` form.
pub(crate) fn colon_offset(offset: &str) -> Option<String> {
    let (sign, digits) = offset.split_at_checked(1)?;
    if !matches!(sign, "+" | "-")
        || digits.len() != 4
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some(format!("{sign}{}:{}", &digits[..2], &digits[2..]))
}

/// The check every JSON vendor starts with: an object with an action, and its own
/// time when it has one.
pub(crate) fn require_head(
    format: Format,
    record: &Value,
    time_key: &str,
    action_key: &str,
) -> Result<Head, NormaliseError> {
    require_object(format, record)?;
    let action = text(record, action_key).ok_or_else(|| {
        NormaliseError::new(
            format,
            format!("no `{action_key}`: not {} record", vendor_name(format)),
        )
    })?;
    Ok(Head {
        time: text(record, time_key).and_then(timestamp),
        action: action.to_string(),
    })
}

/// Refuses a record that is not a JSON object.
pub(crate) fn require_object(format: Format, record: &Value) -> Result<(), NormaliseError> {
    match record {
        Value::Object(_) => Ok(()),
        other => Err(NormaliseError::new(
            format,
            format!(
                "the record is {}, not an object",
                crate::codecs::a_or_an(other.type_name())
            ),
        )),
    }
}

/// The vendor's record name with its article, for refusals.
fn vendor_name(format: Format) -> &'static str {
    match format {
        Format::AwsCloudtrail => "a CloudTrail",
        Format::AwsVpcflow => "a VPC flow log",
        Format::AzureActivity => "an Azure Activity Log",
        Format::AzureNsgFlow => "an Azure NSG or VNet flow log",
        Format::O365 => "an Office 365 audit",
        Format::Okta => "an Okta System Log",
        Format::EntraId => "an Entra ID sign-in or directory audit",
        Format::GoogleWorkspace => "a Google Workspace activity",
        Format::Salesforce => "a Salesforce event log",
        Format::Box => "a Box event",
        Format::Dropbox => "a Dropbox team log",
        Format::Zeek => "a Zeek log",
        Format::Suricata => "a Suricata EVE",
        Format::AwsS3Access => "an S3 server access log",
    }
}

/// A value quoted in an error, cut to a readable length.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// An IP address as a client field gives it: bare, `ip:port` or `[ipv6]:port`.
pub(crate) fn client_ip(text: &str) -> Option<(IpAddr, Option<u16>)> {
    let text = text.trim();
    if let Ok(ip) = text.parse() {
        return Some((ip, None));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((ip.parse().ok()?, port));
    }
    let (ip, port) = text.rsplit_once(':')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    Some((IpAddr::V4(ip), port.parse().ok()))
}

/// Whether text looks like a DNS name (`ec2.amazonaws.com`), as opposed to a free
/// description (`AWS Internal`).
pub(crate) fn is_domain(text: &str) -> bool {
    text.contains('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

/// The event being built: dotted ECS paths set into nested objects.
pub(crate) struct Doc(Map);

impl Doc {
    /// A new event whose first field is `@timestamp`: the record's own `time`, else
    /// the time it was `received`, then with `event.ingested` and the
    /// [`TIME_FROM_INGEST`] tag.
    pub(crate) fn new(time: Option<String>, received: Received) -> Doc {
        let mut map = Map::with_capacity(16);
        match time {
            Some(time) => map.push("@timestamp", Value::from(time)),
            None => {
                let at = received.rfc3339();
                map.push("@timestamp", Value::from(at.as_str()));
                map.push("tags", Value::from(vec![Value::from(TIME_FROM_INGEST)]));
                let mut event = Map::with_capacity(8);
                event.push("ingested", Value::from(at));
                map.push("event", Value::Object(event));
            }
        }
        Doc(map)
    }

    /// Sets a dotted path, creating (or replacing non-object) parents on the way.
    pub(crate) fn set(&mut self, path: &str, value: impl Into<Value>) {
        let mut map = &mut self.0;
        let mut keys = path.split('.').peekable();
        while let Some(key) = keys.next() {
            if keys.peek().is_none() {
                map.insert(key, value.into());
                return;
            }
            if !matches!(map.get(key), Some(Value::Object(_))) {
                map.insert(key, Value::object());
            }
            map = match map.get_mut(key) {
                Some(Value::Object(inner)) => inner,
                _ => return,
            };
        }
    }

    /// Sets `path` to the text when there is some.
    pub(crate) fn set_text(&mut self, path: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.set(path, text);
        }
    }

    /// `event.category` and `event.type`, each an array (ECS).
    pub(crate) fn categorise(&mut self, category: &str, types: &[&str]) {
        self.set("event.category", vec![Value::from(category)]);
        if !types.is_empty() {
            let types: Vec<Value> = types.iter().map(|t| Value::from(*t)).collect();
            self.set("event.type", types);
        }
    }

    /// Sets `source.ip` (and `source.port`) from a client address; returns whether it
    /// was one.
    pub(crate) fn set_client_ip(&mut self, text: Option<&str>) -> bool {
        match text.and_then(client_ip) {
            Some((ip, port)) => {
                self.set("source.ip", ip.to_string());
                if let Some(port) = port {
                    self.set("source.port", i64::from(port));
                }
                true
            }
            None => false,
        }
    }

    /// The value at a dotted path of the event built so far.
    fn get(&self, path: &str) -> Option<&Value> {
        let (first, rest) = path.split_once('.').unwrap_or((path, ""));
        let value = self.0.get(first)?;
        if rest.is_empty() {
            return Some(value);
        }
        rest.split('.')
            .try_fold(value, |cur, key| cur.as_object()?.get(key))
    }

    /// `<prefix>.name`, and `<prefix>.email` when it is an address, from a login,
    /// lowercased: the user names of the SaaS providers are case-insensitive, and the
    /// entity key must not split one person in two.
    pub(crate) fn set_login(&mut self, prefix: &str, login: Option<&str>) {
        if let Some(login) = login {
            let login = login.to_lowercase();
            if login.contains('@') {
                self.set(&format!("{prefix}.email"), login.as_str());
            }
            self.set(&format!("{prefix}.name"), login);
        }
    }

    /// `source.geo.location` from a latitude and longitude, when both are in range.
    pub(crate) fn set_location(&mut self, lat: Option<f64>, lon: Option<f64>) {
        if let (Some(lat), Some(lon)) = (lat, lon) {
            if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
                let mut location = Map::with_capacity(2);
                location.push("lat", Value::Float(lat));
                location.push("lon", Value::Float(lon));
                self.set("source.geo.location", location);
            }
        }
    }

    /// Adds a value to `related.<kind>` (`ip`, `user`, `hosts`) unless it is there.
    pub(crate) fn relate(&mut self, kind: &str, value: &str) {
        let value = value.trim();
        if value.is_empty() || (kind == "ip" && value.parse::<IpAddr>().is_err()) {
            return;
        }
        let path = format!("related.{kind}");
        let mut values: Vec<Value> = self
            .get(&path)
            .and_then(Value::as_array)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        if !values.iter().any(|v| v.as_str() == Some(value)) {
            values.push(Value::from(value));
            self.set(&path, values);
        }
    }

    /// `related.user` and `related.ip` from the user and address fields set so far
    /// (actor, target, effective user; source and destination), for pivoting.
    pub(crate) fn relate_set_fields(&mut self) {
        const USERS: &[&str] = &[
            "user.name",
            "user.email",
            "user.target.name",
            "user.target.email",
            "user.effective.name",
            "user.effective.email",
        ];
        for path in USERS {
            if let Some(user) = self.get(path).and_then(Value::as_str).map(str::to_string) {
                self.relate("user", &user);
            }
        }
        for path in ["source.ip", "destination.ip"] {
            if let Some(ip) = self.get(path).and_then(Value::as_str).map(str::to_string) {
                self.relate("ip", &ip);
            }
        }
    }

    /// The common fields, the vendor record under its namespace, and the entities.
    /// `id_part` is what the id is taken over (schema §1): the provider's unique record
    /// key, or the text received for line-oriented records; without one, the record's
    /// JSON.
    pub(crate) fn finish(self, dataset: Dataset, id_part: Option<String>, record: Value) -> Value {
        self.finish_in(
            dataset.module,
            dataset.name,
            Some(dataset.cloud_provider),
            id_part,
            record,
        )
    }

    /// [`Doc::finish`] for vendors whose dataset is only known per record (Zeek's
    /// `zeek.<log>`) or that are no cloud (network sensors: no `cloud.provider`).
    /// An `event.kind` set before (`alert` for an IDS alert) is kept.
    pub(crate) fn finish_in(
        mut self,
        module: &str,
        dataset: &str,
        cloud_provider: Option<&str>,
        id_part: Option<String>,
        record: Value,
    ) -> Value {
        self.set("ecs.version", ECS_VERSION);
        if self.get("event.kind").is_none() {
            self.set("event.kind", "event");
        }
        self.set("event.module", module);
        self.set("event.dataset", dataset);
        let id_part = id_part.unwrap_or_else(|| pipectl_core::json::to_string(&record));
        self.set("event.id", document_id(&["event", dataset, &id_part]));
        if let Some(provider) = cloud_provider {
            self.set("cloud.provider", provider);
        }
        self.set(dataset, record);
        let mut event = Value::Object(self.0);
        pipectl_core::entity::attach(&mut event);
        event
    }
}

/// The ECS version the normalisers follow.
pub const ECS_VERSION: &str = "8.11.0";

/// Where a vendor's events go in the schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dataset {
    /// `event.module`, also the provider namespace's root.
    pub module: &'static str,
    /// `event.dataset`, also the path the vendor record is kept under.
    pub name: &'static str,
    /// `cloud.provider`.
    pub cloud_provider: &'static str,
}

#[cfg(test)]
mod coverage;
#[cfg(test)]
pub(crate) mod samples;

#[cfg(test)]
mod tests {
    use super::*;
    use pipectl_core::json::{from_str, to_string};

    #[test]
    fn formats_by_name() {
        for format in Format::ALL {
            assert_eq!(Format::from_name(format.name()), Some(format));
        }
        assert_eq!(Format::from_name("cloudtrail"), None);
    }

    #[test]
    fn client_addresses() {
        let ip = |t: &str| client_ip(t).map(|(ip, port)| (ip.to_string(), port));
        assert_eq!(ip("1.2.3.4"), Some(("1.2.3.4".into(), None)));
        assert_eq!(ip("1.2.3.4:10736"), Some(("1.2.3.4".into(), Some(10736))));
        assert_eq!(
            ip("[2001:db8::1]:443"),
            Some(("2001:db8::1".into(), Some(443)))
        );
        assert_eq!(ip("2001:db8::1"), Some(("2001:db8::1".into(), None)));
        assert_eq!(ip("AWS Internal"), None);
        assert_eq!(ip("null"), None);
    }

    #[test]
    fn keys_match_exactly_then_ignoring_case() {
        let record =
            from_str(r#"{"eventname":"a","User":{"Name":"x"},"user":{"id":"y"}}"#).unwrap();
        assert_eq!(text(&record, "eventName"), Some("a"));
        assert_eq!(text(&record, "user.id"), Some("y"));
        assert_eq!(text(&record, "User.name"), Some("x"));
        assert_eq!(text(&record, "missing"), None);
    }

    #[test]
    fn times_become_rfc3339_utc() {
        assert_eq!(
            timestamp("2022-12-12 15:57:57").as_deref(),
            Some("2022-12-12T15:57:57Z")
        );
        assert_eq!(
            timestamp("2025-07-07 09:11:11.120000000").as_deref(),
            Some("2025-07-07T09:11:11.120Z")
        );
        assert_eq!(
            timestamp("2024-01-01T01:00:00+01:00").as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        assert_eq!(timestamp("redacted"), None);
    }

    #[test]
    fn message_text_or_record_and_failures_leave_the_event_as_it_was() {
        let mut okta = Normaliser::new(Format::Okta);
        let record =
            r#"{"published":"2024-01-01T00:00:00Z","eventType":"user.session.start","uuid":"u1"}"#;
        let mut event = from_str(record).unwrap();
        assert_eq!(okta.apply(&mut event), Ok(true));
        let mut wrapped = Value::object();
        if let Value::Object(m) = &mut wrapped {
            m.insert("message", Value::from(record));
        }
        assert_eq!(okta.apply(&mut wrapped), Ok(true));
        assert_eq!(to_string(&wrapped), to_string(&event));

        for input in [
            r#"{"message":"{\"published\":\"2024-01-01T00:00:00Z\"}"}"#,
            r#"{"message":"not json"}"#,
            r#"{"message":"{broken"}"#,
            r#"{"published":"2024-01-01T00:00:00Z"}"#,
        ] {
            let mut event = from_str(input).unwrap();
            assert!(okta.apply(&mut event).is_err(), "{input}");
            assert_eq!(to_string(&event), input);
        }
    }

    #[test]
    fn a_record_without_its_time_takes_the_time_received_tagged_with_a_stable_id() {
        let record = r#"{"eventType":"user.session.start","uuid":"u1"}"#;
        let at = |millis: i64| {
            let mut event = from_str(record).unwrap();
            let received = Received::from_unix_millis(millis);
            let mut okta = Normaliser::new(Format::Okta);
            assert_eq!(
                okta.apply_received(&mut event, received, &mut Vec::new()),
                Ok(true)
            );
            event
        };
        let (first, later) = (at(1_800_000_000_000), at(1_800_000_360_000));
        assert!(
            to_string(&first).starts_with(
                r#"{"@timestamp":"2027-01-15T08:00:00Z","tags":["time_from_ingest"],"event":{"ingested":"2027-01-15T08:00:00Z","action":"user.session.start""#
            ),
            "{}",
            to_string(&first)
        );
        let id = |e: &Value| {
            e.as_object()
                .and_then(|m| m.get("event"))
                .and_then(|e| e.as_object())
                .and_then(|e| e.get("id"))
                .map(to_string)
        };
        assert!(id(&first).is_some());
        assert_eq!(id(&first), id(&later));
        assert_eq!(
            Received::from_unix_nanos(1_800_000_000_123_456_789),
            Received::from_unix_millis(1_800_000_000_123)
        );
    }
}
