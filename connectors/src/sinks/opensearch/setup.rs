//! Installing pipectl's index templates and retention policy (docs/schema.md, "Files"):
//! what `pipectl opensearch setup` runs, and what the sink runs at start with
//! `setup_templates = true`.
//!
//! The files are embedded, so a binary always installs the schema it was built with.
//! Order: the component templates, then the index templates that compose them, then
//! the ISM policy if the index-management plugin answers. Idempotent: each template's
//! installed `_meta.pipectl_schema` is compared with ours — equal and unchanged is "up
//! to date", older is upgraded (and, since adding fields is compatible, the new fields
//! are added to the existing indices through the type's read alias), newer is left
//! alone. `_meta.pipectl_hash` (a hash of what we would install, including options
//! such as replicas) tells an unchanged template from one installed with other
//! settings.

use super::client::{Client, ClientError, Reply, Request};
use super::encode::content_id;
use serde_json::{json, Value};

/// An embedded request body and the name it is installed under.
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    pub name: &'static str,
    pub body: &'static str,
}

/// `PUT _component_template/<name>`, in install order.
pub const COMPONENT_TEMPLATES: [Embedded; 3] = [
    Embedded {
        name: "pipectl-base",
        body: include_str!("../../../../dashboards/templates/components/pipectl-base.json"),
    },
    Embedded {
        name: "pipectl-ecs",
        body: include_str!("../../../../dashboards/templates/components/pipectl-ecs.json"),
    },
    Embedded {
        name: "pipectl-vendor",
        body: include_str!("../../../../dashboards/templates/components/pipectl-vendor.json"),
    },
];

/// `PUT _index_template/<name>`.
pub const INDEX_TEMPLATES: [Embedded; 8] = [
    Embedded {
        name: "pipectl-events",
        body: include_str!("../../../../dashboards/templates/pipectl-events.json"),
    },
    Embedded {
        name: "pipectl-breaches",
        body: include_str!("../../../../dashboards/templates/pipectl-breaches.json"),
    },
    Embedded {
        name: "pipectl-anomalies",
        body: include_str!("../../../../dashboards/templates/pipectl-anomalies.json"),
    },
    Embedded {
        name: "pipectl-hits",
        body: include_str!("../../../../dashboards/templates/pipectl-hits.json"),
    },
    Embedded {
        name: "pipectl-incidents",
        body: include_str!("../../../../dashboards/templates/pipectl-incidents.json"),
    },
    Embedded {
        name: "pipectl-entities",
        body: include_str!("../../../../dashboards/templates/pipectl-entities.json"),
    },
    Embedded {
        name: "pipectl-actions",
        body: include_str!("../../../../dashboards/templates/pipectl-actions.json"),
    },
    Embedded {
        name: "pipectl-deadletter",
        body: include_str!("../../../../dashboards/templates/pipectl-deadletter.json"),
    },
];

/// `PUT _plugins/_ism/policies/<name>`, when ISM is installed.
pub const ISM_POLICY: Embedded = Embedded {
    name: "pipectl-retention",
    body: include_str!("../../../../dashboards/ism/pipectl-retention.json"),
};

/// Choices that change what is installed.
#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    /// `index.number_of_replicas` of every pipectl index (default: the file's 0).
    pub replicas: Option<u32>,
    /// Days after which ISM deletes an index (default: the file's 30).
    pub retention_days: Option<u64>,
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    UpToDate,
    /// Same schema version, other content or settings: installed again.
    Updated,
    Upgraded {
        from: i64,
        to: i64,
    },
    /// Installed by a newer pipectl: not downgraded.
    NewerLeftAlone {
        installed: i64,
        ours: i64,
    },
    Skipped(String),
    Failed(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Created => f.write_str("created"),
            Outcome::UpToDate => f.write_str("up to date"),
            Outcome::Updated => f.write_str("updated"),
            Outcome::Upgraded { from, to } => write!(f, "upgraded (schema {from} -> {to})"),
            Outcome::NewerLeftAlone { installed, ours } => write!(
                f,
                "newer than this binary (schema {installed} > {ours}), left alone"
            ),
            Outcome::Skipped(why) => write!(f, "skipped: {why}"),
            Outcome::Failed(why) => write!(f, "FAILED: {why}"),
        }
    }
}

/// One object setup looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `component template`, `index template`, `mapping`, `ISM policy`.
    pub what: &'static str,
    pub name: String,
    pub outcome: Outcome,
}

/// Why setup stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{what} {name}: OpenSearch answered HTTP {status}: {reason}")]
    Refused {
        what: &'static str,
        name: String,
        status: u16,
        reason: String,
    },
    #[error("the embedded {name} is not valid JSON: {reason}")]
    Embedded { name: String, reason: String },
}

impl SetupError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SetupError::Client(ClientError::Unreachable { .. }) => true,
            SetupError::Refused { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// Installs everything, in order; returns what was done to each object.
pub async fn install(client: &Client, options: &SetupOptions) -> Result<Vec<Step>, SetupError> {
    let mut steps = Vec::new();
    for template in COMPONENT_TEMPLATES {
        let mut body = parse(template)?;
        if let (Some(replicas), "pipectl-base") = (options.replicas, template.name) {
            body["template"]["settings"]["index"]["number_of_replicas"] = json!(replicas);
        }
        let path = format!("/_component_template/{}", template.name);
        let outcome = put_template(
            client,
            "component template",
            template.name,
            &path,
            body,
            "component_templates",
            "component_template",
        )
        .await?;
        steps.push(step("component template", template.name, outcome));
    }
    for template in INDEX_TEMPLATES {
        let body = parse(template)?;
        let path = format!("/_index_template/{}", template.name);
        let outcome = put_template(
            client,
            "index template",
            template.name,
            &path,
            body.clone(),
            "index_templates",
            "index_template",
        )
        .await?;
        let upgraded = matches!(outcome, Outcome::Upgraded { .. });
        steps.push(step("index template", template.name, outcome));
        if upgraded {
            steps.push(add_new_fields(client, template.name, &body).await?);
        }
    }
    steps.push(install_ism(client, options).await?);
    Ok(steps)
}

fn step(what: &'static str, name: &str, outcome: Outcome) -> Step {
    Step {
        what,
        name: name.to_string(),
        outcome,
    }
}

fn parse(embedded: Embedded) -> Result<Value, SetupError> {
    serde_json::from_str(embedded.body).map_err(|e| SetupError::Embedded {
        name: embedded.name.to_string(),
        reason: e.to_string(),
    })
}

fn refused(what: &'static str, name: &str, reply: &Reply, client: &Client) -> SetupError {
    SetupError::Refused {
        what,
        name: name.to_string(),
        status: reply.status,
        reason: client.scrub(reply.error_reason()),
    }
}

/// `_meta.pipectl_schema` of a template body.
fn schema_of(body: &Value) -> i64 {
    body.pointer("/_meta/pipectl_schema")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Installs one template unless the installed one is current or newer.
async fn put_template(
    client: &Client,
    what: &'static str,
    name: &str,
    path: &str,
    mut body: Value,
    list_key: &str,
    item_key: &str,
) -> Result<Outcome, SetupError> {
    let ours = schema_of(&body);
    let hash = content_id(&[body.to_string().as_bytes()]);
    if let Some(meta) = body.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.insert("pipectl_hash".into(), json!(hash.as_str()));
    } else if let Some(root) = body.as_object_mut() {
        root.insert("_meta".into(), json!({ "pipectl_hash": hash.as_str() }));
    }
    let reply = client.send(Request::get(path)).await?;
    let installed = match reply.status {
        404 => None,
        s if (200..300).contains(&s) => {
            let answer = reply.json().map_err(|reason| SetupError::Refused {
                what,
                name: name.to_string(),
                status: s,
                reason,
            })?;
            answer
                .get(list_key)
                .and_then(|list| list.get(0))
                .and_then(|entry| entry.get(item_key))
                .cloned()
        }
        _ => return Err(refused(what, name, &reply, client)),
    };
    let outcome = match &installed {
        None => Outcome::Created,
        Some(current) => {
            let theirs = schema_of(current);
            let same_hash = current
                .pointer("/_meta/pipectl_hash")
                .and_then(Value::as_str)
                == Some(hash.as_str());
            if theirs > ours {
                return Ok(Outcome::NewerLeftAlone {
                    installed: theirs,
                    ours,
                });
            } else if theirs < ours {
                Outcome::Upgraded {
                    from: theirs,
                    to: ours,
                }
            } else if same_hash {
                return Ok(Outcome::UpToDate);
            } else {
                Outcome::Updated
            }
        }
    };
    let reply = client
        .send(Request::put(path).json(body.to_string()))
        .await?;
    if !reply.is_success() {
        return Err(refused(what, name, &reply, client));
    }
    Ok(outcome)
}

/// After an upgrade: adds the template's (merged) fields to the indices that already
/// exist, through the type's read alias.
async fn add_new_fields(client: &Client, name: &str, template: &Value) -> Result<Step, SetupError> {
    let mut properties = json!({});
    let composed = template
        .get("composed_of")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for component in composed.iter().filter_map(Value::as_str) {
        if let Some(embedded) = COMPONENT_TEMPLATES.iter().find(|c| c.name == component) {
            let body = parse(*embedded)?;
            if let Some(p) = body.pointer("/template/mappings/properties") {
                merge(&mut properties, p);
            }
        }
    }
    if let Some(p) = template.pointer("/template/mappings/properties") {
        merge(&mut properties, p);
    }
    let alias = template
        .pointer("/template/aliases")
        .and_then(Value::as_object)
        .and_then(|a| a.keys().next().cloned())
        .unwrap_or_else(|| name.to_string());
    let path = format!("/{alias}/_mapping");
    let reply = client
        .send(Request::put(&path).json(json!({ "properties": properties }).to_string()))
        .await?;
    let outcome = match reply.status {
        s if (200..300).contains(&s) => Outcome::Updated,
        404 => Outcome::Skipped("no existing indices".into()),
        _ => Outcome::Failed(client.scrub(reply.error_reason())),
    };
    Ok(step("mapping", &alias, outcome))
}

/// Deep-merges JSON objects: `from`'s keys win, objects merge recursively.
fn merge(into: &mut Value, from: &Value) {
    match (into.as_object_mut(), from.as_object()) {
        (Some(target), Some(source)) => {
            for (key, value) in source {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        _ => *into = from.clone(),
    }
}

/// The retention policy, when ISM answers; otherwise retention is
/// `pipectl opensearch prune`.
async fn install_ism(client: &Client, options: &SetupOptions) -> Result<Step, SetupError> {
    const WHAT: &str = "ISM policy";
    let name = ISM_POLICY.name;
    let probe = client.send(Request::get("/_plugins/_ism/policies")).await?;
    if !probe.is_success() {
        if matches!(probe.status, 400 | 404 | 405) {
            return Ok(step(
                WHAT,
                name,
                Outcome::Skipped(
                    "the index-management (ISM) plugin is not installed; delete old indices with `pipectl opensearch prune --older-than 30d`".into(),
                ),
            ));
        }
        return Err(refused(WHAT, name, &probe, client));
    }
    let mut body = parse(ISM_POLICY)?;
    if let Some(days) = options.retention_days {
        set_retention(&mut body, days);
    }
    let path = format!("/_plugins/_ism/policies/{name}");
    let current = client.send(Request::get(&path)).await?;
    let mut request = Request::put(&path);
    let outcome = match current.status {
        404 => Outcome::Created,
        s if (200..300).contains(&s) => {
            // An existing policy is replaced under optimistic concurrency control.
            let answer = current.json().unwrap_or_default();
            let seq = answer
                .get("_seq_no")
                .and_then(Value::as_i64)
                .unwrap_or_default();
            let term = answer
                .get("_primary_term")
                .and_then(Value::as_i64)
                .unwrap_or_default();
            request = request
                .query("if_seq_no", seq.to_string())
                .query("if_primary_term", term.to_string());
            Outcome::Updated
        }
        _ => return Err(refused(WHAT, name, &current, client)),
    };
    let reply = client.send(request.json(body.to_string())).await?;
    if !reply.is_success() {
        return Err(refused(WHAT, name, &reply, client));
    }
    Ok(step(WHAT, name, outcome))
}

/// Sets `min_index_age` of every transition into the `delete` state.
fn set_retention(policy: &mut Value, days: u64) {
    let Some(states) = policy
        .pointer_mut("/policy/states")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for state in states {
        let Some(transitions) = state.get_mut("transitions").and_then(Value::as_array_mut) else {
            continue;
        };
        for t in transitions {
            if t.get("state_name").and_then(Value::as_str) == Some("delete") {
                t["conditions"]["min_index_age"] = json!(format!("{days}d"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_is_json_with_a_schema_version() {
        for t in COMPONENT_TEMPLATES.iter().chain(&INDEX_TEMPLATES) {
            let body = parse(*t).unwrap();
            assert!(
                schema_of(&body) >= 1,
                "{} has no _meta.pipectl_schema",
                t.name
            );
        }
        assert!(parse(ISM_POLICY).unwrap().get("policy").is_some());
    }

    #[test]
    fn index_templates_compose_only_embedded_components() {
        for t in INDEX_TEMPLATES {
            let body = parse(t).unwrap();
            for c in body["composed_of"].as_array().unwrap() {
                let name = c.as_str().unwrap();
                assert!(
                    COMPONENT_TEMPLATES.iter().any(|e| e.name == name),
                    "{}: {name}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn retention_rewrites_the_delete_transition() {
        let mut policy = parse(ISM_POLICY).unwrap();
        set_retention(&mut policy, 7);
        let text = policy.to_string();
        assert!(text.contains("\"min_index_age\":\"7d\""), "{text}");
    }

    #[test]
    fn merge_is_deep_and_later_wins() {
        let mut a = json!({"x": {"properties": {"a": {"type": "keyword"}}}, "y": 1});
        merge(
            &mut a,
            &json!({"x": {"properties": {"b": {"type": "long"}}}, "y": 2}),
        );
        assert_eq!(
            a,
            json!({"x": {"properties": {"a": {"type": "keyword"}, "b": {"type": "long"}}}, "y": 2})
        );
    }
}
