//! The client-side apply path: what `kubectl apply` (without `--server-side`) does, which is
//! Argo CD's default way of writing objects.
//!
//! `kubectl apply` keeps the configuration it applied last in the annotation
//! `kubectl.kubernetes.io/last-applied-configuration` and sends a three-way patch computed from
//! that *original*, the *modified* configuration (the desired object with the new annotation) and
//! the *current* live object:
//!
//! - fields present in `original` but absent from `modified` are deleted (`null`);
//! - fields of `modified` that differ from `current` are set;
//! - everything else in `current` (fields the API server defaulted, fields other actors set that
//!   were never in the applied configuration) is left alone.
//!
//! This is apimachinery's `jsonmergepatch.CreateThreeWayJSONMergePatch`, which kubectl uses for
//! custom resources. For built-in kinds kubectl computes a strategic merge patch with the types'
//! merge keys instead; Tether has no OpenAPI schema for them, so it uses the JSON merge patch for
//! every kind: a list that changed is replaced as a whole (the API server defaults its elements
//! again), where kubectl would merge the list's elements by key and keep elements another actor
//! added to it.

use serde_json::{Map, Value};

/// The annotation `kubectl apply` writes.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The field manager `kubectl apply` (client-side) writes with.
pub const KUBECTL_CSA_MANAGER: &str = "kubectl-client-side-apply";

/// `ClientSideApplyMigration` (Argo CD's default with `ServerSideApply=true`): the `managedFields`
/// an object should have so that server-side apply by `manager` owns what was applied client-side
/// (entries of `kubectl-client-side-apply`, and `Update` entries of `manager` itself, which
/// Tether's client-side path and `Replace=true` write). As client-go's `csaupgrade`: their field
/// sets are merged into `manager`'s `Apply` entry (created if absent) and the entries removed.
/// Then a field applied client-side and no longer desired is removed by the next server-side
/// apply. `None` when there is nothing to migrate.
pub fn migrated_managed_fields(live: &Value, manager: &str) -> Option<Vec<Value>> {
    let entries = live.pointer("/metadata/managedFields")?.as_array()?;
    let is_csa = |e: &Value| {
        let m = e.get("manager").and_then(Value::as_str);
        let op = e.get("operation").and_then(Value::as_str);
        let sub = e.get("subresource").and_then(Value::as_str).unwrap_or("");
        sub.is_empty()
            && op == Some("Update")
            && (m == Some(KUBECTL_CSA_MANAGER) || m == Some(manager))
    };
    if !entries.iter().any(is_csa) {
        return None;
    }
    let api_version = live.get("apiVersion").cloned().unwrap_or(Value::Null);
    let mut fields = Value::Object(Map::new());
    let mut time = Value::Null;
    let mut out = Vec::new();
    let mut apply_at = None;
    for e in entries {
        if is_csa(e) {
            if let Some(f) = e.get("fieldsV1") {
                merge_into(&mut fields, f.clone());
            }
            if let Some(t) = e.get("time") {
                time = t.clone();
            }
            continue;
        }
        let ours = e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Apply");
        if ours && apply_at.is_none() {
            apply_at = Some(out.len());
        }
        out.push(e.clone());
    }
    match apply_at {
        Some(i) => {
            let entry = &mut out[i];
            let mut merged = entry
                .get("fieldsV1")
                .cloned()
                .unwrap_or(Value::Object(Map::new()));
            merge_into(&mut merged, fields);
            entry["fieldsV1"] = merged;
        }
        None => out.push(serde_json::json!({
            "manager": manager, "operation": "Apply", "apiVersion": api_version,
            "time": time, "fieldsType": "FieldsV1", "fieldsV1": fields,
        })),
    }
    Some(out)
}

/// The configuration `kubectl apply` would record and send for `desired`: the object with
/// `kubectl.kubernetes.io/last-applied-configuration` set to its own JSON (without that
/// annotation), as kubectl's `GetModifiedConfiguration`. Returns the modified object.
pub fn modified_configuration(desired: &Value) -> Value {
    let mut bare = desired.clone();
    if let Some(ann) = bare
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        ann.remove(LAST_APPLIED);
        if ann.is_empty()
            && let Some(m) = bare.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("annotations");
        }
    }
    let recorded = bare.to_string();
    let mut modified = bare;
    if let Some(meta) = modified
        .as_object_mut()
        .map(|o| {
            o.entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()))
        })
        .and_then(Value::as_object_mut)
    {
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(ann) = ann.as_object_mut() {
            ann.insert(LAST_APPLIED.into(), Value::String(recorded));
        }
    }
    modified
}

/// The configuration applied last, from the live object's annotation (`None` when absent or
/// not a JSON object).
pub fn original_configuration(live: &Value) -> Option<Value> {
    let text = live
        .pointer("/metadata/annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
}

/// `kubectl apply`'s three-way JSON merge patch (RFC 7386) turning `current` into `modified`
/// while deleting what `original` had and `modified` no longer has. `{}` when nothing changes.
pub fn three_way_merge_patch(original: Option<&Value>, modified: &Value, current: &Value) -> Value {
    // Additions and changes: the two-way patch current → modified without its deletions.
    let mut delta = two_way(current, modified);
    drop_nulls(&mut delta);
    // Deletions: the two-way patch original → modified, deletions only.
    let mut deletions = match original {
        Some(o) => two_way(o, modified),
        None => Value::Object(Map::new()),
    };
    keep_only_nulls(&mut deletions);
    merge_into(&mut deletions, delta);
    deletions
}

/// RFC 7386's patch from `from` to `to` (objects recurse, anything else is replaced whole).
fn two_way(from: &Value, to: &Value) -> Value {
    let (Some(f), Some(t)) = (from.as_object(), to.as_object()) else {
        return to.clone();
    };
    let mut patch = Map::new();
    for (k, tv) in t {
        match f.get(k) {
            Some(fv) if fv == tv => {}
            Some(fv) if fv.is_object() && tv.is_object() => {
                let sub = two_way(fv, tv);
                if sub.as_object().is_some_and(|m| !m.is_empty()) {
                    patch.insert(k.clone(), sub);
                }
            }
            _ => {
                patch.insert(k.clone(), tv.clone());
            }
        }
    }
    for k in f.keys() {
        if !t.contains_key(k) {
            patch.insert(k.clone(), Value::Null);
        }
    }
    Value::Object(patch)
}

/// Removes deletions (`null`s) from a patch, and objects left empty by that.
fn drop_nulls(v: &mut Value) {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, sub| match sub {
            Value::Null => false,
            Value::Object(o) if !o.is_empty() => {
                drop_nulls(sub);
                sub.as_object().is_some_and(|o| !o.is_empty())
            }
            _ => true,
        });
    }
}

/// Keeps only the deletions (`null`s) of a patch.
fn keep_only_nulls(v: &mut Value) {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, sub| match sub {
            Value::Null => true,
            Value::Object(_) => {
                keep_only_nulls(sub);
                sub.as_object().is_some_and(|o| !o.is_empty())
            }
            _ => false,
        });
    }
}

/// Merges patch `b` into patch `a` (objects recurse, `b` wins otherwise).
fn merge_into(a: &mut Value, b: Value) {
    match (a.as_object_mut(), b) {
        (Some(am), Value::Object(bm)) => {
            for (k, bv) in bm {
                match am.get_mut(&k) {
                    Some(av) if av.is_object() && bv.is_object() => merge_into(av, bv),
                    _ => {
                        am.insert(k, bv);
                    }
                }
            }
        }
        (_, b) => *a = b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deletes_what_was_applied_before_and_keeps_what_others_set() {
        let original = json!({"metadata": {"name": "a", "labels": {"app": "a", "old": "x"}},
            "data": {"a": "1", "b": "2"}});
        let modified = json!({"metadata": {"name": "a", "labels": {"app": "a"}},
            "data": {"a": "10"}});
        let current = json!({"metadata": {"name": "a", "uid": "u", "resourceVersion": "5",
                "labels": {"app": "a", "old": "x", "added-by-hand": "y"}},
            "data": {"a": "1", "b": "2", "c": "by-hand"}});
        let patch = three_way_merge_patch(Some(&original), &modified, &current);
        assert_eq!(
            patch,
            json!({"metadata": {"labels": {"old": null}}, "data": {"a": "10", "b": null}})
        );
    }

    #[test]
    fn without_original_nothing_is_deleted() {
        let modified = json!({"data": {"a": "1"}});
        let current = json!({"data": {"a": "1", "b": "2"}});
        assert_eq!(three_way_merge_patch(None, &modified, &current), json!({}));
    }

    #[test]
    fn a_changed_list_is_replaced_and_an_equal_one_left_alone() {
        let original = json!({"spec": {"ports": [{"port": 80}], "x": [1]}});
        let modified = json!({"spec": {"ports": [{"port": 81}], "x": [1]}});
        let current = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}], "x": [1]}});
        assert_eq!(
            three_way_merge_patch(Some(&original), &modified, &current),
            json!({"spec": {"ports": [{"port": 81}]}})
        );
    }

    #[test]
    fn a_field_changed_by_someone_else_is_set_back() {
        let original = json!({"spec": {"replicas": 2}});
        let modified = json!({"spec": {"replicas": 2}});
        let current = json!({"spec": {"replicas": 5}});
        assert_eq!(
            three_way_merge_patch(Some(&original), &modified, &current),
            json!({"spec": {"replicas": 2}})
        );
    }

    #[test]
    fn client_side_fields_move_to_the_apply_entry() {
        let live = json!({"apiVersion": "v1", "metadata": {"managedFields": [
            {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
             "time": "t1", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}}}},
            {"manager": "tether", "operation": "Apply", "apiVersion": "v1", "time": "t2",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}},
            {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1", "time": "t3",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:c": {}}}},
            {"manager": "tether", "operation": "Update", "apiVersion": "v1", "time": "t0",
             "subresource": "status", "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}
        ]}});
        let m = migrated_managed_fields(&live, "tether").expect("migrates");
        assert_eq!(m.len(), 3);
        assert_eq!(m[0]["manager"], "tether");
        assert_eq!(
            m[0]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:x": {}}}})
        );
        assert_eq!(m[1]["manager"], "kubectl-edit");
        assert_eq!(m[2]["subresource"], "status");
        // Nothing client-side: nothing to do.
        let ssa_only = json!({"metadata": {"managedFields": [m[0].clone()]}});
        assert!(migrated_managed_fields(&ssa_only, "tether").is_none());
        // Only a client-side entry: it becomes the Apply entry.
        let csa_only = json!({"apiVersion": "v1", "metadata": {"managedFields": [
            {"manager": "tether", "operation": "Update", "time": "t1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:data": {"f:a": {}}}}]}});
        let m = migrated_managed_fields(&csa_only, "tether").expect("migrates");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["operation"], "Apply");
        assert_eq!(m[0]["fieldsV1"], json!({"f:data": {"f:a": {}}}));
    }

    #[test]
    fn modified_records_itself_without_the_annotation() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "annotations": {LAST_APPLIED: "stale"}}, "data": {"k": "v"}});
        let m = modified_configuration(&desired);
        let recorded = original_configuration(&m).expect("recorded");
        assert_eq!(
            recorded,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}})
        );
        assert_eq!(m["data"], json!({"k": "v"}));
    }
}
