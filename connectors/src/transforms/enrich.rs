//! `transform enrich`: joins each event with a row of a lookup table and copies the
//! row's columns into event fields — the department of a user from the directory, the
//! owner of a host from the asset inventory.
//!
//! Audit records rarely say who someone is: an Okta or Microsoft 365 record names a user
//! but not her department. The pattern-of-life models compare an entity with its peers,
//! and a declared peer group (`peers = user.group.name`) is only as good as the field
//! that carries it; this is how that field gets there.
//!
//! The table is an NDJSON file (one JSON object per line) read once when the pipeline
//! starts; a line that is not an object is refused with its line number, so a broken
//! table stops the start instead of silently enriching nothing. Events whose key is
//! absent or unknown pass unchanged.

use pipectl_core::component::{
    BuildContext, BuildError, Built, Factory, Transform, TransformOutput,
};
use pipectl_core::config::Attrs;
use pipectl_core::event::Batch;
use pipectl_core::path::FieldPath;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan, PlanValue};
use std::collections::HashMap;

/// The catalogue entry of `transform enrich`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "enrich",
    summary: "Joins each event with a row of a lookup table (NDJSON) and copies the row's columns into event fields.",
    attrs: &[
        AttrSpec::required(
            "table",
            AttrType::Path,
            "The lookup table: an NDJSON file of JSON objects, read when the pipeline starts.",
        ),
        AttrSpec::required(
            "key",
            AttrType::String,
            "The table column holding the lookup key (e.g. `\"email\"`).",
        ),
        AttrSpec::required(
            "match",
            AttrType::Field,
            "The event field whose value is looked up in the `key` column (e.g. `user.email`).",
        ),
        AttrSpec::required(
            "set",
            AttrType::Map(&AttrType::Field),
            "Table column → event field to write, e.g. `{ department = user.group.name }`.",
        ),
        AttrSpec::with_default(
            "case_sensitive",
            AttrType::Bool,
            "false",
            "Whether keys must match in case; by default `Alice@Acme.example` finds `alice@acme.example`.",
        ),
        AttrSpec::with_default(
            "overwrite",
            AttrType::Bool,
            "false",
            "Whether a table value replaces a value the event already has in that field.",
        ),
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `transform enrich`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

/// The fields one table row writes.
type Row = Vec<(FieldPath, Value)>;

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let path = attrs.string("table")?;
    let key = attrs.string("key")?;
    let lookup = attrs.field("match")?;
    let case_sensitive = attrs.bool("case_sensitive")?;
    let overwrite = attrs.bool("overwrite")?;
    let set: Vec<(String, FieldPath)> = match attrs.raw("set") {
        Some(PlanValue::Map(map)) if !map.is_empty() => map
            .iter()
            .map(|(column, target)| match target {
                PlanValue::Field(f) => Ok((column.clone(), FieldPath::from(f))),
                _ => Err(attrs.error(format!("`set`: `{column}` must name an event field"))),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(attrs.error("`set` must map at least one table column to a field")),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| attrs.error(format!("cannot read the table {path}: {e}")))?;
    let mut rows: HashMap<String, Row> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = pipectl_core::json::from_str(line)
            .map_err(|e| attrs.error(format!("{path}:{}: not JSON: {e}", n + 1)))?;
        let Some(object) = record.as_object() else {
            return Err(attrs.error(format!("{path}:{}: not a JSON object", n + 1)));
        };
        let Some(id) = object.get(&key).and_then(key_text) else {
            continue;
        };
        let row: Row = set
            .iter()
            .filter_map(|(column, target)| {
                object
                    .get(column)
                    .filter(|v| !matches!(v, Value::Null))
                    .map(|v| (target.clone(), v.clone()))
            })
            .collect();
        let id = if case_sensitive {
            id
        } else {
            id.to_lowercase()
        };
        // The first row of a key wins, as a person reads the table.
        rows.entry(id).or_insert(row);
    }
    tracing::debug!(component = %plan.name, rows = rows.len(), "lookup table loaded");
    Ok(Built::Transform(Box::new(Enrich {
        rows,
        lookup,
        case_sensitive,
        overwrite,
    })))
}

/// A key as text: strings as they are, numbers and booleans written out.
fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A built `transform enrich`.
pub struct Enrich {
    rows: HashMap<String, Row>,
    lookup: FieldPath,
    case_sensitive: bool,
    overwrite: bool,
}

impl Enrich {
    fn row_of(&self, event: &Value) -> Option<&Row> {
        let key = event.get_path(&self.lookup).and_then(key_text)?;
        if self.case_sensitive {
            self.rows.get(&key)
        } else {
            self.rows.get(&key.to_lowercase())
        }
    }
}

impl Transform for Enrich {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        for mut event in batch {
            if let Some(row) = self.row_of(&event.value) {
                let row = row.clone();
                for (target, value) in row {
                    if self.overwrite || event.value.get_path(&target).is_none() {
                        // Only fails when a path crosses a non-object, which an event
                        // shaped by the schema does not have; the event is kept as is.
                        let _ = event.value.insert_path(&target, value);
                    }
                }
            }
            out.push(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{build_error, field, plan, run_transform, string, TempDir};
    use std::collections::BTreeMap;

    fn enrich_plan(table: &str, extra: Vec<(&str, PlanValue)>) -> ComponentPlan {
        let mut attrs = vec![
            ("table", string(table)),
            ("key", string("email")),
            ("match", PlanValue::Field(field("user.email"))),
            (
                "set",
                PlanValue::Map(BTreeMap::from([
                    (
                        "department".to_string(),
                        PlanValue::Field(field("user.group.name")),
                    ),
                    ("title".to_string(), PlanValue::Field(field("user.title"))),
                ])),
            ),
        ];
        attrs.extend(extra);
        plan(&SPEC, "t", attrs)
    }

    #[tokio::test]
    async fn copies_the_row_of_the_event_key_into_the_event() {
        let dir = TempDir::new("enrich");
        let table = dir.path().join("directory.jsonl");
        std::fs::write(
            &table,
            concat!(
                "{\"email\":\"mia@acme.example\",\"department\":\"finance\",\"title\":\"Analyst\"}\n",
                "\n",
                "{\"email\":\"leo@acme.example\",\"department\":\"marketing\",\"title\":null}\n",
                "{\"department\":\"no key\"}\n",
            ),
        )
        .unwrap();
        let outcome = run_transform(
            FACTORY,
            enrich_plan(table.to_str().unwrap(), vec![]),
            &[
                r#"{"user":{"email":"Mia@Acme.example"}}"#,
                r#"{"user":{"email":"leo@acme.example","group":{"name":"kept"}}}"#,
                r#"{"user":{"email":"nobody@acme.example"}}"#,
                r#"{"message":"no user"}"#,
            ],
        )
        .await;
        assert_eq!(
            outcome.port(""),
            [
                r#"{"user":{"email":"Mia@Acme.example","group":{"name":"finance"},"title":"Analyst"}}"#,
                r#"{"user":{"email":"leo@acme.example","group":{"name":"kept"}}}"#,
                r#"{"user":{"email":"nobody@acme.example"}}"#,
                r#"{"message":"no user"}"#,
            ]
        );
    }

    #[tokio::test]
    async fn overwrite_and_case_sensitivity_are_options() {
        let dir = TempDir::new("enrich-options");
        let table = dir.path().join("t.jsonl");
        std::fs::write(
            &table,
            "{\"email\":\"Leo@acme.example\",\"department\":\"sales\"}\n",
        )
        .unwrap();
        let p = enrich_plan(
            table.to_str().unwrap(),
            vec![
                ("overwrite", PlanValue::Bool(true)),
                ("case_sensitive", PlanValue::Bool(true)),
            ],
        );
        let outcome = run_transform(
            FACTORY,
            p,
            &[
                r#"{"user":{"email":"Leo@acme.example","group":{"name":"old"}}}"#,
                r#"{"user":{"email":"leo@acme.example"}}"#,
            ],
        )
        .await;
        assert_eq!(
            outcome.port(""),
            [
                r#"{"user":{"email":"Leo@acme.example","group":{"name":"sales"}}}"#,
                r#"{"user":{"email":"leo@acme.example"}}"#,
            ]
        );
    }

    #[test]
    fn a_broken_table_stops_the_start_with_its_line() {
        let dir = TempDir::new("enrich-broken");
        let table = dir.path().join("t.jsonl");
        std::fs::write(&table, "{\"email\":\"a\"}\n[1,2]\n").unwrap();
        let message = build_error(&FACTORY, &enrich_plan(table.to_str().unwrap(), vec![]));
        assert!(
            message.contains("t.jsonl:2: not a JSON object"),
            "{message}"
        );
        let missing = build_error(&FACTORY, &enrich_plan("/nonexistent/t.jsonl", vec![]));
        assert!(missing.contains("cannot read the table"), "{missing}");
    }
}
