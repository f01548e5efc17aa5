//! Benchmark: a sync of 500 objects in 5 waves against the testenv control plane (each wave: 50
//! ConfigMaps, 25 Secrets, 20 headless Services, 5 Deployments that must become available before the
//! next wave). Prints Tether's wall time and API requests, then the reference: `kubectl apply
//! --server-side` of the same objects, one call per wave, each followed by `kubectl wait` for the
//! wave's Deployments.
//!
//! ```sh
//! eval "$(scripts/oracles env)"   # KUBECTL
//! cargo run --release -p tether-sync --example sync500
//! ```

use std::io::Write;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};
use tether_sync::{CancellationToken, KubeResolver, OperationPhase, SyncEngine, SyncRequest};

fn objects(wave: usize) -> Vec<Value> {
    let ann = json!({"argocd.argoproj.io/sync-wave": wave.to_string()});
    let labels = json!({"wave": wave.to_string()});
    let mut out = Vec::new();
    for i in 0..50 {
        out.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{wave}-{i}"), "annotations": ann, "labels": labels},
            "data": {"config.yaml": format!("wave: {wave}\nindex: {i}\n")}}));
    }
    for i in 0..25 {
        out.push(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("secret-{wave}-{i}"), "annotations": ann, "labels": labels},
            "stringData": {"password": format!("p-{wave}-{i}")}}));
    }
    for i in 0..20 {
        out.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("svc-{wave}-{i}"), "annotations": ann, "labels": labels},
            "spec": {"clusterIP": "None", "selector": {"app": format!("app-{wave}-{i}")},
                     "ports": [{"port": 80}]}}));
    }
    for i in 0..5 {
        let app = format!("app-{wave}-{i}");
        out.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": app, "annotations": ann, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}));
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ns = tether_testenv::namespace().await;
    let kubeconfig = tether_testenv::kubeconfig_path();
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(kubeconfig)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let client = ClientBuilder::try_from(config)?
        .with_layer(&tower::util::MapRequestLayer::new(
            move |r: http::Request<kube::client::Body>| {
                counter.fetch_add(1, Ordering::Relaxed);
                r
            },
        ))
        .build();

    let desired: Vec<Value> = (0..5).flat_map(objects).collect();
    let engine = SyncEngine::new(client.clone(), Arc::new(KubeResolver::new(client)));
    let start = Instant::now();
    let result = engine
        .sync(
            SyncRequest::new("bench", ns.name(), desired, vec![]),
            &CancellationToken::new(),
        )
        .await;
    let took = start.elapsed();
    anyhow::ensure!(
        result.phase == OperationPhase::Succeeded,
        "sync failed: {}",
        result.message
    );
    println!(
        "tether: 500 objects, 5 waves: {:.2} s, {} API requests ({} resource results)",
        took.as_secs_f64(),
        requests.load(Ordering::Relaxed),
        result.resources.len()
    );

    let Ok(kubectl) = std::env::var("KUBECTL") else {
        println!("KUBECTL not set (eval \"$(scripts/oracles env)\"): no reference run");
        return Ok(());
    };
    let reference = tether_testenv::namespace().await;
    let dir = tempfile::tempdir()?;
    let start = Instant::now();
    for wave in 0..5 {
        let file = dir.path().join(format!("wave-{wave}.yaml"));
        let mut f = std::fs::File::create(&file)?;
        for obj in objects(wave) {
            writeln!(f, "---\n{}", serde_yaml::to_string(&obj)?)?;
        }
        let ok = |args: &[&str]| -> anyhow::Result<()> {
            let out = Command::new(&kubectl)
                .args(args)
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .arg("-n")
                .arg(reference.name())
                .output()?;
            anyhow::ensure!(
                out.status.success(),
                "kubectl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(())
        };
        ok(&[
            "apply",
            "--server-side",
            "--field-manager=bench",
            "-f",
            file.to_str().expect("utf-8 path"),
        ])?;
        ok(&[
            "wait",
            "--for=condition=Available",
            "deployment",
            "-l",
            &format!("wave={wave}"),
            "--timeout=300s",
        ])?;
    }
    println!(
        "kubectl apply --server-side + kubectl wait, per wave: {:.2} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
