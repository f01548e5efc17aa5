//! Memory per cached object, measured with a counting global allocator (`stats_alloc`).
//!
//! Creates a realistic mix of objects in a testenv namespace by server-side apply (so they carry
//! managedFields, as objects Argo CD or Tether applied do): ConfigMaps, Secrets, Services,
//! ServiceAccounts and Deployments whose controllers then create ReplicaSets and (kwok-run) Pods,
//! in two batches of the same size.
//! Then it prints two measurements:
//!
//! 1. per representation: the heap bytes that hold each object of the mix, as kube-runtime's
//!    reflector would (a full `DynamicObject`), a stripped `DynamicObject`, the compact JSON
//!    string of the stripped object (the cache's first form), and the cache's `LiveObject`
//!    (managedFields kept, as by default, and stripped): the net bytes allocated by a deep clone
//!    of every object (clones allocate exactly what they hold; allocator bookkeeping and map
//!    slack are not counted) plus the inline size; the `Vec` that holds the clones is allocated
//!    before counting;
//! 2. the whole cache: net heap growth from starting a `ClusterCache` (watching these kinds
//!    cluster-wide) until it is synced, on the cluster before the mix, with one mix, and with a
//!    second mix of the same size; the difference between two runs divided by the objects added
//!    is the cost per object, including the store maps, the app index and the `Arc`s. The
//!    first difference also includes HTTP connection buffers that grow with the size of list
//!    pages (bounded per connection, not per object); the second one is the marginal cost.
//!
//! Run: `cargo bench -p tether-cluster --bench cache_memory` (starts its own control plane).

use std::alloc::System;
use std::time::Duration;

use anyhow::{Context, Result};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tether_cluster::{CacheSettings, ClusterCache, LiveObject, WatchScope};
use tether_model::annotations::TRACKING_ID;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const KINDS: &[(&str, &str)] = &[
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("", "Pod"),
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
];

fn scope() -> WatchScope {
    WatchScope::Kinds(
        KINDS
            .iter()
            .map(|(g, k)| (g.to_string(), k.to_string()))
            .collect(),
    )
}

/// Net bytes still allocated since the region began. stats_alloc already adds a realloc's
/// growth to `bytes_allocated` (and its shrinking to `bytes_deallocated`); `bytes_reallocated`
/// is the same growth again and must not be added (the first version of this bench did, which
/// counted every buffer grown by realloc twice, e.g. list response bodies and JSON writers).
fn net(region: &Region<'_, System>) -> i64 {
    let s = region.change();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

fn tracking(app: &str, group: &str, kind: &str, ns: &str, name: &str) -> Value {
    json!({TRACKING_ID: format!("{app}:{group}/{kind}:{ns}/{name}")})
}

async fn create_mix(client: &kube::Client, ns: &str, batch: &str, scale: usize) -> Result<()> {
    let pp = PatchParams::apply("tether").force();
    let app = "memory-bench";
    let discovery = tether_cluster::ApiResources::discover(client).await?;
    let api = |group: &str, kind: &str| -> Result<Api<DynamicObject>> {
        let info = discovery.preferred(group, kind).context("served")?;
        Ok(Api::namespaced_with(client.clone(), ns, &info.resource))
    };
    let (cms, secrets, services, sas, deploys) = (
        api("", "ConfigMap")?,
        api("", "Secret")?,
        api("", "Service")?,
        api("", "ServiceAccount")?,
        api("apps", "Deployment")?,
    );
    for i in 0..scale * 8 {
        let name = format!("{batch}-config-{i}");
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "shop", "app.kubernetes.io/component": "api"},
                         "annotations": tracking(app, "", "ConfigMap", ns, &name)},
            "data": {"LOG_LEVEL": "info", "FEATURE_FLAGS": "checkout,search,recommendations",
                     "DATABASE_URL": format!("postgres://db-{i}.shop.svc:5432/shop")}});
        cms.patch(&name, &pp, &Patch::Apply(&obj)).await?;
    }
    for i in 0..scale * 4 {
        let name = format!("{batch}-secret-{i}");
        let obj = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "annotations": tracking(app, "", "Secret", ns, &name)},
            "stringData": {"username": format!("user-{i}"), "password": "c2VjcmV0LXBhc3N3b3JkLTEyMzQ1Njc4"}});
        secrets.patch(&name, &pp, &Patch::Apply(&obj)).await?;
    }
    // The testenv's service CIDR is a /24: at most 254 ClusterIPs.
    for i in 0..scale * 2 {
        let name = format!("{batch}-svc-{i}");
        let obj = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "shop"},
                         "annotations": tracking(app, "", "Service", ns, &name)},
            "spec": {"selector": {"app": format!("{batch}-web-{i}")},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
        services.patch(&name, &pp, &Patch::Apply(&obj)).await?;
    }
    for i in 0..scale * 2 {
        let name = format!("{batch}-sa-{i}");
        let obj = json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "annotations": tracking(app, "", "ServiceAccount", ns, &name)}});
        sas.patch(&name, &pp, &Patch::Apply(&obj)).await?;
    }
    for i in 0..scale {
        let name = format!("{batch}-web-{i}");
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "shop"},
                         "annotations": tracking(app, "apps", "Deployment", ns, &name)},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                            "ports": [{"containerPort": 8080}],
                            "env": [{"name": "LOG_LEVEL", "value": "info"}],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                          "limits": {"cpu": "500m", "memory": "128Mi"}},
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}]}}}});
        deploys.patch(&name, &pp, &Patch::Apply(&obj)).await?;
    }
    // Wait for the controllers and kwok: 2 running pods per Deployment.
    let pods = api("", "Pod")?;
    let want = scale;
    for _ in 0..600 {
        let list = pods.list(&ListParams::default()).await?;
        let running = list
            .items
            .iter()
            .filter(|p| {
                p.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(batch))
            })
            .filter(|p| p.data.pointer("/status/phase") == Some(&json!("Running")))
            .count();
        if running >= want {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("pods did not start")
}

/// Net retained heap bytes of the cache right after it synced.
async fn cache_bytes(client: &kube::Client) -> Result<(i64, usize)> {
    let region = Region::new(GLOBAL);
    let cache = ClusterCache::start(
        client.clone(),
        CacheSettings {
            scope: scope(),
            ..CacheSettings::default()
        },
    )
    .await?;
    cache.wait_synced(Duration::from_secs(120)).await?;
    // Let in-flight buffers settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bytes = net(&region);
    let objects = cache.len();
    drop(cache);
    Ok((bytes, objects))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let scale: usize = std::env::var("TETHER_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let ns = tether_testenv::namespace().await;
    let client = ns.client();

    let (bytes0, objects0) = cache_bytes(&client).await?;
    create_mix(&client, ns.name(), "a", scale).await?;
    let (bytes1, objects1) = cache_bytes(&client).await?;
    create_mix(&client, ns.name(), "b", scale).await?;
    let (bytes2, objects2) = cache_bytes(&client).await?;

    // Per representation, over the objects of the mix (listed with managedFields).
    let discovery = tether_cluster::ApiResources::discover(&client).await?;
    println!(
        "| kind | objects | JSON as served (bytes) | DynamicObject, full | DynamicObject, stripped | JSON string, stripped | LiveObject, managedFields kept (default) | LiveObject, stripped | encoded bytes (default) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut totals = [0i64; 7];
    let mut count = 0usize;
    for (group, kind) in KINDS {
        let info = std::sync::Arc::new(
            discovery
                .preferred(group, kind)
                .context("kind")?
                .as_ref()
                .clone(),
        );
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), ns.name(), &info.resource);
        let items = api.list(&ListParams::default()).await?.items;
        let n = items.len();
        if n == 0 {
            continue;
        }
        let served: i64 = items
            .iter()
            .map(|o| {
                serde_json::to_string(o)
                    .map(|s| s.len() as i64)
                    .unwrap_or(0)
            })
            .sum();
        let mut holder_full: Vec<DynamicObject> = Vec::with_capacity(n);
        let mut holder_stripped: Vec<DynamicObject> = Vec::with_capacity(n);
        let mut holder_value: Vec<Box<str>> = Vec::with_capacity(n);
        let mut holder_live: Vec<LiveObject> = Vec::with_capacity(n);
        let inline = |size: usize| (size * n) as i64;

        let r = Region::new(GLOBAL);
        holder_full.extend(items.iter().cloned());
        let full = net(&r) + inline(std::mem::size_of::<DynamicObject>());

        let mut stripped_items = items.clone();
        for o in &mut stripped_items {
            o.metadata.managed_fields = None;
            if let Some(a) = o.metadata.annotations.as_mut() {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        }
        let values: Vec<String> = stripped_items
            .iter()
            .map(|o| serde_json::to_string(o).unwrap_or_default())
            .collect();
        let r = Region::new(GLOBAL);
        holder_stripped.extend(stripped_items.iter().cloned());
        let stripped = net(&r) + inline(std::mem::size_of::<DynamicObject>());

        let r = Region::new(GLOBAL);
        holder_value.extend(values.iter().map(|s| s.clone().into_boxed_str()));
        let value = net(&r) + inline(std::mem::size_of::<Box<str>>());

        let live_bytes = |settings: &CacheSettings, holder: &mut Vec<LiveObject>| {
            let built: Vec<LiveObject> = items
                .iter()
                .cloned()
                .map(|o| LiveObject::from_dynamic(o, &info, settings))
                .collect();
            let encoded: usize = built.iter().map(LiveObject::encoded_len).sum();
            let r = Region::new(GLOBAL);
            holder.extend(built.iter().cloned());
            (
                net(&r) + inline(std::mem::size_of::<LiveObject>()),
                encoded as i64,
            )
        };
        let (live, encoded) = live_bytes(&CacheSettings::default(), &mut holder_live);
        let mut holder_live_stripped: Vec<LiveObject> = Vec::with_capacity(n);
        let (live_stripped, _) = live_bytes(
            &CacheSettings {
                keep_managed_fields: false,
                ..CacheSettings::default()
            },
            &mut holder_live_stripped,
        );
        println!(
            "| {}{kind} | {n} | {} | {} | {} | {} | {} | {} | {} |",
            if group.is_empty() {
                String::new()
            } else {
                format!("{group}/")
            },
            served / n as i64,
            full / n as i64,
            stripped / n as i64,
            value / n as i64,
            live / n as i64,
            live_stripped / n as i64,
            encoded / n as i64,
        );
        for (t, v) in
            totals
                .iter_mut()
                .zip([served, full, stripped, value, live, live_stripped, encoded])
        {
            *t += v;
        }
        count += n;
        drop((
            holder_full,
            holder_stripped,
            holder_value,
            holder_live,
            holder_live_stripped,
        ));
    }
    let c = count as i64;
    println!(
        "| **mix** | {count} | {} | {} | {} | {} | **{}** | {} | {} |",
        totals[0] / c,
        totals[1] / c,
        totals[2] / c,
        totals[3] / c,
        totals[4] / c,
        totals[5] / c,
        totals[6] / c
    );
    let (strings, bytes) = tether_cluster::compact::table_stats();
    println!();
    println!("interned strings (shared by all objects): {strings}, {bytes} bytes of text");
    println!();
    println!(
        "| cache run | objects | retained heap (B) | B per object added since the previous run |"
    );
    println!("|---|---|---|---|");
    println!("| before the mix | {objects0} | {bytes0} | |");
    for (label, (b, n), (pb, pn)) in [
        ("mix a", (bytes1, objects1), (bytes0, objects0)),
        ("mix a + b", (bytes2, objects2), (bytes1, objects1)),
    ] {
        let added = n.saturating_sub(pn).max(1) as i64;
        println!("| {label} | {n} | {b} | {} |", (b - pb) / added);
    }
    Ok(())
}
