//! `respond aws`: contain AWS identities, buckets and instances through IAM, S3 and EC2
//! (our own SigV4 client, no SDK: the EC2 SDK crate alone takes minutes and gigabytes
//! to build here, for a dozen Query-protocol calls).
//!
//! Targets: user actions act on the IAM user of an `aws_user` incident (its ARN's last
//! path segment); `attach_deny_all` also on a role; instance actions on a `host` entity
//! whose id is an instance id (`i-...`); bucket actions on the bucket the `target`
//! expression names (incidents carry no bucket entity). `target` overrides the default
//! for every action.

use super::engine::Responder;
use super::policy::Clock;
use super::provider::{ActError, ActionInfo, Actions, Done, Target};
use super::stage;
use crate::aws::ec2::Ec2;
use crate::aws::iam::{Iam, Principal};
use crate::aws::query::QueryReply;
use crate::aws::s3::{PublicAccessBlock, S3};
use crate::aws::{AwsClient, AwsError, AwsSettings};
use pipectl_core::component::{BuildContext, BuildError, Built, Factory};
use pipectl_core::config::Attrs;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use serde_json::json;

/// Every AWS action, what it needs and how it is undone.
pub static ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        name: "disable_access_keys",
        target_kind: "aws_iam_user",
        revert: Some("enable_access_keys"),
        permissions: &["iam:ListAccessKeys", "iam:UpdateAccessKey"],
    },
    ActionInfo {
        name: "remove_console_access",
        target_kind: "aws_iam_user",
        revert: None,
        permissions: &["iam:GetLoginProfile", "iam:DeleteLoginProfile"],
    },
    ActionInfo {
        name: "force_password_reset",
        target_kind: "aws_iam_user",
        revert: Some("clear_password_reset"),
        permissions: &["iam:GetLoginProfile", "iam:UpdateLoginProfile"],
    },
    ActionInfo {
        name: "attach_deny_all",
        target_kind: "aws_iam_user",
        revert: Some("detach_deny_all"),
        permissions: &[
            "iam:GetUserPolicy",
            "iam:PutUserPolicy",
            "iam:DeleteUserPolicy",
            "iam:GetRolePolicy",
            "iam:PutRolePolicy",
            "iam:DeleteRolePolicy",
        ],
    },
    ActionInfo {
        name: "block_public_bucket",
        target_kind: "s3_bucket",
        revert: Some("restore_public_access_block"),
        permissions: &[
            "s3:GetBucketPublicAccessBlock",
            "s3:PutBucketPublicAccessBlock",
        ],
    },
    ActionInfo {
        name: "remove_public_bucket_policy_statement",
        target_kind: "s3_bucket",
        revert: Some("restore_bucket_policy"),
        permissions: &[
            "s3:GetBucketPolicy",
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
        ],
    },
    ActionInfo {
        name: "stop_instance",
        target_kind: "ec2_instance",
        revert: Some("start_instance"),
        permissions: &[
            "ec2:DescribeInstances",
            "ec2:StopInstances",
            "ec2:StartInstances",
        ],
    },
    ActionInfo {
        name: "isolate_instance",
        target_kind: "ec2_instance",
        revert: Some("restore_security_groups"),
        permissions: &[
            "ec2:DescribeInstances",
            "ec2:DescribeSecurityGroups",
            "ec2:CreateSecurityGroup",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:ModifyNetworkInterfaceAttribute",
        ],
    },
    ActionInfo {
        name: "terminate_instance",
        target_kind: "ec2_instance",
        revert: None,
        permissions: &["ec2:DescribeInstances", "ec2:TerminateInstances"],
    },
];

const ACTION_NAMES: &[&str] = &[
    "disable_access_keys",
    "remove_console_access",
    "force_password_reset",
    "attach_deny_all",
    "block_public_bucket",
    "remove_public_bucket_policy_statement",
    "stop_instance",
    "isolate_instance",
    "terminate_instance",
];

/// The catalogue entry of `respond aws`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Respond,
    type_name: "aws",
    summary: "Contains AWS identities, buckets and instances (IAM, S3, EC2) when incidents match, under a policy: observe, confirm or autonomous, with guard rails, expiry and an audit record of every step (docs/response.md).",
    attrs: &[
        AttrSpec::required(
            "action",
            AttrType::Enum(ACTION_NAMES),
            "What to do: disable_access_keys, remove_console_access, force_password_reset, attach_deny_all, block_public_bucket, remove_public_bucket_policy_statement, stop_instance, isolate_instance, terminate_instance (docs/response.md).",
        ),
        stage::WHEN,
        stage::MODE,
        stage::EXPIRE,
        stage::PROTECTED,
        stage::MAX_PER_HOUR,
        stage::DRY_RUN,
        stage::ALLOW_IRREVERSIBLE,
        stage::TARGET,
        stage::CLOCK,
        stage::POLL_INTERVAL,
        AttrSpec::with_default(
            "quarantine_group",
            AttrType::String,
            "\"pipectl-quarantine\"",
            "Name of the security group `isolate_instance` moves interfaces into (created without rules in the instance's VPC when missing).",
        ),
        AttrSpec::with_default(
            "deny_policy_name",
            AttrType::String,
            "\"pipectl-deny-all\"",
            "Name of the inline policy `attach_deny_all` puts on the user or role.",
        ),
        AttrSpec::optional(
            "region",
            AttrType::String,
            "The AWS region of the instances and the signing region (`eu-west-1`); defaults to `AWS_REGION`, then `AWS_DEFAULT_REGION`. IAM is global.",
        ),
        AttrSpec::optional(
            "endpoint",
            AttrType::String,
            "Another endpoint for IAM, S3 and EC2 (`http://127.0.0.1:5000` for moto); S3 is then addressed path-style.",
        ),
        crate::aws::ACCESS_KEY_ID_ATTR,
        crate::aws::SECRET_ACCESS_KEY_ATTR,
        crate::aws::SESSION_TOKEN_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `respond aws`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let (policy, clock) = stage::policy(&attrs, ctx.pipeline)?;
    let poll = attrs.duration("poll_interval")?;
    let provider = AwsActions::new(
        AwsSettings::from_attrs(&attrs)?,
        attrs.string("quarantine_group")?,
        attrs.string("deny_policy_name")?,
    )
    .map_err(|e| attrs.error(e))?;
    let info = provider
        .info(&policy.action)
        .ok_or_else(|| attrs.error(format!("unknown action `{}`", policy.action)))?;
    if info.target_kind == "s3_bucket" && policy.target.is_none() {
        return Err(attrs.error(format!(
            "`{}` needs `target`: an expression naming the bucket in the incident (incidents carry no bucket entity)",
            policy.action
        )));
    }
    let responder =
        Responder::open(policy, provider, &ctx.data_dir, clock).map_err(|e| attrs.error(e))?;
    Ok(stage::built(responder, poll))
}

/// The AWS actions over one set of credentials.
pub struct AwsActions {
    iam: Iam,
    s3: S3,
    ec2: Ec2,
    quarantine_group: String,
    deny_policy_name: String,
}

/// An AWS error as a person reads it: a refusal names the permission to grant, and is
/// never retried (the client retries only throttling, 5xx and transport errors).
fn act_error(permission: &'static str) -> impl Fn(AwsError) -> ActError {
    move |e| {
        if e.is_access_denied() {
            ActError(format!("missing permission {permission}: {e}"))
        } else {
            ActError(e.to_string())
        }
    }
}

fn done(reply: QueryReply) -> Done {
    Done {
        request_id: reply.request_id,
        state: None,
    }
}

/// A user or role from an IAM ARN (`arn:aws:iam::123:user/path/name`,
/// `arn:aws:iam::123:role/name`, an STS `assumed-role/name/session`).
fn principal_of_arn(arn: &str) -> Result<(Principal, String, Option<String>), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let (Some(&"arn"), Some(account), Some(resource)) = (parts.first(), parts.get(4), parts.get(5))
    else {
        return Err(format!("`{arn}` is not an ARN"));
    };
    let account = Some(account.to_string()).filter(|a| !a.is_empty());
    if *resource == "root" {
        return Err("the root user cannot be contained through IAM".to_string());
    }
    let (kind, path) = resource
        .split_once('/')
        .ok_or_else(|| format!("`{arn}` names no user or role"))?;
    let last = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    match kind {
        "user" => Ok((Principal::User, last(path), account)),
        "role" => Ok((Principal::Role, last(path), account)),
        // assumed-role/<role>/<session>
        "assumed-role" => {
            let role = path.split('/').next().unwrap_or(path);
            Ok((Principal::Role, role.to_string(), account))
        }
        _ => Err(format!("`{arn}` names no IAM user or role")),
    }
}

fn text<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(doc, |v, k| v.as_object()?.get(k))
        .and_then(Value::as_str)
}

fn state_str<'a>(state: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    state.get(key).and_then(serde_json::Value::as_str)
}

/// Whether a policy statement allows everyone (`"Principal": "*"`, `{"AWS": "*"}`, or
/// a list holding `*`).
fn is_public_statement(statement: &serde_json::Value) -> bool {
    let allow = statement.get("Effect").and_then(|e| e.as_str()) == Some("Allow");
    let star = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s == "*",
        serde_json::Value::Array(items) => items.iter().any(|i| i.as_str() == Some("*")),
        _ => false,
    };
    let public = match statement.get("Principal") {
        Some(serde_json::Value::Object(map)) => map.values().any(star),
        Some(other) => star(other),
        None => false,
    };
    allow && public
}

/// The policy without its public statements; `None` when there is none to remove.
fn without_public_statements(policy: &str) -> Result<Option<serde_json::Value>, String> {
    let mut doc: serde_json::Value =
        serde_json::from_str(policy).map_err(|e| format!("the bucket policy is not JSON: {e}"))?;
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(items)) => items.clone(),
        Some(single @ serde_json::Value::Object(_)) => vec![single.clone()],
        _ => return Ok(None),
    };
    let kept: Vec<serde_json::Value> = statements
        .iter()
        .filter(|s| !is_public_statement(s))
        .cloned()
        .collect();
    if kept.len() == statements.len() {
        return Ok(None);
    }
    doc["Statement"] = serde_json::Value::Array(kept);
    Ok(Some(doc))
}

/// The inline policy `attach_deny_all` puts on.
const DENY_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"PipectlContainment","Effect":"Deny","Action":"*","Resource":"*"}]}"#;

impl AwsActions {
    pub fn new(
        settings: AwsSettings,
        quarantine_group: String,
        deny_policy_name: String,
    ) -> Result<AwsActions, String> {
        let client = AwsClient::new(settings)?;
        AwsActions::with_client(&client, quarantine_group, deny_policy_name)
    }

    /// Over an existing client (tests shorten its retries).
    pub(crate) fn with_client(
        client: &AwsClient,
        quarantine_group: String,
        deny_policy_name: String,
    ) -> Result<AwsActions, String> {
        Ok(AwsActions {
            iam: Iam::new(client)?,
            s3: S3::new(client.clone()),
            ec2: Ec2::new(client)?,
            quarantine_group,
            deny_policy_name,
        })
    }

    fn principal(target: &Target) -> Principal {
        if target.kind == "aws_iam_role" {
            Principal::Role
        } else {
            Principal::User
        }
    }

    async fn capture_state(
        &self,
        action: &str,
        target: &Target,
    ) -> Result<serde_json::Value, ActError> {
        let id = target.id.as_str();
        Ok(match action {
            "disable_access_keys" => {
                let keys = self
                    .iam
                    .list_access_keys(id)
                    .await
                    .map_err(act_error("iam:ListAccessKeys"))?;
                let map: serde_json::Map<String, serde_json::Value> =
                    keys.into_iter().map(|k| (k.id, json!(k.status))).collect();
                json!({ "keys": map })
            }
            "remove_console_access" | "force_password_reset" => {
                let profile = self
                    .iam
                    .get_login_profile(id)
                    .await
                    .map_err(act_error("iam:GetLoginProfile"))?;
                json!({
                    "login_profile": profile.is_some(),
                    "password_reset_required": profile.unwrap_or(false),
                })
            }
            "attach_deny_all" => {
                let principal = Self::principal(target);
                let permission = match principal {
                    Principal::User => "iam:GetUserPolicy",
                    Principal::Role => "iam:GetRolePolicy",
                };
                let existing = self
                    .iam
                    .get_inline_policy(principal, id, &self.deny_policy_name)
                    .await
                    .map_err(act_error(permission))?;
                json!({ "policy_name": self.deny_policy_name, "previous_document": existing })
            }
            "block_public_bucket" => {
                let previous = self
                    .s3
                    .get_public_access_block(id)
                    .await
                    .map_err(act_error("s3:GetBucketPublicAccessBlock"))?;
                json!({ "public_access_block": previous })
            }
            "remove_public_bucket_policy_statement" => {
                let policy = self
                    .s3
                    .get_bucket_policy(id)
                    .await
                    .map_err(act_error("s3:GetBucketPolicy"))?;
                json!({ "policy": policy })
            }
            "stop_instance" | "terminate_instance" => {
                let instance = self
                    .ec2
                    .describe_instance(id)
                    .await
                    .map_err(act_error("ec2:DescribeInstances"))?;
                json!({ "state": instance.state })
            }
            "isolate_instance" => {
                let instance = self
                    .ec2
                    .describe_instance(id)
                    .await
                    .map_err(act_error("ec2:DescribeInstances"))?;
                let interfaces: Vec<serde_json::Value> = instance
                    .interfaces
                    .iter()
                    .map(|i| json!({ "id": i.id, "groups": i.groups }))
                    .collect();
                json!({ "vpc_id": instance.vpc_id, "interfaces": interfaces })
            }
            other => return Err(ActError(format!("`{other}` is not an AWS action"))),
        })
    }

    async fn act(
        &self,
        action: &str,
        target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        let id = target.id.as_str();
        let mut last = Done::default();
        match action {
            "disable_access_keys" => {
                for (key, status) in state["keys"].as_object().into_iter().flatten() {
                    if status.as_str() == Some("Active") {
                        let reply = self
                            .iam
                            .update_access_key(id, key, "Inactive")
                            .await
                            .map_err(act_error("iam:UpdateAccessKey"))?;
                        last = done(reply);
                    }
                }
            }
            "remove_console_access" => {
                if state["login_profile"].as_bool() == Some(true) {
                    match self.iam.delete_login_profile(id).await {
                        Ok(reply) => last = done(reply),
                        // Already gone (a retry after a crash): the goal is reached.
                        Err(e) if e.code() == Some("NoSuchEntity") => {}
                        Err(e) => return Err(act_error("iam:DeleteLoginProfile")(e)),
                    }
                }
            }
            "force_password_reset" => {
                if state["login_profile"].as_bool() != Some(true) {
                    return Err(ActError(format!(
                        "user {id} has no console password; there is nothing to reset"
                    )));
                }
                let reply = self
                    .iam
                    .set_password_reset_required(id, true)
                    .await
                    .map_err(act_error("iam:UpdateLoginProfile"))?;
                last = done(reply);
            }
            "attach_deny_all" => {
                let principal = Self::principal(target);
                let permission = match principal {
                    Principal::User => "iam:PutUserPolicy",
                    Principal::Role => "iam:PutRolePolicy",
                };
                let reply = self
                    .iam
                    .put_inline_policy(principal, id, &self.deny_policy_name, DENY_ALL)
                    .await
                    .map_err(act_error(permission))?;
                last = done(reply);
            }
            "block_public_bucket" => {
                self.s3
                    .put_public_access_block(id, PublicAccessBlock::ALL)
                    .await
                    .map_err(act_error("s3:PutBucketPublicAccessBlock"))?;
            }
            "remove_public_bucket_policy_statement" => {
                let Some(policy) = state_str(state, "policy") else {
                    return Ok(last);
                };
                match without_public_statements(policy).map_err(ActError)? {
                    None => {}
                    Some(doc) if doc["Statement"].as_array().is_some_and(Vec::is_empty) => {
                        self.s3
                            .delete_bucket_policy(id)
                            .await
                            .map_err(act_error("s3:DeleteBucketPolicy"))?;
                    }
                    Some(doc) => {
                        self.s3
                            .put_bucket_policy(id, &doc.to_string())
                            .await
                            .map_err(act_error("s3:PutBucketPolicy"))?;
                    }
                }
            }
            "stop_instance" => {
                if matches!(state_str(state, "state"), Some("running" | "pending")) {
                    let reply = self
                        .ec2
                        .stop_instance(id)
                        .await
                        .map_err(act_error("ec2:StopInstances"))?;
                    last = done(reply);
                }
            }
            "terminate_instance" => {
                let reply = self
                    .ec2
                    .terminate_instance(id)
                    .await
                    .map_err(act_error("ec2:TerminateInstances"))?;
                last = done(reply);
            }
            "isolate_instance" => {
                let vpc = state_str(state, "vpc_id").ok_or_else(|| {
                    ActError(format!(
                        "instance {id} is in no VPC; a security group cannot isolate it"
                    ))
                })?;
                let group = match self
                    .ec2
                    .find_security_group(vpc, &self.quarantine_group)
                    .await
                    .map_err(act_error("ec2:DescribeSecurityGroups"))?
                {
                    Some(group) => group,
                    None => self
                        .ec2
                        .create_closed_security_group(vpc, &self.quarantine_group)
                        .await
                        .map_err(act_error("ec2:CreateSecurityGroup"))?,
                };
                for interface in state["interfaces"].as_array().into_iter().flatten() {
                    let Some(eni) = interface["id"].as_str() else {
                        continue;
                    };
                    let reply = self
                        .ec2
                        .set_interface_groups(eni, std::slice::from_ref(&group))
                        .await
                        .map_err(act_error("ec2:ModifyNetworkInterfaceAttribute"))?;
                    last = done(reply);
                }
            }
            other => return Err(ActError(format!("`{other}` is not an AWS action"))),
        }
        Ok(last)
    }

    async fn undo(
        &self,
        action: &str,
        target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        let id = target.id.as_str();
        let mut last = Done::default();
        match action {
            "disable_access_keys" => {
                for (key, status) in state["keys"].as_object().into_iter().flatten() {
                    if status.as_str() == Some("Active") {
                        let reply = self
                            .iam
                            .update_access_key(id, key, "Active")
                            .await
                            .map_err(act_error("iam:UpdateAccessKey"))?;
                        last = done(reply);
                    }
                }
            }
            "force_password_reset" => {
                if state["password_reset_required"].as_bool() == Some(false) {
                    let reply = self
                        .iam
                        .set_password_reset_required(id, false)
                        .await
                        .map_err(act_error("iam:UpdateLoginProfile"))?;
                    last = done(reply);
                }
            }
            "attach_deny_all" => {
                let principal = Self::principal(target);
                let name = state_str(state, "policy_name").unwrap_or(&self.deny_policy_name);
                let reply = match state_str(state, "previous_document") {
                    Some(previous) => self
                        .iam
                        .put_inline_policy(principal, id, name, previous)
                        .await
                        .map_err(act_error(match principal {
                            Principal::User => "iam:PutUserPolicy",
                            Principal::Role => "iam:PutRolePolicy",
                        }))?,
                    None => match self.iam.delete_inline_policy(principal, id, name).await {
                        Ok(reply) => reply,
                        Err(e) if e.code() == Some("NoSuchEntity") => return Ok(last),
                        Err(e) => {
                            return Err(act_error(match principal {
                                Principal::User => "iam:DeleteUserPolicy",
                                Principal::Role => "iam:DeleteRolePolicy",
                            })(e))
                        }
                    },
                };
                last = done(reply);
            }
            "block_public_bucket" => {
                let previous: Option<PublicAccessBlock> =
                    serde_json::from_value(state["public_access_block"].clone())
                        .map_err(|e| ActError(format!("the captured state is damaged: {e}")))?;
                match previous {
                    Some(config) => self.s3.put_public_access_block(id, config).await,
                    None => self.s3.delete_public_access_block(id).await,
                }
                .map_err(act_error("s3:PutBucketPublicAccessBlock"))?;
            }
            "remove_public_bucket_policy_statement" => {
                if let Some(policy) = state_str(state, "policy") {
                    self.s3
                        .put_bucket_policy(id, policy)
                        .await
                        .map_err(act_error("s3:PutBucketPolicy"))?;
                }
            }
            "stop_instance" => {
                if matches!(state_str(state, "state"), Some("running" | "pending")) {
                    let reply = self
                        .ec2
                        .start_instance(id)
                        .await
                        .map_err(act_error("ec2:StartInstances"))?;
                    last = done(reply);
                }
            }
            "isolate_instance" => {
                for interface in state["interfaces"].as_array().into_iter().flatten() {
                    let Some(eni) = interface["id"].as_str() else {
                        continue;
                    };
                    let groups: Vec<String> = interface["groups"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|g| g.as_str().map(str::to_string))
                        .collect();
                    let reply = self
                        .ec2
                        .set_interface_groups(eni, &groups)
                        .await
                        .map_err(act_error("ec2:ModifyNetworkInterfaceAttribute"))?;
                    last = done(reply);
                }
            }
            other => {
                return Err(ActError(format!(
                    "`{other}` cannot be undone (the provider offers no way back)"
                )))
            }
        }
        Ok(last)
    }
}

impl Actions for AwsActions {
    fn provider(&self) -> &'static str {
        "aws"
    }

    fn actions(&self) -> &'static [ActionInfo] {
        ACTIONS
    }

    fn target(
        &self,
        action: &str,
        incident: &Value,
        given: Option<&str>,
    ) -> Result<Target, String> {
        let info = self
            .info(action)
            .ok_or_else(|| format!("`{action}` is not an AWS action"))?;
        let entity_kind = text(incident, "entity.kind").unwrap_or("");
        let entity_id = text(incident, "entity.id").unwrap_or("");
        match info.target_kind {
            "aws_iam_user" => {
                let named = match given {
                    Some(g) => g,
                    None if entity_kind == "aws_user" => entity_id,
                    None => {
                        return Err(format!(
                            "the incident is about a `{entity_kind}` entity, not an aws_user"
                        ))
                    }
                };
                let (principal, name, account) = if named.starts_with("arn:") {
                    principal_of_arn(named)?
                } else {
                    (Principal::User, named.to_string(), None)
                };
                let kind = match principal {
                    Principal::User => "aws_iam_user",
                    Principal::Role if action == "attach_deny_all" => "aws_iam_role",
                    Principal::Role => {
                        return Err(format!("`{named}` is a role; {action} acts on IAM users"))
                    }
                };
                if name.is_empty() {
                    return Err(format!("`{named}` names no IAM user"));
                }
                Ok(Target {
                    kind: kind.to_string(),
                    id: name,
                    name: named.to_string(),
                    account,
                })
            }
            "ec2_instance" => {
                let named = match given {
                    Some(g) => g,
                    None if entity_kind == "host" => entity_id,
                    None => {
                        return Err(format!(
                            "the incident is about a `{entity_kind}` entity, not a host"
                        ))
                    }
                };
                let valid = named
                    .strip_prefix("i-")
                    .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()));
                if !valid {
                    return Err(format!("`{named}` is not an EC2 instance id"));
                }
                Ok(Target {
                    kind: "ec2_instance".to_string(),
                    id: named.to_string(),
                    name: named.to_string(),
                    account: text(incident, "cloud.account.id").map(str::to_string),
                })
            }
            _ => {
                let bucket = given.filter(|b| !b.is_empty()).ok_or_else(|| {
                    "the `target` expression gave no bucket name for this incident".to_string()
                })?;
                let valid = bucket.len() >= 3
                    && bucket.len() <= 63
                    && bucket.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.')
                    });
                if !valid {
                    return Err(format!("`{bucket}` is not an S3 bucket name"));
                }
                Ok(Target {
                    kind: "s3_bucket".to_string(),
                    id: bucket.to_string(),
                    name: bucket.to_string(),
                    account: text(incident, "cloud.account.id").map(str::to_string),
                })
            }
        }
    }

    super::provider::lifecycle_by_inherent_methods!();
}

/// Builds an AWS responder directly (tests, and callers that wire their own clock).
pub fn responder(
    policy: super::engine::Policy,
    actions: AwsActions,
    data_dir: &std::path::Path,
    clock: Clock,
) -> Result<Responder<AwsActions>, String> {
    Responder::open(policy, actions, data_dir, clock)
}

#[cfg(test)]
mod tests;
