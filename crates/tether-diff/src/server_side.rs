//! The one call server-side diff needs: a server-side apply of the desired object in dry-run mode
//! (`PATCH ...?dryRun=All&fieldManager=<manager>&force=true`, `application/apply-patch+yaml`), as
//! Argo CD's `ServerSideDiff`. The API server answers with the object as it would be after the apply,
//! defaults and mutating webhooks included; [`crate::server_side_diff`] compares that with live.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use serde_json::Value;

use crate::DiffError;

fn describe(obj: &Value) -> String {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let ns = s("/metadata/namespace");
    format!(
        "{} {}{}{}",
        s("/kind"),
        ns,
        if ns.is_empty() { "" } else { "/" },
        s("/metadata/name")
    )
}

fn err(obj: &Value, message: impl std::fmt::Display) -> DiffError {
    DiffError::ServerSide {
        message: format!("{}: {message}", describe(obj)),
    }
}

/// Dry-runs an SSA of `desired` as `manager`, finding the resource through discovery.
pub async fn dry_run(
    client: &kube::Client,
    desired: &Value,
    manager: &str,
) -> Result<Value, DiffError> {
    let api_version = desired
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| err(desired, "the object has no apiVersion"))?;
    let kind = desired
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| err(desired, "the object has no kind"))?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, caps) = pinned_kind(client, &gvk)
        .await
        .map_err(|e| err(desired, format!("discovery of {api_version} {kind}: {e}")))?;
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Namespaced => {
            let ns = desired
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .ok_or_else(|| err(desired, "a namespaced object needs metadata.namespace"))?;
            Api::namespaced_with(client.clone(), ns, &resource)
        }
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    dry_run_in(&api, desired, manager).await
}

/// Dry-runs an SSA of `desired` as `manager` through an `Api` the caller already resolved.
pub async fn dry_run_in(
    api: &Api<DynamicObject>,
    desired: &Value,
    manager: &str,
) -> Result<Value, DiffError> {
    let name = desired
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| err(desired, "the object has no metadata.name"))?;
    let params = PatchParams::apply(manager).force().dry_run();
    let predicted = api
        .patch(name, &params, &Patch::Apply(desired))
        .await
        .map_err(|e| err(desired, format!("dry-run apply failed: {e}")))?;
    serde_json::to_value(predicted).map_err(|e| err(desired, e))
}
