//! Field mappings: which places in an event a Sigma field name refers to.
//!
//! Sigma rules name fields as the log source writes them (`eventName`,
//! `userIdentity.type`, `CommandLine`). pipectl events keep the provider's record
//! either at the root (raw records) or under its namespace (`aws.cloudtrail.eventName`,
//! see docs/schema.md), and normalised ECS fields beside it. So a Sigma field resolves
//! to a list of candidate paths, all tried: the configured targets (`field_map`), the
//! name itself (a dotted name as nested keys, and as one literal dotted key), and the
//! same under each namespace of the rule's log source.
//!
//! Some vendors use keys that begin with a dot (Dropbox tags every union with `.tag`:
//! `"event_type": {".tag": "file_download"}`). A dotted name cannot say that otherwise,
//! so in the nested reading an empty segment joins the dot to the key after it:
//! `event_type..tag` is the key `.tag` under `event_type`.

use crate::path::{FieldPath, PathSegment};
use crate::value::Str;
use std::collections::BTreeMap;

/// A candidate path: object keys from the root.
pub type KeyPath = Vec<Str>;

/// Configured field mappings: Sigma field name → event paths.
#[derive(Debug, Clone, Default)]
pub struct FieldMap {
    targets: BTreeMap<String, Vec<KeyPath>>,
}

/// Why a mapping cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field mapping `{field}`: {reason}")]
pub struct FieldMapError {
    pub field: String,
    pub reason: String,
}

impl FieldMap {
    /// Mappings from Sigma field names to event paths (`a.b`, `a."dotted.key"`).
    pub fn new(entries: &[(String, Vec<String>)]) -> Result<FieldMap, FieldMapError> {
        let mut targets = BTreeMap::new();
        for (field, paths) in entries {
            let mut parsed = Vec::new();
            for p in paths {
                parsed.push(key_path(p).map_err(|reason| FieldMapError {
                    field: field.clone(),
                    reason,
                })?);
            }
            targets.insert(field.clone(), parsed);
        }
        Ok(FieldMap { targets })
    }

    /// Every path to try for `field` in a rule whose log source has `namespaces`.
    pub fn paths(&self, field: &str, namespaces: &[KeyPath]) -> Vec<KeyPath> {
        let mut out: Vec<KeyPath> = Vec::new();
        let mut add = |p: KeyPath| {
            if !p.is_empty() && !out.contains(&p) {
                out.push(p);
            }
        };
        if let Some(targets) = self.targets.get(field) {
            targets.iter().cloned().for_each(&mut add);
        }
        let nested = nested_keys(field);
        let literal: KeyPath = vec![Str::from(field)];
        add(nested.clone());
        add(literal.clone());
        for ns in namespaces {
            for tail in [&nested, &literal] {
                let mut p = ns.clone();
                p.extend(tail.iter().cloned());
                add(p);
            }
            // Azure's REST API writes names as localizable strings (`"operationName":
            // {"value": ..., "localizedValue": ...}`) where its diagnostic settings,
            // which the rules are written for, write the text.
            if ns.first().is_some_and(|root| root.as_str() == "azure") {
                let mut p = ns.clone();
                p.extend(nested.iter().cloned());
                p.push(Str::from("value"));
                add(p);
            }
        }
        out
    }
}

/// A dotted Sigma field name as nested keys; an empty segment before a key makes that
/// key begin with a dot (`a..tag` → `a`, `.tag`).
fn nested_keys(field: &str) -> KeyPath {
    let mut keys = KeyPath::new();
    let mut dot = false;
    let mut pieces = field.split('.').peekable();
    while let Some(piece) = pieces.next() {
        if piece.is_empty() && pieces.peek().is_some_and(|next| !next.is_empty()) {
            dot = true;
            continue;
        }
        if dot {
            keys.push(Str::from(format!(".{piece}").as_str()));
            dot = false;
        } else {
            keys.push(Str::from(piece));
        }
    }
    keys
}

/// A path of object keys, parsed like pipeline field paths (no array indices).
pub fn key_path(text: &str) -> Result<KeyPath, String> {
    let path = FieldPath::parse(text).map_err(|e| e.to_string())?;
    path.segments()
        .iter()
        .map(|s| match s {
            PathSegment::Key(k) => Ok(k.clone()),
            PathSegment::Index(_) => Err(format!("`{text}`: array indices are not supported here")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(paths: &[KeyPath]) -> Vec<String> {
        paths.iter().map(|p| p.join("/")).collect()
    }

    #[test]
    fn azure_names_also_try_the_value_of_a_localizable_string() {
        let map = FieldMap::default();
        let ns = vec![key_path("azure.activitylogs").unwrap()];
        assert_eq!(
            show(&map.paths("operationName", &ns)),
            [
                "operationName",
                "azure/activitylogs/operationName",
                "azure/activitylogs/operationName/value",
            ]
        );
        let aws = vec![key_path("aws.cloudtrail").unwrap()];
        assert_eq!(map.paths("eventName", &aws).len(), 2);
    }

    #[test]
    fn dotted_names_try_nested_literal_and_namespaced() {
        let map = FieldMap::default();
        let ns = vec![key_path("aws.cloudtrail").unwrap()];
        assert_eq!(
            show(&map.paths("userIdentity.type", &ns)),
            [
                "userIdentity/type",
                "userIdentity.type",
                "aws/cloudtrail/userIdentity/type",
                "aws/cloudtrail/userIdentity.type"
            ]
        );
        assert_eq!(show(&map.paths("eventName", &[])), ["eventName"]);
    }

    #[test]
    fn an_empty_segment_makes_a_key_starting_with_a_dot() {
        let map = FieldMap::default();
        let ns = vec![key_path("dropbox").unwrap()];
        assert_eq!(
            show(&map.paths("event_type..tag", &ns)),
            [
                "event_type/.tag",
                "event_type..tag",
                "dropbox/event_type/.tag",
                "dropbox/event_type..tag"
            ]
        );
        assert_eq!(show(&map.paths(".tag", &[])), [".tag"]);
    }

    #[test]
    fn configured_targets_come_first() {
        let map =
            FieldMap::new(&[("CommandLine".into(), vec!["process.command_line".into()])]).unwrap();
        assert_eq!(
            show(&map.paths("CommandLine", &[])),
            ["process/command_line", "CommandLine"]
        );
        assert!(FieldMap::new(&[("x".into(), vec!["a[0]".into()])]).is_err());
    }
}
