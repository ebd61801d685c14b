//! pipectl's sources, transforms, sinks and codecs.
//!
//! One file per component, each holding its catalogue entry (`SPEC`), its
//! configuration read from the checked plan, its validation and its run loop, and
//! exporting a `FACTORY`. [`factories`] lists them all for the runtime's registry,
//! from which the checker's catalogue and the reference documentation are derived.

pub mod aws;
pub mod buffer;
mod checkpoint;
pub mod codecs;
pub mod gzip;
mod io;
pub mod limits;
pub mod lines;
pub mod normalise;
pub mod respond;
mod settings;
pub mod sinks;
pub mod sources;
#[cfg(test)]
mod testkit;
pub mod transforms;

use pipectl_core::component::Factory;

/// Every component type this crate provides.
pub fn factories() -> Vec<Factory> {
    vec![
        sources::azure_activity::FACTORY,
        sources::box_events::FACTORY,
        sources::cloudtrail::FACTORY,
        sources::dropbox::FACTORY,
        sources::file::FACTORY,
        sources::google_workspace::FACTORY,
        sources::graph::FACTORY,
        sources::http::FACTORY,
        sources::office365::FACTORY,
        sources::okta::FACTORY,
        sources::salesforce::FACTORY,
        sources::stdin::FACTORY,
        sources::syslog::FACTORY,
        sources::vpc_flow::FACTORY,
        transforms::enrich::FACTORY,
        transforms::filter::FACTORY,
        transforms::join::FACTORY,
        transforms::normalise::FACTORY,
        transforms::parse::FACTORY,
        transforms::route::FACTORY,
        transforms::script::FACTORY,
        sinks::blackhole::FACTORY,
        sinks::console::FACTORY,
        sinks::file::FACTORY,
        sinks::opensearch::FACTORY,
        respond::aws::FACTORY,
        respond::azure::FACTORY,
        respond::box_content::FACTORY,
        respond::dropbox::FACTORY,
        respond::google_workspace::FACTORY,
        respond::graph::FACTORY,
        respond::m365_mail::FACTORY,
        respond::okta::FACTORY,
        respond::salesforce::FACTORY,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipectl_dsl::catalogue::AttrSpec;
    use std::collections::HashSet;

    #[test]
    fn every_default_is_valid_for_its_type() {
        for factory in factories() {
            for attr in factory.spec.attrs {
                if let Some(default) = attr.default {
                    assert!(
                        pipectl_dsl::default_value(default, &attr.ty, attr.name).is_ok(),
                        "{} {}: default `{default}` of `{}` does not fit its type",
                        factory.spec.kind,
                        factory.spec.type_name,
                        attr.name
                    );
                }
                let AttrSpec {
                    required, default, ..
                } = *attr;
                assert!(
                    !(required && default.is_some()),
                    "{} is required and has a default",
                    attr.name
                );
            }
        }
    }

    #[test]
    fn type_names_are_unique_per_kind_and_documented() {
        let mut seen = HashSet::new();
        for factory in factories() {
            let spec = factory.spec;
            assert!(
                seen.insert((spec.kind, spec.type_name)),
                "duplicate {}",
                spec.type_name
            );
            assert!(!spec.summary.is_empty());
            assert!(
                spec.attrs.iter().all(|a| !a.doc.is_empty()),
                "{}",
                spec.type_name
            );
        }
        assert_eq!(seen.len(), 34);
    }

    /// Every source that reads records from an API or S3 takes the same input limits,
    /// with the same defaults, and the language accepts them on each (a misspelt one
    /// is still an error).
    #[test]
    fn api_and_s3_sources_take_the_same_input_limits() {
        let api = [
            "okta",
            "office365",
            "graph",
            "google_workspace",
            "salesforce",
            "box",
            "dropbox",
            "azure_activity",
        ];
        let s3 = ["cloudtrail", "vpc_flow"];
        let specs: Vec<_> = factories().iter().map(|f| f.spec).collect();
        for name in api.iter().chain(&s3) {
            let spec = specs
                .iter()
                .find(|s| s.type_name == *name)
                .unwrap_or_else(|| panic!("no source {name}"));
            let default = |attr: &str| {
                spec.attrs
                    .iter()
                    .find(|a| a.name == attr)
                    .and_then(|a| a.default)
            };
            assert_eq!(default("max_event_size"), Some("1MiB"), "{name}");
            assert_eq!(default("max_depth"), Some("32"), "{name}");
            assert_eq!(default("max_fields"), Some("10000"), "{name}");
            let response = default("max_response_size");
            assert_eq!(response, api.contains(name).then_some("64MiB"), "{name}");
        }
        let catalogue = pipectl_dsl::catalogue::Catalogue::new(specs);
        let compile = |limits: &str| {
            let text = format!(
                r#"pipeline "p" {{
  source okta "o" {{
    domain = "https://acme.okta.com"
    api_token = "t"
    {limits}
    max_response_size = 16MiB
  }}
  source cloudtrail "c" {{
    queue_url = "https://sqs.eu-west-1.amazonaws.com/1/q"
    {limits}
  }}
  sink blackhole "b" {{ inputs = [o, c] }}
}}"#
            );
            let files = [pipectl_dsl::SourceFile::new("p.pipe", text)];
            let compiled = pipectl_dsl::compile(&files, &catalogue);
            compiled
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| pipectl_dsl::render_short(d, &files))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            compile("max_event_size = 2MiB\n    max_depth = 64\n    max_fields = 500"),
            Vec::<String>::new()
        );
        let errors = compile("max_dept = 64");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("max_dept"), "{errors:?}");
    }
}
