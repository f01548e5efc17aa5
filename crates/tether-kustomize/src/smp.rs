//! Strategic merge patch as kustomize's kyaml `merge2` applies it.
//!
//! * Maps merge field by field; a `null` in the patch removes the field.
//! * Lists whose schema has a `merge` patch strategy merge element by element on their merge
//!   key(s) (composite keys such as `[containerPort, protocol]` included); the patch's
//!   elements come first, then the destination's other elements (kustomize merges with
//!   "list prepend"). Lists of scalars with a `merge` strategy (e.g. `finalizers`) merge as
//!   sets.
//! * Every other list, and every list of a kind the embedded schema does not know (custom
//!   resources), is replaced whole.
//! * `$patch: delete | replace | merge` on maps and as a lone list element; any other value is
//!   an error. Other `$`-directives are ordinary fields, as in kustomize.

use crate::schema::Schema;
use serde_json::{Map, Value};

const DIRECTIVE: &str = "$patch";

/// What the walk decided for one field.
#[derive(Debug)]
enum Out {
    Remove,
    Set(Value),
}

/// Merges `patch` into `dest`. Returns `None` when the patch deleted the whole object.
pub fn merge_object(
    dest: Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, String> {
    // kustomize leaves the object unchanged for a top-level `$patch: replace` (observed with
    // kustomize v5.5; see the corpus case smp-top-level-replace-directive).
    if patch.get(DIRECTIVE).and_then(Value::as_str) == Some("replace") {
        return Ok(Some(dest));
    }
    let d = Value::Object(dest);
    let p = Value::Object(patch.clone());
    match walk(Some(d), Some(&p), Schema::Unknown, false)? {
        Out::Set(Value::Object(m)) if !m.is_empty() => Ok(Some(m)),
        _ => Ok(None),
    }
}

fn is_null(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

enum Kind {
    Map,
    Seq,
    Scalar,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Object(_) | Value::Null => Kind::Map,
        Value::Array(_) => Kind::Seq,
        _ => Kind::Scalar,
    }
}

fn resolve_schema(s: Schema, d: Option<&Value>, p: Option<&Value>) -> Schema {
    if !matches!(s, Schema::Unknown) {
        return s;
    }
    for v in [d, p].into_iter().flatten() {
        if let Value::Object(m) = v {
            let av = m.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let k = m.get("kind").and_then(Value::as_str).unwrap_or("");
            if !av.is_empty() && !k.is_empty() {
                let found = Schema::for_type(av, k);
                if !matches!(found, Schema::Unknown) {
                    return found;
                }
            }
        }
    }
    s
}

/// `same` is true while normalising a patch subtree that has no counterpart in the
/// destination (kyaml then merges the patch node with itself).
fn walk(d: Option<Value>, p: Option<&Value>, s: Schema, same: bool) -> Result<Out, String> {
    let s = resolve_schema(s, d.as_ref(), p);
    let kind = match (&d, p) {
        (Some(dv), _) if !dv.is_null() => kind_of(dv),
        (_, Some(pv)) if !pv.is_null() => kind_of(pv),
        _ => Kind::Map,
    };
    // A patch value of another kind than the destination replaces it.
    if let (Some(dv), Some(pv)) = (&d, p)
        && !dv.is_null()
        && !pv.is_null()
        && std::mem::discriminant(&kind_of(dv)) != std::mem::discriminant(&kind_of(pv))
    {
        return Ok(Out::Set(pv.clone()));
    }
    match kind {
        Kind::Scalar => Ok(match p {
            Some(Value::Null) => Out::Remove,
            Some(pv) => Out::Set(pv.clone()),
            None => d.map_or(Out::Remove, Out::Set),
        }),
        Kind::Map => walk_map(d, p, s, same),
        Kind::Seq => walk_seq(d, p, s, same),
    }
}

fn map_directive(p: &Map<String, Value>) -> Result<Option<&'static str>, String> {
    match p.get(DIRECTIVE) {
        None => Ok(None),
        Some(Value::String(v)) => match v.as_str() {
            "delete" => Ok(Some("delete")),
            "replace" => Ok(Some("replace")),
            "merge" => Ok(Some("merge")),
            other => Err(format!("unknown patch strategy '{other}'")),
        },
        Some(other) => Err(format!("unknown patch strategy '{other}'")),
    }
}

fn walk_map(d: Option<Value>, p: Option<&Value>, s: Schema, same: bool) -> Result<Out, String> {
    if is_null(d.as_ref()) {
        return match p {
            None => Ok(match d {
                Some(Value::Null) => Out::Set(Value::Null),
                _ => Out::Remove,
            }),
            Some(Value::Null) => Ok(Out::Remove),
            Some(Value::Object(pm)) => {
                if map_directive(pm)? == Some("delete") {
                    return Ok(Out::Remove);
                }
                // Added: the patch subtree, normalised.
                walk_map(
                    Some(Value::Object(pm.clone())),
                    Some(&Value::Object(pm.clone())),
                    s,
                    true,
                )
            }
            Some(other) => Ok(Out::Set(other.clone())),
        };
    }
    let Some(Value::Object(mut dm)) = d else {
        return Ok(d.map_or(Out::Remove, Out::Set));
    };
    // With no patch value kyaml still walks the destination, which normalises its
    // associative lists (duplicates by merge key collapse to the last one).
    let empty = Map::new();
    let pm = match p {
        None => &empty,
        Some(Value::Null) => return Ok(Out::Remove),
        Some(Value::Object(pm)) => pm,
        Some(other) => return Ok(Out::Set(other.clone())),
    };
    let directive = map_directive(pm)?;
    if same && directive.is_some() {
        dm.shift_remove(DIRECTIVE);
    }
    match directive {
        Some("delete") => return Ok(Out::Remove),
        Some("replace") => {
            let mut pc = pm.clone();
            pc.shift_remove(DIRECTIVE);
            let pv = Value::Object(pc.clone());
            return walk_map(Some(Value::Object(pc)), Some(&pv), s, true);
        }
        _ => {}
    }
    let mut names: Vec<&String> = dm
        .keys()
        .chain(pm.keys())
        .filter(|k| directive.is_none() || *k != DIRECTIVE)
        .collect();
    names.sort();
    names.dedup();
    let names: Vec<String> = names.into_iter().cloned().collect();
    for name in names {
        let dv = dm.get(&name).cloned();
        let pv = pm.get(&name);
        match walk(dv, pv, s.field(&name), same)? {
            Out::Set(v) => {
                dm.insert(name, v);
            }
            Out::Remove => {
                dm.shift_remove(&name);
            }
        }
    }
    Ok(Out::Set(Value::Object(dm)))
}

/// Finds a lone `{$patch: x}` element: a directive for the whole list.
fn seq_directive(p: &[Value]) -> Result<(Option<&'static str>, Option<usize>), String> {
    let found = p
        .iter()
        .position(|e| e.as_object().is_some_and(|m| m.contains_key(DIRECTIVE)));
    let Some(i) = found else {
        return Ok((None, None));
    };
    let m = p[i].as_object().expect("found a map");
    if m.len() > 1 {
        return Ok((None, None));
    }
    let d = map_directive(m)?;
    Ok((d, Some(i)))
}

fn walk_seq(d: Option<Value>, p: Option<&Value>, s: Schema, same: bool) -> Result<Out, String> {
    let Some(ls) = s.associative() else {
        return Ok(match p {
            Some(Value::Null) => Out::Remove,
            Some(pv) => Out::Set(pv.clone()),
            None => d.map_or(Out::Remove, Out::Set),
        });
    };
    let (dl, pl, same) = if is_null(d.as_ref()) {
        match p {
            None => return Ok(d.map_or(Out::Remove, Out::Set)),
            Some(Value::Null) => return Ok(Out::Remove),
            Some(Value::Array(pl)) => (pl.clone(), pl.clone(), true),
            Some(other) => return Ok(Out::Set(other.clone())),
        }
    } else {
        let Some(Value::Array(dl)) = d else {
            return Ok(d.map_or(Out::Remove, Out::Set));
        };
        match p {
            None => (dl, Vec::new(), same),
            Some(Value::Null) => return Ok(Out::Remove),
            Some(Value::Array(pl)) => (dl, pl.clone(), same),
            Some(other) => return Ok(Out::Set(other.clone())),
        }
    };
    let mut pl = pl;
    let mut dl = dl;
    let (directive, idx) = seq_directive(&pl)?;
    if let Some(i) = idx {
        pl.remove(i);
        if same && i < dl.len() {
            dl.remove(i);
        }
    }
    match directive {
        Some("delete") => return Ok(Out::Remove),
        Some("replace") => {
            let pv = Value::Array(pl.clone());
            return walk_seq(None, Some(&pv), s, true);
        }
        _ => {}
    }
    let item = s.elements();
    let keys = &ls.keys;
    let values = element_values(&pl, &dl, keys);
    if !values.is_empty() || !keys.is_empty() {
        merge_keyed(dl, &pl, keys, &values, item, same).map(|v| Out::Set(Value::Array(v)))
    } else {
        merge_primitive(dl, &pl, item, same).map(|v| Out::Set(Value::Array(v)))
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn element_values(pl: &[Value], dl: &[Value], keys: &[String]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    if keys.is_empty() {
        return out;
    }
    for e in pl.iter().chain(dl.iter()) {
        let t: Vec<String> = keys
            .iter()
            .map(|k| {
                e.as_object()
                    .and_then(|m| m.get(k))
                    .map(scalar_text)
                    .unwrap_or_default()
            })
            .collect();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// kyaml's `validateKeys`: keeps the keys that have a value somewhere in `list`.
fn valid_keys(
    list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let present: Vec<bool> = (0..keys.len())
        .map(|i| list.iter().any(|v| v.get(i).is_some_and(|x| !x.is_empty())))
        .collect();
    if !present.iter().any(|p| *p) {
        return (keys.to_vec(), values.to_vec());
    }
    let vk = keys
        .iter()
        .zip(&present)
        .filter(|(_, p)| **p)
        .map(|(k, _)| k.clone())
        .collect();
    let vv = values
        .iter()
        .zip(&present)
        .filter(|(v, p)| !v.is_empty() || **p)
        .map(|(v, _)| v.clone())
        .collect();
    (vk, vv)
}

/// Two key tuples match when they share a value and differ only where one side is empty.
fn match_values(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut res = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            res.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else if !x.is_empty() {
            res.push(x.clone());
        } else {
            res.push(y.clone());
        }
    }
    common.then_some(res)
}

/// kyaml's `mergeValues` for composite keys: a tuple missing a secondary key takes it from a
/// tuple that agrees on the others.
fn merge_values(list: &mut [Vec<String>]) {
    for i in 0..list.len() {
        let v1 = list[i].clone();
        for j in 0..list.len() {
            if let Some(res) = match_values(&v1, &list[j]) {
                list[i] = res.clone();
                list[j] = res;
            }
        }
    }
}

/// kyaml's FieldMatcher: the field exists and, unless `v` is empty, its scalar text is `v`.
fn field_matches(e: &Value, k: &str, v: &str) -> bool {
    match e.as_object().and_then(|m| m.get(k)) {
        None => false,
        Some(_) if v.is_empty() => true,
        Some(x @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => scalar_text(x) == v,
        Some(_) => false,
    }
}

fn matches(e: &Value, vk: &[String], vv: &[String]) -> bool {
    e.is_object() && vk.iter().zip(vv).all(|(k, v)| field_matches(e, k, v))
}

fn merge_keyed(
    mut dest: Vec<Value>,
    pl: &[Value],
    keys: &[String],
    values: &[Vec<String>],
    item: Schema,
    same: bool,
) -> Result<Vec<Value>, String> {
    let mut values = values.to_vec();
    if keys.len() > 1 {
        merge_values(&mut values);
    }
    let mut items: Vec<Value> = Vec::new();
    let mut last_keys = keys.to_vec();
    for value in &values {
        if value.is_empty() {
            continue;
        }
        let (vk, vv) = valid_keys(&values, value, keys);
        last_keys = vk.clone();
        let (lk, lv) = valid_keys(std::slice::from_ref(&vv), &vv, &vk);
        let di = dest.iter().position(|e| matches(e, &lk, &lv));
        let pe = pl.iter().find(|e| matches(e, &lk, &lv));
        let de = di.map(|i| dest[i].clone());
        let out = walk(de, pe, item, same)?;
        let mut v = match out {
            Out::Set(v) if !v.is_null() && !v.as_object().is_some_and(Map::is_empty) => v,
            _ => {
                element_setter(&mut dest, &vk, &vv, None);
                continue;
            }
        };
        if let Value::Object(m) = &mut v {
            for (k, val) in vk.iter().zip(&vv) {
                if !m.contains_key(k) && !val.is_empty() {
                    m.insert(k.clone(), Value::String(val.clone()));
                }
            }
        }
        // kyaml merges into the destination element in place; an element-level
        // `$patch: replace` returns the patch element instead and leaves the destination
        // element as it was, so the put-back below restores it.
        let replaced = pe
            .and_then(Value::as_object)
            .is_some_and(|m| m.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"));
        if let Some(i) = di
            && !replaced
        {
            dest[i] = v.clone();
        }
        set_element(&mut items, &vk, &vv, v);
    }
    if values.is_empty() {
        return Ok(items);
    }
    // kyaml's appendListNode: the destination's elements, in their order. With composite
    // keys each is moved to the end; with one key it is replaced in place.
    for e in dest {
        let mut vals = Vec::new();
        let mut missing = false;
        for k in &last_keys {
            match e.as_object().and_then(|m| m.get(k)) {
                Some(x) => vals.push(scalar_text(x)),
                None => missing = true,
            }
        }
        if missing {
            items.push(e.clone());
        }
        if last_keys.len() > 1 {
            element_setter(&mut items, &last_keys, &vals, None);
        }
        element_setter(&mut items, &last_keys, &vals, Some(e));
    }
    Ok(items)
}

/// kyaml's ElementSetter: replaces every element matching the keys (values are compared
/// pairwise; missing values repeat the previous comparison), or appends; with no element,
/// deletes the matches. With no values at all, non-matching elements are dropped too.
fn element_setter(list: &mut Vec<Value>, keys: &[String], vals: &[String], elem: Option<Value>) {
    let mut found_any = false;
    let mut out = Vec::with_capacity(list.len() + 1);
    for e in list.drain(..) {
        if e.is_null() || e.as_object().is_some_and(Map::is_empty) {
            continue;
        }
        if !e.is_object() && keys.first().is_some_and(|k| !k.is_empty()) {
            out.push(e);
            continue;
        }
        let mut last = false;
        let mut found = true;
        for (j, k) in keys.iter().enumerate() {
            if let Some(v) = vals.get(j) {
                last = field_matches(&e, k, v);
            }
            if !last {
                found = false;
                break;
            }
        }
        if !found {
            if !vals.is_empty() {
                out.push(e);
            }
            continue;
        }
        found_any = true;
        if let Some(x) = &elem {
            out.push(x.clone());
        }
    }
    if let Some(x) = elem
        && !found_any
    {
        out.push(x);
    }
    *list = out;
}

fn set_element(list: &mut Vec<Value>, vk: &[String], vv: &[String], v: Value) {
    element_setter(list, vk, vv, Some(v));
}

fn merge_primitive(
    dest: Vec<Value>,
    pl: &[Value],
    item: Schema,
    same: bool,
) -> Result<Vec<Value>, String> {
    let mut order: Vec<String> = Vec::new();
    for e in pl.iter().chain(dest.iter()) {
        let t = scalar_text(e);
        if !order.contains(&t) {
            order.push(t);
        }
    }
    let mut items: Vec<Value> = Vec::new();
    let mut dest = dest;
    for t in &order {
        let de = dest
            .iter()
            .find(|e| !e.is_object() && scalar_text(e) == *t)
            .cloned();
        let pe = pl.iter().find(|e| !e.is_object() && scalar_text(e) == *t);
        match walk(de, pe, item, same)? {
            Out::Set(v) if !v.is_null() => {
                if let Some(pos) = items.iter().position(|e| scalar_text(e) == *t) {
                    items[pos] = v;
                } else {
                    items.push(v);
                }
            }
            _ => dest.retain(|e| scalar_text(e) != *t),
        }
    }
    for e in dest {
        let t = scalar_text(&e);
        if let Some(pos) = items.iter().position(|x| scalar_text(x) == t) {
            items[pos] = e;
        } else {
            items.push(e);
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn containers_merge_patch_first() {
        let d = obj(
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a"},
            "spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}}}}),
        );
        let p = obj(
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a"},
            "spec":{"template":{"spec":{"containers":[{"name":"b","image":"z"},{"name":"c","image":"w"}]}}}}),
        );
        let r = merge_object(d, &p).expect("merge").expect("kept");
        let c = &r["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            c,
            &json!([{"name":"b","image":"z"},{"name":"c","image":"w"},{"name":"a","image":"x"}])
        );
    }

    #[test]
    fn unknown_kind_replaces_lists() {
        let d = obj(json!({"apiVersion":"x/v1","kind":"Foo","spec":{"l":[{"name":"a"}]}}));
        let p = obj(json!({"apiVersion":"x/v1","kind":"Foo","spec":{"l":[{"name":"b"}]}}));
        let r = merge_object(d, &p).expect("merge").expect("kept");
        assert_eq!(r["spec"]["l"], json!([{"name":"b"}]));
    }

    #[test]
    fn delete_directive() {
        let d = obj(
            json!({"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"a"},{"name":"b"}]}}),
        );
        let p = obj(
            json!({"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"a","$patch":"delete"}]}}),
        );
        let r = merge_object(d, &p).expect("merge").expect("kept");
        assert_eq!(r["spec"]["containers"], json!([{"name":"b"}]));
        let whole = obj(json!({"apiVersion":"v1","kind":"Pod","$patch":"delete"}));
        assert!(merge_object(r, &whole).expect("merge").is_none());
    }
}
