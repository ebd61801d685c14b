//! The Azure actions against a local Azure Resource Manager that keeps state and runs
//! long operations the way ARM does (`202`, then an operation to poll): each effect
//! and its revert, failed operations, refusals, throttling.

use super::*;
use crate::respond::policy::{Mode, HOUR_MS};
use crate::respond::saas::testing::{assert_documented, quick_settings, responder, statuses, T0};
use crate::respond::tests::{incident, policy};
use crate::sources::api::oauth::ClientCredentials;
use crate::sources::api::testing::{Answer as Reply_, MockApi, Seen};
use crate::testkit::TempDir;
use pipectl_core::secrets::Secret;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const RG: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/prod-rg";

fn vm() -> String {
    format!("{RG}/providers/Microsoft.Compute/virtualMachines/web-01")
}
fn nic(n: usize) -> String {
    format!("{RG}/providers/Microsoft.Network/networkInterfaces/web-01-nic{n}")
}
fn nsg(name: &str) -> String {
    format!("{RG}/providers/Microsoft.Network/networkSecurityGroups/{name}")
}

/// What a finished operation changes.
#[derive(Clone)]
enum Effect {
    Power(&'static str),
    Nic(String, Option<String>),
    Nsg(String, serde_json::Value),
}

struct Operation {
    /// Polls still answered "in progress".
    remaining: usize,
    fails: bool,
    effect: Effect,
}

/// What the local ARM holds.
struct Arm_ {
    power: &'static str,
    /// NIC id → its NSG id.
    nics: BTreeMap<String, Option<String>>,
    nsgs: BTreeMap<String, serde_json::Value>,
    operations: BTreeMap<String, Operation>,
    /// Answers to give before the real one (`429`, `403`...), in order.
    queued: Vec<Reply_>,
    /// The next operation started fails.
    fail_next: bool,
    started: usize,
}

fn estate() -> Arc<Mutex<Arm_>> {
    let mut nics = BTreeMap::new();
    nics.insert(nic(1), Some(nsg("web-nsg")));
    nics.insert(nic(2), None);
    Arc::new(Mutex::new(Arm_ {
        power: "running",
        nics,
        nsgs: BTreeMap::new(),
        operations: BTreeMap::new(),
        queued: Vec::new(),
        fail_next: false,
        started: 0,
    }))
}

impl Arm_ {
    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Power(p) => self.power = p,
            Effect::Nic(id, nsg) => {
                self.nics.insert(id, nsg);
            }
            Effect::Nsg(id, body) => {
                self.nsgs.insert(id, body);
            }
        }
    }

    /// Starts an operation: its id.
    fn start(&mut self, effect: Effect) -> String {
        self.started += 1;
        let id = format!("op-{}", self.started);
        let fails = std::mem::take(&mut self.fail_next);
        self.operations.insert(
            id.clone(),
            Operation {
                remaining: 2,
                fails,
                effect,
            },
        );
        id
    }

    fn async_links(&mut self, base: &str, effect: Effect, status: u16) -> Reply_ {
        let op = self.start(effect);
        Reply_::status(status, "")
            .header(
                "Azure-AsyncOperation",
                format!("{base}/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/operations/{op}?api-version=2024-07-01"),
            )
            .header(
                "Location",
                format!("{base}/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/operationResults/{op}?api-version=2024-07-01"),
            )
    }

    fn nic_body(&self, id: &str) -> serde_json::Value {
        let mut properties = json!({
            "provisioningState": "Succeeded",
            "ipConfigurations": [{"name": "ipconfig1", "properties": {"privateIPAddress": "10.1.0.4", "subnet": {"id": format!("{RG}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default")}}}],
        });
        if let Some(Some(nsg)) = self.nics.get(id) {
            properties["networkSecurityGroup"] = json!({ "id": nsg });
        }
        json!({ "id": id, "name": id.rsplit('/').next(), "location": "westeurope", "properties": properties })
    }
}

/// An ARM that checks what every request carries and answers like ARM.
async fn arm_server(state: Arc<Mutex<Arm_>>) -> MockApi {
    MockApi::start(move |seen: &Seen| {
        if seen.path == "/tenant-1/oauth2/v2.0/token" {
            assert_eq!(
                seen.form("scope").as_deref(),
                Some("https://management.azure.com/.default")
            );
            return Reply_::json(r#"{"access_token":"arm-token","expires_in":3600}"#);
        }
        assert_eq!(seen.authorization, "Bearer arm-token", "{seen:?}");
        let mut t = state.lock().unwrap();
        if !t.queued.is_empty() {
            return t.queued.remove(0);
        }
        let version = seen.param("api-version").unwrap_or_default();
        let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap_or_default();
        let path = seen.path.as_str();
        let vm = vm();
        if let Some(op) = path.rsplit_once("/operations/").map(|(_, op)| op.to_string()) {
            let Some(o) = t.operations.get_mut(&op) else {
                return Reply_::status(404, "{}");
            };
            if o.remaining > 0 {
                o.remaining -= 1;
                return Reply_::json(r#"{"status":"InProgress"}"#);
            }
            if o.fails {
                return Reply_::json(r#"{"status":"Failed","error":{"code":"OperationNotAllowed","message":"The operation is not allowed while the VM is being updated."}}"#);
            }
            let effect = o.effect.clone();
            t.operations.remove(&op);
            t.apply(effect);
            return Reply_::json(r#"{"status":"Succeeded"}"#);
        }
        if let Some(op) = path.rsplit_once("/operationResults/").map(|(_, op)| op.to_string()) {
            let Some(o) = t.operations.get_mut(&op) else {
                return Reply_::status(404, "{}");
            };
            if o.remaining > 0 {
                o.remaining -= 1;
                return Reply_::status(202, "").header("Location", format!("{}{path}?{}", seen.base, seen.query));
            }
            let effect = o.effect.clone();
            t.operations.remove(&op);
            t.apply(effect);
            return Reply_::status(200, "");
        }
        match (seen.method.as_str(), path) {
            ("GET", p) if p == format!("{vm}/instanceView") => {
                assert_eq!(version, "2024-07-01");
                Reply_::json(json!({"statuses": [{"code": "ProvisioningState/succeeded"}, {"code": format!("PowerState/{}", t.power)}]}).to_string())
            }
            ("POST", p) if p == format!("{vm}/deallocate") => {
                assert!(seen.body.is_empty());
                t.async_links(&seen.base, Effect::Power("deallocated"), 202)
            }
            ("POST", p) if p == format!("{vm}/powerOff") => {
                assert_eq!(seen.param("skipShutdown").as_deref(), Some("false"));
                let op = t.start(Effect::Power("stopped"));
                // Only a Location to follow.
                Reply_::status(202, "").header(
                    "Location",
                    format!("{}/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/operationResults/{op}?api-version=2024-07-01", seen.base),
                )
            }
            ("POST", p) if p == format!("{vm}/start") => {
                t.async_links(&seen.base, Effect::Power("running"), 202)
            }
            ("GET", p) if p == vm => Reply_::json(
                json!({"id": vm, "location": "westeurope", "properties": {"networkProfile": {"networkInterfaces": [{"id": nic(1), "properties": {"primary": true}}, {"id": nic(2)}]}}})
                    .to_string(),
            ),
            ("GET", p) if t.nics.contains_key(p) => {
                assert_eq!(version, "2024-05-01");
                Reply_::json(t.nic_body(p).to_string())
            }
            ("PUT", p) if t.nics.contains_key(p) => {
                // ARM's PUT replaces the interface: the whole of it must come back.
                assert!(body["properties"]["ipConfigurations"].is_array(), "{body}");
                let new = body["properties"]["networkSecurityGroup"]["id"]
                    .as_str()
                    .map(str::to_string);
                if let Some(id) = &new {
                    if !t.nsgs.contains_key(id) && !id.ends_with("/web-nsg") {
                        return Reply_::status(400, r#"{"error":{"code":"InvalidResourceReference"}}"#);
                    }
                }
                let mut reply_body = body.clone();
                reply_body["properties"]["provisioningState"] = json!("Updating");
                let id = p.to_string();
                t.async_links(&seen.base, Effect::Nic(id, new), 200)
                    .header("content-type", "application/json")
            }
            ("GET", p) if p.contains("/networkSecurityGroups/") => match t.nsgs.get(p) {
                Some(body) => Reply_::json(body.to_string()),
                None => Reply_::status(404, r#"{"error":{"code":"ResourceNotFound"}}"#),
            },
            ("PUT", p) if p.contains("/networkSecurityGroups/") => {
                let mut stored = body.clone();
                stored["id"] = json!(p);
                t.async_links(&seen.base, Effect::Nsg(p.to_string(), stored), 201)
            }
            other => panic!("unexpected request {other:?}"),
        }
    })
    .await
}

fn actions(api: &MockApi, isolation: Isolation) -> AzureActions {
    let credentials = ClientCredentials {
        token_url: Url::parse(&api.url("/tenant-1/oauth2/v2.0/token")).unwrap(),
        client_id: "app-1".into(),
        client_secret: Secret::new("not-a-real-secret"),
        scope: "https://management.azure.com/.default".into(),
    };
    AzureActions {
        api: SaasApi::new(
            &quick_settings(),
            Auth::ClientCredentials {
                credentials,
                cached: None,
            },
            Some(forbidden),
        )
        .unwrap(),
        base: api.base.clone(),
        home: Some((SUB.to_string(), "prod-rg".to_string())),
        isolation,
        operation_timeout: Duration::from_secs(10),
        operation_poll: Duration::from_millis(10),
    }
}

fn named() -> Isolation {
    Isolation::Named("pipectl-isolation".into())
}

/// The requests to ARM itself (not to the token endpoint), as `METHOD path`.
fn calls(api: &MockApi) -> Vec<String> {
    api.seen()
        .iter()
        .filter(|s| !s.path.ends_with("/token"))
        .map(|s| {
            let path = s
                .path
                .replace(RG, "{rg}")
                .replace(&format!("/subscriptions/{SUB}"), "{sub}");
            format!("{} {path}", s.method)
        })
        .collect()
}

fn host(id: &str, version: i64) -> Value {
    incident(id, "host", "web-01", 0.97, version)
}

#[tokio::test]
async fn deallocate_waits_for_the_operation_and_expiry_starts_the_vm_again() {
    let state = estate();
    let api = arm_server(Arc::clone(&state)).await;
    let dir = TempDir::new("azure-deallocate");
    let (mut r, clock) = responder(
        actions(&api, named()),
        &dir,
        policy("deallocate_vm", Mode::Autonomous),
    );
    let docs = r.incident(&host("inc-1", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert_eq!(state.lock().unwrap().power, "deallocated");
    let record = r.records().next().unwrap().clone();
    assert_eq!(record.target.kind, "azure_vm");
    assert_eq!(record.target.id, vm());
    assert_eq!(record.target.name, "web-01");
    assert_eq!(record.target.account.as_deref(), Some(SUB));
    assert_eq!(
        record.revert.state.as_ref().unwrap()["power_state"],
        "running"
    );
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    let docs = r.tick().await.unwrap();
    assert_eq!(statuses(&docs), ["expired", "reverting", "reverted"]);
    assert_eq!(state.lock().unwrap().power, "running");
    let op = "GET {sub}/providers/Microsoft.Compute/locations/westeurope/operations";
    assert_eq!(
        calls(&api),
        [
            "GET {rg}/providers/Microsoft.Compute/virtualMachines/web-01/instanceView".to_string(),
            "POST {rg}/providers/Microsoft.Compute/virtualMachines/web-01/deallocate".to_string(),
            format!("{op}/op-1"),
            format!("{op}/op-1"),
            format!("{op}/op-1"),
            "POST {rg}/providers/Microsoft.Compute/virtualMachines/web-01/start".to_string(),
            format!("{op}/op-2"),
            format!("{op}/op-2"),
            format!("{op}/op-2"),
        ]
    );
}

#[tokio::test]
async fn power_off_follows_the_location_link_after_a_throttled_request() {
    let state = estate();
    state.lock().unwrap().queued.push(
        Reply_::status(429, r#"{"error":{"code":"TooManyRequests"}}"#).header("Retry-After", "1"),
    );
    let api = arm_server(Arc::clone(&state)).await;
    let dir = TempDir::new("azure-poweroff");
    let (mut r, clock) = responder(
        actions(&api, named()),
        &dir,
        policy("power_off_vm", Mode::Autonomous),
    );
    let docs = r.incident(&host("inc-2", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    assert_eq!(state.lock().unwrap().power, "stopped");
    let seen = api.seen();
    let views: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.ends_with("/instanceView"))
        .collect();
    assert_eq!(views.len(), 2);
    assert!(views[1].at.duration_since(views[0].at) >= Duration::from_millis(950));
    let results = seen
        .iter()
        .filter(|s| s.path.contains("/operationResults/"))
        .count();
    assert_eq!(results, 3);
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["expired", "reverting", "reverted"]
    );
    assert_eq!(state.lock().unwrap().power, "running");
}

#[tokio::test]
async fn a_vm_that_was_not_running_is_not_started_by_the_revert() {
    let state = estate();
    state.lock().unwrap().power = "deallocated";
    let api = arm_server(Arc::clone(&state)).await;
    let dir = TempDir::new("azure-was-off");
    let (mut r, clock) = responder(
        actions(&api, named()),
        &dir,
        policy("deallocate_vm", Mode::Autonomous),
    );
    assert_eq!(
        statuses(&r.incident(&host("inc-3", 1)).await.unwrap()),
        ["executing", "succeeded"]
    );
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["expired", "reverting", "reverted"]
    );
    assert_eq!(state.lock().unwrap().power, "deallocated");
    assert!(!calls(&api).iter().any(|c| c.ends_with("/start")));
}

#[tokio::test]
async fn isolation_attaches_a_deny_all_nsg_and_the_revert_restores_each_nic() {
    let state = estate();
    let api = arm_server(Arc::clone(&state)).await;
    let dir = TempDir::new("azure-isolate");
    let (mut r, clock) = responder(
        actions(&api, named()),
        &dir,
        policy("isolate_vm", Mode::Autonomous),
    );
    let docs = r.incident(&host("inc-4", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "succeeded"], "{docs:?}");
    let isolation = nsg("pipectl-isolation");
    {
        let t = state.lock().unwrap();
        assert_eq!(t.nics[&nic(1)].as_deref(), Some(isolation.as_str()));
        assert_eq!(t.nics[&nic(2)].as_deref(), Some(isolation.as_str()));
        let created = &t.nsgs[&isolation];
        assert_eq!(created["location"], "westeurope");
        let rules = created["properties"]["securityRules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        for (rule, direction) in rules.iter().zip(["Inbound", "Outbound"]) {
            let p = &rule["properties"];
            assert_eq!(p["direction"], direction);
            assert_eq!(p["access"], "Deny");
            assert_eq!(p["priority"], 100);
            for k in [
                "protocol",
                "sourceAddressPrefix",
                "sourcePortRange",
                "destinationAddressPrefix",
                "destinationPortRange",
            ] {
                assert_eq!(p[k], "*", "{k}");
            }
        }
    }
    let state_kept = r.records().next().unwrap().revert.state.clone().unwrap();
    assert_eq!(
        state_kept["nics"],
        json!([{"id": nic(1), "nsg": nsg("web-nsg")}, {"id": nic(2), "nsg": null}])
    );
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    assert_eq!(
        statuses(&r.tick().await.unwrap()),
        ["expired", "reverting", "reverted"]
    );
    let t = state.lock().unwrap();
    assert_eq!(t.nics[&nic(1)].as_deref(), Some(nsg("web-nsg").as_str()));
    assert_eq!(t.nics[&nic(2)], None);
    // The shared isolation NSG stays for the next time.
    assert!(t.nsgs.contains_key(&isolation));
}

#[tokio::test]
async fn a_nic_changed_by_someone_since_is_left_alone_by_the_revert() {
    let state = estate();
    let api = arm_server(Arc::clone(&state)).await;
    let dir = TempDir::new("azure-isolate-changed");
    let (mut r, clock) = responder(
        actions(&api, named()),
        &dir,
        policy("isolate_vm", Mode::Autonomous),
    );
    assert_eq!(
        statuses(&r.incident(&host("inc-5", 1)).await.unwrap()),
        ["executing", "succeeded"]
    );
    let theirs = nsg("forensics-nsg");
    state
        .lock()
        .unwrap()
        .nics
        .insert(nic(2), Some(theirs.clone()));
    clock.store(T0 + 4 * HOUR_MS, Ordering::SeqCst);
    let docs = r.tick().await.unwrap();
    assert_eq!(
        statuses(&docs),
        ["expired", "reverting", "revert_failed"],
        "{docs:?}"
    );
    let t = state.lock().unwrap();
    assert_eq!(t.nics[&nic(1)].as_deref(), Some(nsg("web-nsg").as_str()));
    assert_eq!(t.nics[&nic(2)].as_deref(), Some(theirs.as_str()));
}

#[tokio::test]
async fn a_failed_operation_fails_the_action_with_azures_reason() {
    let state = estate();
    state.lock().unwrap().fail_next = true;
    let api = arm_server(Arc::clone(&state)).await;
    let dir = TempDir::new("azure-op-failed");
    let (mut r, _) = responder(
        actions(&api, named()),
        &dir,
        policy("deallocate_vm", Mode::Autonomous),
    );
    let docs = r.incident(&host("inc-6", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "failed"]);
    let error = r.records().next().unwrap().error.clone().unwrap();
    assert_eq!(
        error,
        format!("deallocate VM {}: the operation failed: OperationNotAllowed: The operation is not allowed while the VM is being updated.", vm())
    );
    assert_eq!(state.lock().unwrap().power, "running");
}

#[tokio::test]
async fn a_refusal_fails_at_once_naming_the_permission() {
    let state = estate();
    {
        let mut t = state.lock().unwrap();
        t.queued.push(Reply_::json(
            json!({"statuses": [{"code": "PowerState/running"}]}).to_string(),
        ));
        t.queued.push(Reply_::status(
            403,
            r#"{"error":{"code":"AuthorizationFailed","message":"The client 'app-1' does not have authorization to perform action 'Microsoft.Compute/virtualMachines/deallocate/action'."}}"#,
        ));
    }
    let api = arm_server(Arc::clone(&state)).await;
    let dir = TempDir::new("azure-403");
    let (mut r, _) = responder(
        actions(&api, named()),
        &dir,
        policy("deallocate_vm", Mode::Autonomous),
    );
    let docs = r.incident(&host("inc-7", 1)).await.unwrap();
    assert_eq!(statuses(&docs), ["executing", "failed"]);
    let error = r.records().next().unwrap().error.clone().unwrap();
    assert!(
        error.starts_with(
            "missing permission Microsoft.Compute/virtualMachines/deallocate/action: POST "
        ),
        "{error}"
    );
    assert!(error.contains("HTTP 403"), "{error}");
    assert!(error.contains("Virtual Machine Contributor"), "{error}");
    assert!(!error.contains("not-a-real-secret") && !error.contains("arm-token"));
    assert_eq!(calls(&api).len(), 2, "a refusal is never retried");
    assert_eq!(state.lock().unwrap().power, "running");
}

#[tokio::test]
async fn targets_are_vm_resource_ids() {
    let state = estate();
    let api = arm_server(state).await;
    let a = actions(&api, named());
    let t = a.target("isolate_vm", &host("i", 1), None).unwrap();
    assert_eq!(t.id, vm());
    let t = a
        .target("isolate_vm", &host("i", 1), Some(&vm().to_uppercase()))
        .unwrap();
    assert_eq!(t.name, "WEB-01");
    let user = incident("i", "user", "alice@acme.com", 0.99, 1);
    assert!(a
        .target("isolate_vm", &user, None)
        .unwrap_err()
        .contains("not a host"));
    assert!(a
        .target(
            "isolate_vm",
            &host("i", 1),
            Some("/subscriptions/x/../../evil")
        )
        .unwrap_err()
        .contains("not a VM resource id"));
    let mut homeless = actions(&api, named());
    homeless.home = None;
    assert!(homeless
        .target("isolate_vm", &host("i", 1), None)
        .unwrap_err()
        .contains("no `subscription_id` and `resource_group`"));
}

#[test]
fn every_action_is_documented() {
    assert_documented("azure", ACTIONS);
}

#[test]
fn configuration_is_checked() {
    use crate::testkit::{build, build_error, eq, plan, string};
    use pipectl_dsl::plan::PlanValue;
    let attrs = |action: &str, extra: Vec<(&'static str, PlanValue)>| {
        let mut attrs = vec![
            ("action", string(action)),
            ("when", PlanValue::Expr(eq("entity.kind", "host"))),
            ("tenant_id", string("contoso.onmicrosoft.com")),
            ("client_id", string("app-1")),
            ("client_secret", string("s")),
        ];
        attrs.extend(extra);
        plan(&SPEC, "contain", attrs)
    };
    let dir = TempDir::new("azure-build");
    let ok = attrs(
        "isolate_vm",
        vec![
            ("subscription_id", string(SUB)),
            ("resource_group", string("prod-rg")),
            ("isolation_nsg", string(&nsg("soc-deny-all"))),
            ("cloud", string("gcc_high")),
        ],
    );
    assert!(build(&FACTORY, &ok, dir.path()).is_ok());
    let error = build_error(
        &FACTORY,
        &attrs("deallocate_vm", vec![("subscription_id", string(SUB))]),
    );
    assert!(error.contains("go together"), "{error}");
    let error = build_error(
        &FACTORY,
        &attrs(
            "isolate_vm",
            vec![("isolation_nsg", string("deny all/../x"))],
        ),
    );
    assert!(
        error.contains("neither a name nor a resource id"),
        "{error}"
    );
    let error = build_error(
        &FACTORY,
        &attrs(
            "deallocate_vm",
            vec![("operation_poll_interval", PlanValue::Duration(0))],
        ),
    );
    assert!(error.contains("longer than zero"), "{error}");
    let error = build_error(
        &FACTORY,
        &attrs(
            "deallocate_vm",
            vec![("api_url", string("http://management.example"))],
        ),
    );
    assert!(error.contains("must start with https://"), "{error}");
}
