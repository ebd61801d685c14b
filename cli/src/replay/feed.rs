//! `source replay_feed`: how events computed in process by `pipectl replay` reach the
//! real sinks and responders of the pipeline.
//!
//! A factory is a plain function of the plan, so the channel a feed reads cannot ride
//! in the plan: the replay parks each receiver here under `pipeline/component` before
//! the topology starts, and the feed takes it when it is built. The type is registered
//! only in the replay's own registry; pipeline files cannot name it.

use futures::future::BoxFuture;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Source, SourceContext,
};
use pipectl_core::event::Event;
use pipectl_dsl::catalogue::ComponentSpec;
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// The type name the replay gives its feed sources.
pub const TYPE_NAME: &str = "replay_feed";

static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: TYPE_NAME,
    summary: "Events computed by `pipectl replay`, passed to the pipeline's sinks and responders.",
    attrs: &[],
    fixed_outputs: &[],
    outputs_from: None,
};

/// The feed's factory, for the replay's registry.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

type Parked = HashMap<String, mpsc::Receiver<Vec<Event>>>;

static PARKED: Mutex<Option<Parked>> = Mutex::new(None);

/// Parks the receiving end of a feed until the topology builds it.
pub fn park(pipeline: &str, component: &str, rx: mpsc::Receiver<Vec<Event>>) {
    if let Ok(mut parked) = PARKED.lock() {
        parked
            .get_or_insert_with(HashMap::new)
            .insert(format!("{pipeline}/{component}"), rx);
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let key = format!("{}/{}", ctx.pipeline, plan.name);
    let rx = PARKED
        .lock()
        .ok()
        .and_then(|mut parked| parked.as_mut().and_then(|p| p.remove(&key)))
        .ok_or_else(|| BuildError::new(plan, "no replay stream was prepared for this feed"))?;
    Ok(Built::Source(Box::new(Feed { rx })))
}

struct Feed {
    rx: mpsc::Receiver<Vec<Event>>,
}

impl Source for Feed {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        let mut rx = self.rx;
        let mut out = ctx.out;
        Box::pin(async move {
            while let Some(batch) = rx.recv().await {
                if out.send(batch).await.is_err() {
                    return Err(ComponentError {
                        component: ctx.name.to_string(),
                        message: "every consumer of the replayed events stopped".into(),
                    });
                }
            }
            Ok(())
        })
    }
}
