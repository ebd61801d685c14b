//! `respond azure`: contain Azure virtual machines through Azure Resource Manager —
//! deallocate or power off a VM (revert: start it again, if it was running), or cut it
//! off the network by attaching a deny-all network security group to its network
//! interfaces (revert: put back the NSG each interface had, or none).
//!
//! Authentication is an app registration's client credentials (scope
//! `https://management.azure.com/.default`, or Azure Government's host for the US
//! government clouds). Power operations and interface updates are long-running: ARM
//! answers `202` (or `200`/`201` with an operation link) and the action polls the
//! `Azure-AsyncOperation` link (its `status`: `Succeeded`, `Failed`, `Canceled`) or
//! else the `Location` link (`202` while running) until the operation ends, waiting
//! what `Retry-After` says, up to `operation_timeout`. A failed operation fails the
//! action with Azure's own error code and message.
//!
//! Targets: the VM's resource id (`/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name>`),
//! from the `target` expression or a `host` incident whose entity id is one; a bare VM
//! name is accepted when `subscription_id` and `resource_group` say where it is.

use super::engine::Responder;
use super::provider::{ActError, ActionInfo, Actions, Done, Target};
use super::saas::{self, SaasApi};
use super::stage;
use crate::sources::api::client::{Auth, Bad, Forbidden, Reply};
use crate::sources::api::error::{display_url, excerpt};
use crate::sources::api::microsoft::{
    Cloud, MicrosoftApp, API_URL_ATTR, CLIENT_ID_ATTR, CLIENT_SECRET_ATTR, CLOUD_ATTR,
    LOGIN_URL_ATTR, TENANT_ID_ATTR,
};
use crate::sources::api::{followed_link, join, REQUEST_TIMEOUT_ATTR};
use pipectl_core::component::{BuildContext, BuildError, Built, Factory};
use pipectl_core::config::Attrs;
use pipectl_core::value::Value;
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use reqwest::{Method, StatusCode, Url};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

const READ_VM: &str = "Microsoft.Compute/virtualMachines/read";
const START_VM: &str = "Microsoft.Compute/virtualMachines/start/action";
const READ_NIC: &str = "Microsoft.Network/networkInterfaces/read";
const WRITE_NIC: &str = "Microsoft.Network/networkInterfaces/write";
const READ_NSG: &str = "Microsoft.Network/networkSecurityGroups/read";
const WRITE_NSG: &str = "Microsoft.Network/networkSecurityGroups/write";
const JOIN_NSG: &str = "Microsoft.Network/networkSecurityGroups/join/action";

/// Every Azure action, what it needs and how it is undone.
pub static ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        name: "deallocate_vm",
        target_kind: "azure_vm",
        revert: Some("start_vm"),
        permissions: &[
            READ_VM,
            "Microsoft.Compute/virtualMachines/deallocate/action",
            START_VM,
        ],
    },
    ActionInfo {
        name: "power_off_vm",
        target_kind: "azure_vm",
        revert: Some("start_vm"),
        permissions: &[
            READ_VM,
            "Microsoft.Compute/virtualMachines/powerOff/action",
            START_VM,
        ],
    },
    ActionInfo {
        name: "isolate_vm",
        target_kind: "azure_vm",
        revert: Some("restore_nic_nsg"),
        permissions: &[READ_VM, READ_NIC, WRITE_NIC, READ_NSG, WRITE_NSG, JOIN_NSG],
    },
];

const ACTION_NAMES: &[&str] = &["deallocate_vm", "power_off_vm", "isolate_vm"];

/// The Compute and Network API versions used.
const COMPUTE_API: &str = "2024-07-01";
const NETWORK_API: &str = "2024-05-01";

/// The longest a `Retry-After` of a running operation is waited.
const MAX_OPERATION_WAIT: Duration = Duration::from_secs(60);

/// The catalogue entry of `respond azure`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Respond,
    type_name: "azure",
    summary: "Contains Azure virtual machines through Azure Resource Manager (deallocate, power off, or isolate behind a deny-all network security group) when incidents match, waiting for each long-running operation to end, under a policy: observe, confirm or autonomous, with guard rails, expiry and an audit record of every step (docs/response.md).",
    attrs: &[
        AttrSpec::required(
            "action",
            AttrType::Enum(ACTION_NAMES),
            "What to do: deallocate_vm, power_off_vm, isolate_vm (docs/response.md).",
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
        TENANT_ID_ATTR,
        CLIENT_ID_ATTR,
        CLIENT_SECRET_ATTR,
        CLOUD_ATTR,
        LOGIN_URL_ATTR,
        API_URL_ATTR,
        AttrSpec::optional(
            "subscription_id",
            AttrType::String,
            "With `resource_group`: where a VM named by its bare name (not a resource id) lives.",
        ),
        AttrSpec::optional(
            "resource_group",
            AttrType::String,
            "With `subscription_id`: the resource group of a VM named by its bare name.",
        ),
        AttrSpec::with_default(
            "isolation_nsg",
            AttrType::String,
            "\"pipectl-isolation\"",
            "`isolate_vm`: the deny-all network security group: a name (created in the VM's resource group and region if missing, with rules denying all traffic in and out) or the resource id of an existing one (then no `networkSecurityGroups/write` is needed).",
        ),
        AttrSpec::with_default(
            "operation_timeout",
            AttrType::Duration,
            "10m",
            "How long to wait for a long-running operation (deallocate, power off, start, a NIC update) before the action fails.",
        ),
        AttrSpec::with_default(
            "operation_poll_interval",
            AttrType::Duration,
            "5s",
            "How often to ask about a long-running operation when Azure says nothing (`Retry-After`).",
        ),
        REQUEST_TIMEOUT_ATTR,
        saas::MAX_ATTEMPTS_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `respond azure`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let attrs = Attrs::new(plan, ctx);
    let (policy, clock) = stage::policy(&attrs, ctx.pipeline)?;
    let poll = attrs.duration("poll_interval")?;
    let app = MicrosoftApp::from_attrs(&attrs, Cloud::management)?;
    let settings = saas::client_settings(&attrs)?;
    let home = match (
        attrs.opt_string("subscription_id")?,
        attrs.opt_string("resource_group")?,
    ) {
        (Some(s), Some(rg)) => {
            if !is_segment(&s) || !is_segment(&rg) {
                return Err(attrs.error(
                    "attributes `subscription_id` and `resource_group` must be plain names",
                ));
            }
            Some((s, rg))
        }
        (None, None) => None,
        _ => {
            return Err(attrs.error(
                "`subscription_id` and `resource_group` go together (where bare VM names live)",
            ))
        }
    };
    let isolation = attrs.string("isolation_nsg")?;
    let isolation = if isolation.starts_with('/') {
        if !is_resource_id(&isolation) {
            return Err(attrs.error(format!(
                "attribute `isolation_nsg`: `{isolation}` is neither a name nor a resource id"
            )));
        }
        Isolation::Existing(isolation)
    } else if is_segment(&isolation) {
        Isolation::Named(isolation)
    } else {
        return Err(attrs.error(format!(
            "attribute `isolation_nsg`: `{isolation}` is neither a name nor a resource id"
        )));
    };
    let api = SaasApi::new(
        &settings,
        Auth::ClientCredentials {
            credentials: app.credentials,
            cached: None,
        },
        Some(forbidden),
    )
    .map_err(|e| attrs.error(e))?;
    let operation_timeout = attrs.duration("operation_timeout")?;
    let operation_poll = attrs.duration("operation_poll_interval")?;
    if operation_timeout.is_zero() || operation_poll.is_zero() {
        return Err(attrs.error(
            "attributes `operation_timeout` and `operation_poll_interval` must be longer than zero",
        ));
    }
    let provider = AzureActions {
        api,
        base: app.api_url,
        home,
        isolation,
        operation_timeout,
        operation_poll,
    };
    let responder =
        Responder::open(policy, provider, &ctx.data_dir, clock).map_err(|e| attrs.error(e))?;
    Ok(stage::built(responder, poll))
}

/// ARM's `403`: the service principal's role lacks the operation.
fn forbidden(_reply: &Reply) -> Forbidden {
    Forbidden::Denied(
        "assign the app's service principal a role that grants this operation on the VM's scope (Virtual Machine Contributor for the power actions; Network Contributor for isolation), or a custom role with exactly these actions (docs/response.md)".into(),
    )
}

/// The deny-all network security group `isolate_vm` attaches.
#[derive(Debug, Clone)]
pub(crate) enum Isolation {
    /// Created (when missing) in the VM's resource group and region.
    Named(String),
    /// Made by the operator, used as it is.
    Existing(String),
}

/// The Azure actions of one app registration.
pub struct AzureActions {
    api: SaasApi,
    /// `https://management.azure.com` (or the cloud's host, or `api_url`).
    base: Url,
    /// Where bare VM names live: subscription, resource group.
    home: Option<(String, String)>,
    isolation: Isolation,
    operation_timeout: Duration,
    operation_poll: Duration,
}

/// A path segment Azure accepts in a resource id, safe to put in a URL as it is.
fn is_segment(text: &str) -> bool {
    !text.is_empty()
        && text != "."
        && text != ".."
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
}

/// `/subscriptions/...`: segments Azure accepts, nothing that would leave the path.
fn is_resource_id(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('/') else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    parts.len() >= 2
        && parts[0].eq_ignore_ascii_case("subscriptions")
        && parts.iter().all(|p| is_segment(p))
}

/// A VM's resource id: `(subscription, resource group, name)`.
fn vm_parts(id: &str) -> Option<(&str, &str, &str)> {
    if !is_resource_id(id) {
        return None;
    }
    let parts: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [s, sub, rg, group, p, ns, vms, name]
            if s.eq_ignore_ascii_case("subscriptions")
                && rg.eq_ignore_ascii_case("resourceGroups")
                && p.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("Microsoft.Compute")
                && vms.eq_ignore_ascii_case("virtualMachines") =>
        {
            Some((sub, group, name))
        }
        _ => None,
    }
}

/// What ARM answered: a body and the links of a long-running operation.
struct Arm {
    status: StatusCode,
    body: serde_json::Value,
    async_operation: Option<String>,
    location: Option<String>,
    retry_after: Option<Duration>,
}

/// ARM's answer, `404` and a request refused in the resource's state (`400`, `409`).
enum Answer {
    Found(Arm),
    NotFound,
    Rejected(String),
}

fn arm(reply: &Reply) -> Result<Answer, Bad> {
    if reply.status == StatusCode::NOT_FOUND {
        return Ok(Answer::NotFound);
    }
    if matches!(reply.status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) {
        return Ok(Answer::Rejected(format!(
            "HTTP {}: {}",
            reply.status.as_u16(),
            excerpt(&reply.body, &[])
        )));
    }
    if !reply.status.is_success() {
        return Err(Bad::Refused);
    }
    let body = if reply.body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&reply.body).map_err(|e| Bad::Page(format!("not JSON ({e})")))?
    };
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Ok(Answer::Found(Arm {
        status: reply.status,
        body,
        async_operation: header("azure-asyncoperation"),
        location: header("location"),
        retry_after: header("retry-after")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs),
    }))
}

/// The code of a VM's power state (`running`, `deallocated`, `stopped`...) in an
/// instance view.
fn power_state(view: &serde_json::Value) -> Option<String> {
    view["statuses"].as_array()?.iter().find_map(|s| {
        s["code"]
            .as_str()?
            .strip_prefix("PowerState/")
            .map(str::to_string)
    })
}

impl AzureActions {
    fn url(&self, path: &str, api_version: &str) -> Url {
        let mut url = join(&self.base, path);
        url.set_query(Some(&format!("api-version={api_version}")));
        url
    }

    /// A call whose `404` and `400`/`409` are errors naming `what`.
    async fn expect(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        permission: &str,
        what: &str,
    ) -> Result<Arm, ActError> {
        let request = format!("{method} {}", display_url(url));
        match self
            .api
            .call_with(method, url, body, permission, arm)
            .await?
        {
            Answer::Found(reply) => Ok(reply),
            Answer::NotFound => Err(ActError(format!("{request}: {what} not found (HTTP 404)"))),
            Answer::Rejected(why) => Err(ActError(format!("{request}: {why}"))),
        }
    }

    /// Waits for the long-running operation `reply` started, if it started one.
    async fn finish(&self, what: &str, reply: Arm, permission: &str) -> Result<(), ActError> {
        let mut links = (reply.async_operation.clone(), reply.location.clone());
        if reply.status != StatusCode::ACCEPTED && links.0.is_none() {
            // Done at once (or a `201` with nothing to follow).
            return Ok(());
        }
        if links.0.is_none() && links.1.is_none() {
            return Err(ActError(format!(
                "{what}: Azure accepted the request (HTTP 202) but named no operation to follow (neither Azure-AsyncOperation nor Location)"
            )));
        }
        let deadline = Instant::now() + self.operation_timeout;
        let mut wait = reply.retry_after;
        loop {
            let pause = wait.unwrap_or(self.operation_poll).min(MAX_OPERATION_WAIT);
            if Instant::now() + pause > deadline {
                return Err(ActError(format!(
                    "{what}: still running after {:?}; it may finish on its own — check the VM in the portal",
                    self.operation_timeout
                )));
            }
            tokio::time::sleep(pause).await;
            if let Some(link) = &links.0 {
                let url = followed_link(&self.base, link).map_err(|e| ActError(e.message))?;
                let status = self
                    .expect(Method::GET, &url, None, permission, "the operation")
                    .await?;
                wait = status.retry_after;
                match status.body["status"].as_str() {
                    Some("Succeeded") => return Ok(()),
                    Some(end @ ("Failed" | "Canceled")) => {
                        let error = &status.body["error"];
                        return Err(ActError(format!(
                            "{what}: the operation {}: {}: {}",
                            end.to_ascii_lowercase(),
                            error["code"].as_str().unwrap_or("no error code"),
                            error["message"].as_str().unwrap_or("no message")
                        )));
                    }
                    Some(_) => {}
                    None => {
                        return Err(ActError(format!(
                            "{what}: the operation status has no `status`"
                        )))
                    }
                }
            } else if let Some(link) = &links.1 {
                let url = followed_link(&self.base, link).map_err(|e| ActError(e.message))?;
                let status = self
                    .expect(Method::GET, &url, None, permission, "the operation")
                    .await?;
                if status.status != StatusCode::ACCEPTED {
                    return Ok(());
                }
                wait = status.retry_after;
                if let Some(next) = status.location {
                    links.1 = Some(next);
                }
            }
        }
    }

    async fn power_state_of(&self, vm: &str) -> Result<String, ActError> {
        let view = self
            .expect(
                Method::GET,
                &self.url(&format!("{vm}/instanceView"), COMPUTE_API),
                None,
                READ_VM,
                &format!("VM {vm}"),
            )
            .await?;
        power_state(&view.body)
            .ok_or_else(|| ActError(format!("Azure did not say the power state of VM {vm}")))
    }

    async fn power(&self, vm: &str, verb: &str, permission: &str) -> Result<(), ActError> {
        let mut url = self.url(&format!("{vm}/{verb}"), COMPUTE_API);
        if verb == "powerOff" {
            // Let the guest shut down cleanly first.
            url.query_pairs_mut().append_pair("skipShutdown", "false");
        }
        let reply = self
            .expect(Method::POST, &url, None, permission, &format!("VM {vm}"))
            .await?;
        self.finish(&format!("{verb} VM {vm}"), reply, permission)
            .await
    }

    /// The VM's region and network interfaces, each with the NSG it has now.
    async fn interfaces(&self, vm: &str) -> Result<serde_json::Value, ActError> {
        let machine = self
            .expect(
                Method::GET,
                &self.url(vm, COMPUTE_API),
                None,
                READ_VM,
                &format!("VM {vm}"),
            )
            .await?
            .body;
        let location = machine["location"].as_str().unwrap_or_default().to_string();
        let mut nics = Vec::new();
        for nic in machine["properties"]["networkProfile"]["networkInterfaces"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(id) = nic["id"].as_str() else {
                continue;
            };
            if !is_resource_id(id) {
                return Err(ActError(format!(
                    "VM {vm} names a network interface `{id}` that is not a resource id"
                )));
            }
            let current = self
                .expect(
                    Method::GET,
                    &self.url(id, NETWORK_API),
                    None,
                    READ_NIC,
                    &format!("network interface {id}"),
                )
                .await?
                .body;
            nics.push(json!({
                "id": id,
                "nsg": current["properties"]["networkSecurityGroup"]["id"],
            }));
        }
        if nics.is_empty() {
            return Err(ActError(format!("VM {vm} has no network interface")));
        }
        Ok(json!({ "location": location, "nics": nics }))
    }

    /// The isolation NSG's id, created (deny all, in and out) when it is missing.
    async fn isolation_nsg(&self, vm: &str, location: &str) -> Result<String, ActError> {
        let id = match &self.isolation {
            Isolation::Existing(id) => {
                self.expect(
                    Method::GET,
                    &self.url(id, NETWORK_API),
                    None,
                    READ_NSG,
                    &format!("isolation network security group {id}"),
                )
                .await?;
                return Ok(id.clone());
            }
            Isolation::Named(name) => {
                let (sub, rg, _) = vm_parts(vm)
                    .ok_or_else(|| ActError(format!("`{vm}` is not a VM resource id")))?;
                format!(
                    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{name}"
                )
            }
        };
        let url = self.url(&id, NETWORK_API);
        match self
            .api
            .call_with(Method::GET, &url, None, READ_NSG, arm)
            .await?
        {
            Answer::Found(_) => return Ok(id),
            Answer::NotFound => {}
            Answer::Rejected(why) => {
                return Err(ActError(format!("GET {}: {why}", display_url(&url))))
            }
        }
        let rule = |name: &str, direction: &str| {
            json!({
                "name": name,
                "properties": {
                    "priority": 100,
                    "direction": direction,
                    "access": "Deny",
                    "protocol": "*",
                    "sourceAddressPrefix": "*",
                    "sourcePortRange": "*",
                    "destinationAddressPrefix": "*",
                    "destinationPortRange": "*",
                    "description": "pipectl isolation: deny everything",
                }
            })
        };
        let body = json!({
            "location": location,
            "tags": { "managed-by": "pipectl", "purpose": "isolation" },
            "properties": {
                "securityRules": [rule("deny-all-inbound", "Inbound"), rule("deny-all-outbound", "Outbound")]
            }
        });
        let reply = self
            .expect(
                Method::PUT,
                &url,
                Some(&body),
                WRITE_NSG,
                &format!("network security group {id}"),
            )
            .await?;
        self.finish(
            &format!("create network security group {id}"),
            reply,
            WRITE_NSG,
        )
        .await?;
        Ok(id)
    }

    /// Sets (or, with `None`, removes) a network interface's NSG: the interface is read
    /// whole and written back whole, as ARM's `PUT` replaces it.
    async fn set_nic_nsg(&self, nic: &str, nsg: Option<&str>) -> Result<(), ActError> {
        let url = self.url(nic, NETWORK_API);
        let what = format!("network interface {nic}");
        let mut body = self
            .expect(Method::GET, &url, None, READ_NIC, &what)
            .await?
            .body;
        let current = body["properties"]["networkSecurityGroup"]["id"].as_str();
        let same = match (current, nsg) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        };
        if same {
            return Ok(());
        }
        let Some(properties) = body["properties"].as_object_mut() else {
            return Err(ActError(format!("{what} has no `properties`")));
        };
        match nsg {
            Some(id) => {
                properties.insert("networkSecurityGroup".into(), json!({ "id": id }));
            }
            None => {
                properties.remove("networkSecurityGroup");
            }
        }
        let permission = match nsg {
            Some(_) => format!("{WRITE_NIC} and {JOIN_NSG}"),
            None => WRITE_NIC.to_string(),
        };
        let reply = self
            .expect(Method::PUT, &url, Some(&body), &permission, &what)
            .await?;
        self.finish(&format!("update {what}"), reply, WRITE_NIC)
            .await
    }

    async fn capture_state(
        &self,
        action: &str,
        target: &Target,
    ) -> Result<serde_json::Value, ActError> {
        match action {
            "deallocate_vm" | "power_off_vm" => {
                let state = self.power_state_of(&target.id).await?;
                Ok(json!({ "power_state": state }))
            }
            "isolate_vm" => self.interfaces(&target.id).await,
            other => Err(ActError(format!("`{other}` is not an Azure action"))),
        }
    }

    async fn act(
        &self,
        action: &str,
        target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        let vm = &target.id;
        match action {
            "deallocate_vm" => {
                self.power(
                    vm,
                    "deallocate",
                    "Microsoft.Compute/virtualMachines/deallocate/action",
                )
                .await?
            }
            "power_off_vm" => {
                self.power(
                    vm,
                    "powerOff",
                    "Microsoft.Compute/virtualMachines/powerOff/action",
                )
                .await?
            }
            "isolate_vm" => {
                let location = state["location"].as_str().unwrap_or_default();
                let nsg = self.isolation_nsg(vm, location).await?;
                for nic in state["nics"].as_array().into_iter().flatten() {
                    let Some(id) = nic["id"].as_str() else {
                        continue;
                    };
                    self.set_nic_nsg(id, Some(&nsg)).await?;
                }
            }
            other => return Err(ActError(format!("`{other}` is not an Azure action"))),
        }
        Ok(Done::default())
    }

    async fn undo(
        &self,
        action: &str,
        target: &Target,
        state: &serde_json::Value,
    ) -> Result<Done, ActError> {
        let vm = &target.id;
        match action {
            "deallocate_vm" | "power_off_vm" => {
                // A VM that was not running before the incident stays as it was.
                if matches!(state["power_state"].as_str(), Some("running" | "starting")) {
                    self.power(vm, "start", START_VM).await?;
                }
            }
            "isolate_vm" => {
                let isolation = match &self.isolation {
                    Isolation::Existing(id) => id.clone(),
                    Isolation::Named(name) => format!("/networkSecurityGroups/{name}"),
                };
                let mut changed_since = Vec::new();
                for nic in state["nics"].as_array().into_iter().flatten() {
                    let Some(id) = nic["id"].as_str() else {
                        continue;
                    };
                    let url = self.url(id, NETWORK_API);
                    let now = self
                        .expect(
                            Method::GET,
                            &url,
                            None,
                            READ_NIC,
                            &format!("network interface {id}"),
                        )
                        .await?
                        .body;
                    let current = now["properties"]["networkSecurityGroup"]["id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    // Someone changed the interface since: theirs wins.
                    if !current.ends_with(&isolation.to_ascii_lowercase()) {
                        changed_since.push(id.to_string());
                        continue;
                    }
                    self.set_nic_nsg(id, nic["nsg"].as_str()).await?;
                }
                if !changed_since.is_empty() {
                    return Err(ActError(format!(
                        "left as they are, since their network security group is no longer the isolation one: {}",
                        changed_since.join(", ")
                    )));
                }
            }
            other => {
                return Err(ActError(format!(
                    "`{other}` cannot be undone (the provider offers no way back)"
                )))
            }
        }
        Ok(Done::default())
    }
}

impl Actions for AzureActions {
    fn provider(&self) -> &'static str {
        "azure"
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
            .ok_or_else(|| format!("`{action}` is not an Azure action"))?;
        let text = |path: &str| {
            path.split('.')
                .try_fold(incident, |v, k| v.as_object()?.get(k))
                .and_then(Value::as_str)
        };
        let named = match given {
            Some(g) => g.trim(),
            None => match text("entity.kind") {
                Some("host") => text("entity.id").unwrap_or("").trim(),
                other => {
                    return Err(format!(
                    "the incident is about a `{}` entity, not a host; name the VM with `target`",
                    other.unwrap_or("")
                ))
                }
            },
        };
        let id = if named.starts_with('/') {
            named.to_string()
        } else {
            match &self.home {
                Some((sub, rg)) if is_segment(named) => format!(
                    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{named}"
                ),
                _ => {
                    return Err(format!(
                        "`{named}` is not a VM resource id (`/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name>`), and no `subscription_id` and `resource_group` say where a bare name lives"
                    ))
                }
            }
        };
        let (sub, _, name) =
            vm_parts(&id).ok_or_else(|| format!("`{id}` is not a VM resource id"))?;
        Ok(Target {
            kind: info.target_kind.to_string(),
            id: id.clone(),
            name: name.to_string(),
            account: Some(sub.to_string()),
        })
    }

    super::provider::lifecycle_by_inherent_methods!();
}

#[cfg(test)]
mod tests;
