//! Parse, check and compile arbitrary text against the real catalogue, and format it:
//! nothing may panic or hang, and whenever a file formats, its formatted text must be
//! a fixed point of the formatter and compile to the same plan.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pipectl_dsl::{compile, format_source, SourceFile};
use std::sync::OnceLock;

fn catalogue() -> &'static pipectl_dsl::catalogue::Catalogue {
    static CATALOGUE: OnceLock<pipectl_dsl::catalogue::Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        pipectl_core::topology::Registry::new(pipectl_connectors::factories()).catalogue()
    })
}

/// Plans compared without their `origin` (line numbers move when formatting).
fn without_origins(mut plan: pipectl_dsl::plan::Plan) -> pipectl_dsl::plan::Plan {
    for pipeline in &mut plan.pipelines {
        for component in &mut pipeline.components {
            component.origin.clear();
        }
        for test in &mut pipeline.tests {
            test.origin.clear();
        }
    }
    plan
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile {
        path: "fuzz.pipe".to_string(),
        text: text.to_string(),
    };
    let compiled = compile(std::slice::from_ref(&file), catalogue());
    for d in &compiled.diagnostics {
        let _ = pipectl_dsl::render(d, std::slice::from_ref(&file), false);
        let _ = pipectl_dsl::render_short(d, std::slice::from_ref(&file));
    }
    if let Ok(formatted) = format_source(&file) {
        let again = SourceFile {
            path: file.path.clone(),
            text: formatted.clone(),
        };
        let twice = format_source(&again).expect("formatted text must format again");
        assert_eq!(twice, formatted, "fmt is not idempotent");
        let recompiled = compile(std::slice::from_ref(&again), catalogue());
        assert_eq!(
            compiled.plan.map(without_origins),
            recompiled.plan.map(without_origins),
            "formatting changed the plan"
        );
    }
});
