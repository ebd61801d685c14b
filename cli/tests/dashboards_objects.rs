//! Offline checks of what `pipectl opensearch setup` and `pipectl dashboards install`
//! ship: the index templates, the ISM policy, the Dashboards saved objects and the schema
//! contract in `docs/schema.md` must agree with each other.
//!
//! Why: a visualization on a field no template maps renders empty, a dangling reference
//! makes the Dashboards import fail, and a schema page that drifts from the templates
//! sends every later producer (models, rules, correlator, responders) the wrong way.
//! All of it is checkable without a running OpenSearch, so it is checked here.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Index template name, the one index pattern it must cover, and its root `dynamic`.
const INDEX_TEMPLATES: &[(&str, &str, &str)] = &[
    ("pipectl-events", "pipectl-events-*", "false"),
    ("pipectl-breaches", "pipectl-breaches-*", "strict"),
    ("pipectl-anomalies", "pipectl-anomalies-*", "strict"),
    ("pipectl-hits", "pipectl-hits-*", "strict"),
    ("pipectl-incidents", "pipectl-incidents-*", "strict"),
    ("pipectl-entities", "pipectl-entities-*", "strict"),
    ("pipectl-actions", "pipectl-actions-*", "strict"),
    ("pipectl-deadletter", "pipectl-deadletter-*", "false"),
];

/// Field types the templates may use (OpenSearch 2.19 core, no plugins).
const KNOWN_TYPES: &[&str] = &[
    "keyword",
    "text",
    "ip",
    "long",
    "integer",
    "short",
    "byte",
    "double",
    "float",
    "date",
    "boolean",
    "geo_point",
    "flat_object",
    "object",
];

/// Types whose values have doc values, so Dashboards can aggregate and sort on them.
const AGGREGATABLE_TYPES: &[&str] = &[
    "keyword", "ip", "long", "integer", "short", "byte", "double", "float", "date", "boolean",
];

/// Visualization types of OpenSearch Dashboards 2.x the saved objects may use.
const KNOWN_VIS_TYPES: &[&str] = &[
    "pie",
    "histogram",
    "horizontal_bar",
    "line",
    "area",
    "table",
    "metric",
    "input_control_vis",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    let path = repo_root().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn parse_json(what: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not valid JSON: {e}"))
}

fn read_json(rel: &str) -> Value {
    parse_json(rel, &read(rel))
}

/// Turns collected problems into one failure listing all of them (each once: a broken
/// template is reported by every check that loads it).
fn assert_no_problems(area: &str, problems: &[String]) {
    let mut seen = BTreeSet::new();
    let unique: Vec<&str> = problems
        .iter()
        .filter(|p| seen.insert(p.as_str()))
        .map(String::as_str)
        .collect();
    assert!(
        unique.is_empty(),
        "{area}: {} problem(s):\n  {}",
        unique.len(),
        unique.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------
// Mappings: dotted field names with their types, from a template and its components.
// ---------------------------------------------------------------------------------------

/// One mapped field, as Dashboards sees it.
#[derive(Debug, Clone, PartialEq)]
struct Field {
    ty: String,
    indexed: bool,
    doc_values: bool,
    /// `enabled: false` objects are stored in `_source` only.
    enabled: bool,
    /// Objects with `dynamic: true` map new sub-fields as they arrive (`labels`).
    dynamic: bool,
}

impl Field {
    fn aggregatable(&self) -> bool {
        AGGREGATABLE_TYPES.contains(&self.ty.as_str()) && self.doc_values
    }

    fn searchable(&self) -> bool {
        self.ty != "object" && (self.indexed || self.doc_values)
    }

    /// Fields below this one are not in the mapping but still accepted in documents.
    fn opaque(&self) -> bool {
        self.ty == "flat_object" || (self.ty == "object" && (!self.enabled || self.dynamic))
    }
}

/// The effective mapping of one index template: every field by dotted name.
#[derive(Debug, Default)]
struct Mapping {
    template: String,
    fields: BTreeMap<String, Field>,
}

impl Mapping {
    /// The mapped field at `name`, or the `flat_object`/disabled/dynamic object that
    /// swallows it, with the remaining sub-path.
    fn resolve(&self, name: &str) -> Option<(&str, &Field)> {
        if let Some((key, field)) = self.fields.get_key_value(name) {
            return Some((key.as_str(), field));
        }
        let mut end = name.len();
        while let Some(dot) = name[..end].rfind('.') {
            if let Some((key, field)) = self.fields.get_key_value(&name[..dot]) {
                return field.opaque().then_some((key.as_str(), field));
            }
            end = dot;
        }
        None
    }

    /// Any mapped field whose name matches a Dashboards-style wildcard (`user.*`).
    fn any_matches(&self, pattern: &str) -> bool {
        self.fields.keys().any(|name| wildcard_match(pattern, name))
    }
}

fn wildcard_match(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((prefix, rest)) => name.strip_prefix(prefix).is_some_and(|tail| {
            tail.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(tail.len()))
                .any(|i| wildcard_match(rest, &tail[i..]))
        }),
    }
}

/// Adds `properties` (recursively, with multi-field `fields`) to `out` under `prefix`.
fn collect_properties(
    source: &str,
    prefix: &str,
    properties: &Map<String, Value>,
    out: &mut BTreeMap<String, Field>,
    problems: &mut Vec<String>,
) {
    for (key, def) in properties {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let Some(def) = def.as_object() else {
            problems.push(format!("{source}: `{name}` is not an object"));
            continue;
        };
        let ty = def.get("type").and_then(Value::as_str).unwrap_or("object");
        if !KNOWN_TYPES.contains(&ty) {
            problems.push(format!("{source}: `{name}` has unknown type `{ty}`"));
        }
        let field = Field {
            ty: ty.to_string(),
            indexed: def.get("index") != Some(&Value::Bool(false)),
            doc_values: def.get("doc_values") != Some(&Value::Bool(false)) && ty != "text",
            enabled: def.get("enabled") != Some(&Value::Bool(false)),
            dynamic: matches!(def.get("dynamic"), Some(Value::Bool(true)))
                || def.get("dynamic").and_then(Value::as_str) == Some("true"),
        };
        insert_field(source, &name, field, out, problems);
        if let Some(children) = def.get("properties").and_then(Value::as_object) {
            collect_properties(source, &name, children, out, problems);
        }
        if let Some(multi) = def.get("fields").and_then(Value::as_object) {
            collect_properties(source, &name, multi, out, problems);
        }
    }
}

/// Records a field; the same name defined twice differently (e.g. in two components)
/// would depend on merge order, so it is a problem.
fn insert_field(
    source: &str,
    name: &str,
    field: Field,
    out: &mut BTreeMap<String, Field>,
    problems: &mut Vec<String>,
) {
    match out.get(name) {
        Some(existing) if existing.ty == "object" && field.ty == "object" => {}
        Some(existing) if *existing != field => problems.push(format!(
            "{source}: `{name}` is defined again as {} (already {})",
            field.ty, existing.ty
        )),
        _ => {
            out.insert(name.to_string(), field);
        }
    }
}

/// The top-level `properties` of a (component or index) template; a settings-only
/// template has none.
fn template_properties(body: &Value) -> Result<Map<String, Value>, &'static str> {
    match body.pointer("/template/mappings") {
        None => Ok(Map::new()),
        Some(mappings) => mappings
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .ok_or("template.mappings has no properties"),
    }
}

/// All templates, loaded once per test.
struct Templates {
    components: BTreeMap<String, Value>,
    index: BTreeMap<String, Value>,
}

impl Templates {
    fn load() -> Templates {
        let mut components = BTreeMap::new();
        let mut index = BTreeMap::new();
        for (dir, into) in [
            ("dashboards/templates/components", &mut components),
            ("dashboards/templates", &mut index),
        ] {
            let path = repo_root().join(dir);
            let entries = fs::read_dir(&path)
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", path.display()));
            for entry in entries {
                let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", path.display()));
                let file = entry.file_name().to_string_lossy().into_owned();
                if let Some(name) = file.strip_suffix(".json") {
                    into.insert(name.to_string(), read_json(&format!("{dir}/{file}")));
                }
            }
        }
        Templates { components, index }
    }

    /// The merged mapping of index template `name` (components in `composed_of` order,
    /// then its own mappings), as OpenSearch composes it.
    fn mapping(&self, name: &str, problems: &mut Vec<String>) -> Mapping {
        let mut fields = BTreeMap::new();
        let Some(template) = self.index.get(name) else {
            problems.push(format!("no index template `{name}`"));
            return Mapping::default();
        };
        let composed = template
            .get("composed_of")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for component in composed {
            let component = component.as_str().unwrap_or_default();
            let Some(body) = self.components.get(component) else {
                problems.push(format!(
                    "template `{name}` is composed of `{component}`, which is not in dashboards/templates/components/"
                ));
                continue;
            };
            let source = format!("component `{component}`");
            match template_properties(body) {
                Ok(props) => collect_properties(&source, "", &props, &mut fields, problems),
                Err(e) => problems.push(format!("{source}: {e}")),
            }
        }
        let source = format!("template `{name}`");
        match template_properties(template) {
            Ok(props) => collect_properties(&source, "", &props, &mut fields, problems),
            Err(e) => problems.push(format!("{source}: {e}")),
        }
        Mapping {
            template: name.to_string(),
            fields,
        }
    }

    /// The mapping of the template whose index patterns contain `pattern` exactly.
    fn mapping_for_pattern(&self, pattern: &str, problems: &mut Vec<String>) -> Option<Mapping> {
        let name = self.index.iter().find_map(|(name, body)| {
            body.get("index_patterns")
                .and_then(Value::as_array)
                .is_some_and(|ps| ps.iter().any(|p| p.as_str() == Some(pattern)))
                .then_some(name.clone())
        })?;
        Some(self.mapping(&name, problems))
    }
}

#[test]
fn templates_are_well_formed() {
    let templates = Templates::load();
    let mut problems = Vec::new();

    let expected: BTreeSet<&str> = INDEX_TEMPLATES.iter().map(|(name, _, _)| *name).collect();
    let found: BTreeSet<&str> = templates.index.keys().map(String::as_str).collect();
    if expected != found {
        problems.push(format!(
            "index templates in dashboards/templates/ are {found:?}, expected {expected:?}"
        ));
    }

    for (name, pattern, dynamic) in INDEX_TEMPLATES {
        let Some(body) = templates.index.get(*name) else {
            continue;
        };
        let patterns: Vec<&str> = body
            .get("index_patterns")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if patterns != [*pattern] {
            problems.push(format!(
                "template `{name}`: index_patterns {patterns:?}, expected [\"{pattern}\"]"
            ));
        }
        if body.get("composed_of").and_then(Value::as_array).is_none() {
            problems.push(format!("template `{name}`: no composed_of list"));
        }
        if body.get("priority").and_then(Value::as_u64).is_none() {
            problems.push(format!("template `{name}`: no numeric priority"));
        }
        let root_dynamic = match body.pointer("/template/mappings/dynamic") {
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => "unset".to_string(),
        };
        if root_dynamic != *dynamic {
            problems.push(format!(
                "template `{name}`: mappings.dynamic is {root_dynamic}, expected {dynamic}"
            ));
        }
        if body
            .pointer("/template/settings/index/refresh_interval")
            .is_none()
        {
            problems.push(format!("template `{name}`: no index.refresh_interval"));
        }
        let alias = format!("/template/aliases/{name}");
        if body.pointer(&alias).is_none() {
            problems.push(format!("template `{name}`: no read alias `{name}`"));
        }
        if body
            .pointer("/_meta/pipectl_schema")
            .and_then(Value::as_u64)
            .is_none()
        {
            problems.push(format!("template `{name}`: no _meta.pipectl_schema"));
        }
        let mapping = templates.mapping(name, &mut problems);
        let required = [
            ("@timestamp", "date"),
            ("event.id", "keyword"),
            ("entity.key", "keyword"),
            ("entity.kind", "keyword"),
            ("entity.id", "keyword"),
        ];
        for (field, ty) in required {
            if mapping.fields.get(field).map(|f| f.ty.as_str()) != Some(ty) {
                problems.push(format!(
                    "template `{name}`: `{field}` must be mapped as {ty}"
                ));
            }
        }
        // Unqualified searches go to these fields; they must exist and be text-like, or
        // every such search fails on the first ip/date field.
        let default_fields = body
            .pointer("/template/settings/index/query/default_field")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for field in default_fields.iter().filter_map(Value::as_str) {
            match mapping.fields.get(field) {
                Some(f) if f.ty == "keyword" || f.ty == "text" => {}
                Some(f) => problems.push(format!(
                    "template `{name}`: default_field `{field}` is {}, not keyword/text",
                    f.ty
                )),
                None => problems.push(format!(
                    "template `{name}`: default_field `{field}` is not mapped"
                )),
            }
        }
    }

    let replicas = templates
        .components
        .get("pipectl-base")
        .and_then(|b| b.pointer("/template/settings/index/number_of_replicas"))
        .and_then(Value::as_u64);
    if replicas != Some(0) {
        problems.push(format!(
            "component `pipectl-base`: index.number_of_replicas is {replicas:?}, expected 0 (single node)"
        ));
    }
    for (name, body) in &templates.components {
        if body.get("template").is_none() {
            problems.push(format!("component `{name}`: no `template` object"));
        }
    }
    assert_no_problems("index templates", &problems);
}

#[test]
fn ism_policy_is_valid() {
    let policy = read_json("dashboards/ism/pipectl-retention.json");
    let mut problems = Vec::new();
    let states: Vec<&Value> = policy
        .pointer("/policy/states")
        .and_then(Value::as_array)
        .map(|s| s.iter().collect())
        .unwrap_or_default();
    let names: BTreeSet<&str> = states
        .iter()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .collect();
    if states.is_empty() || names.len() != states.len() {
        problems.push("policy.states must be non-empty, each with a unique name".to_string());
    }
    match policy
        .pointer("/policy/default_state")
        .and_then(Value::as_str)
    {
        Some(state) if names.contains(state) => {}
        other => problems.push(format!(
            "policy.default_state {other:?} is not one of the states {names:?}"
        )),
    }
    for state in &states {
        let transitions = state
            .get("transitions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for target in transitions
            .iter()
            .filter_map(|t| t.get("state_name").and_then(Value::as_str))
        {
            if !names.contains(target) {
                problems.push(format!("a transition goes to unknown state `{target}`"));
            }
        }
    }
    let has_delete = states.iter().any(|s| {
        s.get("actions")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|a| a.get("delete").is_some()))
    });
    if !has_delete {
        problems.push("no state deletes indices".to_string());
    }
    let covered: BTreeSet<&str> = policy
        .pointer("/policy/ism_template")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t.get("index_patterns").and_then(Value::as_array))
                .flatten()
                .filter_map(Value::as_str)
                .collect()
        })
        .unwrap_or_default();
    let wanted: BTreeSet<&str> = INDEX_TEMPLATES
        .iter()
        .map(|(_, pattern, _)| *pattern)
        .collect();
    if covered != wanted {
        problems.push(format!(
            "ism_template covers {covered:?}, expected every template pattern {wanted:?}"
        ));
    }
    assert_no_problems("dashboards/ism/pipectl-retention.json", &problems);
}

// ---------------------------------------------------------------------------------------
// Saved objects
// ---------------------------------------------------------------------------------------

const SAVED_OBJECTS: &str = "dashboards/saved-objects/pipectl.ndjson";

/// One saved object with its JSON-in-a-string attributes parsed.
struct SavedObject {
    kind: String,
    id: String,
    attributes: Value,
    /// reference name -> (type, id)
    references: BTreeMap<String, (String, String)>,
    search_source: Option<Value>,
    vis_state: Option<Value>,
    panels: Option<Value>,
}

impl SavedObject {
    fn label(&self) -> String {
        format!("{} `{}`", self.kind, self.id)
    }

    fn title(&self) -> &str {
        self.attributes
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

fn embedded_json(
    label: &str,
    attributes: &Value,
    pointer: &str,
    problems: &mut Vec<String>,
) -> Option<Value> {
    let text = attributes.pointer(pointer)?;
    let Some(text) = text.as_str() else {
        problems.push(format!(
            "{label}: attributes{pointer} must be a JSON string"
        ));
        return None;
    };
    serde_json::from_str(text)
        .map_err(|e| {
            problems.push(format!(
                "{label}: attributes{pointer} is not valid JSON: {e}"
            ))
        })
        .ok()
}

fn load_saved_objects(problems: &mut Vec<String>) -> Vec<SavedObject> {
    let text = read(SAVED_OBJECTS);
    let mut objects = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("{SAVED_OBJECTS}:{}", n + 1);
        if line.trim().is_empty() {
            problems.push(format!("{at}: empty line (the import API rejects it)"));
            continue;
        }
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{at}: not valid JSON: {e}"));
                continue;
            }
        };
        let (Some(kind), Some(id), Some(attributes)) = (
            value.get("type").and_then(Value::as_str),
            value.get("id").and_then(Value::as_str),
            value.get("attributes").filter(|a| a.is_object()),
        ) else {
            problems.push(format!(
                "{at}: needs string `type`, string `id` and object `attributes`"
            ));
            continue;
        };
        let label = format!("{kind} `{id}`");
        if value
            .pointer(&format!("/migrationVersion/{kind}"))
            .and_then(Value::as_str)
            .is_none()
        {
            problems.push(format!("{label}: migrationVersion.{kind} missing"));
        }
        if id.contains('_') {
            // Dashboards with multiple data sources split ids on '_'.
            problems.push(format!("{label}: ids must not contain '_'"));
        }
        let mut references = BTreeMap::new();
        match value.get("references").and_then(Value::as_array) {
            None => problems.push(format!("{label}: `references` must be an array")),
            Some(refs) => {
                for r in refs {
                    let (Some(name), Some(rtype), Some(rid)) = (
                        r.get("name").and_then(Value::as_str),
                        r.get("type").and_then(Value::as_str),
                        r.get("id").and_then(Value::as_str),
                    ) else {
                        problems.push(format!("{label}: reference {r} needs name, type and id"));
                        continue;
                    };
                    if references
                        .insert(name.to_string(), (rtype.to_string(), rid.to_string()))
                        .is_some()
                    {
                        problems.push(format!("{label}: reference name `{name}` used twice"));
                    }
                }
            }
        }
        objects.push(SavedObject {
            search_source: embedded_json(
                &label,
                attributes,
                "/kibanaSavedObjectMeta/searchSourceJSON",
                problems,
            ),
            vis_state: embedded_json(&label, attributes, "/visState", problems),
            panels: embedded_json(&label, attributes, "/panelsJSON", problems),
            kind: kind.to_string(),
            id: id.to_string(),
            attributes: attributes.clone(),
            references,
        });
    }
    objects
}

/// Every `...RefName` value in a JSON tree (indexRefName, panelRefName,
/// indexPatternRefName, savedSearchRefName), with the key it was found under.
fn ref_names(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match v {
                    Value::String(s) if key.ends_with("RefName") => {
                        out.push((key.clone(), s.clone()))
                    }
                    _ => ref_names(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| ref_names(v, out)),
        _ => {}
    }
}

#[test]
fn saved_objects_references_resolve() {
    let mut problems = Vec::new();
    let objects = load_saved_objects(&mut problems);
    let known: BTreeSet<(String, String)> = objects
        .iter()
        .map(|o| (o.kind.clone(), o.id.clone()))
        .collect();
    if known.len() != objects.len() {
        problems.push("two saved objects share a type and id".to_string());
    }

    for object in &objects {
        let label = object.label();
        if object.title().is_empty() {
            problems.push(format!("{label}: no title"));
        }
        for (name, (rtype, rid)) in &object.references {
            if !known.contains(&(rtype.clone(), rid.clone())) {
                problems.push(format!(
                    "{label}: reference `{name}` points to {rtype} `{rid}`, which is not in the file"
                ));
            }
        }
        let mut used = Vec::new();
        ref_names(&object.attributes, &mut used);
        for embedded in [&object.search_source, &object.vis_state, &object.panels]
            .into_iter()
            .flatten()
        {
            ref_names(embedded, &mut used);
        }
        for (key, name) in &used {
            if !object.references.contains_key(name) {
                problems.push(format!(
                    "{label}: {key} `{name}` has no reference of that name"
                ));
            }
        }
        let used_names: BTreeSet<&str> = used.iter().map(|(_, n)| n.as_str()).collect();
        for name in object.references.keys() {
            if !used_names.contains(name.as_str()) {
                problems.push(format!("{label}: reference `{name}` is never used"));
            }
        }
        check_shape(object, &mut problems);
    }
    assert_no_problems(SAVED_OBJECTS, &problems);
}

/// The attributes each saved-object type needs to load in Dashboards 2.x.
fn check_shape(object: &SavedObject, problems: &mut Vec<String>) {
    let label = object.label();
    let attrs = &object.attributes;
    let has_string = |key: &str| attrs.get(key).is_some_and(Value::is_string);
    let require = |ok: bool, what: &str, problems: &mut Vec<String>| {
        if !ok {
            problems.push(format!("{label}: {what}"));
        }
    };
    match object.kind.as_str() {
        "index-pattern" => {
            require(
                has_string("timeFieldName"),
                "index pattern needs timeFieldName",
                problems,
            );
        }
        "search" => {
            require(
                attrs.get("columns").is_some_and(Value::is_array),
                "search needs a columns array",
                problems,
            );
            require(
                attrs.get("sort").is_some_and(Value::is_array),
                "search needs a sort array",
                problems,
            );
            require(
                object.search_source.is_some(),
                "search needs searchSourceJSON",
                problems,
            );
        }
        "visualization" => {
            require(
                has_string("uiStateJSON"),
                "visualization needs uiStateJSON",
                problems,
            );
            require(
                has_string("description"),
                "visualization needs description",
                problems,
            );
            require(
                attrs.get("version").is_some(),
                "visualization needs version",
                problems,
            );
            require(
                object.search_source.is_some(),
                "visualization needs searchSourceJSON",
                problems,
            );
            match &object.vis_state {
                None => problems.push(format!("{label}: visualization needs visState")),
                Some(vis) => {
                    let vis_type = vis.get("type").and_then(Value::as_str).unwrap_or("");
                    require(
                        KNOWN_VIS_TYPES.contains(&vis_type),
                        &format!("visState.type `{vis_type}` is not one of {KNOWN_VIS_TYPES:?}"),
                        problems,
                    );
                    require(
                        vis.get("title").and_then(Value::as_str) == Some(object.title()),
                        "visState.title differs from the title",
                        problems,
                    );
                    require(
                        vis.get("aggs").is_some_and(Value::is_array),
                        "visState needs an aggs array",
                        problems,
                    );
                    require(
                        vis.get("params").is_some_and(Value::is_object),
                        "visState needs params",
                        problems,
                    );
                }
            }
        }
        "dashboard" => {
            require(
                has_string("optionsJSON"),
                "dashboard needs optionsJSON",
                problems,
            );
            let restore = attrs.get("timeRestore").and_then(Value::as_bool);
            require(
                restore.is_some(),
                "dashboard needs a boolean timeRestore",
                problems,
            );
            if restore == Some(true) {
                require(
                    has_string("timeFrom") && has_string("timeTo"),
                    "timeRestore needs timeFrom and timeTo",
                    problems,
                );
            }
            let panels = object
                .panels
                .as_ref()
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            require(
                !panels.is_empty(),
                "dashboard needs a non-empty panelsJSON array",
                problems,
            );
            let mut indices = BTreeSet::new();
            for panel in &panels {
                let index = panel
                    .get("panelIndex")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                require(
                    indices.insert(index.to_string()) && !index.is_empty(),
                    &format!("panelIndex `{index}` missing or repeated"),
                    problems,
                );
                require(
                    ["x", "y", "w", "h"].iter().all(|k| {
                        panel
                            .pointer(&format!("/gridData/{k}"))
                            .is_some_and(Value::is_u64)
                    }),
                    &format!("panel `{index}` needs gridData x, y, w, h"),
                    problems,
                );
                let target = panel
                    .get("panelRefName")
                    .and_then(Value::as_str)
                    .and_then(|name| object.references.get(name));
                require(
                    target.is_some_and(|(t, _)| t == "visualization" || t == "search"),
                    &format!("panel `{index}` must reference a visualization or a search by panelRefName"),
                    problems,
                );
            }
        }
        other => problems.push(format!("{label}: unexpected saved object type `{other}`")),
    }
}

// --- fields used by saved objects must exist in the templates ---------------------------

/// Field names a DQL (kuery) query compares: identifiers followed by `:`, `<` or `>`.
/// Quoted strings are values and skipped.
fn kuery_fields(query: &str) -> Vec<String> {
    let is_field_char = |c: char| c.is_alphanumeric() || "_.@*-".contains(c);
    let chars: Vec<char> = query.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c == '"' {
            i = end_of_quoted(&chars, i);
        } else if is_field_char(c) {
            let start = i;
            while chars.get(i).copied().is_some_and(is_field_char) {
                i += 1;
            }
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some(':' | '<' | '>')) {
                fields.push(chars[start..i].iter().collect());
            }
        } else {
            i += 1;
        }
    }
    fields
}

/// The index just past the string literal starting at `start` (a `"`).
fn end_of_quoted(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// Fields a searchSourceJSON queries or filters on.
fn search_source_fields(source: &Value) -> Vec<String> {
    let mut fields = Vec::new();
    if source.pointer("/query/language").and_then(Value::as_str) == Some("kuery") {
        if let Some(q) = source.pointer("/query/query").and_then(Value::as_str) {
            fields.extend(kuery_fields(q));
        }
    }
    for filter in source
        .get("filter")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(key) = filter.pointer("/meta/key").and_then(Value::as_str) {
            fields.push(key.to_string());
        }
        for clause in ["match_phrase", "match", "term", "terms", "range"] {
            let found = filter
                .pointer(&format!("/query/{clause}"))
                .or_else(|| filter.get(clause))
                .and_then(Value::as_object);
            fields.extend(found.into_iter().flat_map(|m| m.keys().cloned()));
        }
        if let Some(f) = filter.pointer("/exists/field").and_then(Value::as_str) {
            fields.push(f.to_string());
        }
    }
    fields
}

/// How a field is used decides what it must support.
#[derive(Clone, Copy, PartialEq)]
enum Use {
    /// Shown as a Discover column: any mapped name, or a path inside a flat_object.
    Column,
    /// Queried or filtered: must be searchable.
    Query,
    /// Aggregated or sorted on: must have doc values, and be mapped itself.
    Aggregate,
}

fn check_field(mapping: &Mapping, who: &str, field: &str, usage: Use, problems: &mut Vec<String>) {
    let pattern = mapping.template.as_str();
    if field == "_source" && usage == Use::Column {
        return;
    }
    if field.contains('*') {
        if !mapping.any_matches(field) {
            problems.push(format!(
                "{who}: `{field}` matches no field of template `{pattern}`"
            ));
        }
        return;
    }
    let Some((name, f)) = mapping.resolve(field) else {
        problems.push(format!(
            "{who}: field `{field}` is not in the mapping of template `{pattern}`"
        ));
        return;
    };
    let inside = name != field;
    match usage {
        Use::Column => {}
        Use::Query if inside && f.ty == "flat_object" => {}
        Use::Query if inside || !f.searchable() => problems.push(format!(
            "{who}: field `{field}` of template `{pattern}` is not searchable ({} `{name}`)",
            f.ty
        )),
        Use::Query => {}
        Use::Aggregate if inside || !f.aggregatable() => problems.push(format!(
            "{who}: field `{field}` of template `{pattern}` cannot be aggregated or sorted ({} `{name}`)",
            f.ty
        )),
        Use::Aggregate => {}
    }
}

#[test]
fn saved_object_fields_exist_in_templates() {
    let templates = Templates::load();
    let mut problems = Vec::new();
    let objects = load_saved_objects(&mut problems);

    // index-pattern id -> mapping of the template for its title
    let mut mappings: BTreeMap<String, Mapping> = BTreeMap::new();
    for pattern in objects.iter().filter(|o| o.kind == "index-pattern") {
        let title = pattern.title();
        let Some(mapping) = templates.mapping_for_pattern(title, &mut problems) else {
            problems.push(format!(
                "{}: title `{title}` is not the index pattern of any template",
                pattern.label()
            ));
            continue;
        };
        match pattern
            .attributes
            .get("timeFieldName")
            .and_then(Value::as_str)
        {
            Some(time) => {
                if mapping.fields.get(time).map(|f| f.ty.as_str()) != Some("date") {
                    problems.push(format!(
                        "{}: timeFieldName `{time}` is not a date in template `{}`",
                        pattern.label(),
                        mapping.template
                    ));
                }
            }
            None => problems.push(format!("{}: no timeFieldName", pattern.label())),
        }
        mappings.insert(pattern.id.clone(), mapping);
    }

    let pattern_of = |object: &SavedObject, ref_name: &str| -> Option<&Mapping> {
        let (rtype, rid) = object.references.get(ref_name)?;
        (rtype == "index-pattern")
            .then(|| mappings.get(rid))
            .flatten()
    };
    // search id -> its index pattern's mapping (visualizations may be built on a search)
    let search_mapping: BTreeMap<&str, &Mapping> = objects
        .iter()
        .filter(|o| o.kind == "search")
        .filter_map(|o| {
            Some((
                o.id.as_str(),
                pattern_of(o, "kibanaSavedObjectMeta.searchSourceJSON.index")?,
            ))
        })
        .collect();
    let primary_mapping = |object: &SavedObject| -> Option<&Mapping> {
        pattern_of(object, "kibanaSavedObjectMeta.searchSourceJSON.index").or_else(|| {
            let name = object
                .attributes
                .get("savedSearchRefName")
                .and_then(Value::as_str)?;
            let (_, id) = object.references.get(name)?;
            search_mapping.get(id.as_str()).copied()
        })
    };

    let mut panel_mappings: BTreeMap<(&str, &str), &Mapping> = BTreeMap::new();
    for object in &objects {
        let who = object.label();
        let mapping = primary_mapping(object);
        if let (Some(mapping), Some(source)) = (mapping, &object.search_source) {
            for field in search_source_fields(source) {
                check_field(
                    mapping,
                    &format!("{who} query"),
                    &field,
                    Use::Query,
                    &mut problems,
                );
            }
        }
        match object.kind.as_str() {
            "search" => {
                let Some(mapping) = mapping else {
                    problems.push(format!("{who}: its searchSourceJSON has no index pattern"));
                    continue;
                };
                for column in object
                    .attributes
                    .get("columns")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let column = column.as_str().unwrap_or_default();
                    check_field(
                        mapping,
                        &format!("{who} column"),
                        column,
                        Use::Column,
                        &mut problems,
                    );
                }
                for sort in object
                    .attributes
                    .get("sort")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match sort.get(0).and_then(Value::as_str) {
                        Some(field) => check_field(
                            mapping,
                            &format!("{who} sort"),
                            field,
                            Use::Aggregate,
                            &mut problems,
                        ),
                        None => problems.push(format!(
                            "{who}: sort entry {sort} is not [field, direction]"
                        )),
                    }
                }
            }
            "visualization" => {
                let Some(vis) = &object.vis_state else {
                    continue;
                };
                let aggs = vis
                    .get("aggs")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if !aggs.is_empty() && mapping.is_none() {
                    problems.push(format!(
                        "{who}: has aggregations but no index pattern or saved search"
                    ));
                }
                for agg in &aggs {
                    let agg_type = agg.get("type").and_then(Value::as_str).unwrap_or("?");
                    let who = format!("{who} {agg_type} aggregation");
                    let Some(mapping) = mapping else { continue };
                    if let Some(field) = agg.pointer("/params/field").and_then(Value::as_str) {
                        check_field(mapping, &who, field, Use::Aggregate, &mut problems);
                    }
                    for filter in agg
                        .pointer("/params/filters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(q) = filter.pointer("/input/query").and_then(Value::as_str) {
                            for field in kuery_fields(q) {
                                check_field(mapping, &who, &field, Use::Query, &mut problems);
                            }
                        }
                    }
                }
                for control in vis
                    .pointer("/params/controls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let field = control
                        .get("fieldName")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let ref_name = control
                        .get("indexPatternRefName")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    match pattern_of(object, ref_name) {
                        Some(m) => check_field(
                            m,
                            &format!("{who} control"),
                            field,
                            Use::Aggregate,
                            &mut problems,
                        ),
                        None => problems.push(format!(
                            "{who}: control on `{field}` has no index pattern reference"
                        )),
                    }
                }
            }
            _ => {}
        }
        if let Some(m) = mapping {
            panel_mappings.insert((object.kind.as_str(), object.id.as_str()), m);
        }
    }

    // A dashboard's own query and filters apply to every panel, so the fields they use
    // must exist in every index pattern behind its panels.
    for dashboard in objects.iter().filter(|o| o.kind == "dashboard") {
        let Some(source) = &dashboard.search_source else {
            continue;
        };
        let fields = search_source_fields(source);
        for (rtype, id) in dashboard.references.values() {
            if let Some(mapping) = panel_mappings.get(&(rtype.as_str(), id.as_str())) {
                for field in &fields {
                    check_field(
                        mapping,
                        &format!("{} query", dashboard.label()),
                        field,
                        Use::Query,
                        &mut problems,
                    );
                }
            }
        }
    }
    assert_no_problems("saved object fields", &problems);
}

// ---------------------------------------------------------------------------------------
// docs/schema.md: the contract must match the templates
// ---------------------------------------------------------------------------------------

const SCHEMA_DOC: &str = "docs/schema.md";

/// What a `<!-- schema-...: targets -->` marker asks for.
enum Check {
    /// Table rows `| `field` | type | ... |`: field mapped with that type.
    Fields,
    /// Every backticked name in the table is mapped (wildcards allowed).
    Names,
    /// The next ```json block only uses mapped fields, with values of the right kind.
    Example,
}

fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Checks one example document: every leaf is mapped (or inside a flat_object,
/// disabled or dynamic object), and its JSON value suits the mapped type.
fn check_example(
    mapping: &Mapping,
    who: &str,
    path: &str,
    value: &Value,
    problems: &mut Vec<String>,
) {
    if !path.is_empty() && mapping.resolve(path).is_some_and(|(_, f)| f.opaque()) {
        return;
    }
    match value {
        Value::Object(map) => {
            if !path.is_empty() && mapping.fields.get(path).is_some_and(|f| f.ty != "object") {
                problems.push(format!(
                    "{who}: `{path}` is an object but mapped as {}",
                    mapping.fields[path].ty
                ));
                return;
            }
            for (key, v) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                check_example(mapping, who, &child, v, problems);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| check_example(mapping, who, path, v, problems)),
        Value::Null => {}
        leaf => {
            let Some(field) = mapping.fields.get(path) else {
                problems.push(format!(
                    "{who}: `{path}` is not in the mapping of template `{}`",
                    mapping.template
                ));
                return;
            };
            let fits = match field.ty.as_str() {
                "keyword" | "text" => leaf.is_string(),
                "long" | "integer" | "short" | "byte" => leaf.is_i64() || leaf.is_u64(),
                "double" | "float" => leaf.is_number(),
                "boolean" => leaf.is_boolean(),
                "date" => leaf.is_string() || leaf.is_u64(),
                "ip" => leaf.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
                _ => true,
            };
            if !fits {
                problems.push(format!(
                    "{who}: `{path}` = {leaf} does not fit its type {}",
                    field.ty
                ));
            }
        }
    }
}

#[test]
fn schema_doc_agrees_with_templates() {
    let templates = Templates::load();
    let mut problems = Vec::new();
    let doc = read(SCHEMA_DOC);
    let mut checked = 0usize;

    let mut check: Option<(Check, Vec<Mapping>, usize)> = None;
    let mut in_json: Option<String> = None;
    for (n, line) in doc.lines().enumerate() {
        let at = format!("{SCHEMA_DOC}:{}", n + 1);
        if let Some(json) = in_json.as_mut() {
            if line.trim_start().starts_with("```") {
                let body = std::mem::take(json);
                in_json = None;
                if let Some((_, mappings, marker_line)) = check.take() {
                    match serde_json::from_str::<Value>(&body) {
                        Ok(example) => {
                            for mapping in &mappings {
                                let who = format!("{SCHEMA_DOC}:{marker_line} example");
                                check_example(mapping, &who, "", &example, &mut problems);
                                checked += 1;
                            }
                        }
                        Err(e) => problems.push(format!(
                            "{SCHEMA_DOC}:{marker_line}: example is not valid JSON: {e}"
                        )),
                    }
                }
            } else {
                json.push_str(line);
                json.push('\n');
            }
            continue;
        }
        if let Some(marker) = line
            .trim()
            .strip_prefix("<!-- schema-")
            .and_then(|m| m.strip_suffix("-->"))
        {
            let Some((kind, targets)) = marker.split_once(':') else {
                problems.push(format!("{at}: marker needs `kind: targets`"));
                continue;
            };
            let kind = match kind.trim() {
                "fields" => Check::Fields,
                "names" => Check::Names,
                "example" => Check::Example,
                other => {
                    problems.push(format!("{at}: unknown marker schema-{other}"));
                    continue;
                }
            };
            let targets = targets.trim();
            let mappings: Vec<Mapping> = if targets == "all" {
                INDEX_TEMPLATES
                    .iter()
                    .map(|(name, _, _)| templates.mapping(name, &mut problems))
                    .collect()
            } else {
                targets
                    .split(',')
                    .filter_map(|p| {
                        let found = templates.mapping_for_pattern(p.trim(), &mut problems);
                        if found.is_none() {
                            problems.push(format!(
                                "{at}: `{}` is no template's index pattern",
                                p.trim()
                            ));
                        }
                        found
                    })
                    .collect()
            };
            check = Some((kind, mappings, n + 1));
            continue;
        }
        if line.trim_start().starts_with("```json") && matches!(check, Some((Check::Example, _, _)))
        {
            in_json = Some(String::new());
            continue;
        }
        if line.starts_with('#') {
            check = None;
            continue;
        }
        let Some((kind, mappings, _)) = &check else {
            continue;
        };
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if !line.trim_start().starts_with('|')
            || cells.first().is_some_and(|c| c.starts_with("---"))
        {
            continue;
        }
        match kind {
            Check::Fields => {
                let (Some(name_cell), Some(type_cell)) = (cells.first(), cells.get(1)) else {
                    continue;
                };
                let names = backticked(name_cell);
                let [name] = names.as_slice() else { continue };
                let doc_type = type_cell.split_whitespace().next().unwrap_or_default();
                for mapping in mappings {
                    checked += 1;
                    match mapping.fields.get(*name) {
                        None => problems.push(format!("{at}: `{name}` is documented but not mapped in template `{}`", mapping.template)),
                        Some(f) if f.ty != doc_type => problems.push(format!(
                            "{at}: `{name}` is documented as {doc_type} but mapped as {} in template `{}`",
                            f.ty, mapping.template
                        )),
                        Some(_) => {}
                    }
                }
            }
            Check::Names => {
                for cell in cells.iter().skip(1) {
                    for name in backticked(cell)
                        .into_iter()
                        .filter(|n| !n.starts_with('.') && !n.starts_with('+'))
                    {
                        for mapping in mappings {
                            checked += 1;
                            if mapping.resolve(name).is_none()
                                && !(name.contains('*') && mapping.any_matches(name))
                            {
                                problems.push(format!(
                                    "{at}: `{name}` is documented but not mapped in template `{}`",
                                    mapping.template
                                ));
                            }
                        }
                    }
                }
            }
            Check::Example => {}
        }
    }
    if in_json.is_some() {
        problems.push(format!("{SCHEMA_DOC}: unterminated ```json block"));
    }
    if checked < 200 {
        problems.push(format!(
            "{SCHEMA_DOC}: only {checked} checks ran; are the schema markers still there?"
        ));
    }
    assert_no_problems(SCHEMA_DOC, &problems);
}

#[test]
fn kuery_field_extraction_handles_dashboard_queries() {
    assert_eq!(
        kuery_fields(
            r#"not incident.status:(resolved or false_positive) and entity.key : "user:alice""#
        ),
        vec!["incident.status", "entity.key"]
    );
    assert_eq!(
        kuery_fields("pipectl.breach.score >= 0.9"),
        vec!["pipectl.breach.score"]
    );
    assert_eq!(kuery_fields(r#""a:b" or free text"#), Vec::<String>::new());
}

#[test]
fn search_source_fields_reads_queries_and_filters() {
    let source = serde_json::json!({
        "query": {"query": "rule.level:high and not entity.kind:host", "language": "kuery"},
        "filter": [
            {"meta": {"key": "incident.status"}, "query": {"match_phrase": {"incident.status": "open"}}},
            {"range": {"incident.score": {"gte": 0.9}}},
            {"exists": {"field": "entity.id"}}
        ]
    });
    assert_eq!(
        search_source_fields(&source),
        vec![
            "rule.level",
            "entity.kind",
            "incident.status",
            "incident.status",
            "incident.score",
            "entity.id"
        ]
    );
    assert!(wildcard_match("user.*", "user.target.name"));
    assert!(wildcard_match(
        "*.as.organization.name",
        "source.as.organization.name"
    ));
    assert!(!wildcard_match("user.*", "source.user"));
}
