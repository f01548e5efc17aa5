//! Planning a large sync (pure, no cluster): 5,000 desired objects over 5 waves plus 500 prunes.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use serde_json::{Value, json};
use tether_sync::plan::{PlanSettings, plan};

fn objects() -> (Vec<Value>, Vec<Value>) {
    let kinds = [
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("v1", "Secret"),
        ("example.com/v1", "Widget"),
    ];
    let desired = (0..5000)
        .map(|i| {
            let (api, kind) = kinds[i % kinds.len()];
            json!({"apiVersion": api, "kind": kind, "metadata": {
                "name": format!("obj-{i:05}"),
                "annotations": {"argocd.argoproj.io/sync-wave": ((i / 7) % 5).to_string()},
                "labels": {"app.kubernetes.io/instance": "bench"}},
                "data": {"key": "value"}})
        })
        .collect();
    let live = (0..500)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": format!("old-{i:04}"), "namespace": "dest",
                "annotations": {"argocd.argoproj.io/sync-wave": (i % 5).to_string()}}})
        })
        .collect();
    (desired, live)
}

fn bench(c: &mut Criterion) {
    let (desired, live) = objects();
    let settings = PlanSettings {
        namespace: "dest".into(),
        app_name: "bench".into(),
        ..Default::default()
    };
    c.bench_function("plan 5000 desired + 500 prunes", |b| {
        b.iter(|| {
            let p = plan(black_box(&desired), black_box(&live), &settings, &|_, k| {
                Some(k != "Namespace")
            })
            .expect("plan");
            assert_eq!(p.tasks.len(), 5500);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
