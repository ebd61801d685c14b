//! Checker behaviour the one-file corpus cannot show: several files at once, the plan
//! that comes out, and attribute types the real components do not use yet.

use crate::catalogue::{AttrSpec, AttrType, Catalogue, ComponentSpec};
use crate::plan::{ComponentKind, Expr, Literal, OutputRef, PlanValue};
use crate::testing::{catalogue, compile_one, short};
use crate::{compile, render_short, SourceFile};

fn shorts(files: &[SourceFile], cat: &Catalogue) -> Vec<String> {
    compile(files, cat)
        .diagnostics
        .iter()
        .map(|d| render_short(d, files))
        .collect()
}

#[test]
fn the_plan_is_sorted_deduplicated_and_defaulted() {
    let result = compile_one(
        r#"pipeline "b" { source stdin "s" {}  sink console "c" { inputs = [s] } }
pipeline "a" {
  source stdin "z" {}
  transform parse "p" { inputs = [z, z] codec = "json" }
  transform route "r" { inputs = [p] routes = { b = true, a = x == 1 } }
  sink blackhole "k" { inputs = [r.b, p.errors, r.a, p] }
}"#,
    );
    assert!(result.diagnostics.is_empty(), "{:?}", result.diagnostics);
    let plan = result.plan.unwrap();
    let names: Vec<&str> = plan.pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let a = &plan.pipelines[0];
    let comps: Vec<&str> = a.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(comps, ["k", "p", "r", "z"]);
    let k = &a.components[0];
    let inputs: Vec<String> = k.inputs.iter().map(OutputRef::to_string).collect();
    assert_eq!(inputs, ["p", "p.errors", "r.a", "r.b"]);
    let p = &a.components[1];
    assert_eq!(p.inputs.len(), 1);
    assert_eq!(p.outputs, ["errors"]);
    assert_eq!(p.attr("keep_original"), Some(&PlanValue::Bool(false)));
    assert_eq!(
        p.attr("kv_field_split"),
        Some(&PlanValue::String(" ".into()))
    );
    assert_eq!(p.origin, "test.pipe:4");
    let r = &a.components[2];
    assert_eq!(r.outputs, ["a", "b", "unmatched"]);
    let routes = r.attr("routes").and_then(PlanValue::as_map).unwrap();
    assert_eq!(
        routes.get("b"),
        Some(&PlanValue::Expr(Expr::Literal(Literal::Bool(true))))
    );
    assert_eq!(k.kind, ComponentKind::Sink);
}

#[test]
fn pipelines_merge_across_files_and_duplicates_point_at_both() {
    let files = [
        SourceFile::new("a.pipe", "pipeline \"p\" {\n  source stdin \"s\" {}\n}\n"),
        SourceFile::new(
            "b.pipe",
            "pipeline \"p\" {\n  sink console \"s\" { inputs = [s] }\n}\n",
        ),
    ];
    let result = compile(&files, &catalogue());
    let d = &result.diagnostics[0];
    assert_eq!(render_short(d, &files), "b.pipe:2:16: error[E016]: a component named `s` is already defined (help: component names must be unique within a pipeline)");
    assert_eq!(d.secondary[0].0.file, 0);

    let files = [
        SourceFile::new("a.pipe", "pipeline \"p\" {\n  source stdin \"s\" {}\n}\n"),
        SourceFile::new(
            "b.pipe",
            "pipeline \"p\" {\n  sink console \"c\" { inputs = [s] }\n}\n",
        ),
    ];
    let result = compile(&files, &catalogue());
    assert!(result.diagnostics.is_empty(), "{:?}", result.diagnostics);
    assert_eq!(result.plan.unwrap().pipelines[0].components.len(), 2);
}

#[test]
fn a_broken_file_does_not_hide_the_others_nor_cause_false_alarms() {
    let files = [
        SourceFile::new("a.pipe", "pipeline \"p\" {\n  source stdin \"s\" {\n}\n"),
        SourceFile::new(
            "b.pipe",
            "pipeline \"p\" {\n  sink console \"c\" { inputs = [s] encoding = \"json\" }\n}\n",
        ),
    ];
    // The sink reads `s` from the broken file: not reported missing. Its own mistake is.
    assert_eq!(
        shorts(&files, &catalogue()),
        [
            "a.pipe:2:20: error[E002]: unclosed `{` (help: add the missing `}`)",
            "b.pipe:2:46: error[E033]: `json` is not a valid value for `encoding` (help: expected one of `ndjson`, `pretty`)",
        ]
    );
}

#[test]
fn unused_outputs_warn_but_compile() {
    let result = compile_one("pipeline \"p\" {\n  source stdin \"s\" {}\n  source stdin \"t\" {}\n  sink console \"c\" { inputs = [s] }\n}\n");
    assert!(result.plan.is_some());
    assert_eq!(
        short("pipeline \"p\" {\n  source stdin \"s\" {}\n  source stdin \"t\" {}\n  sink console \"c\" { inputs = [s] }\n}\n"),
        ["test.pipe:3:16: warning[W001]: the output of `t` is not used (help: add `t` to the `inputs` of a sink, or remove it)"]
    );
}

static WIDE: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Model,
    type_name: "wide",
    summary: "Uses every attribute type.",
    attrs: &[
        AttrSpec::with_default("window", AttrType::Duration, "15m", "A duration."),
        AttrSpec::with_default("ratio", AttrType::Float, "1", "A number."),
        AttrSpec::optional("pattern", AttrType::Regex, "A regex."),
        AttrSpec::optional(
            "features",
            AttrType::List(&AttrType::Call(&["novelty", "volume", "time_of_week"])),
            "Calls.",
        ),
        AttrSpec::optional("peer", AttrType::Ref, "A reference."),
        AttrSpec::optional("names", AttrType::List(&AttrType::String), "Texts."),
        AttrSpec::optional("when", AttrType::Expr, "A condition."),
        AttrSpec::optional("token", AttrType::String, "A secret.").sensitive(),
        AttrSpec::optional("count", AttrType::Int, "An integer."),
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

fn wide_catalogue() -> Catalogue {
    let mut cat = catalogue();
    cat.extend([&WIDE]);
    cat
}

fn wide(attrs: &str) -> crate::Compilation {
    let text = format!(
        "pipeline \"p\" {{\n  source stdin \"s\" {{}}\n  model wide \"m\" {{\n    inputs = [s]\n{attrs}\n  }}\n  sink console \"c\" {{ inputs = [m] }}\n}}\n"
    );
    compile(&[SourceFile::new("w.pipe", text)], &wide_catalogue())
}

fn wide_short(attrs: &str) -> Vec<String> {
    let text = format!(
        "pipeline \"p\" {{\n  source stdin \"s\" {{}}\n  model wide \"m\" {{\n    inputs = [s]\n{attrs}\n  }}\n  sink console \"c\" {{ inputs = [m] }}\n}}\n"
    );
    let files = [SourceFile::new("w.pipe", text)];
    shorts(&files, &wide_catalogue())
}

#[test]
fn calls_references_durations_and_numbers_lower_by_type() {
    let result = wide(
        "    window = 2h\n    ratio = 3\n    pattern = '''^\\d+$'''\n    features = [novelty(event.action), volume(file.size, per = 1h), time_of_week()]\n    peer = s\n    names = [\"a\", env(\"B\")]\n    when = true\n    token = env(\"TOKEN\")\n    count = env(\"COUNT\", \"3\")",
    );
    assert!(result.diagnostics.is_empty(), "{:?}", result.diagnostics);
    let plan = result.plan.unwrap();
    let m = plan.pipelines[0]
        .components
        .iter()
        .find(|c| c.name == "m")
        .unwrap();
    assert_eq!(m.attr("window"), Some(&PlanValue::Duration(7_200_000)));
    assert_eq!(m.attr("ratio"), Some(&PlanValue::Float(3.0)));
    assert_eq!(
        m.attr("when"),
        Some(&PlanValue::Expr(Expr::Literal(Literal::Bool(true))))
    );
    assert_eq!(
        m.attr("peer"),
        Some(&PlanValue::Ref(OutputRef {
            component: "s".into(),
            port: None
        }))
    );
    let features = m.attr("features").and_then(PlanValue::as_list).unwrap();
    let PlanValue::Call { name, args, named } = &features[1] else {
        panic!("{features:?}")
    };
    assert_eq!(name, "volume");
    assert!(matches!(args[0], PlanValue::Field(_)));
    assert_eq!(named.get("per"), Some(&PlanValue::Duration(3_600_000)));
    assert!(matches!(m.attr("count"), Some(PlanValue::Env { default: Some(d), .. }) if d == "3"));
}

#[test]
fn type_errors_say_what_was_expected_and_how_to_fix_it() {
    assert_eq!(
        wide_short("    window = \"15m\"\n    ratio = true\n    features = [novlty(x), time_of_week]\n    peer = c\n    token = secret(\"t\", \"u\")\n    count = secret(\"n\")\n    names = [\"a\", secret(\"b\")]\n    when = env(\"W\")"),
        [
            "w.pipe:5:14: error[E015]: wrong type for `window`: expected duration (e.g. 90s, 15m, 14d), found a string (help: write it without quotes: `15m`)",
            "w.pipe:6:13: error[E015]: wrong type for `ratio`: expected number, found a boolean",
            "w.pipe:7:17: error[E025]: unknown function `novlty` here (help: did you mean `novelty`?)",
            "w.pipe:7:28: error[E015]: wrong type for `features`: expected call of novelty, volume, time_of_week, found the bare word `time_of_week` (help: call it: `time_of_week()`)",
            "w.pipe:8:12: error[E019]: `c` is a sink; sinks have no outputs to read (help: read from the components that feed the sink instead)",
            "w.pipe:9:13: error[E027]: `secret()` takes 1 argument, found 2 (help: write secret(\"name\"))",
            "w.pipe:10:13: error[E028]: `secret()` cannot be used for `count`, which is not sensitive (help: use a string or `env(\"NAME\")`; secrets go only to attributes that keep them out of logs)",
            "w.pipe:11:19: error[E028]: `secret()` cannot be used for `names`, which is not sensitive (help: use a string or `env(\"NAME\")`; secrets go only to attributes that keep them out of logs)",
            "w.pipe:12:12: error[E015]: wrong type for `when`: expected expression, found `env()` (help: `env()` is accepted by text, path, word, integer and boolean attributes)",
        ]
    );
}

#[test]
fn deep_but_allowed_nesting_and_long_chains_compile() {
    let nested = format!("{}1{}", "[".repeat(60), "]".repeat(60));
    let result = wide(&format!("    when = x in {nested}"));
    assert!(result.diagnostics.is_empty(), "{:?}", result.diagnostics);
    let chain = vec!["a == 1"; 20_000].join(" || ");
    let result = wide(&format!("    when = {chain}"));
    assert!(result.diagnostics.is_empty());
}
