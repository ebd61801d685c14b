//! AWS CloudTrail: one element of a trail's `Records` array → `event.dataset:
//! aws.cloudtrail`.
//!
//! | ECS | from |
//! |---|---|
//! | `@timestamp` | `eventTime` (when it is not there or no time: the time received, tagged `time_from_ingest`) |
//! | `event.action` | `eventName` (required) |
//! | `event.provider`, `cloud.service.name` | `eventSource`; the service is its first label (`iam`) |
//! | `event.outcome` | `failure` with `errorCode` (→ `error.code`, `errorMessage` → `error.message`) or a failed `ConsoleLogin`; else `success` |
//! | `event.category`, `event.type` | sign-in and STS sessions: `authentication`/`start`; IAM, SSO: `iam`; S3 objects: `file`; other calls with a clear verb: `configuration`; types from the verb (`Create…` creation, `Delete…` deletion, `Get…` access, ...), plus `denied` for access-denied errors |
//! | `cloud.region`, `cloud.account.id` | `awsRegion`; `recipientAccountId`, else `userIdentity.accountId` |
//! | `source.ip` | `sourceIPAddress` when it is an address; otherwise `source.address`, and `source.domain` for service names (`ec2.amazonaws.com`) |
//! | `user_agent.original` | `userAgent` |
//! | `user.name`, `user.id` | by `userIdentity.type`: IAM users: `userName` (else the ARN's last segment) and the user's ARN; assumed roles: the role (`sessionContext.sessionIssuer`) name and ARN, so every session of a role is one `aws_user`; root: `root` and `arn:aws:iam::<account>:root`; others: `userName` or the ARN's last segment, and the ARN. AWS services acting for themselves name no user (`service.name`: `invokedBy`); without a name or an ARN, `user.id` is the `principalId` |
//! | `user.target.name` | IAM calls on another user: `requestParameters.userName` |
//! | `file.directory`, `file.path`, `file.name` | S3 calls: `s3://<bucketName>`, `s3://<bucketName>/<key>`, the key's last segment. CopyObject names its *destination* here (the source stays in the record's `x-amz-copy-source`) |
//! | `file.size` | S3: `additionalEventData.bytesTransferredOut` of GetObject, `bytesTransferredIn` of PutObject and UploadPart, when present |
//! | `cloud.instance.id` | a response naming exactly one instance (`responseElements.instancesSet.items`: RunInstances, StartInstances, ...) |
//! | `event.id` | over `eventID`, else over the record |

use super::{
    field, number, require_head, text, Dataset, Doc, Format, Head, NormaliseError, Received,
};
use pipectl_core::value::Value;

const DATASET: Dataset = Dataset {
    module: "aws",
    name: "aws.cloudtrail",
    cloud_provider: "aws",
};

/// Normalises one CloudTrail record (without `eventTime`, at the time it is called);
/// refuses records without `eventName`.
pub fn normalise(record: Value) -> Result<Value, NormaliseError> {
    let head = check(&record)?;
    Ok(build(record, head, Received::now()))
}

pub(crate) fn check(record: &Value) -> Result<Head, NormaliseError> {
    require_head(Format::AwsCloudtrail, record, "eventTime", "eventName")
}

pub(crate) fn build(record: Value, head: Head, received: Received) -> Value {
    let r = &record;
    let mut doc = Doc::new(head.time, received);
    let name = head.action.as_str();
    doc.set("event.action", name);
    let service = text(r, "eventSource");
    doc.set_text("event.provider", service);
    doc.set_text(
        "cloud.service.name",
        service.and_then(|s| s.split('.').next()),
    );

    let error_code = text(r, "errorCode");
    let console_failed =
        name == "ConsoleLogin" && text(r, "responseElements.ConsoleLogin") == Some("Failure");
    if error_code.is_some() || console_failed {
        doc.set("event.outcome", "failure");
        doc.set_text("error.code", error_code);
        doc.set_text("error.message", text(r, "errorMessage"));
    } else {
        doc.set("event.outcome", "success");
    }
    let denied = error_code.is_some_and(|c| {
        c.contains("AccessDenied") || c.contains("Unauthorized") || c.contains("Forbidden")
    });
    let is_object = service == Some("s3.amazonaws.com")
        && text(r, "requestParameters.bucketName").is_some()
        && text(r, "requestParameters.key").is_some();
    categorise(&mut doc, service.unwrap_or(""), name, is_object, denied);

    doc.set_text("cloud.region", text(r, "awsRegion"));
    let account = text(r, "recipientAccountId").or_else(|| text(r, "userIdentity.accountId"));
    doc.set_text("cloud.account.id", account);
    if let Some(address) = text(r, "sourceIPAddress") {
        if !doc.set_client_ip(Some(address)) {
            doc.set("source.address", address);
            if super::is_domain(address) {
                doc.set("source.domain", address);
            }
        }
    }
    doc.set_text("user_agent.original", text(r, "userAgent"));
    identity(&mut doc, r, account);
    if service == Some("iam.amazonaws.com") {
        target_user(&mut doc, r);
    }
    if service == Some("s3.amazonaws.com") {
        s3(&mut doc, r, name);
    }
    if let Some(Value::Array(items)) = field(r, "responseElements.instancesSet.items") {
        if let [only] = items.as_slice() {
            doc.set_text("cloud.instance.id", text(only, "instanceId"));
        }
    }
    let key = text(r, "eventID").map(str::to_string);
    doc.finish(DATASET, key, record)
}

/// `event.category` and `event.type` where the call makes them clear.
fn categorise(doc: &mut Doc, service: &str, name: &str, is_object: bool, denied: bool) {
    let mut types: Vec<&str> = Vec::with_capacity(2);
    let category = if name == "ConsoleLogin"
        || service == "signin.amazonaws.com"
        || (service == "sts.amazonaws.com"
            && (name.starts_with("Assume") || name.ends_with("Token")))
    {
        types.push("start");
        "authentication"
    } else if matches!(
        service,
        "iam.amazonaws.com" | "sso.amazonaws.com" | "identitystore.amazonaws.com"
    ) {
        types.extend(verb_type(name).map(|t| if t == "access" { "info" } else { t }));
        "iam"
    } else if is_object {
        types.extend(verb_type(name));
        "file"
    } else {
        match verb_type(name) {
            Some(t) => {
                types.push(t);
                "configuration"
            }
            None => return,
        }
    };
    if denied {
        types.push("denied");
    }
    doc.categorise(category, &types);
}

/// The ECS event type an API verb stands for.
fn verb_type(name: &str) -> Option<&'static str> {
    const CREATION: &[&str] = &[
        "Create",
        "Run",
        "Allocate",
        "Import",
        "Register",
        "Upload",
        "Copy",
        "PutObject",
        "CompleteMultipartUpload",
    ];
    const DELETION: &[&str] = &["Delete", "Terminate", "Deregister", "Release"];
    const CHANGE: &[&str] = &[
        "Update",
        "Modify",
        "Put",
        "Attach",
        "Detach",
        "Add",
        "Remove",
        "Set",
        "Enable",
        "Disable",
        "Start",
        "Stop",
        "Reset",
        "Change",
        "Replace",
        "Authorize",
        "Revoke",
        "Associate",
        "Disassociate",
        "Tag",
        "Untag",
        "Restore",
    ];
    const ACCESS: &[&str] = &[
        "Get", "List", "Describe", "Head", "Lookup", "Search", "BatchGet",
    ];
    let starts = |verbs: &[&str]| verbs.iter().any(|v| name.starts_with(v));
    if starts(CREATION) {
        Some("creation")
    } else if starts(DELETION) {
        Some("deletion")
    } else if starts(CHANGE) {
        Some("change")
    } else if starts(ACCESS) {
        Some("access")
    } else {
        None
    }
}

/// `user.name` and `user.id` from `userIdentity` (see the module table).
fn identity(doc: &mut Doc, r: &Value, account: Option<&str>) {
    let Some(ui) = field(r, "userIdentity") else {
        return;
    };
    let arn = text(ui, "arn").filter(|a| a.starts_with("arn:"));
    let user_name = text(ui, "userName");
    let (name, id) = match text(ui, "type") {
        Some("AWSService") => {
            // The service acting for itself is the actor; it names no user.
            doc.set_text("service.name", text(ui, "invokedBy"));
            return;
        }
        Some("AssumedRole") => {
            let issuer = field(ui, "sessionContext.sessionIssuer");
            let role_arn = issuer
                .and_then(|i| text(i, "arn"))
                .map(str::to_string)
                .or_else(|| arn.and_then(role_of_session));
            let role_name = issuer
                .and_then(|i| text(i, "userName"))
                .map(str::to_string)
                .or_else(|| {
                    role_arn
                        .as_deref()
                        .and_then(last_segment)
                        .map(str::to_string)
                })
                .or_else(|| user_name.map(str::to_string));
            (role_name, role_arn)
        }
        Some("Root") => {
            let id = arn
                .map(str::to_string)
                .or_else(|| account.map(|a| format!("arn:aws:iam::{a}:root")));
            (Some(user_name.unwrap_or("root").to_string()), id)
        }
        Some("IAMUser") => {
            let id = arn.map(str::to_string).or_else(|| {
                let account = text(ui, "accountId").or(account)?;
                Some(format!("arn:aws:iam::{account}:user/{}", user_name?))
            });
            let name = user_name.or_else(|| arn.and_then(last_segment));
            (name.map(str::to_string), id)
        }
        _ => {
            let name = user_name.or_else(|| arn.and_then(last_segment));
            (name.map(str::to_string), arn.map(str::to_string))
        }
    };
    // Without a name or an ARN, the principal's unique id (`AIDA...`, `AROA...:session`)
    // still names who acted (not an `aws_user` entity: that needs an ARN).
    let id = id.or_else(|| {
        name.is_none()
            .then(|| text(ui, "principalId").map(str::to_string))
            .flatten()
    });
    if let Some(name) = name {
        doc.set("user.name", name);
    }
    if let Some(id) = id {
        doc.set("user.id", id);
    }
}

/// `arn:aws:sts::123:assumed-role/Role/session` → `arn:aws:iam::123:role/Role`.
fn role_of_session(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    let (_, partition, _, _, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let role = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}

/// The name at the end of an ARN's resource path (`user/dev/alice` → `alice`), when it
/// has a path.
fn last_segment(arn: &str) -> Option<&str> {
    let (_, last) = arn.rsplit_once('/')?;
    (!last.is_empty()).then_some(last)
}

/// `user.target.name` for IAM calls on a user other than the caller.
fn target_user(doc: &mut Doc, r: &Value) {
    if let Some(target) = text(r, "requestParameters.userName") {
        let caller = text(r, "userIdentity.userName");
        if caller != Some(target) {
            doc.set("user.target.name", target);
        }
    }
}

/// The bucket, object and bytes of an S3 call.
fn s3(doc: &mut Doc, r: &Value, name: &str) {
    let Some(bucket) = text(r, "requestParameters.bucketName") else {
        return;
    };
    doc.set("file.directory", format!("s3://{bucket}"));
    if let Some(key) = text(r, "requestParameters.key") {
        doc.set("file.path", format!("s3://{bucket}/{key}"));
        if let Some(file) = key.rsplit('/').next().filter(|f| !f.is_empty()) {
            doc.set("file.name", file);
        }
    }
    let transferred = match name {
        "GetObject" => Some("additionalEventData.bytesTransferredOut"),
        "PutObject" | "UploadPart" => Some("additionalEventData.bytesTransferredIn"),
        _ => None,
    };
    if let Some(bytes) = transferred
        .and_then(|path| number(r, path))
        .filter(|b| *b >= 0)
    {
        doc.set("file.size", bytes);
    }
}

#[cfg(test)]
mod tests;
