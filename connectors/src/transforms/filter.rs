//! `transform filter`: keeps the events a condition holds for and drops the others.
//!
//! A dropped event counts as delivered for acknowledgements: dropping on purpose is
//! not a failure, so sources still advance past it.

use pipectl_core::component::{
    BuildContext, BuildError, Built, Factory, Transform, TransformOutput,
};
use pipectl_core::config::Attrs;
use pipectl_core::event::Batch;
use pipectl_core::expr::CompiledExpr;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};

/// The catalogue entry of `transform filter`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Transform,
    type_name: "filter",
    summary: "Keeps the events a condition holds for; drops the others.",
    attrs: &[AttrSpec::required(
        "condition",
        AttrType::Expr,
        "Events for which this is true are kept, e.g. `event.outcome == \"failure\"`.",
    )],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `transform filter`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let condition = Attrs::new(plan, ctx).expr("condition")?;
    Ok(Built::Transform(Box::new(Filter { condition })))
}

/// A built `transform filter`.
pub struct Filter {
    condition: CompiledExpr,
}

impl Transform for Filter {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        for event in batch {
            if self.condition.matches(&event.value) {
                out.push(event);
            } else {
                out.drop_event(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{eq, plan, run_transform};
    use pipectl_dsl::plan::PlanValue;

    #[tokio::test]
    async fn keeps_matching_events_and_counts_the_rest_as_dropped() {
        let p = plan(
            &SPEC,
            "t",
            vec![("condition", PlanValue::Expr(eq("event.outcome", "failure")))],
        );
        let outcome = run_transform(
            FACTORY,
            p,
            &[
                r#"{"event":{"outcome":"failure"},"n":1}"#,
                r#"{"event":{"outcome":"success"},"n":2}"#,
                r#"{"n":3}"#,
                r#"{"event":{"outcome":"failure"},"n":4}"#,
            ],
        )
        .await;
        assert_eq!(
            outcome.port(""),
            [
                r#"{"event":{"outcome":"failure"},"n":1}"#,
                r#"{"event":{"outcome":"failure"},"n":4}"#
            ]
        );
        assert_eq!(outcome.counters.events_dropped, 2);
    }
}
