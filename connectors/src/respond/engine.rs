//! The responder: decides what to do about each matching incident under its policy,
//! keeps the journal, applies people's decisions, acts, expires and undoes — and says
//! each step as an audit document.
//!
//! Order of things for one incident: `when` → target → idempotence (one action per
//! incident and action, whatever the incident's later versions or a restart) → guard
//! rails (protected entity, irreversible in autonomous mode, hourly limit) → mode. To
//! act: capture the state the undo needs, write it to the journal, then call the
//! provider.

use super::audit;
use super::journal::{ActionRecord, Approval, Decision, EntityRef, Journal, JournalError, Revert};
use super::policy::{Clock, Glob, Mode, HOUR_MS};
use super::provider::{ActionInfo, Actions, Target};
use pipectl_core::detect::sigma::hit::document_id;
use pipectl_core::expr::CompiledExpr;
use pipectl_core::value::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// A responder's configuration, read from its block.
#[derive(Debug, Clone)]
pub struct Policy {
    pub pipeline: String,
    pub responder: String,
    pub action: String,
    pub mode: Mode,
    /// Which incident documents to act on.
    pub when: Option<CompiledExpr>,
    /// An expression naming the target in the incident (else the provider's default).
    pub target: Option<CompiledExpr>,
    /// Reverted this long after acting, unless made permanent.
    pub expire_ms: Option<i64>,
    pub protected: Vec<Glob>,
    /// Actions taken or queued per sliding hour.
    pub max_per_hour: usize,
    /// Like observe, whatever the mode.
    pub dry_run: bool,
    /// Lets autonomous mode run an action that cannot be undone.
    pub allow_irreversible: bool,
}

/// The running responder of one provider.
pub struct Responder<P: Actions> {
    policy: Policy,
    info: &'static ActionInfo,
    provider: P,
    journal: Journal,
    clock: Clock,
    records: BTreeMap<String, ActionRecord>,
    /// Whether records left `executing`/`reverting` by a crash were picked up.
    resumed: bool,
}

fn text<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(doc, |v, k| v.as_object()?.get(k))
        .and_then(Value::as_str)
}

fn number(doc: &Value, path: &str) -> Option<f64> {
    path.split('.')
        .try_fold(doc, |v, k| v.as_object()?.get(k))
        .and_then(Value::as_f64)
}

/// A short form of an incident id for reasons (`e1f4b2c7`).
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

impl<P: Actions> Responder<P> {
    /// A responder keeping its journal under `data_dir`; what an earlier run recorded is
    /// loaded, so nothing is done twice and pending expiries still happen.
    pub fn open(
        policy: Policy,
        provider: P,
        data_dir: &Path,
        clock: Clock,
    ) -> Result<Responder<P>, String> {
        let info = provider.info(&policy.action).ok_or_else(|| {
            format!(
                "`{}` is not a {} action",
                policy.action,
                provider.provider()
            )
        })?;
        let journal = Journal::open(data_dir).map_err(|e| e.to_string())?;
        let records = journal
            .load_all()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        Ok(Responder {
            policy,
            info,
            provider,
            journal,
            clock,
            records,
            resumed: false,
        })
    }

    /// The actions known, by id (the journal's content).
    pub fn records(&self) -> impl Iterator<Item = &ActionRecord> {
        self.records.values()
    }

    fn save(&mut self, record: ActionRecord, out: &mut Vec<Value>) -> Result<(), JournalError> {
        self.journal.save(&record)?;
        out.push(audit::document(&record));
        self.records.insert(record.id.clone(), record);
        Ok(())
    }

    /// Takes one document from upstream; returns the audit documents it caused.
    /// Anything but an incident matching `when` is ignored.
    pub async fn incident(&mut self, doc: &Value) -> Result<Vec<Value>, JournalError> {
        let mut out = Vec::new();
        if text(doc, "event.dataset") != Some("pipectl.incident") {
            return Ok(out);
        }
        if let Some(at) = doc
            .as_object()
            .and_then(|m| m.get("@timestamp"))
            .and_then(pipectl_core::detect::sigma::time::millis_of)
        {
            self.clock.observe_event_time(at);
        }
        if !self.policy.when.as_ref().is_none_or(|w| w.matches(doc)) {
            return Ok(out);
        }
        let Some(incident_id) = text(doc, "incident.id").or_else(|| text(doc, "event.id")) else {
            tracing::warn!(responder = %self.policy.responder, "an incident without an id is ignored");
            return Ok(out);
        };
        let incident_id = incident_id.to_string();
        let given = self
            .policy
            .target
            .as_ref()
            .map(|t| t.evaluate(doc))
            .and_then(|v| v.as_str().map(str::to_string));
        let target = self
            .provider
            .target(&self.policy.action, doc, given.as_deref());
        let target_id = target.as_ref().map(|t| t.id.clone()).unwrap_or_default();
        let id = document_id(&[
            "action",
            &self.policy.responder,
            &self.policy.action,
            &target_id,
            &incident_id,
        ]);
        if self.records.contains_key(&id) {
            return Ok(out);
        }
        let now = self.clock.now_ms();
        let title = text(doc, "incident.title").unwrap_or("").to_string();
        let score = number(doc, "incident.score");
        let entity = EntityRef {
            key: text(doc, "entity.key").unwrap_or("").to_string(),
            kind: text(doc, "entity.kind").unwrap_or("").to_string(),
            id: text(doc, "entity.id").unwrap_or("").to_string(),
        };
        let why = match score {
            Some(s) => format!("incident {} ({s:.2}): {title}", short(&incident_id)),
            None => format!("incident {}: {title}", short(&incident_id)),
        };
        let mut record = ActionRecord {
            id,
            pipeline: self.policy.pipeline.clone(),
            responder: self.policy.responder.clone(),
            provider: self.provider.provider().to_string(),
            name: self.policy.action.clone(),
            mode: self.policy.mode.as_str().to_string(),
            decision: String::new(),
            status: String::new(),
            reason: why.clone(),
            target: target.clone().unwrap_or_else(|_| Target {
                kind: self.info.target_kind.to_string(),
                id: String::new(),
                name: String::new(),
                account: None,
            }),
            entity,
            incident_id,
            incident_score: score,
            requested_at: now,
            executed_at: None,
            expires_at: None,
            permanent: false,
            approval: None,
            revert: Revert {
                action: self.info.revert.map(str::to_string),
                reversible: self.info.reversible(),
                status: "not_applicable".to_string(),
                at: None,
                state: None,
            },
            provider_request_id: None,
            error: None,
            history: Vec::new(),
            version: 0,
        };
        let by = self.policy.responder.clone();
        let suppress = |record: &mut ActionRecord, reason: String| {
            record.decision = "suppress".to_string();
            record.reason = format!("{reason}; {why}");
            record.transition(now, "suppressed", &by, Some(reason));
        };
        if let Err(reason) = &target {
            suppress(&mut record, format!("no target: {reason}"));
            self.save(record, &mut out)?;
            return Ok(out);
        }
        if let Some(pattern) = self.protected_match(&record) {
            suppress(
                &mut record,
                format!("protected entity (pattern `{}`)", pattern.as_str()),
            );
            self.save(record, &mut out)?;
            return Ok(out);
        }
        let observe = self.policy.mode == Mode::Observe || self.policy.dry_run;
        if observe {
            record.decision = "observe".to_string();
            let note = if self.policy.dry_run {
                "dry run: nothing was called"
            } else {
                "observe mode: nothing was called"
            };
            record.reason = format!(
                "would {} {} {}; {why}",
                self.policy.action, record.target.kind, record.target.name
            );
            record.transition(now, "observed", &by, Some(note.to_string()));
            self.save(record, &mut out)?;
            return Ok(out);
        }
        if self.policy.mode == Mode::Autonomous
            && !self.info.reversible()
            && !self.policy.allow_irreversible
        {
            suppress(
                &mut record,
                format!(
                    "{} cannot be undone; autonomous mode refuses it unless allow_irreversible = true",
                    self.policy.action
                ),
            );
            self.save(record, &mut out)?;
            return Ok(out);
        }
        let recent = self
            .records
            .values()
            .filter(|r| matches!(r.decision.as_str(), "act" | "queue"))
            .filter(|r| r.requested_at > now - HOUR_MS && r.requested_at <= now)
            .count();
        if recent >= self.policy.max_per_hour {
            suppress(
                &mut record,
                format!("rate limit {}/h reached", self.policy.max_per_hour),
            );
            self.save(record, &mut out)?;
            return Ok(out);
        }
        if self.policy.mode == Mode::Confirm {
            record.decision = "queue".to_string();
            record.expires_at = self.policy.expire_ms.map(|e| now.saturating_add(e));
            record.transition(
                now,
                "pending_approval",
                &by,
                Some("waiting for `pipectl actions approve|deny`".to_string()),
            );
            self.save(record, &mut out)?;
            return Ok(out);
        }
        record.decision = "act".to_string();
        self.execute(record, &mut out).await?;
        Ok(out)
    }

    /// The protected pattern the action's target or entity matches, if any.
    fn protected_match(&self, record: &ActionRecord) -> Option<&Glob> {
        let names = [
            record.target.id.as_str(),
            record.target.name.as_str(),
            record.entity.id.as_str(),
            record.entity.key.as_str(),
        ];
        self.policy
            .protected
            .iter()
            .find(|g| names.iter().any(|n| !n.is_empty() && g.matches(n)))
    }

    /// Captures the state (unless already captured), records it, then acts.
    async fn execute(
        &mut self,
        mut record: ActionRecord,
        out: &mut Vec<Value>,
    ) -> Result<(), JournalError> {
        let by = self.policy.responder.clone();
        if record.revert.state.is_none() {
            match self.provider.capture(&record.name, &record.target).await {
                Ok(state) => record.revert.state = Some(state),
                Err(e) => {
                    record.error = Some(e.0.clone());
                    record.transition(self.clock.now_ms(), "failed", &by, Some(e.0));
                    return self.save(record, out);
                }
            }
        }
        if record.status != "executing" {
            record.transition(self.clock.now_ms(), "executing", &by, None);
            self.save(record.clone(), out)?;
        }
        let state = record.revert.state.clone().unwrap_or_default();
        let result = self
            .provider
            .execute(&record.name, &record.target, &state)
            .await;
        let now = self.clock.now_ms();
        match result {
            Ok(done) => {
                record.executed_at = Some(now);
                record.provider_request_id = done.request_id;
                if let Some(state) = done.state {
                    record.revert.state = Some(state);
                }
                record.error = None;
                if record.revert.reversible {
                    record.expires_at = self.policy.expire_ms.map(|e| now.saturating_add(e));
                    if record.expires_at.is_some() {
                        record.revert.status = "scheduled".to_string();
                    }
                } else {
                    record.expires_at = None;
                }
                record.transition(now, "succeeded", &by, None);
            }
            Err(e) => {
                record.error = Some(e.0.clone());
                record.transition(now, "failed", &by, Some(e.0));
            }
        }
        self.save(record, out)
    }

    /// Undoes an executed action with its captured state.
    async fn undo(
        &mut self,
        mut record: ActionRecord,
        by: &str,
        out: &mut Vec<Value>,
    ) -> Result<(), JournalError> {
        if record.status != "reverting" {
            record.transition(self.clock.now_ms(), "reverting", by, None);
            self.save(record.clone(), out)?;
        }
        let state = record.revert.state.clone().unwrap_or_default();
        let result = self
            .provider
            .revert(&record.name, &record.target, &state)
            .await;
        let now = self.clock.now_ms();
        match result {
            Ok(done) => {
                if done.request_id.is_some() {
                    record.provider_request_id = done.request_id;
                }
                record.revert.status = "reverted".to_string();
                record.revert.at = Some(now);
                record.error = None;
                record.transition(now, "reverted", by, None);
            }
            Err(e) => {
                record.revert.status = "failed".to_string();
                record.error = Some(e.0.clone());
                record.transition(now, "revert_failed", by, Some(e.0));
            }
        }
        self.save(record, out)
    }

    /// The periodic work: people's decisions, expiries, and (once) actions a crash left
    /// half done. Returns the audit documents it caused.
    pub async fn tick(&mut self) -> Result<Vec<Value>, JournalError> {
        let mut out = Vec::new();
        if !self.resumed {
            self.resumed = true;
            let unfinished: Vec<ActionRecord> = self
                .records
                .values()
                .filter(|r| matches!(r.status.as_str(), "executing" | "reverting"))
                .cloned()
                .collect();
            for record in unfinished {
                let by = self.policy.responder.clone();
                if record.status == "executing" {
                    self.execute(record, &mut out).await?;
                } else {
                    self.undo(record, &by, &mut out).await?;
                }
            }
        }
        for (path, decision) in self.journal.pending_decisions()? {
            self.decide(decision, &mut out).await?;
            self.journal.done(&path)?;
        }
        let now = self.clock.now_ms();
        let due: Vec<ActionRecord> = self
            .records
            .values()
            .filter(|r| r.expires_at.is_some_and(|at| at <= now) && !r.permanent)
            .filter(|r| matches!(r.status.as_str(), "succeeded" | "pending_approval"))
            .cloned()
            .collect();
        for mut record in due {
            let by = self.policy.responder.clone();
            let limit = self.policy.expire_ms.unwrap_or(0) / 1000;
            if record.status == "pending_approval" {
                record.transition(
                    now,
                    "expired",
                    &by,
                    Some(format!(
                        "not approved within expire ({limit}s); nothing was done"
                    )),
                );
                self.save(record, &mut out)?;
            } else {
                record.transition(
                    now,
                    "expired",
                    &by,
                    Some(format!("expire ({limit}s) reached: reverting")),
                );
                self.save(record.clone(), &mut out)?;
                self.undo(record, &by, &mut out).await?;
            }
        }
        Ok(out)
    }

    /// Applies one person's decision; one that does not fit the action's state is
    /// logged and dropped (`pipectl actions` checks before writing it).
    async fn decide(
        &mut self,
        decision: Decision,
        out: &mut Vec<Value>,
    ) -> Result<(), JournalError> {
        let Some(mut record) = self.records.get(&decision.action_id).cloned() else {
            tracing::warn!(action = %decision.action_id, "a decision about an unknown action is ignored");
            return Ok(());
        };
        let now = self.clock.now_ms();
        let refuse = |why: &str| {
            tracing::warn!(action = %decision.action_id, verb = %decision.verb, status = %record.status, "{why}");
        };
        match (decision.verb.as_str(), record.status.as_str()) {
            ("approve", "pending_approval") => {
                record.approval = Some(Approval {
                    by: decision.by.clone(),
                    at: decision.at,
                    comment: decision.comment.clone(),
                });
                record.transition(now, "approved", &decision.by, decision.comment.clone());
                self.save(record.clone(), out)?;
                self.execute(record, out).await?;
            }
            ("deny", "pending_approval") => {
                record.approval = Some(Approval {
                    by: decision.by.clone(),
                    at: decision.at,
                    comment: decision.comment.clone(),
                });
                record.expires_at = None;
                record.transition(now, "denied", &decision.by, decision.comment.clone());
                self.save(record, out)?;
            }
            // A failed action may have changed part of the state (one key of two):
            // with the state captured before, it can be put back too.
            ("revert", "succeeded" | "failed" | "revert_failed")
                if record.revert.reversible && record.revert.state.is_some() =>
            {
                self.undo(record, &decision.by, out).await?;
            }
            ("keep", "succeeded") => {
                record.permanent = true;
                record.expires_at = None;
                record.revert.status = "permanent".to_string();
                let note = match &decision.comment {
                    Some(c) => format!("made permanent: {c}"),
                    None => "made permanent".to_string(),
                };
                record.transition(now, "succeeded", &decision.by, Some(note));
                self.save(record, out)?;
            }
            ("revert", _) if !record.revert.reversible => {
                refuse("this action cannot be undone; revert ignored");
            }
            _ => refuse("the decision does not fit the action's status; ignored"),
        }
        Ok(())
    }
}
