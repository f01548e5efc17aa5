//! `metadata.managedFields`: who owns which field of a live object.
//!
//! A `fieldsV1` set is a tree of keys: `f:<name>` a field, `k:<json>` a list item picked by its key
//! fields (`k:{"name":"web"}`), `v:<json>` a set item picked by value, `i:<n>` a list item by index,
//! and `.` the node itself. [`owned_fields`] turns the sets into paths and resolves them against the
//! object into concrete JSON paths; on top of that:
//!
//! - [`remove_managed_by`] implements `ignoreDifferences.managedFieldsManagers`: a field owned by a
//!   trusted manager whose value differs between desired and live is removed from both;
//! - [`attribute`] answers "who changed it": the manager, operation and time behind a live field.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::jq::Step;
use crate::structured::escape_token;

/// One element of a managed-fields path.
#[derive(Clone, Debug, PartialEq)]
pub enum PathElement {
    /// `f:<name>`
    Field(String),
    /// `k:<json object>`: the list item whose fields have these values.
    Key(Map<String, Value>),
    /// `v:<json>`: the set item equal to this value.
    Value(Value),
    /// `i:<n>`
    Index(usize),
}

/// Who owns a field: one `managedFields` entry, without its field set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldOwner {
    /// The field manager, e.g. `tether`, `kubectl-edit`, `kube-controller-manager`.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// When the entry last changed (RFC 3339), when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `status`, `scale`, ... when the change went through a subresource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
}

/// A field owned by a manager, as found in an object.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedField {
    /// The path as the field set writes it.
    pub path: Vec<PathElement>,
    /// The same path in the object (absent when the object doesn't have the field).
    pub steps: Option<Vec<Step>>,
    /// Index into the object's `metadata.managedFields`.
    pub entry: usize,
}

/// Parses one `fieldsV1` key (`f:`, `k:`, `v:`, `i:`); `None` for `.` and for anything malformed.
pub fn parse_element(key: &str) -> Option<PathElement> {
    let (kind, rest) = key.split_at_checked(2)?;
    match kind {
        "f:" => Some(PathElement::Field(rest.to_string())),
        "k:" => match serde_json::from_str(rest).ok()? {
            Value::Object(m) => Some(PathElement::Key(m)),
            _ => None,
        },
        "v:" => serde_json::from_str(rest).ok().map(PathElement::Value),
        "i:" => rest.parse().ok().map(PathElement::Index),
        _ => None,
    }
}

/// The paths a `fieldsV1` set owns: every leaf (`{}`) and every node marked with `.`.
pub fn field_set_paths(fields: &Value) -> Vec<Vec<PathElement>> {
    let mut out = Vec::new();
    collect(fields, &mut Vec::new(), &mut out);
    out
}

fn collect(node: &Value, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
    let Some(map) = node.as_object() else {
        return;
    };
    if !prefix.is_empty() && (map.is_empty() || map.contains_key(".")) {
        out.push(prefix.clone());
    }
    for (key, child) in map {
        if let Some(el) = parse_element(key) {
            prefix.push(el);
            collect(child, prefix, out);
            prefix.pop();
        }
    }
}

/// Where a managed-fields path is in `obj`, or `None` when `obj` lacks it.
pub fn resolve(obj: &Value, path: &[PathElement]) -> Option<Vec<Step>> {
    let mut cur = obj;
    let mut steps = Vec::with_capacity(path.len());
    for el in path {
        match el {
            PathElement::Field(name) => {
                cur = cur.as_object()?.get(name)?;
                steps.push(Step::Key(name.clone()));
            }
            PathElement::Key(keys) => {
                let items = cur.as_array()?;
                let i = items.iter().position(|item| {
                    keys.iter()
                        .all(|(k, v)| item.get(k).is_some_and(|iv| loosely_equal(iv, v)))
                })?;
                cur = &items[i];
                steps.push(Step::Index(i));
            }
            PathElement::Value(v) => {
                let items = cur.as_array()?;
                let i = items.iter().position(|item| loosely_equal(item, v))?;
                cur = &items[i];
                steps.push(Step::Index(i));
            }
            PathElement::Index(i) => {
                cur = cur.as_array()?.get(*i)?;
                steps.push(Step::Index(*i));
            }
        }
    }
    Some(steps)
}

/// Key values in field sets are typed (`80`), objects may carry them as they were written.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Like [`resolve`], but creates what is missing: fields as `null`, a keyed list item as an object
/// holding its key fields, a set item as its value, an index past the end as a new last item.
pub fn resolve_or_create(obj: &mut Value, path: &[PathElement]) -> Vec<Step> {
    let mut steps = Vec::with_capacity(path.len());
    let mut cur = obj;
    for el in path {
        match el {
            PathElement::Field(name) => {
                if !cur.is_object() {
                    *cur = Value::Object(Map::new());
                }
                let map = cur.as_object_mut().expect("made an object above");
                cur = map.entry(name.clone()).or_insert(Value::Null);
                steps.push(Step::Key(name.clone()));
            }
            PathElement::Key(_) | PathElement::Value(_) | PathElement::Index(_) => {
                if !cur.is_array() {
                    *cur = Value::Array(Vec::new());
                }
                let items = cur.as_array_mut().expect("made an array above");
                let found = match el {
                    PathElement::Key(keys) => items.iter().position(|item| {
                        keys.iter()
                            .all(|(k, v)| item.get(k).is_some_and(|iv| loosely_equal(iv, v)))
                    }),
                    PathElement::Value(v) => items.iter().position(|item| loosely_equal(item, v)),
                    PathElement::Index(i) => (*i < items.len()).then_some(*i),
                    PathElement::Field(_) => unreachable!("handled above"),
                };
                let i = found.unwrap_or_else(|| {
                    items.push(match el {
                        PathElement::Key(keys) => Value::Object(keys.clone()),
                        PathElement::Value(v) => v.clone(),
                        _ => Value::Null,
                    });
                    items.len() - 1
                });
                cur = &mut items[i];
                steps.push(Step::Index(i));
            }
        }
    }
    steps
}

/// The steps as a JSON pointer.
pub fn steps_to_pointer(steps: &[Step]) -> String {
    let mut s = String::new();
    for step in steps {
        s.push('/');
        match step {
            Step::Key(k) => s.push_str(&escape_token(k)),
            Step::Index(i) => s.push_str(&i.to_string()),
        }
    }
    s
}

/// The value at `steps`.
pub fn get<'a>(obj: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(obj, |cur, step| match step {
        Step::Key(k) => cur.as_object()?.get(k),
        Step::Index(i) => cur.as_array()?.get(*i),
    })
}

/// Removes the value at `steps`; returns whether something was removed.
pub fn remove(obj: &mut Value, steps: &[Step]) -> bool {
    let Some((last, parent)) = steps.split_last() else {
        return false;
    };
    let mut cur = obj;
    for step in parent {
        let next = match step {
            Step::Key(k) => cur.as_object_mut().and_then(|m| m.get_mut(k)),
            Step::Index(i) => cur.as_array_mut().and_then(|a| a.get_mut(*i)),
        };
        let Some(next) = next else {
            return false;
        };
        cur = next;
    }
    match (last, cur) {
        (Step::Key(k), Value::Object(m)) => m.shift_remove(k).is_some(),
        (Step::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

/// Sets the value at `steps`, creating objects on the way (an index past the end appends).
pub fn set(obj: &mut Value, steps: &[Step], value: Value) {
    let Some((first, rest)) = steps.split_first() else {
        *obj = value;
        return;
    };
    match first {
        Step::Key(k) => {
            if !obj.is_object() {
                *obj = Value::Object(Map::new());
            }
            let map = obj.as_object_mut().expect("made an object above");
            let child = map.entry(k.clone()).or_insert(Value::Null);
            set(child, rest, value);
        }
        Step::Index(i) => {
            if !obj.is_array() {
                *obj = Value::Array(Vec::new());
            }
            let items = obj.as_array_mut().expect("made an array above");
            if *i < items.len() {
                set(&mut items[*i], rest, value);
            } else {
                let mut child = Value::Null;
                set(&mut child, rest, value);
                items.push(child);
            }
        }
    }
}

/// The `managedFields` entries of an object, as owners, in order.
pub fn owners(obj: &Value) -> Vec<FieldOwner> {
    entries(obj)
        .map(|e| FieldOwner {
            manager: str_field(e, "manager").unwrap_or_default(),
            operation: str_field(e, "operation").unwrap_or_default(),
            time: str_field(e, "time"),
            subresource: str_field(e, "subresource").filter(|s| !s.is_empty()),
        })
        .collect()
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn entries(obj: &Value) -> impl Iterator<Item = &Value> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Every field the object's managedFields own, resolved against `resolve_in` (usually the object
/// itself; a normalised copy with the same lists works too). `only` keeps the entries whose manager is
/// listed.
pub fn owned_fields(obj: &Value, resolve_in: &Value, only: Option<&[String]>) -> Vec<OwnedField> {
    let mut out = Vec::new();
    for (i, e) in entries(obj).enumerate() {
        let manager = e.get("manager").and_then(Value::as_str).unwrap_or("");
        if only.is_some_and(|names| !names.iter().any(|n| n == manager)) {
            continue;
        }
        if e.get("fieldsType")
            .and_then(Value::as_str)
            .unwrap_or("FieldsV1")
            != "FieldsV1"
        {
            continue;
        }
        let Some(fields) = e.get("fieldsV1") else {
            continue;
        };
        for path in field_set_paths(fields) {
            let steps = resolve(resolve_in, &path);
            out.push(OwnedField {
                path,
                steps,
                entry: i,
            });
        }
    }
    out
}

/// `ignoreDifferences.managedFieldsManagers`: every field that one of `managers` owns in `raw_live`
/// and whose value differs between `desired` and `live` is removed from both, so it is not compared.
/// `desired` and `live` are the objects being compared (normalised); `raw_live` carries the
/// managedFields. Returns the JSON pointers removed (in live).
pub fn remove_managed_by(
    raw_live: &Value,
    managers: &[String],
    desired: &mut Value,
    live: &mut Value,
) -> Vec<String> {
    if managers.is_empty() {
        return Vec::new();
    }
    let owned = owned_fields(raw_live, live, Some(managers));
    // Resolve everything first, then remove deepest/last first so indexes stay valid.
    let mut targets: Vec<(Option<Vec<Step>>, Vec<Step>)> = Vec::new();
    for f in owned {
        let Some(live_steps) = f.steps else {
            continue;
        };
        let desired_steps = resolve(desired, &f.path);
        let differs = match &desired_steps {
            Some(ds) => get(desired, ds) != get(live, &live_steps),
            None => true,
        };
        if differs {
            targets.push((desired_steps, live_steps));
        }
    }
    let mut removed: Vec<String> = targets.iter().map(|(_, l)| steps_to_pointer(l)).collect();
    let mut live_targets: Vec<Vec<Step>> = targets.iter().map(|(_, l)| l.clone()).collect();
    let mut desired_targets: Vec<Vec<Step>> = targets.into_iter().filter_map(|(d, _)| d).collect();
    for list in [&mut live_targets, &mut desired_targets] {
        list.sort();
        list.dedup();
    }
    for steps in live_targets.iter().rev() {
        remove(live, steps);
    }
    for steps in desired_targets.iter().rev() {
        remove(desired, steps);
    }
    removed.sort();
    removed.dedup();
    removed
}

/// Who owns the live field at `pointer` (a path in `resolve_in`, the object the diff was made on):
/// the entry that owns exactly that field, else the one owning the nearest owned ancestor (an atomic
/// value such as a list owned as a whole), else the one owning a field below it. Among several, the
/// most recent (by `time`) wins.
pub fn attribute(raw_live: &Value, resolve_in: &Value, pointer: &str) -> Option<FieldOwner> {
    let owned = owned_fields(raw_live, resolve_in, None);
    attribute_in(&owned, &owners(raw_live), pointer)
}

/// [`attribute`] over fields already resolved (to attribute many pointers at once).
pub fn attribute_in(
    owned: &[OwnedField],
    owners: &[FieldOwner],
    pointer: &str,
) -> Option<FieldOwner> {
    let resolved: Vec<(String, usize)> = owned
        .iter()
        .filter_map(|f| f.steps.as_ref().map(|s| (steps_to_pointer(s), f.entry)))
        .collect();
    let pick = |candidates: Vec<usize>| -> Option<FieldOwner> {
        candidates
            .into_iter()
            .filter_map(|i| owners.get(i))
            .max_by(|a, b| a.time.cmp(&b.time))
            .cloned()
    };
    let exact: Vec<usize> = resolved
        .iter()
        .filter(|(p, _)| p == pointer)
        .map(|(_, e)| *e)
        .collect();
    if !exact.is_empty() {
        return pick(exact);
    }
    let ancestor = resolved
        .iter()
        .filter(|(p, _)| pointer.starts_with(&format!("{p}/")))
        .max_by_key(|(p, _)| p.len())
        .map(|(p, _)| p.clone());
    if let Some(anc) = ancestor {
        return pick(
            resolved
                .iter()
                .filter(|(p, _)| *p == anc)
                .map(|(_, e)| *e)
                .collect(),
        );
    }
    let below = format!("{pointer}/");
    pick(
        resolved
            .iter()
            .filter(|(p, _)| p.starts_with(&below))
            .map(|(_, e)| *e)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "team": "a"}, "managedFields": [
                {"manager": "tether", "operation": "Apply", "apiVersion": "apps/v1", "time": "2026-11-27T01:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}}},
                {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-27T02:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}},
                    "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {"f:image": {}}}}}}}},
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                 "time": "2026-11-27T02:30:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:replicas": {}}}}
            ]},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [
                {"name": "sidecar", "image": "envoy"},
                {"name": "web", "image": "nginx:edited", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}},
            "status": {"replicas": 5}
        })
    }

    #[test]
    fn field_sets_parse_into_paths_that_resolve_by_key_value_and_index() {
        assert_eq!(
            parse_element("f:a.b"),
            Some(PathElement::Field("a.b".into()))
        );
        assert_eq!(
            parse_element("v:\"x\""),
            Some(PathElement::Value(json!("x")))
        );
        assert_eq!(parse_element("i:3"), Some(PathElement::Index(3)));
        assert_eq!(parse_element("."), None);
        assert_eq!(parse_element("k:[1]"), None);
        let l = live();
        let owned = owned_fields(&l, &l, Some(&["tether".to_string()]));
        let pointers: Vec<String> = owned
            .iter()
            .filter_map(|f| f.steps.as_deref().map(steps_to_pointer))
            .collect();
        assert_eq!(
            pointers,
            [
                "/metadata/labels/app",
                "/spec/template/spec/containers/1",
                "/spec/template/spec/containers/1/name",
                "/spec/template/spec/containers/1/ports/0",
                "/spec/template/spec/containers/1/ports/0/containerPort",
            ]
        );
        let finalizers = json!({"metadata": {"finalizers": ["a", "b"]}});
        let path = vec![
            PathElement::Field("metadata".into()),
            PathElement::Field("finalizers".into()),
            PathElement::Value(json!("b")),
        ];
        assert_eq!(
            steps_to_pointer(&resolve(&finalizers, &path).expect("there")),
            "/metadata/finalizers/1"
        );
    }

    #[test]
    fn attribution_names_the_manager_operation_and_time() {
        let l = live();
        let who = attribute(&l, &l, "/spec/template/spec/containers/1/image").expect("owned");
        assert_eq!(who.manager, "kubectl-edit");
        assert_eq!(who.operation, "Update");
        assert_eq!(who.time.as_deref(), Some("2026-11-27T02:00:00Z"));
        assert_eq!(
            attribute(&l, &l, "/spec/replicas").expect("owned").manager,
            "kubectl-edit"
        );
        assert_eq!(
            attribute(&l, &l, "/metadata/labels/app")
                .expect("owned")
                .manager,
            "tether"
        );
        let status = attribute(&l, &l, "/status/replicas").expect("owned");
        assert_eq!(status.subresource.as_deref(), Some("status"));
        // Below an owned list item: the item's owner.
        assert_eq!(
            attribute(&l, &l, "/spec/template/spec/containers/1/ports/0/protocol")
                .expect("owned")
                .manager,
            "tether"
        );
        assert_eq!(
            attribute(&l, &l, "/spec/template/spec/containers/0/image"),
            None
        );
    }

    #[test]
    fn trusted_managers_fields_are_removed_from_both_sides_when_they_differ() {
        let raw = live();
        let mut l = raw.clone();
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "team": "b"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}});
        let removed = remove_managed_by(&raw, &["kubectl-edit".to_string()], &mut d, &mut l);
        assert_eq!(
            removed,
            [
                "/metadata/labels/team",
                "/spec/replicas",
                "/spec/template/spec/containers/1/image"
            ]
        );
        assert!(d["spec"].get("replicas").is_none() && l["spec"].get("replicas").is_none());
        assert!(
            d["spec"]["template"]["spec"]["containers"][0]
                .get("image")
                .is_none()
        );
        assert!(
            l["spec"]["template"]["spec"]["containers"][1]
                .get("image")
                .is_none()
        );
        assert_eq!(
            l["spec"]["template"]["spec"]["containers"][0]["image"],
            "envoy"
        );
        // Equal values stay.
        let mut l2 = raw.clone();
        let mut d2 = raw.clone();
        assert!(
            remove_managed_by(&raw, &["kubectl-edit".to_string()], &mut d2, &mut l2).is_empty()
        );
    }
}
