//! The control plane behaves like a real cluster: objects round-trip through etcd, and the
//! controller-manager, scheduler and kwok make Deployments available, Jobs complete and
//! namespaces finish terminating.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::wait::{Condition, await_condition, conditions};
use kube::{Api, ResourceExt};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

async fn wait_until<K>(api: &Api<K>, name: &str, what: &str, cond: impl Condition<K>) -> Result<K>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    K::DynamicType: Default,
{
    let found = tokio::time::timeout(TIMEOUT, await_condition(api.clone(), name, cond))
        .await
        .with_context(|| format!("timed out after {TIMEOUT:?} waiting for {name} to {what}"))??;
    found.with_context(|| format!("{name} disappeared while waiting for it to {what}"))
}

/// The Deployment reports `Available=True` with `replicas` ready Pods.
fn is_available(replicas: i32) -> impl Condition<Deployment> {
    move |d: Option<&Deployment>| {
        let Some(status) = d.and_then(|d| d.status.as_ref()) else {
            return false;
        };
        let available = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Available" && c.status == "True");
        available && status.ready_replicas == Some(replicas)
    }
}

#[tokio::test]
async fn config_map_round_trips() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let api = ns.api::<ConfigMap>();
    let data = BTreeMap::from([("greeting".to_string(), "hello from tether".to_string())]);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("greeting".into()),
            ..ObjectMeta::default()
        },
        data: Some(data.clone()),
        ..ConfigMap::default()
    };
    let created = api.create(&PostParams::default(), &cm).await?;
    ensure!(
        created.metadata.uid.is_some(),
        "the API server assigns a uid"
    );

    let read = api.get("greeting").await?;
    assert_eq!(read.data, Some(data));
    assert_eq!(read.namespace().as_deref(), Some(ns.name()));
    assert_eq!(read.uid(), created.uid());
    Ok(())
}

#[tokio::test]
async fn deployment_becomes_available() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let deployments = ns.api::<Deployment>();
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "web" },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [{ "name": "web", "image": "registry.k8s.io/pause:3.10" }] }
            }
        }
    }))?;
    deployments
        .create(&PostParams::default(), &deployment)
        .await?;

    let available = wait_until(&deployments, "web", "become Available", is_available(2)).await?;
    assert_eq!(
        available.status.as_ref().and_then(|s| s.available_replicas),
        Some(2)
    );

    // The controller-manager made a ReplicaSet owned by the Deployment ...
    let replica_sets = ns.api::<ReplicaSet>().list(&ListParams::default()).await?;
    assert_eq!(replica_sets.items.len(), 1);
    let owner = &replica_sets.items[0].owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Deployment", "web")
    );

    // ... whose Pods the scheduler bound to the kwok node, where they run and are Ready.
    let pods = ns
        .api::<Pod>()
        .list(&ListParams::default().labels("app=web"))
        .await?;
    assert_eq!(pods.items.len(), 2);
    for pod in &pods.items {
        let spec = pod.spec.as_ref().context("pod has a spec")?;
        assert_eq!(spec.node_name.as_deref(), Some("kwok-node-0"));
        let status = pod.status.as_ref().context("pod has a status")?;
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ensure!(ready, "pod {} is Ready", pod.name_any());
        ensure!(
            status.pod_ip.is_some(),
            "kwok gives pod {} an IP",
            pod.name_any()
        );
    }
    Ok(())
}

#[tokio::test]
async fn job_completes() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let jobs = ns.api::<Job>();
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": "once" },
        "spec": {
            "completions": 2,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{ "name": "once", "image": "registry.k8s.io/pause:3.10" }]
                }
            }
        }
    }))?;
    jobs.create(&PostParams::default(), &job).await?;
    let done = wait_until(&jobs, "once", "complete", conditions::is_job_completed()).await?;
    let status = done.status.context("a completed job has a status")?;
    assert_eq!(status.succeeded, Some(2));
    assert!(status.completion_time.is_some());

    let pods = ns
        .api::<Pod>()
        .list(&ListParams::default().labels("job-name=once"))
        .await?;
    assert_eq!(pods.items.len(), 2);
    for pod in pods.items {
        assert_eq!(
            pod.status.and_then(|s| s.phase).as_deref(),
            Some("Succeeded")
        );
    }
    Ok(())
}

#[tokio::test]
async fn deleted_namespace_finishes_terminating() -> Result<()> {
    let ns = tether_testenv::namespace().await;
    let namespaces = Api::<Namespace>::all(ns.client());
    // Content the namespace controller has to delete before the namespace can go.
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("content".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    ns.api::<ConfigMap>()
        .create(&PostParams::default(), &cm)
        .await?;
    let uid = namespaces
        .get(ns.name())
        .await?
        .uid()
        .context("the API server assigns a uid")?;

    namespaces
        .delete(ns.name(), &DeleteParams::default())
        .await?;
    let terminating = namespaces.get(ns.name()).await?;
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );

    let gone = await_condition(namespaces.clone(), ns.name(), conditions::is_deleted(&uid));
    tokio::time::timeout(TIMEOUT, gone)
        .await
        .context("namespace did not finish terminating")??;
    assert!(namespaces.get_opt(ns.name()).await?.is_none());
    Ok(())
}
