//! The `features` attribute: calls such as `novelty(event.action)` or
//! `volume(file.size, per = 1h)`, checked when the stage is built.

use pipectl_core::path::FieldPath;
use pipectl_dsl::plan::PlanValue;

/// The feature functions the language accepts.
pub const FUNCTIONS: &[&str] = &[
    "novelty",
    "volume",
    "count",
    "distinct",
    "time_of_week",
    "peer_rarity",
];

const DAY_MS: u64 = 86_400_000;

/// What a feature measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A categorical value's rarity.
    Novelty,
    /// Sum of a numeric field per window.
    Volume,
    /// Events per window.
    Count,
    /// Distinct values of a field per window.
    Distinct,
    /// Activity by hour of the week.
    TimeOfWeek,
    /// Days on which the entity uses a value its peer group does not use.
    PeerRarity,
}

impl Kind {
    /// Whether the feature is judged per window rather than per event.
    pub fn windowed(self) -> bool {
        matches!(self, Kind::Volume | Kind::Count | Kind::Distinct)
    }
}

/// One checked feature.
#[derive(Debug, Clone)]
pub struct Feature {
    pub kind: Kind,
    /// The field read (absent for `count()` and `time_of_week()`).
    pub field: Option<FieldPath>,
    pub field_text: String,
    /// Window length in milliseconds (windowed features).
    pub window_ms: i64,
    /// The window as written back (`1h`).
    pub window_text: String,
    /// The feature as written in the pipeline, normalised (`volume(file.size, per = 1h)`).
    pub text: String,
}

/// `90000` → `90s`, `3600000` → `1h`: the largest unit that divides the duration.
pub fn duration_text(ms: u64) -> String {
    for (unit, size) in [("d", DAY_MS), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Checks every call of the `features` list; the error says which feature and why.
pub fn parse(list: &[PlanValue]) -> Result<Vec<Feature>, String> {
    if list.is_empty() {
        return Err("`features` is empty: list at least one, e.g. `novelty(event.action)`".into());
    }
    let mut out: Vec<Feature> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let feature = parse_one(item).map_err(|e| format!("`features[{i}]`: {e}"))?;
        if out.iter().any(|f| f.text == feature.text) {
            return Err(format!(
                "`features[{i}]`: `{}` is listed twice",
                feature.text
            ));
        }
        out.push(feature);
    }
    Ok(out)
}

fn parse_one(item: &PlanValue) -> Result<Feature, String> {
    let PlanValue::Call { name, args, named } = item else {
        return Err("expected a call such as `novelty(event.action)`".into());
    };
    let (kind, wants_field, wants_window) = match name.as_str() {
        "novelty" => (Kind::Novelty, true, false),
        "volume" => (Kind::Volume, true, true),
        "count" => (Kind::Count, false, true),
        "distinct" => (Kind::Distinct, true, true),
        "time_of_week" => (Kind::TimeOfWeek, false, false),
        "peer_rarity" => (Kind::PeerRarity, true, false),
        other => {
            return Err(format!(
                "unknown feature `{other}()`; use one of {}",
                FUNCTIONS.join(", ")
            ))
        }
    };
    let usage = match kind {
        Kind::Novelty => "novelty(field)",
        Kind::Volume => "volume(field, per = 1h)",
        Kind::Count => "count(per = 1h)",
        Kind::Distinct => "distinct(field, per = 1h)",
        Kind::TimeOfWeek => "time_of_week()",
        Kind::PeerRarity => "peer_rarity(field)",
    };
    let positional = usize::from(wants_field);
    if args.len() != positional {
        return Err(format!(
            "`{name}()` takes {positional} field argument{}, found {} (write `{usage}`)",
            if positional == 1 { "" } else { "s" },
            args.len()
        ));
    }
    if let Some(extra) = named
        .keys()
        .find(|k| !(wants_window && k.as_str() == "per"))
    {
        return Err(format!(
            "`{name}()` has no argument `{extra}` (write `{usage}`)"
        ));
    }
    let (field, field_text) = match args.first() {
        Some(PlanValue::Field(f)) => (Some(FieldPath::from(f)), f.to_string()),
        Some(_) => {
            return Err(format!(
                "the argument of `{name}()` must be a field path such as `event.action`, without quotes (write `{usage}`)"
            ))
        }
        None => (None, String::new()),
    };
    let (window_ms, window_text) = if wants_window {
        let ms = match named.get("per") {
            Some(PlanValue::Duration(ms)) => *ms,
            Some(_) => {
                return Err(format!(
                    "`per` must be a duration such as `1h` (write `{usage}`)"
                ))
            }
            None => return Err(format!("`{name}()` needs a window: write `{usage}`")),
        };
        if ms < 60_000 || !DAY_MS.is_multiple_of(ms) {
            return Err(format!(
                "the window `per = {}` must be at least a minute and divide a day evenly (1m, 5m, 15m, 1h, 6h, 1d...)",
                duration_text(ms)
            ));
        }
        (ms as i64, duration_text(ms))
    } else {
        (0, String::new())
    };
    let text = match (kind.windowed(), field_text.is_empty()) {
        (true, true) => format!("{name}(per = {window_text})"),
        (true, false) => format!("{name}({field_text}, per = {window_text})"),
        (false, _) => format!("{name}({field_text})"),
    };
    Ok(Feature {
        kind,
        field,
        field_text,
        window_ms,
        window_text,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipectl_dsl::plan::{FieldPath as PlanField, PathSegment};
    use std::collections::BTreeMap;

    fn field(path: &str) -> PlanValue {
        PlanValue::Field(PlanField(
            path.split('.')
                .map(|k| PathSegment::Key(k.to_string()))
                .collect(),
        ))
    }

    fn call(name: &str, args: Vec<PlanValue>, per: Option<u64>) -> PlanValue {
        PlanValue::Call {
            name: name.into(),
            args,
            named: per
                .map(|ms| BTreeMap::from([("per".to_string(), PlanValue::Duration(ms))]))
                .unwrap_or_default(),
        }
    }

    #[test]
    fn features_parse_with_their_text_and_window() {
        let fs = parse(&[
            call("novelty", vec![field("event.action")], None),
            call("volume", vec![field("file.size")], Some(3_600_000)),
            call("count", vec![], Some(900_000)),
            call("time_of_week", vec![], None),
            call("peer_rarity", vec![field("service.name")], None),
        ])
        .unwrap();
        let texts: Vec<&str> = fs.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "novelty(event.action)",
                "volume(file.size, per = 1h)",
                "count(per = 15m)",
                "time_of_week()",
                "peer_rarity(service.name)"
            ]
        );
        assert_eq!(fs[4].kind, Kind::PeerRarity);
        assert_eq!(fs[1].window_ms, 3_600_000);
        assert_eq!(fs[1].field_text, "file.size");
    }

    #[test]
    fn bad_calls_say_what_to_write() {
        let err = |v: PlanValue| parse(&[v]).unwrap_err();
        assert!(err(call("novelty", vec![], None)).contains("takes 1 field argument, found 0"));
        assert!(err(call("volume", vec![field("file.size")], None)).contains("needs a window"));
        assert!(err(call("count", vec![], Some(7 * 3_600_000))).contains("divide a day"));
        assert!(err(call("count", vec![], Some(1000))).contains("at least a minute"));
        assert!(
            err(call("novelty", vec![PlanValue::String("x".into())], None))
                .contains("must be a field path")
        );
        assert!(err(call("novelty", vec![field("a")], Some(60_000))).contains("no argument `per`"));
        assert!(
            err(call("time_of_week", vec![field("a")], None)).contains("takes 0 field arguments")
        );
        assert!(err(call("peer_rarity", vec![], None)).contains("write `peer_rarity(field)`"));
        assert!(
            err(call("peer_rarity", vec![field("a")], Some(60_000))).contains("no argument `per`")
        );
        let twice = parse(&[
            call("novelty", vec![field("a")], None),
            call("novelty", vec![field("a")], None),
        ])
        .unwrap_err();
        assert!(twice.contains("listed twice"), "{twice}");
        assert!(parse(&[]).unwrap_err().contains("empty"));
    }
}
