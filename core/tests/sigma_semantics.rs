//! Sigma semantics through whole rules: every modifier, value form and condition form
//! of the specification, matched against small events.

use pipectl_core::detect::sigma::correlation::CorrelationOptions;
use pipectl_core::detect::sigma::fieldmap::FieldMap;
use pipectl_core::detect::sigma::hit::HitSource;
use pipectl_core::detect::sigma::loader::Loaded;
use pipectl_core::detect::sigma::logsource::{LogsourceMap, Unmapped};
use pipectl_core::detect::sigma::modifiers::Placeholders;
use pipectl_core::detect::sigma::rule::{parse_file, Document};
use pipectl_core::detect::sigma::{Detector, Selection};

fn loaded(detection: &str, placeholders: &Placeholders) -> Result<Loaded, String> {
    let text = format!(
        "title: Test rule\nid: t-1\nlogsource:\n    product: test\ndetection:\n{detection}"
    );
    let mut loaded = Loaded::default();
    for doc in parse_file("test.yml", &text, placeholders) {
        match doc {
            Ok(Document::Detection(d)) => loaded.detections.push(d),
            Ok(Document::Correlation(c)) => loaded.correlations.push(c),
            Err(e) => return Err(format!("{} | {}", e.1.feature, e.1.detail)),
        }
    }
    Ok(loaded)
}

fn detector(detection: &str, placeholders: &Placeholders) -> Detector {
    let loaded = loaded(detection, placeholders).unwrap_or_else(|e| panic!("refused: {e}"));
    Detector::new(
        &loaded,
        &Selection::default(),
        FieldMap::default(),
        LogsourceMap::new(Vec::new(), Unmapped::AllEvents).unwrap(),
        CorrelationOptions::default(),
        Vec::new(),
        HitSource {
            pipeline: "t".into(),
            component: "t".into(),
            ruleset: "t".into(),
        },
    )
}

/// Asserts which of the events the rule matches.
fn check(detection: &str, cases: &[(&str, bool)]) {
    check_with(detection, &Placeholders::new(), cases);
}

fn check_with(detection: &str, placeholders: &Placeholders, cases: &[(&str, bool)]) {
    let mut d = detector(detection, placeholders);
    for (json, want) in cases {
        let e = pipectl_core::json::from_str(json).unwrap();
        let got = !d.matching_rules(&e).is_empty();
        assert_eq!(
            got, *want,
            "rule\n{detection}\nevent {json}: expected match = {want}"
        );
    }
}

fn refused(detection: &str) -> String {
    match loaded(detection, &Placeholders::new()) {
        Ok(_) => panic!("expected a refusal for\n{detection}"),
        Err(e) => e,
    }
}

#[test]
fn plain_values_are_whole_and_case_insensitive() {
    check(
        "    sel:\n        Image: 'C:\\Windows\\cmd.exe'\n    condition: sel",
        &[
            (r#"{"Image":"C:\\Windows\\cmd.exe"}"#, true),
            (r#"{"Image":"c:\\windows\\CMD.EXE"}"#, true),
            (r#"{"Image":"C:\\Windows\\cmd.exe.bak"}"#, false),
            (r#"{"Other":"C:\\Windows\\cmd.exe"}"#, false),
        ],
    );
}

#[test]
fn contains_startswith_endswith() {
    let rule = "    a:\n        F|contains: mimi\n    b:\n        G|startswith: pre\n    c:\n        H|endswith: .exe\n    condition: a or b or c";
    check(
        rule,
        &[
            (r#"{"F":"xxMIMIkatz"}"#, true),
            (r#"{"G":"PREfix"}"#, true),
            (r#"{"G":"xpre"}"#, false),
            (r#"{"H":"evil.EXE"}"#, true),
            (r#"{"H":"evil.exe.txt"}"#, false),
            (r#"{"F":"mim"}"#, false),
        ],
    );
}

#[test]
fn wildcards_and_escapes() {
    check(
        "    sel:\n        F: 'prog?.e*e'\n    lit:\n        G: 'a\\*b'\n    condition: sel or lit",
        &[
            (r#"{"F":"prog1.exe"}"#, true),
            (r#"{"F":"prog12.exe"}"#, false),
            (r#"{"F":"progA.eXXe"}"#, true),
            (r#"{"G":"a*b"}"#, true),
            (r#"{"G":"axxb"}"#, false),
        ],
    );
}

#[test]
fn cased_is_case_sensitive() {
    check(
        "    sel:\n        F|cased: Evil\n    condition: sel",
        &[(r#"{"F":"Evil"}"#, true), (r#"{"F":"evil"}"#, false)],
    );
}

#[test]
fn lists_are_or_maps_are_and_and_all_is_and() {
    check(
        "    sel:\n        A: [x, y]\n        B: z\n    condition: sel",
        &[
            (r#"{"A":"y","B":"z"}"#, true),
            (r#"{"A":"x","B":"q"}"#, false),
            (r#"{"A":"q","B":"z"}"#, false),
        ],
    );
    check(
        "    sel:\n        - A: x\n        - B: y\n    condition: sel",
        &[
            (r#"{"A":"x"}"#, true),
            (r#"{"B":"y"}"#, true),
            (r#"{"C":"x"}"#, false),
        ],
    );
    check(
        "    sel:\n        CommandLine|contains|all:\n            - ' -nop '\n            - ' -enc '\n    condition: sel",
        &[
            (r#"{"CommandLine":"powershell -nop -w hidden -enc AAA"}"#, true),
            (r#"{"CommandLine":"powershell -nop -w hidden"}"#, false),
        ],
    );
}

#[test]
fn regular_expressions_and_their_flags() {
    check(
        "    sel:\n        F|re: '^ab+c$'\n    condition: sel",
        &[
            (r#"{"F":"abbbc"}"#, true),
            (r#"{"F":"ABBC"}"#, false),
            (r#"{"F":"xabc"}"#, false),
        ],
    );
    check(
        "    sel:\n        F|re|i: '^ab+c$'\n    condition: sel",
        &[(r#"{"F":"ABBC"}"#, true)],
    );
    check(
        "    sel:\n        F|re|m: '^second$'\n    condition: sel",
        &[(r#"{"F":"first\nsecond\nthird"}"#, true)],
    );
    check(
        "    sel:\n        F|re|s: 'a.b'\n    condition: sel",
        &[(r#"{"F":"a\nb"}"#, true)],
    );
    check(
        "    sel:\n        F|re: 'a.b'\n    condition: sel",
        &[(r#"{"F":"a\nb"}"#, false)],
    );
    check(
        "    sel:\n        F|re: 'mid'\n    condition: sel",
        &[(r#"{"F":"in the middle"}"#, true)],
    );
}

#[test]
fn cidr_v4_and_v6() {
    check(
        "    sel:\n        ip|cidr:\n            - 10.0.0.0/8\n            - 'fe80::/10'\n    condition: sel",
        &[
            (r#"{"ip":"10.1.2.3"}"#, true),
            (r#"{"ip":"fe80::1"}"#, true),
            (r#"{"ip":"192.168.1.1"}"#, false),
            (r#"{"ip":"not an address"}"#, false),
        ],
    );
}

#[test]
fn base64_and_base64offset() {
    // "Zm9vYmFy" is base64("foobar").
    check(
        "    sel:\n        F|base64: foobar\n    condition: sel",
        &[
            (r#"{"F":"Zm9vYmFy"}"#, true),
            (r#"{"F":"zm9vymfy"}"#, true),
            (r#"{"F":"foobar"}"#, false),
        ],
    );
    // base64("x/bin/bash") and base64("xy/bin/bash") contain the offset forms.
    let rule = "    sel:\n        F|base64offset|contains: /bin/bash\n    condition: sel";
    check(
        rule,
        &[
            (r#"{"F":"echo L2Jpbi9iYXNo | base64 -d"}"#, true),
            (r#"{"F":"eC9iaW4vYmFzaA=="}"#, true),
            (r#"{"F":"eHkvYmluL2Jhc2g="}"#, true),
            (r#"{"F":"L2Jpbi9zaA=="}"#, false),
        ],
    );
}

#[test]
fn wide_and_utf16_variants_with_base64() {
    // base64(utf16le("cmd")) = "YwBtAGQA"; utf16be: "AGMAbQBk"; utf16 (BOM): "//5jAG0AZAA=".
    check(
        "    sel:\n        F|wide|base64: cmd\n    condition: sel",
        &[(r#"{"F":"YwBtAGQA"}"#, true)],
    );
    check(
        "    sel:\n        F|utf16le|base64: cmd\n    condition: sel",
        &[(r#"{"F":"YwBtAGQA"}"#, true)],
    );
    check(
        "    sel:\n        F|utf16be|base64: cmd\n    condition: sel",
        &[(r#"{"F":"AGMAbQBk"}"#, true)],
    );
    check(
        "    sel:\n        F|utf16|base64: cmd\n    condition: sel",
        &[(r#"{"F":"//5jAG0AZAA="}"#, true)],
    );
    check(
        "    sel:\n        F|wide|base64offset|contains: cmd\n    condition: sel",
        &[
            (r#"{"F":"powershell -enc YwBtAGQA"}"#, true),
            (r#"{"F":"Y21k"}"#, false),
        ],
    );
}

#[test]
fn windash_accepts_every_dash() {
    let rule = "    sel:\n        CommandLine|contains|windash: ' -f '\n    condition: sel";
    check(
        rule,
        &[
            (r#"{"CommandLine":"reg add -f x"}"#, true),
            (r#"{"CommandLine":"reg add /f x"}"#, true),
            (r#"{"CommandLine":"reg add \u2013f x"}"#, true),
            (r#"{"CommandLine":"reg add \u2014f x"}"#, true),
            (r#"{"CommandLine":"reg add \u2015f x"}"#, true),
            (r#"{"CommandLine":"reg add +f x"}"#, false),
        ],
    );
}

#[test]
fn exists_and_null_and_empty() {
    check(
        "    sel:\n        A|exists: true\n    condition: sel",
        &[
            (r#"{"A":null}"#, true),
            (r#"{"A":""}"#, true),
            (r#"{"B":1}"#, false),
        ],
    );
    check(
        "    sel:\n        A|exists: false\n    condition: sel",
        &[(r#"{"B":1}"#, true), (r#"{"A":"x"}"#, false)],
    );
    check(
        "    sel:\n        A: null\n    condition: sel",
        &[
            (r#"{"B":1}"#, true),
            (r#"{"A":null}"#, true),
            (r#"{"A":""}"#, false),
        ],
    );
    check(
        "    sel:\n        A: ''\n    condition: sel",
        &[
            (r#"{"A":""}"#, true),
            (r#"{"B":1}"#, false),
            (r#"{"A":"x"}"#, false),
        ],
    );
}

#[test]
fn numeric_comparisons() {
    check(
        "    a:\n        n|gt: 10\n    b:\n        m|lte: 2.5\n    condition: a or b",
        &[
            (r#"{"n":11}"#, true),
            (r#"{"n":10}"#, false),
            (r#"{"n":"12"}"#, true),
            (r#"{"m":2.5}"#, true),
            (r#"{"m":3}"#, false),
        ],
    );
    check(
        "    a:\n        n|gte: 10\n    b:\n        m|lt: 0\n    condition: a or b",
        &[
            (r#"{"n":10}"#, true),
            (r#"{"n":9.9}"#, false),
            (r#"{"m":-1}"#, true),
        ],
    );
}

#[test]
fn numbers_match_numbers_and_their_text() {
    check(
        "    sel:\n        EventID: 4624\n    condition: sel",
        &[
            (r#"{"EventID":4624}"#, true),
            (r#"{"EventID":"4624"}"#, true),
            (r#"{"EventID":4624.0}"#, true),
            (r#"{"EventID":46240}"#, false),
        ],
    );
    check(
        "    sel:\n        EventID: '4624'\n    condition: sel",
        &[
            (r#"{"EventID":4624}"#, true),
            (r#"{"EventID":"4624"}"#, true),
        ],
    );
    check(
        "    sel:\n        ok: true\n    condition: sel",
        &[
            (r#"{"ok":true}"#, true),
            (r#"{"ok":"True"}"#, true),
            (r#"{"ok":false}"#, false),
        ],
    );
}

#[test]
fn fieldref_compares_two_fields() {
    check(
        "    sel:\n        User|fieldref: ParentUser\n    condition: sel",
        &[
            (r#"{"User":"alice","ParentUser":"ALICE"}"#, true),
            (r#"{"User":"alice","ParentUser":"bob"}"#, false),
            (r#"{"User":"alice"}"#, false),
        ],
    );
}

#[test]
fn neq_and_time_parts() {
    check(
        "    sel:\n        A|neq: x\n    condition: sel",
        &[(r#"{"A":"y"}"#, true), (r#"{"A":"X"}"#, false)],
    );
    check(
        "    sel:\n        t|hour|gte: 22\n    condition: sel",
        &[
            (r#"{"t":"2026-10-03T23:02:17Z"}"#, true),
            (r#"{"t":"2026-10-03T08:00:00Z"}"#, false),
        ],
    );
    check(
        "    sel:\n        t|month: 10\n    condition: sel",
        &[(r#"{"t":"2026-10-03T23:02:17Z"}"#, true)],
    );
}

#[test]
fn expand_uses_configured_placeholders() {
    let mut p = Placeholders::new();
    p.insert("Servers".into(), vec!["srv-*".into(), "dc01".into()]);
    check_with(
        "    sel:\n        Host|expand: '%Servers%'\n    condition: sel",
        &p,
        &[
            (r#"{"Host":"SRV-web"}"#, true),
            (r#"{"Host":"dc01"}"#, true),
            (r#"{"Host":"laptop"}"#, false),
        ],
    );
    assert!(
        refused("    sel:\n        Host|expand: '%Servers%'\n    condition: sel")
            .contains("placeholder `%Servers%`")
    );
}

#[test]
fn keywords_search_every_string() {
    check(
        "    keywords:\n        - 'event::clear'\n        - 'event::drop'\n    condition: keywords",
        &[
            (r#"{"msg":"mimikatz event::CLEAR now"}"#, true),
            (r#"{"deep":{"list":["a","x event::drop"]}}"#, true),
            (r#"{"msg":"nothing"}"#, false),
        ],
    );
    check(
        "    keywords:\n        '|all':\n            - OabVirtualDirectory\n            - ' -ExternalUrl '\n    condition: keywords",
        &[
            (r#"{"a":"Set-OabVirtualDirectory -ExternalUrl http://x"}"#, true),
            (r#"{"a":"Set-OabVirtualDirectory","b":"x -ExternalUrl y"}"#, true),
            (r#"{"a":"Set-OabVirtualDirectory"}"#, false),
        ],
    );
}

#[test]
fn dotted_fields_are_nested_or_literal_and_arrays_match_any_element() {
    let rule = "    sel:\n        userIdentity.type: Root\n    condition: sel";
    check(
        rule,
        &[
            (r#"{"userIdentity":{"type":"Root"}}"#, true),
            (r#"{"userIdentity.type":"Root"}"#, true),
            (r#"{"userIdentity":{"type":"IAMUser"}}"#, false),
        ],
    );
    check(
        "    sel:\n        layers.arn|contains: malicious\n    condition: sel",
        &[
            (r#"{"layers":[{"arn":"ok"},{"arn":"x:malicious:1"}]}"#, true),
            (r#"{"layers":[{"arn":"ok"}]}"#, false),
        ],
    );
    check(
        "    sel:\n        tags: b\n    condition: sel",
        &[
            (r#"{"tags":["a","b"]}"#, true),
            (r#"{"tags":["a"]}"#, false),
        ],
    );
}

const CONDITIONS: &str = "    selection_a:\n        A: 1\n    selection_b:\n        B: 1\n    filter_x:\n        X: 1\n    filter_y:\n        Y: 1\n    _hidden:\n        H: 1\n";

fn cond(condition: &str, cases: &[(&str, bool)]) {
    check(&format!("{CONDITIONS}    condition: {condition}"), cases);
}

#[test]
fn condition_operators_and_precedence() {
    cond(
        "selection_a and selection_b",
        &[(r#"{"A":1,"B":1}"#, true), (r#"{"A":1}"#, false)],
    );
    cond(
        "selection_a or selection_b",
        &[(r#"{"B":1}"#, true), (r#"{"X":1}"#, false)],
    );
    cond(
        "selection_a and not filter_x",
        &[(r#"{"A":1}"#, true), (r#"{"A":1,"X":1}"#, false)],
    );
    // `and` binds tighter than `or`; `not` tighter than `and`.
    cond(
        "selection_a or selection_b and filter_x",
        &[(r#"{"A":1}"#, true), (r#"{"B":1}"#, false)],
    );
    cond(
        "(selection_a or selection_b) and filter_x",
        &[(r#"{"A":1}"#, false), (r#"{"B":1,"X":1}"#, true)],
    );
    cond(
        "not selection_a and selection_b",
        &[(r#"{"B":1}"#, true), (r#"{"A":1,"B":1}"#, false)],
    );
    cond(
        "not (selection_a and selection_b)",
        &[(r#"{"A":1,"B":1}"#, false), (r#"{"A":1}"#, true)],
    );
}

#[test]
fn quantified_conditions() {
    cond(
        "1 of selection_*",
        &[(r#"{"B":1}"#, true), (r#"{"X":1}"#, false)],
    );
    cond("any of selection_*", &[(r#"{"A":1}"#, true)]);
    cond(
        "all of selection_*",
        &[(r#"{"A":1,"B":1}"#, true), (r#"{"A":1}"#, false)],
    );
    cond(
        "1 of selection_* and not 1 of filter_*",
        &[(r#"{"A":1}"#, true), (r#"{"A":1,"Y":1}"#, false)],
    );
    cond("1 of them", &[(r#"{"Y":1}"#, true), (r#"{"H":1}"#, false)]);
    cond(
        "all of them",
        &[
            (r#"{"A":1,"B":1,"X":1,"Y":1}"#, true),
            (r#"{"A":1,"B":1,"X":1}"#, false),
        ],
    );
    cond(
        "2 of them",
        &[(r#"{"A":1,"Y":1}"#, true), (r#"{"A":1,"H":1}"#, false)],
    );
    cond("1 of _hid*", &[(r#"{"H":1}"#, true)]);
}

#[test]
fn a_list_of_conditions_is_an_or() {
    check(
        &format!("{CONDITIONS}    condition:\n        - selection_a\n        - filter_y"),
        &[
            (r#"{"A":1}"#, true),
            (r#"{"Y":1}"#, true),
            (r#"{"B":1}"#, false),
        ],
    );
}

#[test]
fn refusals_name_the_feature() {
    assert!(
        refused("    sel:\n        F|frobnicate: x\n    condition: sel")
            .contains("unknown modifier `frobnicate`")
    );
    assert!(
        refused("    sel:\n        F|re: '(?<=a)b'\n    condition: sel")
            .contains("regular expression")
    );
    assert!(refused("    sel:\n        F|i: x\n    condition: sel").contains("without `re`"));
    assert!(
        refused("    sel:\n        F|contains|startswith: x\n    condition: sel")
            .contains("combined")
    );
    assert!(refused("    sel:\n        F|cidr: nonsense\n    condition: sel").contains("CIDR"));
    assert!(
        refused("    sel:\n        F: x\n    condition: sel | count() > 5").contains("aggregation")
    );
    assert!(
        refused("    sel:\n        F: x\n    condition: nope").contains("not a search identifier")
    );
    assert!(refused("    sel:\n        F|exists: maybe\n    condition: sel").contains("exists"));
    assert!(refused("    sel:\n        F|base64: 'a*'\n    condition: sel").contains("wildcards"));
    assert!(refused("    sel:\n        F: x").contains("missing condition"));
}
