//! Comparing desired and live Kubernetes objects as Argo CD does, without I/O (the first part of
//! gitops-engine's `pkg/diff`):
//!
//! - [`normalize`] drops what the API server manages (uid, resourceVersion, generation,
//!   creationTimestamp, managedFields, selfLink, `kubectl.kubernetes.io/last-applied-configuration`)
//!   and `status`; folds a Secret's `stringData` into `data`; writes resource quantities in one
//!   canonical form so `1000m` equals `1` and `1Gi` equals `1073741824`.
//! - [`remove_json_pointers`] applies `ignoreDifferences.jsonPointers`.
//! - [`mask_secrets`] replaces Secret values by `+` runs (equal values get equal runs, different
//!   values different ones, as Argo CD's `HideSecretData`), so no diff shows a secret.
//! - [`unified_diff`] writes a unified YAML diff for humans; [`structured_diff`] a list of
//!   [`Change`]s (JSON pointer, op, desired, live) for machines.
//! - [`IgnoreRules`] applies `ignoreDifferences` (Application and argocd-cm [`SystemSettings`]):
//!   group/kind globs, name/namespace, `jsonPointers`, `jqPathExpressions` (jaq, time-limited).
//! - [`CompareOptions`] reads `argocd.argoproj.io/compare-options`.

pub mod compare;
mod glob;
pub mod ignore;
pub mod jq;
pub mod managed;
pub mod options;
mod quantity;
pub mod respect;
pub mod server_side;
pub mod structured;

use base64::Engine;
use serde_json::{Map, Value};

pub use compare::{DiffConfig, DiffResult, TETHER_MANAGER, diff, server_side_diff};
pub use glob::glob_match;
pub use ignore::{IgnoreRules, IgnoreStatus, ResourceCompareOptions, SystemSettings};
pub use jq::DEFAULT_JQ_TIMEOUT;
pub use options::{CompareOptions, affects_app_sync};
pub use quantity::canonical_quantity;
pub use respect::respect_ignore_differences;
pub use structured::{Change, Op, structured_diff};
pub use tether_model::source::ResourceIgnoreDifferences;

/// Why a diff could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// An `ignoreDifferences.jsonPointers` entry is not a JSON pointer.
    #[error("ignoreDifferences.jsonPointers: `{0}` is not a JSON pointer (it must start with `/`)")]
    BadPointer(String),
    /// A `jqPathExpressions` entry does not compile.
    #[error(
        "ignoreDifferences.jqPathExpressions: `{expression}` is not a valid jq path expression: {message}"
    )]
    JqCompile { expression: String, message: String },
    /// A `jqPathExpressions` entry ran longer than its time limit.
    #[error(
        "ignoreDifferences.jqPathExpressions: `{expression}` did not finish within {limit:?}; it is skipped from now on"
    )]
    JqTimeout {
        expression: String,
        limit: std::time::Duration,
    },
    /// The jq evaluation thread could not be started or died (a crash inside jq).
    #[error(
        "ignoreDifferences.jqPathExpressions: evaluating `{expression}` failed: the jq worker thread stopped"
    )]
    JqWorker { expression: String },
    /// A server-side diff could not be made.
    #[error("server-side diff: {message}")]
    ServerSide { message: String },
    /// An argocd-cm diff setting does not parse.
    #[error("argocd-cm `{key}`: {message}")]
    Settings { key: String, message: String },
    /// An object could not be written as YAML.
    #[error("cannot write {what} as YAML: {source}")]
    Yaml {
        what: &'static str,
        source: serde_yaml::Error,
    },
}

const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
];
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Field names whose string values are resource quantities.
pub(crate) const QUANTITY_PARENTS: &[&str] = &[
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "hard",
    "used",
];

/// Normalises an object for comparison (see the crate docs). `keep_status` keeps `status`, as Argo CD
/// does for CRDs configured to compare it.
pub fn normalize(obj: &Value, keep_status: bool) -> Value {
    normalize_inner(obj, keep_status, true)
}

/// [`normalize`], optionally leaving quantities as written ([`diff`] compares them by amount instead,
/// so a diff shows them as the user wrote them).
pub(crate) fn normalize_inner(obj: &Value, keep_status: bool, quantities: bool) -> Value {
    let Some(src) = obj.as_object() else {
        return obj.clone();
    };
    // Copy what is compared only: server metadata (managedFields above all) is never cloned.
    let mut map = Map::with_capacity(src.len());
    for (k, v) in src {
        match (k.as_str(), v) {
            ("status", _) if !keep_status => {}
            ("metadata", Value::Object(meta)) => {
                let mut m = Map::with_capacity(meta.len());
                for (mk, mv) in meta {
                    if SERVER_METADATA.contains(&mk.as_str()) {
                        continue;
                    }
                    if let ("annotations", Value::Object(ann)) = (mk.as_str(), mv) {
                        let kept: Map<String, Value> = ann
                            .iter()
                            .filter(|(ak, _)| *ak != LAST_APPLIED)
                            .map(|(ak, av)| (ak.clone(), av.clone()))
                            .collect();
                        if !kept.is_empty() {
                            m.insert(mk.clone(), Value::Object(kept));
                        }
                        continue;
                    }
                    m.insert(mk.clone(), mv.clone());
                }
                map.insert(k.clone(), Value::Object(m));
            }
            _ => {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    let mut obj = Value::Object(map);
    let is_secret = obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1");
    if is_secret {
        fold_string_data(&mut obj);
    }
    if quantities {
        canonicalize_quantities(&mut obj, false);
    }
    obj
}

fn canonicalize_quantities(v: &mut Value, under_quantity_parent: bool) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if under_quantity_parent {
                    if let Some(q) = child.as_str().and_then(canonical_quantity) {
                        *child = Value::String(q);
                        continue;
                    }
                    if let Some(n) = child
                        .as_f64()
                        .and_then(|n| canonical_quantity(&n.to_string()))
                    {
                        *child = Value::String(n);
                        continue;
                    }
                }
                canonicalize_quantities(child, QUANTITY_PARENTS.contains(&k.as_str()));
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| canonicalize_quantities(i, false)),
        _ => {}
    }
}

/// Removes each JSON pointer's target (RFC 6901), as `ignoreDifferences.jsonPointers`. A pointer to
/// a field that is not there is not an error.
pub fn remove_json_pointers(obj: &mut Value, pointers: &[String]) -> Result<(), DiffError> {
    for p in pointers {
        if p.is_empty() {
            *obj = Value::Null;
            continue;
        }
        if !p.starts_with('/') {
            return Err(DiffError::BadPointer(p.clone()));
        }
        let (parent, last) = p
            .rsplit_once('/')
            .expect("a pointer starting with `/` has a `/`");
        let last = last.replace("~1", "/").replace("~0", "~");
        match obj.pointer_mut(parent) {
            Some(Value::Object(m)) => {
                m.remove(&last);
            }
            Some(Value::Array(a)) => {
                if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < a.len()) {
                    a.remove(i);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn is_secret(v: &Value) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("Secret")
        && v.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Replaces the values of Secrets' `data` (with `stringData` folded in first) in both objects, and in
/// the live object's `kubectl.kubernetes.io/last-applied-configuration`, by runs of `+` as Argo CD's
/// `HideSecretData`: per key, the first value seen (desired, then live, then last-applied) becomes
/// `++++++++`, each further distinct value four `+` longer. Equal values look equal, different values
/// different, and no value is shown. Objects that are not Secrets are left alone.
pub fn mask_secrets(desired: Option<&mut Value>, live: Option<&mut Value>) {
    let desired = desired.filter(|v| is_secret(v));
    let mut live = live.filter(|v| is_secret(v));
    if desired.is_none() && live.is_none() {
        return;
    }
    let la_pointer = format!("/metadata/annotations/{}", LAST_APPLIED.replace('/', "~1"));
    let mut last_applied: Option<Value> = live.as_ref().and_then(|l| {
        l.pointer(&la_pointer)
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str(s).ok())
    });
    {
        let mut objs: Vec<&mut Value> = desired
            .into_iter()
            .chain(live.as_deref_mut())
            .chain(last_applied.as_mut())
            .collect();
        for obj in objs.iter_mut() {
            fold_string_data(obj);
        }
        let mut keys: Vec<String> = Vec::new();
        for obj in &objs {
            for k in obj
                .get("data")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|d| d.keys())
            {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
        for key in &keys {
            let mut seen: Vec<Value> = Vec::new();
            for obj in objs.iter_mut() {
                let Some(v) = obj
                    .get_mut("data")
                    .and_then(Value::as_object_mut)
                    .and_then(|d| d.get_mut(key))
                else {
                    continue;
                };
                if v.is_null() {
                    continue;
                }
                let index = seen.iter().position(|s| s == v).unwrap_or_else(|| {
                    seen.push(v.clone());
                    seen.len() - 1
                });
                *v = Value::String("+".repeat(8 + 4 * index));
            }
        }
    }
    if let Some(live) = live
        && let Some(slot) = live.pointer_mut(&la_pointer)
    {
        // The masked last-applied configuration, or nothing if it didn't parse (it may hold values).
        *slot = Value::String(
            last_applied
                .map(|la| la.to_string())
                .unwrap_or_else(|| "++++++++".to_string()),
        );
    }
}

/// Moves a Secret's `stringData` into `data`, base64-encoded (Argo CD's `NormalizeSecret`).
fn fold_string_data(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(string_data)) = map.remove("stringData") {
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        if !data.is_object() {
            *data = Value::Object(Map::new());
        }
        if let Some(data) = data.as_object_mut() {
            for (k, v) in string_data {
                let v = match v {
                    Value::String(text) => {
                        Value::String(base64::engine::general_purpose::STANDARD.encode(text))
                    }
                    other => other,
                };
                data.insert(k, v);
            }
        }
    }
}

/// A unified diff of two objects as YAML, with Argo CD's `desired`/`live` labels; empty when equal.
/// Pass objects through [`mask_secrets`] first.
pub fn unified_diff(
    name: &str,
    desired: Option<&Value>,
    live: Option<&Value>,
) -> Result<String, DiffError> {
    let to_yaml = |v: Option<&Value>, what| match v {
        None => Ok(String::new()),
        Some(v) => serde_yaml::to_string(v).map_err(|source| DiffError::Yaml { what, source }),
    };
    let (d, l) = (
        to_yaml(desired, "the desired object")?,
        to_yaml(live, "the live object")?,
    );
    if d == l {
        return Ok(String::new());
    }
    Ok(similar::TextDiff::from_lines(&l, &d)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live/{name}"), &format!("desired/{name}"))
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "default", "uid": "3f1c", "resourceVersion": "4711", "generation": 3,
                "creationTimestamp": "2026-11-27T01:00:00Z", "managedFields": [{"manager": "tether"}],
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
            },
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}, "requests": {"cpu": 0.5}}}]}}},
            "status": {"replicas": 2}
        })
    }

    fn desired_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                "resources": {"limits": {"cpu": "1", "memory": "1024Mi"}, "requests": {"cpu": "500m"}}}]}}}
        })
    }

    #[test]
    fn server_metadata_status_and_quantity_spelling_do_not_differ() {
        assert_eq!(
            normalize(&live_deployment(), false),
            normalize(&desired_deployment(), false)
        );
        let mut changed = desired_deployment();
        changed["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] =
            json!("2");
        assert_ne!(
            normalize(&live_deployment(), false),
            normalize(&changed, false)
        );
        assert!(normalize(&live_deployment(), true).get("status").is_some());
    }

    #[test]
    fn secret_string_data_folds_into_data() {
        let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "hunter2"}});
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="}});
        assert_eq!(normalize(&desired, false), normalize(&live, false));
    }

    #[test]
    fn json_pointers_remove_fields_and_reject_bad_pointers() {
        let mut live = normalize(&live_deployment(), false);
        let mut desired = normalize(&desired_deployment(), false);
        live["spec"]["replicas"] = json!(5);
        assert_ne!(live, desired);
        let pointers = vec!["/spec/replicas".to_string(), "/spec/not/there".to_string()];
        remove_json_pointers(&mut live, &pointers).expect("valid pointers");
        remove_json_pointers(&mut desired, &pointers).expect("valid pointers");
        assert_eq!(live, desired);
        let mut obj = json!({"metadata": {"annotations": {"a/b": "x", "c": "y"}}});
        remove_json_pointers(&mut obj, &["/metadata/annotations/a~1b".to_string()]).expect("valid");
        assert_eq!(obj, json!({"metadata": {"annotations": {"c": "y"}}}));
        let err = remove_json_pointers(&mut obj, &["spec".to_string()]).unwrap_err();
        assert!(err.to_string().contains("`spec`"));
    }

    #[test]
    fn secret_values_never_appear_in_a_diff() {
        let mut desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"user": "YWRtaW4=", "password": "bmV3LXBhc3M="}});
        let mut live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"b2xkLXBhc3M=\"}}"}},
            "data": {"user": "YWRtaW4=", "password": "b2xkLXBhc3M="}});
        mask_secrets(Some(&mut desired), Some(&mut live));
        let diff = unified_diff("v1/Secret/db", Some(&desired), Some(&live)).expect("diff");
        for secret in ["YWRtaW4=", "bmV3LXBhc3M=", "b2xkLXBhc3M="] {
            assert!(!diff.contains(secret), "{diff}");
        }
        // The changed key shows as changed, the unchanged one does not.
        assert!(
            diff.contains("-  password: +") && diff.contains("+  password: +"),
            "{diff}"
        );
        assert!(!diff.contains("-  user:"), "{diff}");
        assert_eq!(desired["data"]["user"], live["data"]["user"]);
        assert_ne!(desired["data"]["password"], live["data"]["password"]);
    }

    #[test]
    fn masks_follow_argo_cd_per_key_and_cover_string_data_and_last_applied() {
        let mut desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "stringData": {"password": "new-pass", "token": "t"}});
        let last = json!({"apiVersion": "v1", "kind": "Secret", "data": {"password": "b2xkLXBhc3M=", "old": "eA=="}});
        let mut live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last.to_string()}},
            "data": {"password": "b2xkLXBhc3M=", "token": "dA=="}});
        mask_secrets(Some(&mut desired), Some(&mut live));
        assert!(desired.get("stringData").is_none());
        assert_eq!(desired["data"]["password"], "++++++++");
        assert_eq!(live["data"]["password"], "++++++++++++");
        assert_eq!(desired["data"]["token"], "++++++++");
        assert_eq!(live["data"]["token"], "++++++++");
        let la =
            live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .as_str()
                .expect("kept");
        let la: Value = serde_json::from_str(la).expect("json");
        assert_eq!(
            la["data"],
            json!({"password": "++++++++++++", "old": "++++++++"})
        );
        let all = format!("{desired}{live}");
        for secret in ["new-pass", "bmV3LXBhc3M=", "b2xkLXBhc3M=", "dA==", "eA=="] {
            assert!(!all.contains(secret), "{all}");
        }
        // Not a Secret: untouched.
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}});
        mask_secrets(Some(&mut cm), None);
        assert_eq!(cm["data"]["a"], "b");
    }

    #[test]
    fn unified_diff_is_empty_when_equal_and_labelled_otherwise() {
        let d = normalize(&desired_deployment(), false);
        assert_eq!(
            unified_diff("apps/Deployment/default/web", Some(&d), Some(&d)).expect("diff"),
            ""
        );
        let mut l = d.clone();
        l["spec"]["replicas"] = json!(5);
        let diff = unified_diff("apps/Deployment/default/web", Some(&d), Some(&l)).expect("diff");
        assert!(
            diff.starts_with(
                "--- live/apps/Deployment/default/web\n+++ desired/apps/Deployment/default/web\n"
            ),
            "{diff}"
        );
        assert!(
            diff.contains("-  replicas: 5\n") && diff.contains("+  replicas: 2\n"),
            "{diff}"
        );
        let missing = unified_diff("x", Some(&d), None).expect("diff");
        assert!(missing.contains("+kind: Deployment"), "{missing}");
    }
}
