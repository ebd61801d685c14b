//! The attributes every `respond` block shares and the stage's loop: incidents in,
//! audit documents out, with a timer for people's decisions and expiries.

use super::engine::{Policy, Responder};
use super::policy::{Clock, Glob, Mode};
use super::provider::Actions;
use futures::future::BoxFuture;
use pipectl_core::component::{AsyncStage, BuildError, Built, ComponentError, StageContext};
use pipectl_core::config::Attrs;
use pipectl_core::event::Event;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType};
use std::sync::Arc;
use std::time::Duration;

pub const WHEN: AttrSpec = AttrSpec::required(
    "when",
    AttrType::Expr,
    "Which incidents to act on, over the incident document (`incident.score >= 0.95 && entity.kind == \"aws_user\"`). Other documents are ignored.",
);
pub const MODE: AttrSpec = AttrSpec::with_default(
    "mode",
    AttrType::Enum(&["observe", "confirm", "autonomous"]),
    "\"observe\"",
    "`observe` writes an audit record of what would be done and calls nothing; `confirm` queues the action for `pipectl actions approve|deny`; `autonomous` acts at once.",
);
pub const EXPIRE: AttrSpec = AttrSpec::optional(
    "expire",
    AttrType::Duration,
    "Undo the action this long after it was taken, unless a person made it permanent (`pipectl actions keep`); a queued action not approved within it expires. Without it, actions stay until reverted by hand.",
);
pub const PROTECTED: AttrSpec = AttrSpec::with_default(
    "protected",
    AttrType::List(&AttrType::String),
    "[]",
    "Patterns (`*`, `?`) of targets and entities never touched, matched against the target's id and name and the incident's `entity.id` and `entity.key` (`arn:aws:iam::*:user/break-glass*`).",
);
pub const MAX_PER_HOUR: AttrSpec = AttrSpec::with_default(
    "max_per_hour",
    AttrType::Int,
    "10",
    "Actions taken or queued per sliding hour by this responder; beyond it they are suppressed (audit record `rate limit N/h reached`).",
);
pub const DRY_RUN: AttrSpec = AttrSpec::with_default(
    "dry_run",
    AttrType::Bool,
    "false",
    "Behave like `observe` whatever the mode: record, never call.",
);
pub const ALLOW_IRREVERSIBLE: AttrSpec = AttrSpec::with_default(
    "allow_irreversible",
    AttrType::Bool,
    "false",
    "Let `autonomous` mode run an action that cannot be undone (terminate an instance, delete a console password); refused otherwise.",
);
pub const TARGET: AttrSpec = AttrSpec::optional(
    "target",
    AttrType::Expr,
    "An expression over the incident naming the target (`labels.bucket`, `\"acme-finance-data\"`); by default the target comes from the incident's entity.",
);
pub const CLOCK: AttrSpec = AttrSpec::with_default(
    "clock",
    AttrType::Enum(&["wall", "event"]),
    "\"wall\"",
    "What expiry counts in: `wall` (live) or `event` (the newest incident's `@timestamp`, for replays).",
);
pub const POLL_INTERVAL: AttrSpec = AttrSpec::with_default(
    "poll_interval",
    AttrType::Duration,
    "1s",
    "How often people's decisions and expiries are checked.",
);

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The shared attributes of a `respond` block.
pub fn policy(attrs: &Attrs<'_>, pipeline: &str) -> Result<(Policy, Clock), BuildError> {
    let plan = attrs.plan();
    let mode = attrs.string("mode")?;
    let mode = Mode::parse(&mode).ok_or_else(|| attrs.error(format!("unknown mode `{mode}`")))?;
    let max_per_hour = attrs.int("max_per_hour")?;
    if max_per_hour < 0 {
        return Err(attrs.error("`max_per_hour` cannot be negative"));
    }
    let clock = match attrs.string("clock")?.as_str() {
        "event" => Clock::event(),
        _ => Clock::Wall,
    };
    Ok((
        Policy {
            pipeline: pipeline.to_string(),
            responder: plan.name.clone(),
            action: attrs.string("action")?,
            mode,
            when: Some(attrs.expr("when")?),
            target: attrs.opt_expr("target")?,
            expire_ms: attrs.opt_duration("expire")?.map(millis),
            protected: attrs
                .strings("protected")?
                .into_iter()
                .map(Glob::new)
                .collect(),
            max_per_hour: usize::try_from(max_per_hour).unwrap_or(usize::MAX),
            dry_run: attrs.bool("dry_run")?,
            allow_irreversible: attrs.bool("allow_irreversible")?,
        },
        clock,
    ))
}

/// A responder as a running stage.
pub fn built<P: Actions>(responder: Responder<P>, poll: Duration) -> Built {
    Built::Stage(Box::new(RespondStage {
        responder,
        poll: poll.max(Duration::from_millis(10)),
    }))
}

struct RespondStage<P: Actions> {
    responder: Responder<P>,
    poll: Duration,
}

async fn send(ctx: &mut StageContext, docs: Vec<Value>) {
    if docs.is_empty() {
        return;
    }
    let batch = docs
        .into_iter()
        .map(|d| Event::new(d, Arc::clone(&ctx.name)))
        .collect();
    // Every reader gone: the audit records stay in the journal regardless.
    let _ = ctx.out.send(batch).await;
}

impl<P: Actions> AsyncStage for RespondStage<P> {
    fn run(
        mut self: Box<Self>,
        mut ctx: StageContext,
    ) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            let fail = |name: &str, e: super::journal::JournalError| ComponentError {
                component: name.to_string(),
                message: format!("the action journal failed, so no action is safe: {e}"),
            };
            let mut timer = tokio::time::interval(self.poll);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    batch = ctx.input.recv() => {
                        let Some(batch) = batch else { break };
                        let mut docs = Vec::new();
                        for event in batch {
                            let caused = self
                                .responder
                                .incident(&event.value)
                                .await
                                .map_err(|e| fail(&ctx.name, e))?;
                            docs.extend(caused);
                        }
                        send(&mut ctx, docs).await;
                    }
                    _ = timer.tick() => {
                        let docs = self.responder.tick().await.map_err(|e| fail(&ctx.name, e))?;
                        send(&mut ctx, docs).await;
                    }
                }
            }
            // The input ended (a finite run): what is already due still happens.
            let docs = self
                .responder
                .tick()
                .await
                .map_err(|e| fail(&ctx.name, e))?;
            send(&mut ctx, docs).await;
            Ok(())
        })
    }
}
