//! IAM calls of the AWS responder (Query protocol, version 2010-05-08): a user's access
//! keys, console password (login profile) and inline policies of users and roles.
//!
//! IAM is a global service: `https://iam.amazonaws.com/`, signed for `us-east-1`
//! (or the endpoint override, signed for the configured region).

use super::query::{QueryReply, QueryService};
use super::{xml, AwsClient, AwsError};
use reqwest::Url;

const VERSION: &str = "2010-05-08";

/// An access key of a user and whether it is `Active` or `Inactive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub status: String,
}

/// Whom an inline policy is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    User,
    Role,
}

impl Principal {
    /// `User` or `Role`, as in the action names (`PutUserPolicy`).
    fn word(self) -> &'static str {
        match self {
            Principal::User => "User",
            Principal::Role => "Role",
        }
    }
}

/// The IAM calls of one client.
#[derive(Clone)]
pub struct Iam {
    service: QueryService,
}

fn malformed(target: String, reason: String) -> AwsError {
    AwsError::Malformed { target, reason }
}

impl Iam {
    pub fn new(client: &AwsClient) -> Result<Iam, String> {
        let (client, origin) = match &client.settings().endpoint {
            Some(endpoint) => (client.clone(), endpoint.clone()),
            None => (
                client.for_region("us-east-1"),
                Url::parse("https://iam.amazonaws.com/")
                    .map_err(|e| format!("no IAM endpoint: {e}"))?,
            ),
        };
        Ok(Iam {
            service: QueryService::new(client, origin, "iam", VERSION),
        })
    }

    /// Any IAM call (the tests set up users and keys with it).
    pub async fn call(
        &self,
        action: &str,
        params: &[(&str, &str)],
        target: &str,
    ) -> Result<QueryReply, AwsError> {
        self.service.call(action, params, target).await
    }

    /// Every access key of `user` with its status.
    pub async fn list_access_keys(&self, user: &str) -> Result<Vec<AccessKey>, AwsError> {
        let target = format!("user {user}");
        let mut keys = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut params = vec![("UserName", user)];
            if let Some(m) = &marker {
                params.push(("Marker", m));
            }
            let reply = self.call("ListAccessKeys", &params, &target).await?;
            let bad = |reason: String| malformed(format!("IAM ListAccessKeys {target}"), reason);
            for member in xml::blocks(&reply.xml, "member").map_err(bad)? {
                let id = xml::text(member, "AccessKeyId").map_err(bad)?;
                let status = xml::text(member, "Status").map_err(bad)?;
                if let (Some(id), Some(status)) = (id, status) {
                    keys.push(AccessKey { id, status });
                }
            }
            let truncated = xml::text(&reply.xml, "IsTruncated").map_err(bad)?;
            marker = xml::text(&reply.xml, "Marker").map_err(bad)?;
            if truncated.as_deref() != Some("true") || marker.is_none() {
                return Ok(keys);
            }
        }
    }

    /// Sets a key `Active` or `Inactive`.
    pub async fn update_access_key(
        &self,
        user: &str,
        key: &str,
        status: &str,
    ) -> Result<QueryReply, AwsError> {
        self.call(
            "UpdateAccessKey",
            &[("UserName", user), ("AccessKeyId", key), ("Status", status)],
            &format!("user {user} key {key}"),
        )
        .await
    }

    /// The user's console password: `None` when it has none, else whether a reset is
    /// required at the next sign-in.
    pub async fn get_login_profile(&self, user: &str) -> Result<Option<bool>, AwsError> {
        let target = format!("user {user}");
        match self
            .call("GetLoginProfile", &[("UserName", user)], &target)
            .await
        {
            Ok(reply) => {
                let reset = xml::text(&reply.xml, "PasswordResetRequired")
                    .map_err(|r| malformed(format!("IAM GetLoginProfile {target}"), r))?;
                Ok(Some(reset.as_deref() == Some("true")))
            }
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the user's console password (it cannot be restored: AWS never reveals it).
    pub async fn delete_login_profile(&self, user: &str) -> Result<QueryReply, AwsError> {
        self.call(
            "DeleteLoginProfile",
            &[("UserName", user)],
            &format!("user {user}"),
        )
        .await
    }

    /// Requires (or stops requiring) a new password at the next console sign-in.
    pub async fn set_password_reset_required(
        &self,
        user: &str,
        required: bool,
    ) -> Result<QueryReply, AwsError> {
        self.call(
            "UpdateLoginProfile",
            &[
                ("UserName", user),
                (
                    "PasswordResetRequired",
                    if required { "true" } else { "false" },
                ),
            ],
            &format!("user {user}"),
        )
        .await
    }

    fn name_param(principal: Principal) -> &'static str {
        match principal {
            Principal::User => "UserName",
            Principal::Role => "RoleName",
        }
    }

    /// The document of an inline policy, `None` when there is none of that name.
    pub async fn get_inline_policy(
        &self,
        principal: Principal,
        name: &str,
        policy: &str,
    ) -> Result<Option<String>, AwsError> {
        let action = format!("Get{}Policy", principal.word());
        let target = format!("{} {name} policy {policy}", principal.word().to_lowercase());
        match self
            .call(
                &action,
                &[(Self::name_param(principal), name), ("PolicyName", policy)],
                &target,
            )
            .await
        {
            // The document comes URL-encoded (RFC 3986) inside the XML.
            Ok(reply) => xml::text(&reply.xml, "PolicyDocument")
                .map(|doc| doc.map(|d| percent_decode(&d)))
                .map_err(|r| malformed(format!("IAM {action} {target}"), r)),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates or replaces an inline policy.
    pub async fn put_inline_policy(
        &self,
        principal: Principal,
        name: &str,
        policy: &str,
        document: &str,
    ) -> Result<QueryReply, AwsError> {
        self.call(
            &format!("Put{}Policy", principal.word()),
            &[
                (Self::name_param(principal), name),
                ("PolicyName", policy),
                ("PolicyDocument", document),
            ],
            &format!("{} {name} policy {policy}", principal.word().to_lowercase()),
        )
        .await
    }

    /// Deletes an inline policy.
    pub async fn delete_inline_policy(
        &self,
        principal: Principal,
        name: &str,
        policy: &str,
    ) -> Result<QueryReply, AwsError> {
        self.call(
            &format!("Delete{}Policy", principal.word()),
            &[(Self::name_param(principal), name), ("PolicyName", policy)],
            &format!("{} {name} policy {policy}", principal.word().to_lowercase()),
        )
        .await
    }
}

/// Decodes `%XX` escapes (IAM returns policy documents URL-encoded); anything that is
/// not a valid escape is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_are_url_decoded() {
        assert_eq!(
            percent_decode("%7B%22Version%22%3A%222012-10-17%22%7D"),
            "{\"Version\":\"2012-10-17\"}"
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz{}"), "%zz{}");
    }
}
