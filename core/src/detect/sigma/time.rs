//! Event time: RFC 3339 timestamps (and epoch numbers) to milliseconds, the parts the
//! time modifiers extract, and the `timespan` durations of correlation rules.

use crate::value::Value;

/// A part of a date for the time modifiers (`|hour`, `|day`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// The earliest and latest instants a timestamp may name (years 0000 to 9999): what
/// RFC 3339 can write, and far enough from `i64` limits that time arithmetic on
/// hostile input cannot overflow.
pub const MIN_MILLIS: i64 = -62_167_219_200_000;
pub const MAX_MILLIS: i64 = 253_402_300_799_999;

/// Milliseconds since the Unix epoch of a timestamp value: an RFC 3339 string (with
/// `T` or a space, optional fraction and offset; no offset means UTC) or a number of
/// seconds (below 10^11) or milliseconds. Instants outside years 0000–9999 are not
/// timestamps.
pub fn millis_of(value: &Value) -> Option<i64> {
    let ms = match value {
        Value::String(s) => parse_rfc3339(s)?,
        Value::Int(i) => {
            if i.unsigned_abs() < 100_000_000_000 {
                i.checked_mul(1000)?
            } else {
                *i
            }
        }
        Value::Float(f) if f.is_finite() => {
            if f.abs() < 1e11 {
                (f * 1000.0) as i64
            } else {
                *f as i64
            }
        }
        _ => return None,
    };
    (MIN_MILLIS..=MAX_MILLIS).contains(&ms).then_some(ms)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = b.get(range)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    if b.len() < 19 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_min = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b.get(i + 3) == Some(&b':') => {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if sign == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some((((days * 24 + hour) * 60 + minute) * 60 + second - offset_min * 60) * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// A part of a UTC time: minute, hour, day of month, ISO week, month or year.
pub fn part_of(ms: i64, part: TimePart) -> i64 {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match part {
        TimePart::Minute => secs.div_euclid(60).rem_euclid(60),
        TimePart::Hour => secs.div_euclid(3600).rem_euclid(24),
        TimePart::Day => d,
        TimePart::Month => m,
        TimePart::Year => y,
        TimePart::Week => {
            // ISO 8601 week number: the week with the year's first Thursday is week 1.
            let weekday = (days + 3).rem_euclid(7); // Monday = 0
            let thursday = days - weekday + 3;
            let (ty, _, _) = civil_from_days(thursday);
            (thursday - days_from_civil(ty, 1, 1)) / 7 + 1
        }
    }
}

/// RFC 3339 (UTC, milliseconds) of a time in milliseconds.
pub fn format_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let frac = ms.rem_euclid(1000);
    if frac == 0 {
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    } else {
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:03}Z",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// A correlation `timespan` (`30s`, `5m`, `1h`, `7d`, also `1w`) in milliseconds.
pub fn parse_timespan(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    };
    n.checked_mul(unit_ms).filter(|ms| *ms > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_and_offsets() {
        let base = parse_rfc3339("2026-10-03T22:14:05Z").unwrap();
        assert_eq!(format_rfc3339(base), "2026-10-03T22:14:05Z");
        assert_eq!(parse_rfc3339("2026-10-03T22:14:05.5Z"), Some(base + 500));
        assert_eq!(parse_rfc3339("2026-10-04T00:14:05+02:00"), Some(base));
        assert_eq!(parse_rfc3339("2026-10-03 22:14:05"), Some(base));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert!(parse_rfc3339("2026-13-03T22:14:05Z").is_none());
        assert!(parse_rfc3339("yesterday").is_none());
        assert_eq!(format_rfc3339(base + 7), "2026-10-03T22:14:05.007Z");
    }

    #[test]
    fn hostile_numbers_are_not_timestamps() {
        assert_eq!(millis_of(&Value::Int(i64::MIN)), None);
        assert_eq!(millis_of(&Value::Int(i64::MAX)), None);
        assert_eq!(millis_of(&Value::Float(1e300)), None);
        assert_eq!(millis_of(&Value::Int(MAX_MILLIS + 1)), None);
        assert_eq!(
            millis_of(&Value::Int(1_700_000_000)),
            Some(1_700_000_000_000)
        );
        assert_eq!(millis_of(&Value::Int(-5)), Some(-5000));
        assert_eq!(
            millis_of(&Value::from("9999-12-31T23:59:59Z")),
            Some(MAX_MILLIS - 999)
        );
    }

    #[test]
    fn parts_and_spans() {
        let t = parse_rfc3339("2026-01-01T13:45:00Z").unwrap();
        assert_eq!(part_of(t, TimePart::Hour), 13);
        assert_eq!(part_of(t, TimePart::Minute), 45);
        assert_eq!(part_of(t, TimePart::Day), 1);
        assert_eq!(part_of(t, TimePart::Month), 1);
        assert_eq!(part_of(t, TimePart::Year), 2026);
        assert_eq!(part_of(t, TimePart::Week), 1);
        assert_eq!(
            part_of(
                parse_rfc3339("2021-01-03T00:00:00Z").unwrap(),
                TimePart::Week
            ),
            53
        );
        assert_eq!(parse_timespan("90m"), Some(5_400_000));
        assert_eq!(parse_timespan("1h"), Some(3_600_000));
        assert_eq!(parse_timespan("h"), None);
        assert_eq!(parse_timespan("0s"), None);
    }
}
