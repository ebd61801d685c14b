//! Syslog: RFC 5424 (with structured data and `-` for absent fields) and the BSD
//! format of RFC 3164 (timestamp without year, optional hostname, `tag[pid]:`).
//!
//! Output uses ECS names:
//!
//! | syslog part        | field                                                     |
//! |--------------------|-----------------------------------------------------------|
//! | PRI                | `log.syslog.priority`, `log.syslog.facility.code`/`.name`, `log.syslog.severity.code`/`.name` |
//! | VERSION            | `log.syslog.version`                                      |
//! | TIMESTAMP          | `@timestamp` (RFC 3339 text)                              |
//! | HOSTNAME           | `host.hostname`                                           |
//! | APP-NAME / TAG     | `process.name`                                            |
//! | PROCID / `[pid]`   | `process.pid` when numeric, else `log.syslog.procid`      |
//! | MSGID              | `log.syslog.msgid`                                        |
//! | STRUCTURED-DATA    | `log.syslog.structured_data.<SD-ID>.<PARAM-NAME>`         |
//! | MSG                | `message`                                                 |
//!
//! An RFC 3164 timestamp has no year and no zone: the current year is assumed (the
//! previous one for a date more than a month ahead, so December messages read in
//! January land in the right year) and the time is taken as UTC.

use super::{excerpt, put, CodecError, MapBuilder};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1, take_while_m_n};
use nom::character::complete::{char, one_of};
use nom::combinator::{opt, recognize};
use nom::{IResult, Parser};
use pipectl_core::value::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

const CODEC: &str = "syslog";

/// Which syslog dialect to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 5424 when a version digit follows the priority, RFC 3164 otherwise.
    Auto,
    Rfc5424,
    Rfc3164,
}

impl Format {
    /// Parses the attribute word (`"auto"`, `"rfc5424"`, `"rfc3164"`).
    pub fn from_word(word: &str) -> Option<Format> {
        match word {
            "auto" => Some(Format::Auto),
            "rfc5424" => Some(Format::Rfc5424),
            "rfc3164" => Some(Format::Rfc3164),
            _ => None,
        }
    }
}

/// The calendar month used to give an RFC 3164 timestamp its year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Today {
    pub year: i64,
    pub month: u32,
}

impl Today {
    /// Today's year and month in UTC.
    pub fn now() -> Today {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (year, month, _) = civil_from_days((secs / 86_400) as i64);
        Today { year, month }
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Decodes one syslog message, dating RFC 3164 timestamps with the current year.
pub fn decode(text: &str, format: Format) -> Result<Map, CodecError> {
    decode_on(text, format, Today::now())
}

/// [`decode`] with an explicit "today", for reproducible results.
pub fn decode_on(text: &str, format: Format, today: Today) -> Result<Map, CodecError> {
    let format = match format {
        Format::Auto if looks_like_5424(text) => Format::Rfc5424,
        Format::Auto => Format::Rfc3164,
        other => other,
    };
    let fields = match format {
        Format::Rfc5424 => parse_5424(text)?,
        _ => parse_3164(text, today)?,
    };
    Ok(fields.into_map())
}

/// `<PRI>` followed by a version number and a space.
fn looks_like_5424(text: &str) -> bool {
    match pri(text) {
        Ok((rest, _)) => (version, char(' ')).parse(rest).is_ok(),
        Err(_) => false,
    }
}

/// What a message held, before it is laid out as an event.
#[derive(Default)]
struct Fields<'a> {
    priority: Option<u8>,
    version: Option<u16>,
    timestamp: Option<String>,
    hostname: Option<&'a str>,
    app_name: Option<&'a str>,
    procid: Option<&'a str>,
    msgid: Option<&'a str>,
    structured_data: Option<Map>,
    message: Option<&'a str>,
}

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

const SEVERITIES: [&str; 8] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "debug",
];

impl Fields<'_> {
    fn into_map(self) -> Map {
        let mut map = Map::with_capacity(5);
        if let Some(ts) = self.timestamp {
            map.push("@timestamp", Value::from(ts));
        }
        if let Some(host) = self.hostname {
            put(&mut map, &["host", "hostname"], Value::from(host));
        }
        if let Some(app) = self.app_name {
            put(&mut map, &["process", "name"], Value::from(app));
        }
        let pid = self.procid.and_then(|p| p.parse::<i64>().ok());
        if let Some(pid) = pid {
            put(&mut map, &["process", "pid"], Value::Int(pid));
        }
        if let Some(prival) = self.priority {
            let facility = usize::from(prival / 8);
            let severity = usize::from(prival % 8);
            put(
                &mut map,
                &["log", "syslog", "priority"],
                Value::Int(i64::from(prival)),
            );
            put(
                &mut map,
                &["log", "syslog", "facility", "code"],
                Value::Int(facility as i64),
            );
            if let Some(name) = FACILITIES.get(facility) {
                put(
                    &mut map,
                    &["log", "syslog", "facility", "name"],
                    Value::from(*name),
                );
            }
            put(
                &mut map,
                &["log", "syslog", "severity", "code"],
                Value::Int(severity as i64),
            );
            if let Some(name) = SEVERITIES.get(severity) {
                put(
                    &mut map,
                    &["log", "syslog", "severity", "name"],
                    Value::from(*name),
                );
            }
        }
        if let Some(version) = self.version {
            put(
                &mut map,
                &["log", "syslog", "version"],
                Value::Int(i64::from(version)),
            );
        }
        if let (Some(procid), None) = (self.procid, pid) {
            put(&mut map, &["log", "syslog", "procid"], Value::from(procid));
        }
        if let Some(msgid) = self.msgid {
            put(&mut map, &["log", "syslog", "msgid"], Value::from(msgid));
        }
        if let Some(sd) = self.structured_data {
            put(
                &mut map,
                &["log", "syslog", "structured_data"],
                Value::Object(sd),
            );
        }
        if let Some(message) = self.message {
            map.push("message", Value::from(message));
        }
        map
    }
}

/// A position in the input, turning nom failures into messages that say what was
/// expected where.
struct Cursor<'a> {
    input: &'a str,
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(input: &'a str) -> Cursor<'a> {
        Cursor { input, rest: input }
    }

    fn offset(&self) -> usize {
        self.input.len() - self.rest.len()
    }

    fn error(&self, expected: &str) -> CodecError {
        let found = self.rest.split(' ').next().unwrap_or_default();
        let found = if self.rest.is_empty() {
            "the end of the message".to_string()
        } else if found.is_empty() {
            "a space".to_string()
        } else {
            format!("`{}`", excerpt(found))
        };
        CodecError::at(
            CODEC,
            self.offset(),
            format!("expected {expected}, found {found}"),
        )
    }

    fn step<T>(
        &mut self,
        mut parser: impl Parser<&'a str, Output = T, Error = nom::error::Error<&'a str>>,
        expected: &str,
    ) -> Result<T, CodecError> {
        match parser.parse(self.rest) {
            Ok((rest, value)) => {
                self.rest = rest;
                Ok(value)
            }
            Err(_) => Err(self.error(expected)),
        }
    }

    fn space(&mut self, after: &str) -> Result<(), CodecError> {
        self.step(char(' '), &format!("a space after {after}"))
            .map(|_| ())
    }
}

fn digits<'a>(n: usize) -> impl FnMut(&'a str) -> IResult<&'a str, &'a str> {
    take_while_m_n(n, n, |c: char| c.is_ascii_digit())
}

/// `<PRI>`: 0 to 191 (facility 0–23 times 8 plus severity 0–7).
fn pri(i: &str) -> IResult<&str, u8> {
    let (rest, (_, digits, _)) = (
        char('<'),
        take_while_m_n(1, 3, |c: char| c.is_ascii_digit()),
        char('>'),
    )
        .parse(i)?;
    match digits.parse::<u8>() {
        Ok(p) if p <= 191 => Ok((rest, p)),
        _ => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Verify,
        ))),
    }
}

/// VERSION: a non-zero digit and up to two more.
fn version(i: &str) -> IResult<&str, u16> {
    let (rest, text) = recognize((
        one_of("123456789"),
        take_while_m_n(0, 2, |c: char| c.is_ascii_digit()),
    ))
    .parse(i)?;
    let v = text.parse::<u16>().unwrap_or_default();
    Ok((rest, v))
}

/// A PRINTUSASCII token, or `-` (NILVALUE) for an absent field.
fn nil_or_token(i: &str) -> IResult<&str, Option<&str>> {
    let (rest, token) = take_while1(|c: char| c.is_ascii_graphic())(i)?;
    Ok((rest, (token != "-").then_some(token)))
}

/// Days in `month` (1-12) of `year`, proleptic Gregorian.
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, a real calendar date (no February 30th)
/// and an offset of at most ±23:59: a date that cannot exist is refused here rather
/// than by the index much later.
fn rfc3339(i: &str) -> IResult<&str, &str> {
    let (rest, text) = recognize((
        digits(4),
        char('-'),
        digits(2),
        char('-'),
        digits(2),
        one_of("Tt"),
        time_of_day,
        alt((
            tag("Z"),
            tag("z"),
            recognize((one_of("+-"), digits(2), char(':'), digits(2))),
        )),
    ))
    .parse(i)?;
    let field = |range: std::ops::Range<usize>| {
        text.get(range)
            .and_then(|t| t.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let month = field(5..7);
    let offset_ok = match text.len().checked_sub(6).and_then(|at| text.get(at..)) {
        Some(tail) if tail.starts_with(['+', '-']) => {
            field(text.len() - 5..text.len() - 3) <= 23 && field(text.len() - 2..text.len()) <= 59
        }
        _ => true,
    };
    let plausible = (1..=12).contains(&month)
        && (1..=days_in_month(i64::from(field(0..4)), month)).contains(&field(8..10))
        && offset_ok;
    if !plausible {
        return Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Verify,
        )));
    }
    Ok((rest, text))
}

/// `HH:MM:SS[.frac]` with hours < 24, minutes < 60, seconds ≤ 60 (leap second).
fn time_of_day(i: &str) -> IResult<&str, &str> {
    let (rest, (h, _, m, _, s, _)) = (
        digits(2),
        char(':'),
        digits(2),
        char(':'),
        digits(2),
        opt((
            char('.'),
            take_while_m_n(1, 9, |c: char| c.is_ascii_digit()),
        )),
    )
        .parse(i)?;
    let ok = |t: &str, max: u32| t.parse::<u32>().is_ok_and(|v| v <= max);
    if !(ok(h, 23) && ok(m, 59) && ok(s, 60)) {
        return Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Verify,
        )));
    }
    let len = i.len() - rest.len();
    Ok((rest, &i[..len]))
}

fn parse_5424(text: &str) -> Result<Fields<'_>, CodecError> {
    let mut c = Cursor::new(text);
    let mut f = Fields {
        priority: Some(c.step(pri, "a priority such as `<34>` (0 to 191)")?),
        ..Fields::default()
    };
    f.version = Some(c.step(version, "the syslog version `1` after the priority")?);
    c.space("the version")?;
    let timestamp = c.step(
        alt((
            rfc3339.map(Some),
            (
                char('-'),
                nom::combinator::peek(alt((tag(" "), nom::combinator::eof))),
            )
                .map(|_| None),
        )),
        "a timestamp such as `2003-10-11T22:14:15.003Z`, or `-`",
    )?;
    f.timestamp = timestamp.map(str::to_string);
    c.space("the timestamp")?;
    f.hostname = c.step(nil_or_token, "a hostname or `-`")?;
    c.space("the hostname")?;
    f.app_name = c.step(nil_or_token, "an app name or `-`")?;
    c.space("the app name")?;
    f.procid = c.step(nil_or_token, "a process id or `-`")?;
    c.space("the process id")?;
    f.msgid = c.step(nil_or_token, "a message id or `-`")?;
    c.space("the message id")?;
    f.structured_data = structured_data(&mut c)?;
    if !c.rest.is_empty() {
        c.space("the structured data")?;
        let msg = c.rest.strip_prefix('\u{feff}').unwrap_or(c.rest);
        f.message = Some(msg);
    }
    Ok(f)
}

/// STRUCTURED-DATA: `-` or one or more `[SD-ID PARAM="value" ...]` elements.
fn structured_data(c: &mut Cursor<'_>) -> Result<Option<Map>, CodecError> {
    if let Some(rest) = c.rest.strip_prefix('-') {
        if rest.is_empty() || rest.starts_with(' ') {
            c.rest = rest;
            return Ok(None);
        }
    }
    if !c.rest.starts_with('[') {
        return Err(c.error("structured data (`[id param=\"value\"]`) or `-`"));
    }
    let mut elements = MapBuilder::new();
    while c.rest.starts_with('[') {
        c.rest = &c.rest[1..];
        let id = c.step(sd_name, "a structured data id")?;
        let mut params = MapBuilder::new();
        loop {
            if let Some(rest) = c.rest.strip_prefix(']') {
                c.rest = rest;
                break;
            }
            c.space("a structured data id or parameter")?;
            let name = c.step(sd_name, "a parameter name")?;
            c.step(char('='), &format!("`=` after the parameter name `{name}`"))?;
            c.step(char('"'), "`\"` opening the parameter value")?;
            let value = sd_value(c)?;
            params.insert(name, Value::from(value));
        }
        elements.insert(id, Value::Object(params.finish()));
    }
    Ok(Some(elements.finish()))
}

/// SD-NAME: printable ASCII except `=`, space, `]` and `"`.
fn sd_name(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"'))(i)
}

/// PARAM-VALUE up to its closing quote; `\"`, `\\` and `\]` are escapes, any other
/// backslash is kept as written (RFC 5424 §6.3.3).
fn sd_value(c: &mut Cursor<'_>) -> Result<String, CodecError> {
    let mut value = String::new();
    let mut chars = c.rest.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '"' => {
                c.rest = &c.rest[i + 1..];
                return Ok(value);
            }
            '\\' => match chars.clone().next() {
                Some((_, next @ ('"' | '\\' | ']'))) => {
                    value.push(next);
                    chars.next();
                }
                _ => value.push('\\'),
            },
            other => value.push(other),
        }
    }
    c.rest = "";
    Err(c.error("`\"` closing the parameter value"))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mmm dd hh:mm:ss` (day space- or zero-padded, optional fraction of a second).
fn bsd_timestamp(i: &str) -> IResult<&str, (u32, u32, &str)> {
    let (rest, (month, _, day, _, time)) = (
        take_while_m_n(3, 3, |c: char| c.is_ascii_alphabetic()),
        take_while_m_n(1, 2, |c: char| c == ' '),
        take_while_m_n(1, 2, |c: char| c.is_ascii_digit()),
        char(' '),
        time_of_day,
    )
        .parse(i)?;
    let month = MONTHS.iter().position(|m| *m == month);
    let day = day.parse::<u32>().ok().filter(|d| (1..=31).contains(d));
    match (month, day) {
        (Some(m), Some(d)) => Ok((rest, (m as u32 + 1, d, time))),
        _ => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Verify,
        ))),
    }
}

fn parse_3164(text: &str, today: Today) -> Result<Fields<'_>, CodecError> {
    let mut c = Cursor::new(text);
    let mut f = Fields::default();
    if c.rest.starts_with('<') {
        f.priority = Some(c.step(pri, "a priority such as `<34>` (0 to 191)")?);
    }
    if let Ok((rest, (month, day, time))) = bsd_timestamp(c.rest) {
        c.rest = rest;
        let year = if month > today.month + 1 {
            today.year - 1
        } else {
            today.year
        };
        if day > days_in_month(year, month) {
            return Err(CodecError::new(
                CODEC,
                format!(
                    "the date {} {day} does not exist in {year}",
                    MONTHS.get(month as usize - 1).copied().unwrap_or("?")
                ),
            ));
        }
        f.timestamp = Some(format!("{year:04}-{month:02}-{day:02}T{time}Z"));
    } else {
        let ts = c.step(
            rfc3339,
            "a timestamp such as `Oct 11 22:14:15` or `2003-10-11T22:14:15Z`",
        )?;
        f.timestamp = Some(ts.to_string());
    }
    let after_ts = c.rest.trim_start_matches(' ');
    if after_ts.len() == c.rest.len() && !c.rest.is_empty() {
        return Err(c.error("a space after the timestamp"));
    }
    let (first, after_first) = split_token(after_ts);
    if let Some((name, pid)) = as_tag(first) {
        f.app_name = Some(name);
        f.procid = pid;
        f.message = Some(after_first);
    } else if first.is_empty() {
        f.message = Some(after_ts);
    } else {
        f.hostname = Some(first);
        let (second, after_second) = split_token(after_first);
        match as_tag(second) {
            Some((name, pid)) => {
                f.app_name = Some(name);
                f.procid = pid;
                f.message = Some(after_second);
            }
            None => f.message = Some(after_first),
        }
    }
    Ok(f)
}

/// The text up to the first space, and what follows that space.
fn split_token(text: &str) -> (&str, &str) {
    match text.split_once(' ') {
        Some((token, rest)) => (token, rest),
        None => (text, ""),
    }
}

/// A TAG such as `sshd:`, `sshd[42]:` or `sshd[42]`: the program name and the pid.
fn as_tag(token: &str) -> Option<(&str, Option<&str>)> {
    let (body, colon) = match token.strip_suffix(':') {
        Some(body) => (body, true),
        None => (token, false),
    };
    let (name, pid) = match body.strip_suffix(']').and_then(|b| b.split_once('[')) {
        Some((name, pid)) if !pid.is_empty() && pid.chars().all(|c| c.is_ascii_graphic()) => {
            (name, Some(pid))
        }
        _ if colon => (body, None),
        _ => return None,
    };
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    valid.then_some((name, pid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipectl_core::json;

    const TODAY: Today = Today {
        year: 2024,
        month: 3,
    };

    fn decode_json(text: &str, format: Format) -> String {
        match decode_on(text, format, TODAY) {
            Ok(map) => json::to_string(&Value::Object(map)),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let line = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event log entry"#;
        assert_eq!(
            decode_json(line, Format::Auto),
            concat!(
                r#"{"@timestamp":"2003-10-11T22:14:15.003Z","host":{"hostname":"mymachine.example.com"},"#,
                r#""process":{"name":"evntslog"},"log":{"syslog":{"priority":165,"facility":{"code":20,"name":"local4"},"#,
                r#""severity":{"code":5,"name":"notice"},"version":1,"msgid":"ID47","structured_data":{"#,
                r#""exampleSDID@32473":{"iut":"3","eventSource":"Application","eventID":"1011"},"#,
                r#""examplePriority@32473":{"class":"high"}}}},"message":"An application event log entry"}"#
            )
        );
    }

    #[test]
    fn rfc5424_nil_values_and_bom() {
        let line = "<34>1 2003-10-11T22:14:15.003-07:00 - su 1234 - - \u{feff}'su root' failed";
        assert_eq!(
            decode_json(line, Format::Rfc5424),
            concat!(
                r#"{"@timestamp":"2003-10-11T22:14:15.003-07:00","process":{"name":"su","pid":1234},"#,
                r#""log":{"syslog":{"priority":34,"facility":{"code":4,"name":"auth"},"severity":{"code":2,"name":"critical"},"version":1}},"#,
                r#""message":"'su root' failed"}"#
            )
        );
        // Everything absent, no message.
        assert_eq!(
            decode_json("<0>1 - - - - - -", Format::Rfc5424),
            r#"{"log":{"syslog":{"priority":0,"facility":{"code":0,"name":"kern"},"severity":{"code":0,"name":"emergency"},"version":1}}}"#
        );
    }

    #[test]
    fn rfc5424_escapes_in_parameter_values() {
        let line = r#"<13>1 2024-01-02T03:04:05Z h app - - [x@1 a="q\"b\\c\]d" e="x\y"] m"#;
        let out = decode_json(line, Format::Auto);
        assert!(
            out.contains(r#""x@1":{"a":"q\"b\\c]d","e":"x\\y"}"#),
            "{out}"
        );
    }

    #[test]
    fn rfc5424_procid_that_is_not_a_number() {
        let out = decode_json("<13>1 - host app worker-7 - - hi", Format::Auto);
        assert!(out.contains(r#""procid":"worker-7""#), "{out}");
        assert!(!out.contains("pid\":"), "{out}");
    }

    #[test]
    fn rfc5424_errors_say_what_was_expected() {
        let cases = [
            (
                "<34>1 2003-13-11T22:14:15Z h a - - - m",
                "expected a timestamp",
            ),
            ("<192>1 - - - - - -", "expected a priority"),
            (
                "<34>1 - h a - - [id x=\"1 m",
                "expected `\"` closing the parameter value",
            ),
            (
                "<34>1 - h a - - [id x=\"1\" m",
                "expected `=` after the parameter name `m`",
            ),
            (
                "<34>1 - h a - - [id x=1] m",
                "expected `\"` opening the parameter value",
            ),
            ("<34>1 - h a - - oops", "expected structured data"),
            ("<34>1 - h", "expected a space after the hostname"),
            (
                "<34>1 - h a - - [id]x",
                "expected a space after the structured data",
            ),
        ];
        for (line, want) in cases {
            let err = decode_on(line, Format::Rfc5424, TODAY).unwrap_err();
            assert!(err.message.contains(want), "{line}: {err}");
            assert!(err.offset.is_some());
        }
    }

    #[test]
    fn rfc3164_with_hostname_and_tag() {
        let line =
            "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8";
        assert_eq!(
            decode_json(line, Format::Auto),
            concat!(
                r#"{"@timestamp":"2023-10-11T22:14:15Z","host":{"hostname":"mymachine"},"process":{"name":"su","pid":230},"#,
                r#""log":{"syslog":{"priority":34,"facility":{"code":4,"name":"auth"},"severity":{"code":2,"name":"critical"}}},"#,
                r#""message":"'su root' failed for lonvick on /dev/pts/8"}"#
            )
        );
    }

    #[test]
    fn dates_that_cannot_exist_are_errors() {
        let today = Today {
            year: 2026,
            month: 11,
        };
        let bad = [
            "<13>1 2024-02-30T10:00:00Z h a - - - feb 30",
            "<13>1 2023-02-29T10:00:00Z h a - - - not a leap year",
            "<13>1 2024-04-31T10:00:00Z h a - - - april 31",
            "<13>1 99999-01-01T00:00:00Z h a - - - five digit year",
            "<13>1 -2024-01-01T00:00:00Z h a - - - negative year",
            "<13>1 2024-13-01T00:00:00Z h a - - - month 13",
            "<13>1 2024-01-01T24:00:00Z h a - - - hour 24",
            "<13>1 2024-01-01T10:00:00+99:99 h a - - - offset",
            "<13>Feb 30 10:00:00 host app: feb 30",
            "<13>Feb 29 10:00:00 host app: 2026 is not a leap year",
            "<13>Nov 31 10:00:00 host app: november 31",
        ];
        for line in bad {
            let decoded = decode_on(line, Format::Auto, today);
            let timestamp = decoded
                .as_ref()
                .ok()
                .and_then(|m| m.get("@timestamp").cloned());
            // Either refused, or (RFC 3164, where a bad date may be the message) no
            // impossible date is invented.
            if let Some(Value::String(ts)) = &timestamp {
                panic!("{line}: dated {ts}");
            }
        }
        for (line, want) in [
            (
                "<13>1 2024-02-29T10:00:00Z h a - - - leap day",
                "2024-02-29T10:00:00Z",
            ),
            (
                "<13>1 0000-01-01T00:00:00Z h a - - - year zero",
                "0000-01-01T00:00:00Z",
            ),
            (
                "<13>1 2000-02-29T23:59:60.5-23:59 h a - - - leap second",
                "2000-02-29T23:59:60.5-23:59",
            ),
            ("<13>Feb 28 10:00:00 host app: ok", "2026-02-28T10:00:00Z"),
        ] {
            let map = decode_on(line, Format::Auto, today).unwrap();
            assert_eq!(map.get("@timestamp"), Some(&Value::from(want)), "{line}");
        }
    }

    #[test]
    fn rfc3164_year_follows_today() {
        let out = decode_json(
            "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
            Format::Rfc3164,
        );
        assert!(
            out.starts_with(
                r#"{"@timestamp":"2024-02-05T17:32:18Z","host":{"hostname":"10.0.0.99"}"#
            ),
            "{out}"
        );
        assert!(out.ends_with(r#""message":"Use the BFG!"}"#), "{out}");
        // A month ahead is still this year (a clock slightly fast), further is last year.
        assert!(decode_json("<13>Apr  1 00:00:00 h m", Format::Auto).contains("2024-04-01"));
        assert!(decode_json("<13>Dec 31 23:59:59 h m", Format::Auto).contains("2023-12-31"));
    }

    #[test]
    fn rfc3164_without_hostname_or_priority() {
        assert_eq!(
            decode_json(
                "Oct  1 08:00:00 sshd[99]: Accepted publickey for root",
                Format::Auto
            ),
            r#"{"@timestamp":"2023-10-01T08:00:00Z","process":{"name":"sshd","pid":99},"message":"Accepted publickey for root"}"#
        );
        assert_eq!(
            decode_json("<6>Mar  3 01:02:03.456 gw kernel: eth0 up", Format::Auto),
            concat!(
                r#"{"@timestamp":"2024-03-03T01:02:03.456Z","host":{"hostname":"gw"},"process":{"name":"kernel"},"#,
                r#""log":{"syslog":{"priority":6,"facility":{"code":0,"name":"kern"},"severity":{"code":6,"name":"informational"}}},"message":"eth0 up"}"#
            )
        );
    }

    #[test]
    fn rfc3164_with_an_rfc3339_timestamp() {
        let out = decode_json(
            "<30>2024-01-02T10:00:00.123+01:00 web nginx: GET /",
            Format::Auto,
        );
        assert!(out.starts_with(r#"{"@timestamp":"2024-01-02T10:00:00.123+01:00","host":{"hostname":"web"},"process":{"name":"nginx"}"#), "{out}");
    }

    #[test]
    fn rfc3164_errors() {
        let cases = [
            ("<34>Foo 11 22:14:15 host msg", "expected a timestamp"),
            ("<34>Oct 11 25:14:15 host msg", "expected a timestamp"),
            ("<999>Oct 11 22:14:15 host msg", "expected a priority"),
            ("just some text", "expected a timestamp"),
            ("", "expected a timestamp"),
            (
                "<34>Oct 11 22:14:15host",
                "expected a space after the timestamp",
            ),
        ];
        for (line, want) in cases {
            let err = decode_on(line, Format::Auto, TODAY).unwrap_err();
            assert!(err.message.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let inputs = [
            "<",
            "<1",
            "<1>",
            "<1>1",
            "<1>1 ",
            "<1>1 - - - - - [",
            "<1>1 - - - - - [a",
            "<1>1 - - - - - [a b",
            "<1>1 - - - - - [a b=",
            "<1>1 - - - - - [a b=\"\\",
            "<1>Oct",
            "<1>Oct 1",
            "<1>Oct 1 1:",
            "é<1>",
            "<1>é",
            "<1>1 - - - - - [é é=\"é\"]",
            "<1>Oct 11 22:14:15 ",
            "<1>Oct 11 22:14:15 [x]:",
            "<1>Oct 11 22:14:15 h []: m",
        ];
        for input in inputs {
            let _ = decode_on(input, Format::Auto, TODAY);
            let _ = decode_on(input, Format::Rfc5424, TODAY);
            let _ = decode_on(input, Format::Rfc3164, TODAY);
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
