//! Comparing 10,000 live objects with their desired state: `compare_objects` (the comparison
//! without cluster access: diff, status, health) over a mix of Deployments, Services and
//! ConfigMaps whose live versions carry what the API server adds (defaults, status, metadata,
//! managedFields as the cache keeps them), stored as the cache stores them (`LiveObject`).
//! Measured in process CPU time (see tether-diff's `benches/support/cpu_time.rs`).
//! 1 % of them drifted. Run: `cargo bench -p tether-cluster --bench compare`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

// One copy for both crates' benches: tether-diff's.
#[path = "../../tether-diff/benches/support/cpu_time.rs"]
mod cpu_time;
use cpu_time::ProcessCpuTime;

use criterion::{Criterion, criterion_group, criterion_main};
use kube::api::DynamicObject;
use kube::discovery::ApiResource;
use serde_json::{Value, json};
use tether_cluster::{
    CacheSettings, CompareTarget, LiveObject, ResourceInfo, Tracking, compare_objects,
};
use tether_health::{HealthChecker, LuaOverrides};
use tether_model::resource::ResourceKey;

fn info(group: &str, version: &str, kind: &str, plural: &str) -> Arc<ResourceInfo> {
    let api_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Arc::new(ResourceInfo {
        resource: ApiResource {
            group: group.into(),
            version: version.into(),
            api_version,
            kind: kind.into(),
            plural: plural.into(),
        },
        namespaced: true,
        verbs: vec!["list".into(), "watch".into()],
        subresources: Vec::new(),
        preferred: true,
    })
}

fn desired(i: usize) -> Value {
    let name = format!("obj-{i}");
    match i % 4 {
        0 => json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                        "ports": [{"containerPort": 8080}],
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                      "limits": {"cpu": "500m", "memory": "128Mi"}}}]}}}}),
        1 => json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
        _ => json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "shop"},
            "data": {"LOG_LEVEL": "info", "URL": format!("https://{name}.example.com")}}),
    }
}

/// The `fieldsV1` set an apply of `v` gives its manager (lists of named objects by key).
fn fields_v1(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind"))
                .map(|(k, v)| (format!("f:{k}"), fields_v1(v)))
                .collect(),
        ),
        Value::Array(items) if items.iter().all(|i| i.get("name").is_some()) => Value::Object(
            items
                .iter()
                .map(|i| {
                    let mut set = fields_v1(i);
                    set[".".to_owned()] = json!({});
                    (format!("k:{}", json!({"name": i["name"]})), set)
                })
                .collect(),
        ),
        _ => json!({}),
    }
}

/// What the API server would hold after applying `d` (with the managedFields of the apply,
/// and of the controller-manager's status updates for Deployments).
fn live(d: &Value, i: usize) -> Value {
    let mut l = d.clone();
    let mut managed = vec![json!({"manager": "tether", "operation": "Apply",
        "apiVersion": d["apiVersion"], "time": "2026-11-27T03:00:00Z",
        "fieldsType": "FieldsV1", "fieldsV1": fields_v1(d)})];
    if d["kind"] == "Deployment" {
        managed.push(json!({"manager": "kube-controller-manager", "operation": "Update",
            "apiVersion": "apps/v1", "time": "2026-11-27T03:00:05Z", "fieldsType": "FieldsV1",
            "subresource": "status", "fieldsV1": {
                "f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}},
                "f:status": {"f:availableReplicas": {}, "f:conditions": {".": {},
                    "k:{\"type\":\"Available\"}": {".": {}, "f:status": {}, "f:type": {}},
                    "k:{\"type\":\"Progressing\"}": {".": {}, "f:reason": {}, "f:status": {}, "f:type": {}}},
                    "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}, "f:updatedReplicas": {}}}}));
    }
    let meta = l["metadata"].as_object_mut().expect("metadata");
    meta.insert("managedFields".into(), Value::Array(managed));
    meta.insert("uid".into(), json!(format!("0000-{i}")));
    meta.insert("resourceVersion".into(), json!(format!("{}", 1000 + i)));
    meta.insert("creationTimestamp".into(), json!("2026-11-27T03:00:00Z"));
    match d["kind"].as_str() {
        Some("Deployment") => {
            meta.insert("generation".into(), json!(1));
            let spec = &mut l["spec"];
            spec["progressDeadlineSeconds"] = json!(600);
            spec["revisionHistoryLimit"] = json!(10);
            spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
            let pod = &mut spec["template"]["spec"];
            pod["restartPolicy"] = json!("Always");
            pod["dnsPolicy"] = json!("ClusterFirst");
            pod["schedulerName"] = json!("default-scheduler");
            pod["terminationGracePeriodSeconds"] = json!(30);
            let c = &mut pod["containers"][0];
            c["imagePullPolicy"] = json!("IfNotPresent");
            c["terminationMessagePath"] = json!("/dev/termination-log");
            c["ports"][0]["protocol"] = json!("TCP");
            c["resources"]["limits"]["cpu"] = json!("0.5");
            l["status"] = json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                "readyReplicas": 2, "availableReplicas": 2,
                "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]});
        }
        Some("Service") => {
            let spec = &mut l["spec"];
            spec["clusterIP"] = json!("10.0.0.10");
            spec["type"] = json!("ClusterIP");
            spec["sessionAffinity"] = json!("None");
            spec["ports"][0]["protocol"] = json!("TCP");
        }
        _ => {}
    }
    if d["kind"] == "Deployment" {
        l["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("1");
    }
    if i % 100 == 7 {
        l["metadata"]["labels"] = json!({"drifted": "yes"});
        if let Some(data) = l.get_mut("data") {
            data["LOG_LEVEL"] = json!("debug");
        }
    }
    l
}

fn bench(c: &mut Criterion<ProcessCpuTime>) {
    let infos = [
        info("apps", "v1", "Deployment", "deployments"),
        info("", "v1", "Service", "services"),
        info("", "v1", "ConfigMap", "configmaps"),
    ];
    let settings = CacheSettings::default();
    let target = CompareTarget::new("shop", "shop");
    let tracking = Tracking::default();
    let mut by_key = BTreeMap::new();
    let mut lives = HashMap::new();
    for i in 0..10_000 {
        let mut d = desired(i);
        tracking.set_app_instance(&mut d, "shop", "shop");
        let l = live(&d, i);
        let key = ResourceKey::from_object(&d).expect("key");
        let info = &infos[match i % 4 {
            0 => 0,
            1 => 1,
            _ => 2,
        }];
        let obj: DynamicObject = serde_json::from_value(l).expect("object");
        lives.insert(
            key.clone(),
            Arc::new(LiveObject::from_dynamic(obj, info, &settings)),
        );
        by_key.insert(key, d);
    }
    let health = HealthChecker::new(LuaOverrides::new());
    let check = compare_objects(by_key.clone(), lives.clone(), &target, &health).expect("compare");
    let drifted = check.resources.iter().filter(|r| r.diff.modified).count();
    assert_eq!(
        drifted, 100,
        "1 % drifted, the rest equal after normalisation"
    );
    let mut group = c.benchmark_group("compare");
    group.sample_size(10);
    group.bench_function("10k objects", |b| {
        b.iter_batched(
            || (by_key.clone(), lives.clone()),
            |(d, l)| compare_objects(d, l, &target, &health).expect("compare"),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ProcessCpuTime);
    targets = bench
}
criterion_main!(benches);
