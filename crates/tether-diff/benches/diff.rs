#![recursion_limit = "512"]
//! Comparing 10,000 live objects with their desired state (issue 7's target: < 1 s on one core).
//!
//! The mix: 6,000 Deployments (desired as written in Git; live as the API server returns them after an
//! SSA by `tether`: defaults, managedFields of three managers, status) and 4,000 ConfigMaps (ten keys);
//! one object in ten has drifted. `TETHER_BENCH_DUMP=DIR` writes the pairs as `DIR/desired.json` and
//! `DIR/live.json` (arrays) for a reference implementation to time on the same input.

#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::ProcessCpuTime;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;
use tether_diff::{DiffConfig, ResourceIgnoreDifferences, SystemSettings, diff};

fn deployment(i: usize) -> (Value, Value) {
    let name = format!("web-{i}");
    let desired = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "prod", "labels": {"app": name, "team": "payments"},
            "annotations": {"argocd.argoproj.io/tracking-id": format!("shop:apps/Deployment:prod/{name}")}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                "name": "app", "image": format!("registry.example.com/shop/{name}:1.{i}"),
                "args": ["--port=8080", "--log-level=info"],
                "env": [{"name": "MODE", "value": "prod"}, {"name": "REGION", "value": "eu-west-1"}],
                "ports": [{"name": "http", "containerPort": 8080}],
                "resources": {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "256Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}]}}}
    });
    let drift = i.is_multiple_of(10);
    let live = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "prod", "labels": {"app": name, "team": "payments"},
            "annotations": {"argocd.argoproj.io/tracking-id": format!("shop:apps/Deployment:prod/{name}"),
                "deployment.kubernetes.io/revision": "4"},
            "uid": "0b6c1c8e-7d7e-4b40-9a39-1c1f3c0f7a11", "resourceVersion": "918273", "generation": 4,
            "creationTimestamp": "2026-11-20T10:00:00Z",
            "managedFields": [
                {"manager": "tether", "operation": "Apply", "apiVersion": "apps/v1", "time": "2026-11-26T10:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {
                    "f:metadata": {"f:annotations": {"f:argocd.argoproj.io/tracking-id": {}}, "f:labels": {"f:app": {}, "f:team": {}}},
                    "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:args": {}, "f:env": {
                            "k:{\"name\":\"MODE\"}": {".": {}, "f:name": {}, "f:value": {}},
                            "k:{\"name\":\"REGION\"}": {".": {}, "f:name": {}, "f:value": {}}},
                            "f:image": {}, "f:name": {}, "f:ports": {"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}}},
                            "f:readinessProbe": {"f:httpGet": {"f:path": {}, "f:port": {}}},
                            "f:resources": {"f:limits": {"f:cpu": {}, "f:memory": {}}, "f:requests": {"f:cpu": {}, "f:memory": {}}}}}}}}}},
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-26T10:00:05Z",
                 "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {"f:metadata": {"f:annotations": {"f:deployment.kubernetes.io/revision": {}}},
                    "f:status": {"f:availableReplicas": {}, "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}, "f:updatedReplicas": {}}}},
                {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-26T11:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {"f:imagePullPolicy": {}}}}}}}}
            ]},
        "spec": {"replicas": if drift { 5 } else { 3 }, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"creationTimestamp": null, "labels": {"app": name}}, "spec": {
                "containers": [{
                    "name": "app", "image": format!("registry.example.com/shop/{name}:1.{i}"),
                    "args": ["--port=8080", "--log-level=info"],
                    "env": [{"name": "MODE", "value": "prod"}, {"name": "REGION", "value": "eu-west-1"}],
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "256Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "imagePullPolicy": "Always"}],
                "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                "securityContext": {}, "schedulerName": "default-scheduler"}}},
        "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
            "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2026-11-26T10:00:05Z",
                "lastTransitionTime": "2026-11-20T10:00:05Z", "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability."}]}
    });
    (desired, live)
}

fn config_map(i: usize) -> (Value, Value) {
    let name = format!("settings-{i}");
    let data: serde_json::Map<String, Value> = (0..10)
        .map(|k| (format!("key-{k}"), json!(format!("value {k} of {name}"))))
        .collect();
    let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "prod", "labels": {"app": "shop"}}, "data": data});
    let mut live = desired.clone();
    live["metadata"]["uid"] = json!("5d2f9a3e-0f51-4a89-8a0e-1d5b0a3c9e42");
    live["metadata"]["resourceVersion"] = json!("918274");
    live["metadata"]["creationTimestamp"] = json!("2026-11-20T10:00:00Z");
    live["metadata"]["managedFields"] = json!([{"manager": "tether", "operation": "Apply", "apiVersion": "v1",
        "time": "2026-11-26T10:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": (0..10).map(|k| (format!("f:key-{k}"), json!({}))).collect::<serde_json::Map<_, _>>(),
            "f:metadata": {"f:labels": {"f:app": {}}}}}]);
    if i.is_multiple_of(10) {
        live["data"]["key-3"] = json!("changed by hand");
    }
    (desired, live)
}

fn corpus() -> Vec<(Value, Value)> {
    (0..10_000)
        .map(|i| {
            if i % 5 < 3 {
                deployment(i)
            } else {
                config_map(i)
            }
        })
        .collect()
}

fn bench(c: &mut Criterion<ProcessCpuTime>) {
    let pairs = corpus();
    if let Ok(dir) = std::env::var("TETHER_BENCH_DUMP") {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).expect("dump dir");
        let (d, l): (Vec<_>, Vec<_>) = pairs.iter().cloned().unzip();
        std::fs::write(
            dir.join("desired.json"),
            serde_json::to_vec(&d).expect("json"),
        )
        .expect("write");
        std::fs::write(dir.join("live.json"), serde_json::to_vec(&l).expect("json"))
            .expect("write");
    }
    let plain = DiffConfig::default();
    let modified = pairs
        .iter()
        .filter(|(d, l)| diff(Some(d), Some(l), &plain).expect("diff").modified)
        .count();
    assert_eq!(modified, 1_000, "one object in ten has drifted");
    let rules = DiffConfig::new(
        &[
            ResourceIgnoreDifferences {
                group: Some("apps".into()),
                kind: "Deployment".into(),
                json_pointers: vec!["/spec/replicas".into()],
                managed_fields_managers: vec!["kubectl-edit".into()],
                ..Default::default()
            },
            ResourceIgnoreDifferences {
                group: Some(String::new()),
                kind: "ConfigMap".into(),
                json_pointers: vec!["/data/key-3".into()],
                ..Default::default()
            },
        ],
        &SystemSettings::default(),
        tether_diff::DEFAULT_JQ_TIMEOUT,
    )
    .expect("valid");
    let jq = DiffConfig::new(
        &[ResourceIgnoreDifferences {
            group: Some("*".into()),
            kind: "*".into(),
            jq_path_expressions: vec![".metadata.labels.team".into()],
            ..Default::default()
        }],
        &SystemSettings::default(),
        tether_diff::DEFAULT_JQ_TIMEOUT,
    )
    .expect("valid");

    let mut g = c.benchmark_group("compare 10k objects");
    g.sample_size(10);
    g.bench_function("normalise + diff", |b| {
        b.iter(|| {
            for (d, l) in &pairs {
                black_box(diff(Some(d), Some(l), &plain).expect("diff"));
            }
        })
    });
    g.bench_function(
        "normalise + diff, jsonPointers + managedFieldsManagers",
        |b| {
            b.iter(|| {
                for (d, l) in &pairs {
                    black_box(diff(Some(d), Some(l), &rules).expect("diff"));
                }
            })
        },
    );
    g.bench_function(
        "normalise + diff, one jqPathExpression on every object",
        |b| {
            b.iter(|| {
                for (d, l) in &pairs {
                    black_box(diff(Some(d), Some(l), &jq).expect("diff"));
                }
            })
        },
    );
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ProcessCpuTime);
    targets = bench
}
criterion_main!(benches);
