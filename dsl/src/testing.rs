//! A catalogue for the crate's own tests, mirroring the real components (sources
//! `file`, `stdin`, `http`, `syslog`, and the cloud and SaaS sources by name; transforms `filter`, `script`, `route`, `parse`;
//! sinks `console`, `file`, `blackhole`) so the corpus under `tests/dsl/` checks the
//! same here as through the `pipectl` binary.

use crate::catalogue::{AttrSpec, AttrType, Catalogue, ComponentSpec};
use crate::plan::ComponentKind;
use crate::{compile, Compilation, SourceFile};

const MAX_LINE: AttrSpec =
    AttrSpec::with_default("max_line_length", AttrType::Size, "1MiB", "Longest line.");
const MAX_EVENT_SIZE: AttrSpec =
    AttrSpec::with_default("max_event_size", AttrType::Size, "1MiB", "Largest record.");
const MAX_DEPTH: AttrSpec =
    AttrSpec::with_default("max_depth", AttrType::Int, "32", "Deepest nesting.");
const MAX_FIELDS: AttrSpec =
    AttrSpec::with_default("max_fields", AttrType::Int, "10000", "Most fields.");
const BATCH: AttrSpec =
    AttrSpec::with_default("batch_size", AttrType::Int, "256", "Events per batch.");

static FILE_SOURCE: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "file",
    summary: "Reads lines from a file.",
    attrs: &[
        AttrSpec::required("path", AttrType::Path, "The file."),
        AttrSpec::with_default(
            "mode",
            AttrType::Enum(&["read_once", "follow"]),
            "\"read_once\"",
            "Read once or follow.",
        ),
        AttrSpec::optional(
            "start_at",
            AttrType::Enum(&["beginning", "end"]),
            "Where to start.",
        ),
        MAX_LINE,
        BATCH,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

static STDIN: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "stdin",
    summary: "Reads lines from standard input.",
    attrs: &[MAX_LINE, BATCH],
    fixed_outputs: &[],
    outputs_from: None,
};

static HTTP: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "http",
    summary: "Receives events over HTTP.",
    attrs: &[
        AttrSpec::with_default(
            "address",
            AttrType::String,
            "\"127.0.0.1:8080\"",
            "Listen address.",
        ),
        AttrSpec::with_default("path", AttrType::String, "\"/\"", "URL path."),
        AttrSpec::with_default("max_body_size", AttrType::Size, "10MiB", "Largest body."),
        MAX_DEPTH,
        MAX_FIELDS,
        AttrSpec::optional("auth_token", AttrType::String, "Bearer token.").sensitive(),
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

static SYSLOG: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "syslog",
    summary: "Receives syslog.",
    attrs: &[
        AttrSpec::with_default(
            "mode",
            AttrType::Enum(&["udp", "tcp"]),
            "\"udp\"",
            "Transport.",
        ),
        AttrSpec::with_default(
            "address",
            AttrType::String,
            "\"127.0.0.1:5514\"",
            "Listen address.",
        ),
        AttrSpec::with_default("max_length", AttrType::Size, "64KiB", "Longest message."),
        AttrSpec::with_default(
            "format",
            AttrType::Enum(&["auto", "rfc5424", "rfc3164"]),
            "\"auto\"",
            "Message format.",
        ),
        MAX_FIELDS,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

static FILTER: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "filter",
    summary: "Keeps matching events.",
    attrs: &[AttrSpec::required(
        "condition",
        AttrType::Expr,
        "The condition.",
    )],
    fixed_outputs: &[],
    outputs_from: None,
};

static SCRIPT: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "script",
    summary: "Runs a Rhai script.",
    attrs: &[
        AttrSpec::required("rhai", AttrType::Script, "The script."),
        AttrSpec::with_default(
            "max_operations",
            AttrType::Int,
            "1000000",
            "Operation budget.",
        ),
    ],
    fixed_outputs: &["errors"],
    outputs_from: None,
};

static ROUTE: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "route",
    summary: "Routes events.",
    attrs: &[AttrSpec::required(
        "routes",
        AttrType::Map(&AttrType::Expr),
        "Routes.",
    )],
    fixed_outputs: &["unmatched"],
    outputs_from: Some("routes"),
};

static PARSE: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "parse",
    summary: "Decodes a field.",
    attrs: &[
        AttrSpec::required(
            "codec",
            AttrType::Enum(&["json", "syslog", "cef", "kv", "csv"]),
            "Codec.",
        ),
        AttrSpec::with_default("field", AttrType::Field, "message", "Field to decode."),
        AttrSpec::optional("target", AttrType::Field, "Where to put the result."),
        AttrSpec::with_default("keep_original", AttrType::Bool, "false", "Keep the text."),
        AttrSpec::optional(
            "csv_columns",
            AttrType::List(&AttrType::String),
            "CSV columns.",
        ),
        AttrSpec::with_default(
            "kv_field_split",
            AttrType::String,
            "\" \"",
            "Pair separator.",
        ),
        AttrSpec::with_default(
            "kv_value_split",
            AttrType::String,
            "\"=\"",
            "Key/value separator.",
        ),
        MAX_EVENT_SIZE,
        MAX_DEPTH,
        MAX_FIELDS,
    ],
    fixed_outputs: &["errors"],
    outputs_from: None,
};

static CONSOLE: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Sink,
    type_name: "console",
    summary: "Writes to standard output.",
    attrs: &[AttrSpec::with_default(
        "encoding",
        AttrType::Enum(&["ndjson", "pretty"]),
        "\"ndjson\"",
        "Encoding.",
    )],
    fixed_outputs: &[],
    outputs_from: None,
};

static FILE_SINK: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Sink,
    type_name: "file",
    summary: "Writes to a file.",
    attrs: &[
        AttrSpec::required("path", AttrType::Path, "The file."),
        AttrSpec::with_default("fsync", AttrType::Bool, "false", "Sync after each batch."),
        AttrSpec::with_default(
            "encoding",
            AttrType::Enum(&["ndjson"]),
            "\"ndjson\"",
            "Encoding.",
        ),
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

static BLACKHOLE: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Sink,
    type_name: "blackhole",
    summary: "Drops everything.",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

/// A source the corpus only needs by name (the cloud and SaaS sources): diagnostics
/// that list the source types list them all, as the real catalogue does.
const fn named_source(type_name: &'static str) -> ComponentSpec {
    ComponentSpec {
        kind: ComponentKind::Source,
        type_name,
        summary: "A cloud or SaaS source (its attributes are not needed here).",
        attrs: &[],
        fixed_outputs: &[],
        outputs_from: None,
    }
}

static NAMED_SOURCES: [ComponentSpec; 10] = [
    named_source("azure_activity"),
    named_source("box"),
    named_source("cloudtrail"),
    named_source("dropbox"),
    named_source("google_workspace"),
    named_source("graph"),
    named_source("office365"),
    named_source("okta"),
    named_source("salesforce"),
    named_source("vpc_flow"),
];

/// The mirror of the real catalogue.
pub fn catalogue() -> Catalogue {
    let mut specs: Vec<&'static ComponentSpec> = NAMED_SOURCES.iter().collect();
    specs.extend([
        &FILE_SOURCE,
        &STDIN,
        &HTTP,
        &SYSLOG,
        &FILTER,
        &SCRIPT,
        &ROUTE,
        &PARSE,
        &CONSOLE,
        &FILE_SINK,
        &BLACKHOLE,
    ]);
    Catalogue::new(specs)
}

/// Compiles one file named `test.pipe`.
pub fn compile_one(text: &str) -> Compilation {
    compile(&[SourceFile::new("test.pipe", text)], &catalogue())
}

/// The short renderings of one file's diagnostics.
pub fn short(text: &str) -> Vec<String> {
    let files = [SourceFile::new("test.pipe", text)];
    compile(&files, &catalogue())
        .diagnostics
        .iter()
        .map(|d| crate::render_short(d, &files))
        .collect()
}

#[test]
fn every_default_of_the_test_catalogue_checks() {
    assert_eq!(crate::catalogue_errors(&catalogue()), Vec::<String>::new());
}

#[test]
fn catalogue_mistakes_are_found() {
    static BAD: ComponentSpec = ComponentSpec {
        kind: ComponentKind::Transform,
        type_name: "bad",
        summary: "Broken on purpose.",
        attrs: &[
            AttrSpec::with_default("a", AttrType::Duration, "10", "No unit."),
            AttrSpec::with_default("b", AttrType::Enum(&["x"]), "\"y\"", "Not a word."),
            AttrSpec::with_default("c", AttrType::Int, "[1", "Unclosed."),
            AttrSpec::required("inputs", AttrType::Int, "Implicit."),
        ],
        fixed_outputs: &[],
        outputs_from: Some("a"),
    };
    let errors = crate::catalogue_errors(&Catalogue::new(vec![&BAD]));
    assert_eq!(errors.len(), 5, "{errors:#?}");
    assert!(
        errors[0].contains("`a`") && errors[0].contains("expected duration"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("not a valid value"), "{}", errors[1]);
    assert!(errors[2].contains("unclosed"), "{}", errors[2]);
    assert!(errors[3].contains("implicit"), "{}", errors[3]);
    assert!(errors[4].contains("outputs_from"), "{}", errors[4]);
}
