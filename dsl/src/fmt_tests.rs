//! The formatter's promises, tested over the corpus and generated variations of it:
//! formatting is idempotent, keeps every comment, and never changes the plan.

use crate::corpus_tests::{corpus, valid_configurations};
use crate::fmt::format_source;
use crate::plan::Plan;
use crate::testing::catalogue;
use crate::{compile, SourceFile};

fn fmt(text: &str) -> String {
    match format_source(&SourceFile::new("x.pipe", text)) {
        Ok(out) => out,
        Err(d) => panic!("does not parse: {d:?}\n{text}"),
    }
}

/// The plan with `origin`s cleared (they hold line numbers, which formatting moves).
fn plan_of(files: &[SourceFile]) -> Plan {
    let result = compile(files, &catalogue());
    let mut plan = result
        .plan
        .unwrap_or_else(|| panic!("{:?}", result.diagnostics));
    for p in &mut plan.pipelines {
        for c in &mut p.components {
            c.origin.clear();
        }
        for t in &mut p.tests {
            t.origin.clear();
        }
    }
    plan
}

fn formatted(files: &[SourceFile]) -> Vec<SourceFile> {
    files
        .iter()
        .map(|f| SourceFile::new(f.path.clone(), fmt(&f.text)))
        .collect()
}

fn comments_of(text: &str) -> Vec<String> {
    crate::prescan::scan(0, text)
        .unwrap()
        .comments
        .into_iter()
        .map(|c| c.text)
        .collect()
}

/// Checks every promise on one configuration.
fn promises_hold(files: &[SourceFile]) {
    let once = formatted(files);
    for (before, after) in files.iter().zip(&once) {
        assert_eq!(
            fmt(&after.text),
            after.text,
            "not idempotent for {}:\n{}",
            before.path,
            after.text
        );
        assert_eq!(
            comments_of(&before.text),
            comments_of(&after.text),
            "comments changed in {}",
            before.path
        );
    }
    assert_eq!(
        plan_of(files),
        plan_of(&once),
        "the plan changed for {}",
        files[0].path
    );
}

#[test]
fn valid_corpus_formats_idempotently_to_the_same_plan() {
    for files in valid_configurations() {
        promises_hold(&files);
    }
}

/// The valid corpus is kept in the canonical layout (`BLESS=1` rewrites it so).
#[test]
fn the_valid_corpus_is_already_formatted() {
    let bless = std::env::var_os("BLESS").is_some();
    for files in valid_configurations() {
        for f in &files {
            let canonical = fmt(&f.text);
            if bless {
                let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
                std::fs::write(root.join(&f.path), &canonical).unwrap();
            } else {
                assert_eq!(
                    canonical, f.text,
                    "{} is not in the canonical layout",
                    f.path
                );
            }
        }
    }
}

#[test]
fn invalid_files_that_parse_format_idempotently_and_keep_their_errors() {
    for file in corpus("tests/dsl/invalid") {
        let Ok(once) = format_source(&file) else {
            continue;
        };
        assert_eq!(fmt(&once), once, "not idempotent for {}", file.path);
        assert_eq!(comments_of(&file.text), comments_of(&once));
        let codes = |text: &str| -> Vec<&'static str> {
            let mut codes: Vec<&str> = compile(&[SourceFile::new("x", text)], &catalogue())
                .diagnostics
                .iter()
                .map(|d| d.code)
                .collect();
            codes.sort();
            codes
        };
        assert_eq!(
            codes(&file.text),
            codes(&once),
            "diagnostics changed for {}",
            file.path
        );
    }
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The byte ranges of whitespace between tokens (outside strings and comments).
fn whitespace_runs(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => i = text[i..].find('\n').map_or(bytes.len(), |n| i + n),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n)
            }
            b'\'' if text[i..].starts_with("'''") => {
                i = i + 3 + text[i + 3..].find("'''").unwrap() + 3
            }
            b'"' => {
                i += 1;
                while bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                let start = i;
                while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
                    i += 1;
                }
                runs.push((start, i));
            }
            _ => i += 1,
        }
    }
    runs
}

/// Rewrites the whitespace between tokens. `vertical` also moves line breaks (keeping
/// one after each comment, which runs to the end of its line).
fn vary(text: &str, rng: &mut Rng, vertical: bool) -> String {
    // Where comments end their line: the whitespace run starting there must keep a
    // line break.
    let comment_line_ends: Vec<usize> = crate::prescan::scan(0, text)
        .unwrap()
        .comments
        .iter()
        .map(|c| {
            c.span.start
                + text[c.span.start..]
                    .find('\n')
                    .unwrap_or(text.len() - c.span.start)
        })
        .collect();
    let mut out = String::new();
    let mut last = 0;
    for (start, end) in whitespace_runs(text) {
        out.push_str(&text[last..start]);
        let run = &text[start..end];
        let newlines = run.matches('\n').count();
        let after_comment = comment_line_ends.contains(&start)
            || (start..end).any(|p| comment_line_ends.contains(&p));
        let newlines = if vertical {
            let n = rng.below(4) as usize;
            if after_comment || start == 0 {
                n.max(newlines.min(1)).max(usize::from(after_comment))
            } else {
                n.saturating_sub(1)
            }
        } else {
            newlines
        };
        for _ in 0..newlines {
            out.push('\n');
        }
        let spaces = 1 + rng.below(3) as usize;
        for _ in 0..spaces {
            out.push(if rng.below(4) == 0 { '\t' } else { ' ' });
        }
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

#[test]
fn generated_variations_keep_every_promise() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for files in valid_configurations() {
        let canonical = formatted(&files);
        for round in 0..12 {
            let vertical = round % 2 == 1;
            let varied: Vec<SourceFile> = files
                .iter()
                .map(|f| SourceFile::new(f.path.clone(), vary(&f.text, &mut rng, vertical)))
                .collect();
            promises_hold(&varied);
            if !vertical {
                // Moving spaces and tabs about changes nothing of the layout.
                assert_eq!(
                    formatted(&varied)[0].text,
                    canonical[0].text,
                    "round {round}:\n{}",
                    varied[0].text
                );
            }
        }
    }
}

#[test]
fn a_messy_file_gets_the_canonical_layout() {
    let messy = "# header\n\n\n# about the pipeline\npipeline   \"comments\"{ # open-line\n  # leading comment of a source\n\n\n  source stdin \"lines\" {   } # after a block\n  source stdin \"more\" { batch_size=10 max_line_length = 1MiB\n  }\n      sink console \"out\" {\ninputs = [ # open comment in list\n lines, more # trailing in list\n\n\n # own-line in list\n ]\n // between attributes\n\n\n encoding=\"ndjson\" # aligned\n    }\n # end of pipeline\n}\n# end of file\n\n\n";
    let expected = "# header

# about the pipeline
pipeline \"comments\" { # open-line
  # leading comment of a source

  source stdin \"lines\" {} # after a block

  source stdin \"more\" {
    batch_size      = 10
    max_line_length = 1MiB
  }

  sink console \"out\" {
    inputs = [ # open comment in list
      lines,
      more, # trailing in list

      # own-line in list
    ]
    // between attributes

    encoding = \"ndjson\" # aligned
  }
  # end of pipeline
}
# end of file
";
    assert_eq!(fmt(messy), expected);
    assert_eq!(fmt(expected), expected);
}

#[test]
fn expressions_get_single_spaces_and_keep_their_parentheses() {
    let text = "pipeline \"p\" {\n  transform filter \"f\" {\n    condition=!!(a==1)&&b   in[1,2]||c=~'''x'''||f( x,y )\n  }\n}\n";
    let out = fmt(text);
    assert!(
        out.contains("    condition = !!(a == 1) && b in [1, 2] || c =~ '''x''' || f(x, y)\n"),
        "{out}"
    );
}

#[test]
fn comments_inside_an_expression_move_above_it() {
    let text = "pipeline \"p\" {\n  transform filter \"f\" {\n    inputs = [s]\n    condition = a == 1 && # why\n      b == 2\n  }\n}\n";
    let expected = "pipeline \"p\" {\n  transform filter \"f\" {\n    inputs    = [s]\n    # why\n    condition = a == 1 && b == 2\n  }\n}\n";
    assert_eq!(fmt(text), expected);
    assert_eq!(fmt(expected), expected);
}

#[test]
fn raw_strings_are_kept_byte_for_byte() {
    let script = "'''\r\n  let x = 1;   \r\n\t\tx\n'''";
    let text = format!("pipeline \"p\" {{\n  transform script \"s\" {{\n    rhai = {script}\n  inputs=[a]\n  }}\n}}\n");
    let out = fmt(&text);
    // A value over several lines ends the run of aligned attributes.
    assert!(
        out.contains(&format!("    rhai = {script}\n    inputs = [a]\n")),
        "{out:?}"
    );
}

#[test]
fn long_lists_break_and_short_ones_join() {
    let items: Vec<String> = (0..12).map(|i| format!("\"item_number_{i}\"")).collect();
    let text = format!("pipeline \"p\" {{\n  transform parse \"x\" {{\n    csv_columns = [\n  \"a\",\n \"b\"\n]\n    other = [{}]\n  }}\n}}\n", items.join(","));
    let out = fmt(&text);
    assert!(out.contains("    csv_columns = [\"a\", \"b\"]\n"), "{out}");
    assert!(
        out.contains("    other       = [\n      \"item_number_0\",\n"),
        "{out}"
    );
    assert!(out.contains("      \"item_number_11\",\n    ]\n"), "{out}");
    for line in out.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(fmt(""), "");
    assert_eq!(fmt("\n\n  \n"), "");
    assert_eq!(
        fmt("# only\n\n\n// comments  \n"),
        "# only\n\n// comments\n"
    );
}

#[test]
fn syntax_errors_are_returned_not_formatted() {
    let err = format_source(&SourceFile::new("x.pipe", "pipeline \"p\" {")).unwrap_err();
    assert_eq!(err[0].code, crate::codes::UNCLOSED_DELIMITER);
}

#[test]
fn comments_anywhere_between_tokens_survive() {
    let mut rng = Rng(0xc0de_c0de_1234_5678);
    for files in valid_configurations() {
        for (index, file) in files.iter().enumerate() {
            let runs = whitespace_runs(&file.text);
            for round in 0..20 {
                // A comment (own-line or trailing) at a few places between tokens.
                let mut text = file.text.clone();
                let mut places: Vec<usize> = (0..3)
                    .map(|_| runs[rng.below(runs.len() as u64) as usize].0)
                    .collect();
                places.sort_unstable();
                places.dedup();
                for (n, at) in places.into_iter().rev().enumerate() {
                    let comment = if rng.below(2) == 0 {
                        format!(" # note {round}.{n}\n")
                    } else {
                        format!("\n// note {round}.{n}\n")
                    };
                    text.insert_str(at, &comment);
                }
                let mut config = files.clone();
                config[index] = SourceFile::new(file.path.clone(), text);
                promises_hold(&config);
            }
        }
    }
}
