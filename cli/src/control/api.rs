//! The messages of the control API (JSON bodies), shared by daemon and client.

use pipectl_core::topology::{ApplyReport, ComponentStatus, PlanDiff};
use pipectl_dsl::plan::Plan;
use serde::{Deserialize, Serialize};

/// The token file under the data directory (mode 0600).
pub const TOKEN_FILE: &str = "control.token";
/// Where `pipectl serve` writes the address it listens on.
pub const ADDRESS_FILE: &str = "control.addr";

/// `POST /v1/plan`: the difference between what runs and `plan`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlanRequest {
    pub plan: Plan,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PlanResponse {
    pub diff: PlanDiff,
    /// The revision that runs, if any; pass it back as `expected_revision` so an apply
    /// refuses when someone else applied in between.
    pub revision: Option<u64>,
}

/// Where an applied plan came from, recorded with its revision.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Origin {
    /// The pipeline directory as the client named it.
    pub directory: Option<String>,
    /// `git rev-parse HEAD` of that directory, when it is in a git work tree.
    pub commit: Option<String>,
    /// Whether `git status --porcelain` listed changes there.
    pub dirty: Option<bool>,
    /// Who applied: the OS user or `--by`.
    pub by: String,
}

/// `POST /v1/apply`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApplyRequest {
    pub plan: Plan,
    pub origin: Origin,
    /// Refuse (409) unless this revision runs (0: nothing applied yet).
    #[serde(default)]
    pub expected_revision: Option<u64>,
}

/// The answer to an apply or a rollback.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApplyResponse {
    /// The revision that runs now.
    pub revision: Option<u64>,
    /// Whether anything changed (no new revision is recorded otherwise).
    pub applied: bool,
    pub report: Option<ApplyReport>,
}

/// `POST /v1/rollback`: applies an earlier revision's plan as a new revision.
#[derive(Debug, Serialize, Deserialize)]
pub struct RollbackRequest {
    /// The revision to go back to; the one before the running revision when absent.
    pub revision: Option<u64>,
    pub by: String,
}

/// One entry of the history (the plan itself stays in the store).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevisionSummary {
    pub revision: u64,
    /// RFC 3339, UTC.
    pub applied_at: String,
    #[serde(flatten)]
    pub origin: Origin,
    /// `apply` or `rollback`.
    pub action: String,
    /// For a rollback: the revision whose plan it restored.
    pub rollback_to: Option<u64>,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

/// `GET /v1/status`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StatusResponse {
    pub revision: Option<RevisionSummary>,
    pub components: Vec<ComponentStatus>,
    pub uptime_seconds: u64,
    /// Why the recorded revision could not be started again at daemon start, if so.
    pub last_error: Option<String>,
}

/// Every error answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
    /// One line per problem (e.g. each component that failed to build).
    #[serde(default)]
    pub diagnostics: Vec<String>,
}
