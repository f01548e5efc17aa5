//! Comparing one desired object with its live counterpart, as gitops-engine's `diff.Diff`.
//!
//! Both sides are normalised ([`crate::normalize`] keeping `status`; Roles with empty `rules`, and
//! aggregated ClusterRoles when `ignoreAggregatedRoles`), then `managedFieldsManagers` and the other
//! `ignoreDifferences` rules are applied. The *predicted live* object is live with desired merged in,
//! so what the API server defaulted or others added is not drift (Argo CD's two-way diff):
//!
//! - objects merge key by key; a key only live has stays, unless Tether's field manager owned it
//!   (it was applied before and is no longer desired: SSA removes it, so it shows as a removal);
//! - lists of objects that all have a `name` merge item by name (live-only items stay unless Tether
//!   owned them); other lists are atomic: desired's items, each merged with live's item at that index;
//! - scalars: desired wins, except equal amounts (`1000m`/`1`, `2`/`2.0`) keep live's spelling.
//!
//! The result says whether they differ, and carries both objects and the [`Change`]s with Secret
//! values masked and each change attributed to the live field's manager.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::ignore::{IgnoreRules, SystemSettings};
use crate::managed::{self, FieldOwner};
use crate::structured::{Change, structured_diff};
use crate::{
    DiffError, QUANTITY_PARENTS, ResourceIgnoreDifferences, canonical_quantity, mask_secrets,
    normalize_inner, unified_diff,
};

/// The field manager Tether applies with.
pub const TETHER_MANAGER: &str = "tether";

/// How to compare: the rules and options of one application.
#[derive(Clone, Debug)]
pub struct DiffConfig {
    /// Application and system `ignoreDifferences`.
    pub rules: IgnoreRules,
    /// argocd-cm `resource.compareoptions.ignoreAggregatedRoles`.
    pub ignore_aggregated_roles: bool,
    /// The field manager whose previously applied fields count as desired (SSA semantics).
    pub manager: String,
}

impl Default for DiffConfig {
    fn default() -> Self {
        Self {
            rules: IgnoreRules::default(),
            ignore_aggregated_roles: false,
            manager: TETHER_MANAGER.to_string(),
        }
    }
}

impl DiffConfig {
    /// The configuration for an application's `spec.ignoreDifferences` and argocd-cm's settings.
    pub fn new(
        app_rules: &[ResourceIgnoreDifferences],
        system: &SystemSettings,
        jq_timeout: Duration,
    ) -> Result<Self, DiffError> {
        Ok(Self {
            rules: IgnoreRules::new(app_rules, system, jq_timeout)?,
            ignore_aggregated_roles: system.compare.ignore_aggregated_roles,
            manager: TETHER_MANAGER.to_string(),
        })
    }
}

/// The outcome of comparing one resource.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffResult {
    /// Whether live differs from desired (false for a live-only object, as in Argo CD: whether it
    /// must be pruned is the caller's business).
    pub modified: bool,
    /// Live after normalisation and ignore rules (Secret values masked).
    pub normalized_live: Option<Value>,
    /// What live should become (Secret values masked); `None` when nothing is desired.
    pub predicted_live: Option<Value>,
    /// The differences, attributed to live field managers.
    pub changes: Vec<Change>,
}

impl DiffResult {
    /// The unified YAML diff (`live/<name>` → `desired/<name>`), empty when equal.
    pub fn unified(&self, name: &str) -> Result<String, DiffError> {
        unified_diff(
            name,
            self.predicted_live.as_ref(),
            self.normalized_live.as_ref(),
        )
    }
}

/// Normalisation shared by the client-side and server-side diffs.
fn prepare(obj: &Value, cfg: &DiffConfig) -> Value {
    let mut v = normalize_inner(obj, true, false);
    normalize_role(&mut v, cfg.ignore_aggregated_roles);
    v
}

/// Argo CD's `normalizeRole`: empty `rules` compare as absent; so do an aggregated role's rules.
fn normalize_role(obj: &mut Value, ignore_aggregated: bool) {
    let is_role = crate::ignore::group_of(obj) == "rbac.authorization.k8s.io"
        && matches!(
            obj.get("kind").and_then(Value::as_str),
            Some("Role" | "ClusterRole")
        );
    let Some(map) = obj.as_object_mut().filter(|_| is_role) else {
        return;
    };
    if ignore_aggregated && map.get("aggregationRule").is_some_and(Value::is_object) {
        map.remove("rules");
    }
    if map
        .get("rules")
        .is_some_and(|r| r.as_array().is_some_and(Vec::is_empty) || r.is_null())
    {
        map.remove("rules");
    }
}

/// Applies managedFieldsManagers and ignore rules to both sides.
fn ignore(
    cfg: &DiffConfig,
    raw_live: Option<&Value>,
    desired: &mut Option<Value>,
    live: &mut Option<Value>,
) -> Result<(), DiffError> {
    let desired_copy;
    let rule_of: &Value = match (raw_live, desired.as_ref()) {
        (Some(l), _) => l,
        (None, Some(d)) => {
            desired_copy = d.clone();
            &desired_copy
        }
        (None, None) => return Ok(()),
    };
    if let (Some(raw), Some(d), Some(l)) = (raw_live, desired.as_mut(), live.as_mut()) {
        let managers = cfg.rules.managers(raw);
        managed::remove_managed_by(raw, &managers, d, l);
    }
    for side in [desired.as_mut(), live.as_mut()].into_iter().flatten() {
        cfg.rules.apply(side, rule_of)?;
    }
    Ok(())
}

/// Masks, diffs and attributes.
fn finish(
    modified: bool,
    mut predicted: Option<Value>,
    mut live: Option<Value>,
    raw_live: Option<&Value>,
) -> DiffResult {
    mask_secrets(predicted.as_mut(), live.as_mut());
    // Equal objects have no changes: skip the walk.
    let mut changes = if predicted.is_none() || !modified {
        Vec::new()
    } else {
        structured_diff(predicted.as_ref(), live.as_ref())
    };
    if let (Some(raw), Some(l), false) = (raw_live, live.as_ref(), changes.is_empty()) {
        let owned = managed::owned_fields(raw, l, None);
        let owners = managed::owners(raw);
        for c in &mut changes {
            if c.live.is_some() {
                c.owner = managed::attribute_in(&owned, &owners, &c.path);
            }
        }
    }
    DiffResult {
        modified,
        normalized_live: live,
        predicted_live: predicted,
        changes,
    }
}

/// Compares desired with live (either may be missing). See the module docs.
pub fn diff(
    desired: Option<&Value>,
    live: Option<&Value>,
    cfg: &DiffConfig,
) -> Result<DiffResult, DiffError> {
    let mut d = desired.map(|v| prepare(v, cfg));
    let mut l = live.map(|v| prepare(v, cfg));
    ignore(cfg, live, &mut d, &mut l)?;
    Ok(match (d, l) {
        (None, None) => finish(false, None, None, None),
        (Some(d), None) => finish(true, Some(d), None, None),
        (None, Some(l)) => finish(false, None, Some(l), live),
        (Some(d), Some(l)) => {
            // The field sets of our manager's entries: what we applied before.
            let ours: Vec<&Map<String, Value>> = live
                .map(|raw| managed_sets(raw, &cfg.manager))
                .unwrap_or_default();
            // Most objects are in sync: check that without building the merged object (whose
            // map inserts hash every key), and then predicted live is live itself.
            let (predicted, modified) = if merges_to_live(&d, &l, &ours, false) {
                (l.clone(), false)
            } else {
                let predicted = merge(&d, &l, &ours, false);
                let modified = predicted != l;
                (predicted, modified)
            };
            finish(modified, Some(predicted), Some(l), live)
        }
    })
}

/// The `fieldsV1` sets of `manager`'s `managedFields` entries.
fn managed_sets<'a>(raw: &'a Value, manager: &str) -> Vec<&'a Map<String, Value>> {
    raw.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("manager").and_then(Value::as_str) == Some(manager))
        .filter(|e| {
            e.get("fieldsType")
                .and_then(Value::as_str)
                .unwrap_or("FieldsV1")
                == "FieldsV1"
        })
        .filter_map(|e| e.get("fieldsV1").and_then(Value::as_object))
        .collect()
}

/// Server-side diff: `predicted_live` is the API server's answer to an SSA dry-run of desired (see
/// [`crate::server_side::dry_run`]). Unless `include_mutation_webhook`, only the fields Tether's
/// manager owns in the prediction are taken from it and everything else from live, so what mutating
/// webhooks (or defaulting) would change is not drift, as Argo CD's `removeWebhookMutation`. Then both
/// are normalised and ignored fields removed as in [`diff`], and compared whole.
pub fn server_side_diff(
    predicted_live: &Value,
    live: &Value,
    cfg: &DiffConfig,
    include_mutation_webhook: bool,
) -> Result<DiffResult, DiffError> {
    let predicted = if include_mutation_webhook {
        predicted_live.clone()
    } else {
        remove_webhook_mutation(predicted_live, live, &cfg.manager)?
    };
    let mut p = Some(prepare(&predicted, cfg));
    let mut l = Some(prepare(live, cfg));
    ignore(cfg, Some(live), &mut p, &mut l)?;
    let modified = p != l;
    Ok(finish(modified, p, l, Some(live)))
}

/// Live, with the fields `manager` owns in the prediction taken from the prediction, and the fields it
/// owned in live but no longer owns removed.
fn remove_webhook_mutation(
    predicted: &Value,
    live: &Value,
    manager: &str,
) -> Result<Value, DiffError> {
    let only = [manager.to_string()];
    let in_predicted = managed::owned_fields(predicted, predicted, Some(&only));
    if in_predicted.is_empty() {
        return Err(DiffError::ServerSide {
            message: format!("the dry-run result has no managedFields for manager `{manager}`"),
        });
    }
    let mut result = live.clone();
    // Fields we owned in live that the prediction no longer has at all: SSA removed them.
    let mut gone: Vec<Vec<crate::jq::Step>> = managed::owned_fields(live, live, Some(&only))
        .into_iter()
        .filter(|f| managed::resolve(predicted, &f.path).is_none())
        .filter_map(|f| f.steps)
        .collect();
    gone.sort();
    gone.dedup();
    for steps in gone.iter().rev() {
        managed::remove(&mut result, steps);
    }
    for f in in_predicted {
        let Some(steps) = f.steps else {
            continue;
        };
        let Some(value) = managed::get(predicted, &steps) else {
            continue;
        };
        // A node owned with `.` (a list item, a map) only needs to exist: its fields come one by one.
        let is_container = value.is_object() || value.is_array();
        let target = managed::resolve_or_create(&mut result, &f.path);
        let slot_is_empty = managed::get(&result, &target).is_none_or(Value::is_null);
        if !is_container || slot_is_empty {
            managed::set(&mut result, &target, value.clone());
        }
    }
    Ok(result)
}

/// Whether `key` (the field name holding `d`/`l`) makes them quantities of equal amount, or numbers
/// of equal value.
fn same_amount(parent_key: &str, d: &Value, l: &Value) -> bool {
    if let (Some(a), Some(b)) = (d.as_f64(), l.as_f64())
        && d.is_number()
        && l.is_number()
    {
        return a == b;
    }
    if !QUANTITY_PARENTS.contains(&parent_key) {
        return false;
    }
    let q = |v: &Value| match v {
        Value::String(s) => canonical_quantity(s),
        Value::Number(n) => canonical_quantity(&n.to_string()),
        _ => None,
    };
    q(d).is_some() && q(d) == q(l)
}

/// Whether a field-set node is owned itself (a leaf, or marked with `.`), not only things below it.
fn owns_node(node: &Map<String, Value>) -> bool {
    node.is_empty() || node.contains_key(".")
}

/// The field-set nodes of the field `key` below `sets`.
fn field_sets<'a>(sets: &[&'a Map<String, Value>], key: &str) -> Vec<&'a Map<String, Value>> {
    if sets.is_empty() {
        return Vec::new();
    }
    let f = format!("f:{key}");
    sets.iter()
        .filter_map(|s| s.get(&f).and_then(Value::as_object))
        .collect()
}

/// The field-set nodes of the list item `item` at `index` below `sets` (`k:` by its key fields,
/// `v:` by value, `i:` by index).
fn item_sets<'a>(
    sets: &[&'a Map<String, Value>],
    item: &Value,
    index: usize,
) -> Vec<&'a Map<String, Value>> {
    let mut out = Vec::new();
    for s in sets {
        for (k, child) in s.iter() {
            let Some(child) = child.as_object() else {
                continue;
            };
            let hit = match managed::parse_element(k) {
                Some(managed::PathElement::Key(keys)) => keys.iter().all(|(k, v)| {
                    item.get(k).is_some_and(|iv| {
                        iv == v || iv.as_f64().is_some_and(|x| Some(x) == v.as_f64())
                    })
                }),
                Some(managed::PathElement::Value(v)) => &v == item,
                Some(managed::PathElement::Index(i)) => i == index,
                _ => false,
            };
            if hit {
                out.push(child);
            }
        }
    }
    out
}

/// `desired` merged into `live`; `ours` are the field-set nodes of Tether's manager at this
/// position (a live-only field or item they own was applied before and is no longer desired:
/// SSA removes it).
fn merge(d: &Value, l: &Value, ours: &[&Map<String, Value>], in_quantities: bool) -> Value {
    match (d, l) {
        (Value::Object(dm), Value::Object(lm)) => {
            let mut out = Map::with_capacity(lm.len() + dm.len());
            for (k, lv) in lm {
                match dm.get(k) {
                    Some(dv) => {
                        // Scalars are quantities when this map is `limits`, `requests`, ...
                        let q = if dv.is_object() {
                            QUANTITY_PARENTS.contains(&k.as_str())
                        } else {
                            in_quantities
                        };
                        let below = field_sets(ours, k);
                        out.insert(k.clone(), merge(dv, lv, &below, q));
                    }
                    None if field_sets(ours, k).into_iter().any(owns_node) => {}
                    None => {
                        out.insert(k.clone(), lv.clone());
                    }
                }
            }
            for (k, dv) in dm.iter().filter(|(k, _)| !lm.contains_key(*k)) {
                out.insert(k.clone(), dv.clone());
            }
            Value::Object(out)
        }
        (Value::Array(da), Value::Array(la)) => {
            fn name(v: &Value) -> Option<&str> {
                v.get("name").and_then(Value::as_str)
            }
            let associative = !da.is_empty() && da.iter().chain(la).all(|v| name(v).is_some());
            let mut out = Vec::with_capacity(da.len());
            if associative {
                for dv in da {
                    let n = name(dv);
                    match la.iter().position(|lv| name(lv) == n) {
                        Some(i) => {
                            let below = item_sets(ours, &la[i], i);
                            out.push(merge(dv, &la[i], &below, false));
                        }
                        None => out.push(dv.clone()),
                    }
                }
                for (i, lv) in la.iter().enumerate() {
                    if da.iter().any(|dv| name(dv) == name(lv)) {
                        continue;
                    }
                    if !item_sets(ours, lv, i).into_iter().any(owns_node) {
                        out.push(lv.clone());
                    }
                }
            } else {
                for (i, dv) in da.iter().enumerate() {
                    match la.get(i) {
                        Some(lv) => {
                            let below = item_sets(ours, lv, i);
                            out.push(merge(dv, lv, &below, false));
                        }
                        None => out.push(dv.clone()),
                    }
                }
            }
            Value::Array(out)
        }
        (d, l) if d == l => l.clone(),
        (d, l) => {
            let key = if in_quantities { "limits" } else { "" };
            if same_amount(key, d, l) {
                l.clone()
            } else {
                d.clone()
            }
        }
    }
}

/// Whether [`merge`]`(d, l, ours, in_quantities)` equals `l`, without building it. May answer
/// `false` for some equal results (then the caller merges and compares), never `true` for a
/// different one.
fn merges_to_live(d: &Value, l: &Value, ours: &[&Map<String, Value>], in_quantities: bool) -> bool {
    match (d, l) {
        (Value::Object(dm), Value::Object(lm)) => {
            if dm.keys().any(|k| !lm.contains_key(k)) {
                return false;
            }
            lm.iter().all(|(k, lv)| match dm.get(k) {
                Some(dv) => {
                    let q = if dv.is_object() {
                        QUANTITY_PARENTS.contains(&k.as_str())
                    } else {
                        in_quantities
                    };
                    merges_to_live(dv, lv, &field_sets(ours, k), q)
                }
                None => !field_sets(ours, k).into_iter().any(owns_node),
            })
        }
        (Value::Array(da), Value::Array(la)) => {
            fn name(v: &Value) -> Option<&str> {
                v.get("name").and_then(Value::as_str)
            }
            let associative = !da.is_empty() && da.iter().chain(la).all(|v| name(v).is_some());
            if !associative {
                return da.len() == la.len()
                    && da.iter().zip(la).enumerate().all(|(i, (dv, lv))| {
                        merges_to_live(dv, lv, &item_sets(ours, lv, i), false)
                    });
            }
            // Equal only when desired names live's items in live's order and every live item
            // is desired (a live-only item either stays after the desired ones or is removed).
            da.len() == la.len()
                && da.iter().zip(la).enumerate().all(|(i, (dv, lv))| {
                    name(dv) == name(lv)
                        && la.iter().position(|x| name(x) == name(dv)) == Some(i)
                        && merges_to_live(dv, lv, &item_sets(ours, lv, i), false)
                })
        }
        (d, l) if d == l => true,
        (d, l) => same_amount(if in_quantities { "limits" } else { "" }, d, l),
    }
}

/// The owner of a live field, for callers that hold a pointer from elsewhere.
pub fn owner_of(raw_live: &Value, pointer: &str) -> Option<FieldOwner> {
    managed::attribute(raw_live, raw_live, pointer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structured::Op;
    use serde_json::json;

    fn desired() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                     "resources": {"limits": {"cpu": "1", "memory": "1024Mi"}}}]}}}})
    }

    /// What the API server returns after an SSA by `tether` plus defaults, plus an HPA-like change
    /// by another manager.
    fn live() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}, "uid": "u", "resourceVersion": "9",
                "generation": 2, "creationTimestamp": "2026-11-27T01:00:00Z",
                "annotations": {"deployment.kubernetes.io/revision": "1"},
                "managedFields": [
                    {"manager": "tether", "operation": "Apply", "time": "2026-11-27T01:00:00Z", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}, "f:old": {}}}, "f:spec": {"f:selector": {}, "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                            ".": {}, "f:name": {}, "f:image": {}, "f:ports": {}, "f:resources": {"f:limits": {"f:cpu": {}, "f:memory": {}}}}}}}}}},
                    {"manager": "kubectl-edit", "operation": "Update", "time": "2026-11-27T02:00:00Z", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 5, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                     "ports": [{"containerPort": 80, "protocol": "TCP"}], "terminationMessagePath": "/dev/termination-log",
                     "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}}}],
                    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}}},
            "status": {"replicas": 5, "observedGeneration": 2}})
    }

    #[test]
    fn defaults_and_spelling_are_not_drift_but_a_changed_field_is_and_names_its_manager() {
        let r = diff(Some(&desired()), Some(&live()), &DiffConfig::default()).expect("diff");
        assert!(r.modified);
        assert_eq!(r.changes.len(), 1, "{:#?}", r.changes);
        let c = &r.changes[0];
        assert_eq!((c.path.as_str(), c.op), ("/spec/replicas", Op::Replace));
        assert_eq!(
            (c.desired.clone(), c.live.clone()),
            (Some(json!(2)), Some(json!(5)))
        );
        let owner = c.owner.as_ref().expect("attributed");
        assert_eq!(
            (owner.manager.as_str(), owner.operation.as_str()),
            ("kubectl-edit", "Update")
        );
        let text = r.unified("apps/Deployment/prod/web").expect("yaml");
        assert!(text.contains("-  replicas: 5\n+  replicas: 2\n"), "{text}");
        assert!(!text.contains("1000000000n"), "{text}");
        // Back in line: no drift.
        let mut fixed = live();
        fixed["spec"]["replicas"] = json!(2);
        let r = diff(Some(&desired()), Some(&fixed), &DiffConfig::default()).expect("diff");
        assert!(!r.modified, "{:#?}", r.changes);
    }

    #[test]
    fn fields_tether_applied_before_and_no_longer_desires_show_as_removals() {
        let mut l = live();
        l["spec"]["replicas"] = json!(2);
        l["metadata"]["labels"]["old"] = json!("x");
        l["metadata"]["labels"]["added-by-someone"] = json!("y");
        let r = diff(Some(&desired()), Some(&l), &DiffConfig::default()).expect("diff");
        let summary: Vec<(&str, Op)> = r.changes.iter().map(|c| (c.path.as_str(), c.op)).collect();
        assert_eq!(summary, [("/metadata/labels/old", Op::Remove)]);
        assert_eq!(
            r.changes[0].owner.as_ref().map(|o| o.manager.as_str()),
            Some("tether")
        );
    }

    #[test]
    fn managed_fields_managers_and_jq_rules_suppress_drift() {
        let rule = ResourceIgnoreDifferences {
            group: Some("apps".into()),
            kind: "Deployment".into(),
            managed_fields_managers: vec!["kubectl-edit".into()],
            ..Default::default()
        };
        let cfg = DiffConfig::new(
            &[rule],
            &SystemSettings::default(),
            crate::DEFAULT_JQ_TIMEOUT,
        )
        .expect("valid");
        assert!(
            !diff(Some(&desired()), Some(&live()), &cfg)
                .expect("diff")
                .modified
        );
        let rule = ResourceIgnoreDifferences {
            group: Some("*".into()),
            kind: "*".into(),
            jq_path_expressions: vec![".spec.replicas".into()],
            ..Default::default()
        };
        let cfg = DiffConfig::new(
            &[rule],
            &SystemSettings::default(),
            crate::DEFAULT_JQ_TIMEOUT,
        )
        .expect("valid");
        assert!(
            !diff(Some(&desired()), Some(&live()), &cfg)
                .expect("diff")
                .modified
        );
    }

    #[test]
    fn missing_and_extraneous_objects() {
        let r = diff(Some(&desired()), None, &DiffConfig::default()).expect("diff");
        assert!(r.modified && r.changes[0].op == Op::Add && r.changes[0].path.is_empty());
        let r = diff(None, Some(&live()), &DiffConfig::default()).expect("diff");
        assert!(!r.modified && r.changes.is_empty() && r.predicted_live.is_none());
    }

    #[test]
    fn secrets_are_masked_in_every_output() {
        let d = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"pw": "new"}});
        let l = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"pw": "b2xk"}});
        let r = diff(Some(&d), Some(&l), &DiffConfig::default()).expect("diff");
        assert!(r.modified);
        let all =
            serde_json::to_string(&r).expect("json") + &r.unified("v1/Secret/s").expect("yaml");
        assert!(
            !all.contains("b2xk") && !all.contains("bmV3") && !all.contains("new\""),
            "{all}"
        );
        assert_eq!(r.changes[0].desired, Some(json!("++++++++")));
        assert_eq!(r.changes[0].live, Some(json!("++++++++++++")));
    }

    #[test]
    fn aggregated_roles_and_empty_rules() {
        let d = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "agg"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}, "rules": []});
        let l = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "agg"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
        let plain = diff(Some(&d), Some(&l), &DiffConfig::default()).expect("diff");
        assert!(
            !plain.modified,
            "desired has no rules to compare, live's extra rules stay"
        );
        let cfg = DiffConfig {
            ignore_aggregated_roles: true,
            ..Default::default()
        };
        let mut d2 = d.clone();
        d2["rules"] = json!([{"apiGroups": ["apps"], "resources": ["x"], "verbs": ["list"]}]);
        assert!(
            diff(Some(&d2), Some(&l), &DiffConfig::default())
                .expect("diff")
                .modified
        );
        assert!(!diff(Some(&d2), Some(&l), &cfg).expect("diff").modified);
    }

    #[test]
    fn server_side_diff_keeps_webhook_mutations_out_unless_asked() {
        let l = live();
        let mut predicted = l.clone();
        predicted["spec"]["replicas"] = json!(2);
        predicted["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:replicas"] = json!({});
        // A webhook would add an annotation nobody applied.
        predicted["metadata"]["annotations"]["injected"] = json!("yes");
        let r = server_side_diff(&predicted, &l, &DiffConfig::default(), false).expect("diff");
        let summary: Vec<(&str, Op)> = r.changes.iter().map(|c| (c.path.as_str(), c.op)).collect();
        assert_eq!(summary, [("/spec/replicas", Op::Replace)]);
        let r = server_side_diff(&predicted, &l, &DiffConfig::default(), true).expect("diff");
        assert_eq!(r.changes.len(), 2, "{:#?}", r.changes);
        // No managedFields for our manager in the prediction: an error, as in Argo CD.
        let mut bare = predicted.clone();
        bare["metadata"]["managedFields"] = json!([]);
        assert!(server_side_diff(&bare, &l, &DiffConfig::default(), false).is_err());
    }

    #[test]
    fn the_in_sync_shortcut_agrees_with_the_merge() {
        let ours_set = json!({"f:data": {"f:a": {}, "f:gone": {}}, "f:spec": {"f:items": {
            "k:{\"name\":\"x\"}": {".": {}, "f:v": {}}}}});
        let ours = [ours_set.as_object().unwrap()];
        let cases = [
            // (desired, live, equal after merge)
            (
                json!({"data": {"a": "1"}}),
                json!({"data": {"a": "1", "b": "2"}}),
                true,
            ),
            (
                json!({"data": {"a": "1"}}),
                json!({"data": {"a": "1", "gone": "2"}}),
                false,
            ),
            (
                json!({"data": {"a": "1"}}),
                json!({"data": {"a": "2"}}),
                false,
            ),
            (
                json!({"data": {"a": "1", "c": "3"}}),
                json!({"data": {"a": "1"}}),
                false,
            ),
            (
                json!({"spec": {"limits": {"cpu": "1000m"}}}),
                json!({"spec": {"limits": {"cpu": "1"}}}),
                true,
            ),
            (
                json!({"spec": {"items": [{"name": "x", "v": 1}]}}),
                json!({"spec": {"items": [{"name": "x", "v": 1, "d": "default"}]}}),
                true,
            ),
            (
                json!({"spec": {"items": [{"name": "x", "v": 1}]}}),
                json!({"spec": {"items": [{"name": "y"}, {"name": "x", "v": 1}]}}),
                false,
            ),
            (
                json!({"spec": {"items": [{"name": "y"}, {"name": "x"}]}}),
                json!({"spec": {"items": [{"name": "x"}, {"name": "y"}]}}),
                false,
            ),
            (
                json!({"spec": {"items": [{"name": "x"}, {"name": "x"}]}}),
                json!({"spec": {"items": [{"name": "x"}, {"name": "x"}]}}),
                true,
            ),
            (
                json!({"spec": {"list": [1, 2]}}),
                json!({"spec": {"list": [1, 2]}}),
                true,
            ),
            (
                json!({"spec": {"list": [1, 2]}}),
                json!({"spec": {"list": [1, 2, 3]}}),
                false,
            ),
            (
                json!({"spec": {"list": [{"a": 1}]}}),
                json!({"spec": {"list": [{"a": 1, "b": 2}]}}),
                true,
            ),
            (json!({"spec": []}), json!({"spec": {}}), false),
            (desired(), live(), false),
        ];
        for (d, l, equal) in cases {
            let merged = merge(&d, &l, &ours, false);
            assert_eq!(merged == l, equal, "{d} into {l}: {merged}");
            let shortcut = merges_to_live(&d, &l, &ours, false);
            assert!(!shortcut || equal, "shortcut said equal: {d} into {l}");
            // The duplicate-name case may fall back to the merge; all others take the shortcut.
            if equal && !d.to_string().contains(r#"[{"name":"x"},{"name":"x"}]"#) {
                assert!(shortcut, "shortcut missed an equal merge: {d} into {l}");
            }
        }
    }
}
