//! No input may make the parser, checker or formatter panic or hang: mutated corpus
//! files, truncations and pathological shapes all come back as diagnostics, in time
//! proportional to their size.

use crate::corpus_tests::{corpus, valid_configurations};
use crate::testing::catalogue;
use crate::{compile, format_source, render, render_short, SourceFile};
use std::time::{Duration, Instant};

/// Compiles, renders every diagnostic both ways and formats; panics surface as test
/// failures.
fn exercise(text: &str) {
    let files = [SourceFile::new("fuzz.pipe", text)];
    let result = compile(&files, &catalogue());
    for d in &result.diagnostics {
        let _ = render_short(d, &files);
        let _ = render(d, &files, true);
    }
    if let Ok(formatted) = format_source(&files[0]) {
        // What formats must format to itself.
        let again = format_source(&SourceFile::new("fuzz.pipe", formatted.as_str()));
        assert_eq!(again.as_deref().ok(), Some(formatted.as_str()), "{text:?}");
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "'''",
    "#",
    "//",
    "=",
    "==",
    "!",
    "&&",
    "||",
    ",",
    ".",
    "\\",
    "\n",
    " ",
    "in",
    "true",
    "null",
    "1e999",
    "-",
    "5mins",
    "@",
    "é",
    "\u{0}",
    "\t",
    "source",
    "pipeline",
    "test",
    "given",
    "env(",
    "secret(",
    "\\u{",
    "99999999999999999999",
    "x.y.z",
    "[0]",
    "=~",
    "'",
];

#[test]
fn mutated_corpus_files_never_panic() {
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    let mut sources: Vec<String> = corpus("tests/dsl/invalid")
        .into_iter()
        .map(|f| f.text)
        .collect();
    for files in valid_configurations() {
        sources.extend(files.into_iter().map(|f| f.text));
    }
    for text in &sources {
        for _ in 0..25 {
            let mut t = text.clone();
            for _ in 0..1 + rng.below(4) {
                let mut at = rng.below(t.len() + 1);
                while !t.is_char_boundary(at) {
                    at -= 1;
                }
                match rng.below(3) {
                    0 => t.insert_str(at, PIECES[rng.below(PIECES.len())]),
                    1 => {
                        let mut end = (at + 1 + rng.below(8)).min(t.len());
                        while !t.is_char_boundary(end) {
                            end += 1;
                        }
                        t.replace_range(at..end, "");
                    }
                    _ => t.truncate(at),
                }
            }
            exercise(&t);
        }
    }
}

fn timed(what: &str, text: &str) {
    let start = Instant::now();
    exercise(text);
    let took = start.elapsed();
    // Generous: debug builds on a shared machine; a hang or a quadratic blow-up is
    // orders of magnitude beyond this.
    assert!(took < Duration::from_secs(30), "{what} took {took:?}");
}

#[test]
fn pathological_shapes_are_rejected_quickly() {
    timed("open braces", &"{".repeat(1_000_000));
    timed(
        "open brackets in a value",
        &format!(
            "pipeline \"p\" {{ source stdin \"s\" {{ x = {} }} }}",
            "[".repeat(500_000)
        ),
    );
    timed(
        "parentheses",
        &format!(
            "pipeline \"p\" {{ transform filter \"f\" {{ condition = {}a{} }} }}",
            "(".repeat(63),
            ")".repeat(63)
        ),
    );
    timed("quotes", &"\"".repeat(500_000));
    timed("raw quotes", &"'''".repeat(100_001));
    timed(
        "bangs",
        &format!(
            "pipeline \"p\" {{ transform filter \"f\" {{ condition = {}a }} }}",
            "!".repeat(200_000)
        ),
    );
    timed("comments", &"# c\n".repeat(200_000));
    timed(
        "one long line",
        &format!("pipeline \"p\" {{ {} }}", "x".repeat(1_000_000)),
    );
    timed("garbage", &"\u{1F600}$%^&*".repeat(100_000));
}

#[test]
fn a_large_pipeline_checks_in_linear_time() {
    let mut text = String::from("pipeline \"big\" {\n  source stdin \"s0\" {}\n");
    for i in 1..3000 {
        text.push_str(&format!(
            "  transform filter \"s{i}\" {{\n    inputs    = [s{}]\n    condition = a.b{i} == {i} || c in [1, 2, 3] && lower(d) =~ '''^x'''\n  }}\n",
            i - 1
        ));
    }
    text.push_str("  sink blackhole \"end\" { inputs = [s2999] }\n}\n");
    let start = Instant::now();
    let result = compile(&[SourceFile::new("big.pipe", text.as_str())], &catalogue());
    assert!(
        result.diagnostics.is_empty(),
        "{:?}",
        result.diagnostics.first()
    );
    assert_eq!(result.plan.unwrap().pipelines[0].components.len(), 3001);
    let formatted = format_source(&SourceFile::new("big.pipe", text.as_str())).unwrap();
    assert_eq!(formatted.lines().count(), text.lines().count() + 3002);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}
