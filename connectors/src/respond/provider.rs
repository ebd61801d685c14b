//! What a provider (AWS, and later Graph, Okta...) implements to plug into the respond
//! framework: one file per provider implementing [`Actions`]. The framework does
//! everything else — `when`, modes, guard rails, the journal, approvals, expiry and the
//! audit documents — so a provider only says how to find a target in an incident, how to
//! read the state an undo needs, how to act and how to undo.

use futures::future::BoxFuture;
use pipectl_core::value::Value;
use serde::{Deserialize, Serialize};

/// What the framework must know of one action before calling it.
#[derive(Debug, Clone, Copy)]
pub struct ActionInfo {
    /// `disable_access_keys`.
    pub name: &'static str,
    /// `pipectl.action.target.kind` (`aws_iam_user`, `s3_bucket`, `ec2_instance`).
    pub target_kind: &'static str,
    /// The undo action (`enable_access_keys`); `None` when the provider offers no way
    /// back (a deleted password, a terminated instance).
    pub revert: Option<&'static str>,
    /// The provider permissions the action and its revert need (docs/response.md
    /// lists them; a test keeps the two in step).
    pub permissions: &'static [&'static str],
}

impl ActionInfo {
    pub fn reversible(&self) -> bool {
        self.revert.is_some()
    }
}

/// What an action is aimed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub kind: String,
    /// The provider's id (user name, bucket name, instance id).
    pub id: String,
    /// A display name (the ARN of a user, the bucket name...).
    pub name: String,
    /// The account the target lives in, when known (`cloud.account.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// A provider call that succeeded.
#[derive(Debug, Clone, Default)]
pub struct Done {
    /// The provider's request id of the call that changed something, for its own audit
    /// log.
    pub request_id: Option<String>,
    /// What the undo needs as the action left it, replacing the state captured before
    /// (a moved mail message has a new id, known only once it is moved); `None` keeps
    /// the captured state.
    pub state: Option<serde_json::Value>,
}

/// A provider call that failed, already worded for a person: which call, which
/// resource, and for a refusal the missing permission. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ActError(pub String);

/// The actions of one provider. Calls must be idempotent (executing twice, or undoing
/// twice, leaves the same state), because a crash between acting and recording the
/// outcome makes the framework call again with the same captured state.
pub trait Actions: Send + Sync + 'static {
    /// `pipectl.action.provider` (`aws`).
    fn provider(&self) -> &'static str;

    /// Every action this provider offers.
    fn actions(&self) -> &'static [ActionInfo];

    /// The target of `action` for an incident document. `given` is the value of the
    /// responder's `target` expression on the incident, when it has one. An error says
    /// why there is no target (the incident is about another kind of entity...).
    fn target(&self, action: &str, incident: &Value, given: Option<&str>)
        -> Result<Target, String>;

    /// Reads what the undo will need (which keys were active, the previous public
    /// access block...). Called before acting; the framework stores it durably first.
    fn capture<'a>(
        &'a self,
        action: &'a str,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<serde_json::Value, ActError>>;

    /// Acts, using the captured state.
    fn execute<'a>(
        &'a self,
        action: &'a str,
        target: &'a Target,
        state: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Done, ActError>>;

    /// Puts back exactly the captured state. Only called for reversible actions.
    fn revert<'a>(
        &'a self,
        action: &'a str,
        target: &'a Target,
        state: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Done, ActError>>;

    /// The description of `action`, if this provider offers it.
    fn info(&self, action: &str) -> Option<&'static ActionInfo> {
        self.actions().iter().find(|a| a.name == action)
    }
}

/// The three asynchronous methods of [`Actions`] for a provider whose inherent
/// `capture_state(action, target)`, `act(action, target, state)` and
/// `undo(action, target, state)` are `async fn`s: the trait needs boxed futures, the
/// providers are clearer written with `async`, and this is the one place they meet.
macro_rules! lifecycle_by_inherent_methods {
    () => {
        fn capture<'a>(
            &'a self,
            action: &'a str,
            target: &'a $crate::respond::provider::Target,
        ) -> futures::future::BoxFuture<
            'a,
            Result<serde_json::Value, $crate::respond::provider::ActError>,
        > {
            Box::pin(self.capture_state(action, target))
        }

        fn execute<'a>(
            &'a self,
            action: &'a str,
            target: &'a $crate::respond::provider::Target,
            state: &'a serde_json::Value,
        ) -> futures::future::BoxFuture<
            'a,
            Result<$crate::respond::provider::Done, $crate::respond::provider::ActError>,
        > {
            Box::pin(self.act(action, target, state))
        }

        fn revert<'a>(
            &'a self,
            action: &'a str,
            target: &'a $crate::respond::provider::Target,
            state: &'a serde_json::Value,
        ) -> futures::future::BoxFuture<
            'a,
            Result<$crate::respond::provider::Done, $crate::respond::provider::ActError>,
        > {
            Box::pin(self.undo(action, target, state))
        }
    };
}
pub(crate) use lifecycle_by_inherent_methods;
