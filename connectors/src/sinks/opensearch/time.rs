//! Time for index names and dead-letter records: RFC 3339 text (or epoch milliseconds)
//! to Unix milliseconds, and back to UTC calendar fields, without a date-time crate.
//!
//! Index names come from a document's own time (docs/schema.md), so this accepts what
//! OpenSearch's default `date` format accepts (`strict_date_optional_time` or
//! `epoch_millis`): a date, optionally a time with seconds and a fraction, optionally a
//! zone (`Z` or `±HH:MM`; none means UTC). Anything else is refused rather than guessed.

use pipectl_core::value::Value;

const MS_PER_DAY: i64 = 86_400_000;

/// A UTC calendar position, as index names use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
}

/// The Unix time in milliseconds a date field's value stands for, if it is one.
pub fn timestamp_ms(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => parse_rfc3339(text),
        Value::Int(ms) => Some(*ms),
        Value::Float(ms) if ms.is_finite() && ms.abs() < 9.0e15 => Some(*ms as i64),
        _ => None,
    }
}

/// Parses `2026-10-03`, `2026-10-03T22:14:05Z`, `2026-10-03T22:14:05.123+02:00`, ...
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let year = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)? as u32;
    let day = digits(b, 8, 2)? as u32;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * MS_PER_DAY;
    let mut pos = 10;
    if pos == b.len() {
        return Some(ms);
    }
    if !matches!(b.get(pos), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(b, pos + 1, 2)?;
    if b.get(pos + 3) != Some(&b':') {
        return None;
    }
    let minute = digits(b, pos + 4, 2)?;
    pos += 6;
    let mut second = 0;
    if b.get(pos) == Some(&b':') {
        second = digits(b, pos + 1, 2)?;
        pos += 3;
        if matches!(b.get(pos), Some(b'.' | b',')) {
            pos += 1;
            let start = pos;
            let mut millis = 0;
            while let Some(d) = b.get(pos).filter(|d| d.is_ascii_digit()) {
                if pos - start < 3 {
                    millis = millis * 10 + i64::from(d - b'0');
                }
                pos += 1;
            }
            if pos == start {
                return None;
            }
            for _ in (pos - start)..3 {
                millis *= 10;
            }
            ms += millis;
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    ms += ((hour * 60 + minute) * 60 + second) * 1000;
    let offset_minutes = match b.get(pos) {
        None => 0,
        Some(b'Z' | b'z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, pos + 1, 2)?;
            let om = match b.get(pos + 3) {
                Some(b':') if pos + 6 == b.len() => digits(b, pos + 4, 2)?,
                Some(_) if pos + 5 == b.len() => digits(b, pos + 3, 2)?,
                None if pos + 3 == b.len() => 0,
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let total = oh * 60 + om;
            if sign == b'+' {
                total
            } else {
                -total
            }
        }
        _ => return None,
    };
    Some(ms - offset_minutes * 60_000)
}

/// `n` ASCII digits at `at` as a number.
fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let slice = b.get(at..at + n)?;
    slice.iter().try_fold(0i64, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (eras of 400 years).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC calendar position of a Unix time in milliseconds.
pub fn civil_from_ms(ms: i64) -> Civil {
    let days = ms.div_euclid(MS_PER_DAY);
    let hour = (ms.rem_euclid(MS_PER_DAY) / 3_600_000) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour,
    }
}

/// `2026-10-03T22:19:43.123Z`.
pub fn format_rfc3339(ms: i64) -> String {
    let c = civil_from_ms(ms);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let minute = in_day / 60_000 % 60;
    let second = in_day / 1000 % 60;
    let millis = in_day % 1000;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{minute:02}:{second:02}.{millis:03}Z",
        c.year, c.month, c.day, c.hour
    )
}

/// The current Unix time in milliseconds.
pub fn now_ms() -> i64 {
    pipectl_core::event::now_ns() / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_opensearch_accepts() {
        let base = 1_759_529_645_000; // 2025-10-03T22:14:05Z
        assert_eq!(parse_rfc3339("2025-10-03T22:14:05Z"), Some(base));
        assert_eq!(parse_rfc3339("2025-10-03t22:14:05z"), Some(base));
        assert_eq!(parse_rfc3339("2025-10-03T22:14:05"), Some(base));
        assert_eq!(parse_rfc3339("2025-10-03T22:14:05.5Z"), Some(base + 500));
        assert_eq!(
            parse_rfc3339("2025-10-03T22:14:05.123456789Z"),
            Some(base + 123)
        );
        assert_eq!(parse_rfc3339("2025-10-04T00:14:05+02:00"), Some(base));
        assert_eq!(parse_rfc3339("2025-10-03T20:14:05-0200"), Some(base));
        assert_eq!(parse_rfc3339("2025-10-03T22:14Z"), Some(base - 5000));
        assert_eq!(
            parse_rfc3339("2025-10-03"),
            Some(base - (22 * 3600 + 14 * 60 + 5) * 1000)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1000));
    }

    #[test]
    fn refuses_what_is_not_a_date() {
        for bad in [
            "",
            "yesterday",
            "2025-13-01",
            "2025-02-29",
            "2025-10-03T25:00:00Z",
            "2025-10-03T22:14:05Zjunk",
            "2025-10-03T22:14:05.Z",
            "2025-10-03X22:14:05",
            "2025-1-3",
            "２０２５-10-03",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_rfc3339("2024-02-29"), Some(1_709_164_800_000));
    }

    #[test]
    fn civil_dates_round_trip() {
        for ms in [
            0,
            951_782_400_000,
            1_709_164_800_000,
            4_102_444_799_999,
            -86_400_001,
        ] {
            let text = format_rfc3339(ms);
            assert_eq!(parse_rfc3339(&text), Some(ms), "{text}");
        }
        assert_eq!(
            format_rfc3339(1_759_529_645_123),
            "2025-10-03T22:14:05.123Z"
        );
        let c = civil_from_ms(1_759_529_645_123);
        assert_eq!((c.year, c.month, c.day, c.hour), (2025, 10, 3, 22));
    }

    #[test]
    fn epoch_milliseconds_are_timestamps_too() {
        assert_eq!(timestamp_ms(&Value::Int(1234)), Some(1234));
        assert_eq!(timestamp_ms(&Value::Float(1234.9)), Some(1234));
        assert_eq!(timestamp_ms(&Value::Bool(true)), None);
        assert_eq!(
            timestamp_ms(&Value::from("2025-10-03")),
            Some(1_759_449_600_000)
        );
    }
}
