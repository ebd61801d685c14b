//! Human wording for breach records: units, percentages, times and the one-sentence
//! explanations, per feature kind.

use crate::features::{Feature, Kind};
use pipectl_core::detect::sigma::time::format_rfc3339;

/// `4.1 GB`, `20 MB`, `512 B` (decimal units, as people read download sizes).
pub fn bytes(x: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = x.max(0.0);
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    let unit = units.get(u).copied().unwrap_or("B");
    if u == 0 || v >= 100.0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// `1,840`, `3.5`.
pub fn number(x: f64) -> String {
    if x.fract().abs() > 1e-9 && x.abs() < 100.0 {
        return format!("{x:.1}");
    }
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A share as a percentage people read: `2%`, `0.3%`, `<0.1%`.
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p >= 1.0 {
        format!("{p:.0}%")
    } else if p >= 0.1 {
        format!("{p:.1}%")
    } else {
        "<0.1%".into()
    }
}

/// Whether a feature's numbers are bytes (by its field's name).
pub fn is_bytes(feature: &Feature) -> bool {
    let f = feature.field_text.as_str();
    feature.kind == Kind::Volume
        && (f.ends_with("bytes") || f.ends_with("size") || f.ends_with(".length"))
}

/// A windowed feature's value in its unit.
pub fn amount(feature: &Feature, x: f64) -> String {
    if is_bytes(feature) {
        bytes(x)
    } else {
        number(x)
    }
}

/// `between 01:00 and 02:00 UTC on 2026-10-03`, or `on 2026-10-03` for a day.
pub fn window_phrase(start_ms: i64, window_ms: i64) -> String {
    let start = format_rfc3339(start_ms);
    let end = format_rfc3339(start_ms + window_ms);
    let day = start.get(0..10).unwrap_or("");
    if window_ms >= 86_400_000 {
        return format!("on {day}");
    }
    format!(
        "between {} and {} UTC on {day}",
        start.get(11..16).unwrap_or(""),
        end.get(11..16).unwrap_or("")
    )
}

/// `09:00–10:00 on weekdays` for a slot of the week.
pub fn slot_phrase(slot: usize) -> String {
    let hour = slot % 24;
    let days = if slot >= 24 { "weekends" } else { "weekdays" };
    format!("{hour:02}:00–{:02}:00 on {days}", (hour + 1) % 24)
}

/// How a sentence names an entity kind.
pub fn kind_noun(kind: &str) -> &str {
    match kind {
        "user" => "user",
        "aws_user" => "AWS identity",
        "host" => "host",
        "container" => "container",
        "service_principal" => "application",
        "ip" => "address",
        "email_domain" => "sending domain",
        other => other,
    }
}

/// The verb phrase of a novelty value for common fields: `connected from Romania`.
pub fn novelty_phrase(field: &str, value: &str) -> String {
    if field.starts_with("source.geo.") {
        format!("connected from {value}")
    } else if field == "event.action" {
        format!("performed {value}")
    } else if field.starts_with("destination.") || field.starts_with("url.") {
        format!("reached {value}")
    } else if field.starts_with("user_agent.") {
        format!("used {value}")
    } else if field.starts_with("source.") {
        format!("was reached from {value}")
    } else {
        format!("had {value}")
    }
}

/// The verb phrase of a windowed amount: `downloaded 4.1 GB`, `had 523 events`.
pub fn window_phrase_of(feature: &Feature, observed: f64) -> String {
    match feature.kind {
        Kind::Count => format!("had {} events", number(observed)),
        Kind::Distinct => format!("reached {} distinct values", number(observed)),
        _ if is_bytes(feature) && feature.field_text.starts_with("source.") => {
            format!("received {}", bytes(observed))
        }
        _ if is_bytes(feature) => format!("moved {}", bytes(observed)),
        _ => format!("totalled {}", number(observed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_like_people_write_them() {
        assert_eq!(bytes(4_100_000_000.0), "4.1 GB");
        assert_eq!(bytes(20_000_000.0), "20.0 MB");
        assert_eq!(bytes(150_000_000.0), "150 MB");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(number(1840.0), "1,840");
        assert_eq!(number(3.5), "3.5");
        assert_eq!(number(1_234_567.0), "1,234,567");
        assert_eq!(percent(0.02), "2%");
        assert_eq!(percent(0.003), "0.3%");
        assert_eq!(percent(0.0001), "<0.1%");
        assert_eq!(
            window_phrase(3_600_000, 3_600_000),
            "between 01:00 and 02:00 UTC on 1970-01-01"
        );
        assert_eq!(window_phrase(0, 86_400_000), "on 1970-01-01");
        assert_eq!(slot_phrase(33), "09:00–10:00 on weekends");
    }
}
