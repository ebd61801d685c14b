//! `transform route`: sends each event to every named route whose condition holds.
//!
//! ```text
//! transform route "by_source" {
//!   inputs = [parsed]
//!   routes = {
//!     auth    = event.category == "authentication"
//!     network = event.category == "network"
//!   }
//! }
//! sink file "auth_log" { inputs = [by_source.auth] ... }
//! sink file "rest"     { inputs = [by_source.unmatched] ... }
//! ```
//!
//! Every key of `routes` becomes an output consumers read as `name.route`; an event
//! matching several routes goes to each (copied), one matching none to `unmatched`.
//! Route never emits on its default output, so reading `name` alone yields nothing;
//! read `name.<route>` or `name.unmatched`.

use pipectl_core::component::{
    BuildContext, BuildError, Built, Factory, Transform, TransformOutput,
};
use pipectl_core::config::Attrs;
use pipectl_core::event::Batch;
use pipectl_core::expr::CompiledExpr;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};

/// The output that receives events no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The catalogue entry of `transform route`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "route",
    summary: "Sends each event to every route whose condition holds (read them as `name.route`), or to `name.unmatched`.",
    attrs: &[AttrSpec::required(
        "routes",
        AttrType::Map(&AttrType::Expr),
        "Route name to condition; each name becomes an output `name.route`. The default output is unused.",
    )],
    fixed_outputs: &[UNMATCHED],
    outputs_from: Some("routes"),
};

/// Builds `transform route`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let routes = attrs.expr_map("routes")?;
    if routes.is_empty() {
        return Err(attrs.error("attribute `routes` needs at least one route"));
    }
    if routes.iter().any(|(name, _)| name == UNMATCHED) {
        return Err(attrs.error(format!(
            "a route may not be named `{UNMATCHED}`: that output receives the events no route matched"
        )));
    }
    Ok(Built::Transform(Box::new(Route {
        routes,
        matched: Vec::new(),
    })))
}

/// A built `transform route`.
pub struct Route {
    routes: Vec<(String, CompiledExpr)>,
    /// Scratch: indices of the routes the current event matched.
    matched: Vec<usize>,
}

impl Transform for Route {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        for event in batch {
            self.matched.clear();
            for (i, (_, condition)) in self.routes.iter().enumerate() {
                if condition.matches(&event.value) {
                    self.matched.push(i);
                }
            }
            let Some((&last, others)) = self.matched.split_last() else {
                out.push_to(UNMATCHED, event);
                continue;
            };
            for &i in others {
                if let Some((name, _)) = self.routes.get(i) {
                    out.push_to(name, event.clone());
                }
            }
            if let Some((name, _)) = self.routes.get(last) {
                out.push_to(name, event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{build_error, eq, gt, plan, run_transform};
    use pipectl_dsl::plan::PlanValue;
    use std::collections::BTreeMap;

    fn routes(pairs: Vec<(&str, pipectl_dsl::plan::Expr)>) -> PlanValue {
        PlanValue::Map(
            pairs
                .into_iter()
                .map(|(k, e)| (k.to_string(), PlanValue::Expr(e)))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[tokio::test]
    async fn events_go_to_every_matching_route_or_unmatched() {
        let p = plan(
            &SPEC,
            "t",
            vec![(
                "routes",
                routes(vec![
                    ("auth", eq("kind", "auth")),
                    ("big", gt("bytes", 1000)),
                ]),
            )],
        );
        assert_eq!(p.outputs, ["auth", "big", "unmatched"]);
        let outcome = run_transform(
            FACTORY,
            p,
            &[
                r#"{"kind":"auth","bytes":10}"#,
                r#"{"kind":"auth","bytes":5000}"#,
                r#"{"kind":"net","bytes":5000}"#,
                r#"{"kind":"net"}"#,
            ],
        )
        .await;
        assert_eq!(
            outcome.port("auth"),
            [
                r#"{"kind":"auth","bytes":10}"#,
                r#"{"kind":"auth","bytes":5000}"#
            ]
        );
        assert_eq!(
            outcome.port("big"),
            [
                r#"{"kind":"auth","bytes":5000}"#,
                r#"{"kind":"net","bytes":5000}"#
            ]
        );
        assert_eq!(outcome.port("unmatched"), [r#"{"kind":"net"}"#]);
        assert!(outcome.port("").is_empty());
    }

    #[test]
    fn unmatched_is_reserved_and_routes_are_required() {
        let p = plan(
            &SPEC,
            "t",
            vec![("routes", routes(vec![("unmatched", eq("a", "b"))]))],
        );
        assert!(build_error(&FACTORY, &p).contains("may not be named `unmatched`"));
        let p = plan(&SPEC, "t", vec![("routes", routes(vec![]))]);
        assert!(build_error(&FACTORY, &p).contains("at least one route"));
    }
}
