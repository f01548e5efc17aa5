//! Against the testenv's real kube-apiserver: objects applied by `tether` (SSA) compare equal to their
//! desired state despite the API server's defaults; a change by another field manager is detected,
//! attributed to that manager and suppressed by `managedFieldsManagers`; the server-side dry-run diff
//! sees the same; RespectIgnoreDifferences keeps the other manager's value when applied.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use tether_diff::{
    DEFAULT_JQ_TIMEOUT, DiffConfig, Op, ResourceIgnoreDifferences, SystemSettings, diff,
    respect_ignore_differences, server_side, server_side_diff,
};

fn deployment(ns: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web", "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": "1", "memory": "128Mi"}, "requests": {"cpu": "100m"}}
                }]}
            }
        }
    })
}

async fn apply(api: &Api<DynamicObject>, obj: &Value, manager: &str) -> Value {
    let name = obj["metadata"]["name"].as_str().expect("named");
    let out = api
        .patch(
            name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(obj),
        )
        .await
        .expect("applied");
    serde_json::to_value(out).expect("json")
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Value {
    serde_json::to_value(api.get(name).await.expect("readable")).expect("json")
}

fn deployments(ns: &tether_testenv::TestNamespace) -> Api<DynamicObject> {
    let ar = kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "apps",
        "v1",
        "Deployment",
    ));
    Api::namespaced_with(ns.client(), ns.name(), &ar)
}

#[tokio::test]
async fn drift_by_another_manager_is_detected_attributed_and_can_be_ignored() {
    let ns = tether_testenv::namespace().await;
    let api = deployments(&ns);
    let desired = deployment(ns.name(), 2);
    apply(&api, &desired, "tether").await;
    let live = get(&api, "web").await;

    // Right after the apply: the API server's defaults (strategy, dnsPolicy, imagePullPolicy,
    // protocol, ...) and quantity spelling are not drift.
    let cfg = DiffConfig::default();
    let r = diff(Some(&desired), Some(&live), &cfg).expect("diff");
    assert!(!r.modified, "{:#?}", r.changes);

    // Someone scales it by hand, as `kubectl edit` would (a merge patch with its field manager).
    let patch = json!({"spec": {"replicas": 5}});
    api.patch(
        "web",
        &PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        },
        &Patch::Merge(&patch),
    )
    .await
    .expect("patched");
    let live = get(&api, "web").await;
    let r = diff(Some(&desired), Some(&live), &cfg).expect("diff");
    assert!(r.modified);
    let replicas: Vec<_> = r
        .changes
        .iter()
        .filter(|c| c.path == "/spec/replicas")
        .collect();
    assert_eq!(replicas.len(), 1, "{:#?}", r.changes);
    let c = replicas[0];
    assert_eq!(c.op, Op::Replace);
    assert_eq!(
        (c.desired.clone(), c.live.clone()),
        (Some(json!(2)), Some(json!(5)))
    );
    let owner = c.owner.as_ref().expect("attributed");
    assert_eq!(owner.manager, "kubectl-edit");
    assert_eq!(owner.operation, "Update");
    assert!(owner.time.is_some());
    assert_eq!(r.changes.len(), 1, "{:#?}", r.changes);

    // managedFieldsManagers: the hand-scaler is trusted, so nothing differs.
    let trusted = ResourceIgnoreDifferences {
        group: Some("apps".into()),
        kind: "Deployment".into(),
        managed_fields_managers: vec!["kubectl-edit".into()],
        ..Default::default()
    };
    let trusting = DiffConfig::new(
        std::slice::from_ref(&trusted),
        &SystemSettings::default(),
        DEFAULT_JQ_TIMEOUT,
    )
    .expect("valid");
    assert!(
        !diff(Some(&desired), Some(&live), &trusting)
            .expect("diff")
            .modified
    );

    // RespectIgnoreDifferences: what sync applies keeps the trusted manager's value.
    let to_apply =
        respect_ignore_differences(&desired, Some(&live), &trusting.rules).expect("respected");
    assert_eq!(to_apply["spec"]["replicas"], 5);
    let after = apply(&api, &to_apply, "tether").await;
    assert_eq!(after["spec"]["replicas"], 5);
    // A plain apply of desired reverts the drift.
    let after = apply(&api, &desired, "tether").await;
    assert_eq!(after["spec"]["replicas"], 2);
    assert!(
        !diff(Some(&desired), Some(&after), &cfg)
            .expect("diff")
            .modified
    );
}

#[tokio::test]
async fn server_side_diff_uses_the_api_servers_dry_run() {
    let ns = tether_testenv::namespace().await;
    let api = deployments(&ns);
    let client = ns.client();
    let desired = deployment(ns.name(), 2);
    apply(&api, &desired, "tether").await;
    let live = get(&api, "web").await;
    let cfg = DiffConfig::default();

    // Unchanged desired: the prediction equals live.
    let predicted = server_side::dry_run(&client, &desired, "tether")
        .await
        .expect("dry-run");
    let r = server_side_diff(&predicted, &live, &cfg, false).expect("diff");
    assert!(!r.modified, "{:#?}", r.changes);

    // A new image and a new env var: exactly those show, with the API server's defaults for the
    // new container fields taken from live (none) rather than reported.
    let mut changed = desired.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    changed["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "MODE", "value": "fast"}]);
    let predicted = server_side::dry_run(&client, &changed, "tether")
        .await
        .expect("dry-run");
    let r = server_side_diff(&predicted, &live, &cfg, false).expect("diff");
    let summary: Vec<(&str, Op)> = r.changes.iter().map(|c| (c.path.as_str(), c.op)).collect();
    assert_eq!(
        summary,
        [
            ("/spec/template/spec/containers/0/image", Op::Replace),
            ("/spec/template/spec/containers/0/env", Op::Add),
        ]
    );
    // Nothing was changed by the dry-run.
    assert_eq!(
        get(&api, "web").await["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );

    // An invalid object fails the dry-run with the API server's message and the object's name.
    let mut invalid = desired.clone();
    invalid["spec"]["replicas"] = json!(-1);
    let err = server_side::dry_run(&client, &invalid, "tether")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Deployment") && err.contains("web") && err.contains("replicas"),
        "{err}"
    );
}
