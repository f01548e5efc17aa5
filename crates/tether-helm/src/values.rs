//! Values as Helm computes them (`pkg/chartutil/coalesce.go`, `dependencies.go`, `values.go`): the
//! working chart tree after conditions/tags/aliases, import-values, coalescing of defaults under user
//! values, globals copied down.
//!
//! Values are tether-gotmpl's Go values: maps are shared references, so subchart `.Values` are the very
//! tables inside the parent's values, as in Helm.

use std::collections::BTreeMap;
use std::rc::Rc;

use tether_gotmpl::{MapData, MapRef, Value};

use crate::Error;
use crate::chart::{Chart, Dependency, ImportValue};
use crate::semver::is_compatible_range;

/// A chart in the render: the loaded chart, its (possibly aliased) name, its current default values and
/// its enabled subcharts.
#[derive(Debug)]
pub struct Node<'c> {
    pub chart: &'c Chart,
    pub name: String,
    pub values: MapRef,
    pub reqs: Vec<Dependency>,
    pub deps: Vec<Node<'c>>,
}

impl<'c> Node<'c> {
    /// The loaded chart as a node tree (all subcharts of `charts/`).
    pub fn new(chart: &'c Chart) -> Node<'c> {
        Node {
            chart,
            name: chart.metadata.name.clone(),
            values: as_map(chart.values()),
            reqs: chart.metadata.dependencies.clone(),
            deps: chart.dependencies.iter().map(Node::new).collect(),
        }
    }

    fn copy(&self) -> Node<'c> {
        Node {
            chart: self.chart,
            name: self.name.clone(),
            values: as_map(Value::Map(self.values.clone()).deep_copy()),
            reqs: self.reqs.clone(),
            deps: self.deps.iter().map(Node::copy).collect(),
        }
    }
}

/// A fresh empty Go map.
pub fn new_map() -> MapRef {
    Rc::new(MapData::new(BTreeMap::new()))
}

/// The map inside a value (a fresh one when it is not a map).
pub fn as_map(v: Value) -> MapRef {
    match v {
        Value::Map(m) => m,
        _ => new_map(),
    }
}

fn deep_copy_map(m: &MapRef) -> MapRef {
    as_map(Value::Map(m.clone()).deep_copy())
}

fn table_of(v: &Value) -> Option<MapRef> {
    match v {
        Value::Map(m) => Some(m.clone()),
        _ => None,
    }
}

/// `Values.Table`: the table at a dotted path.
pub fn table(v: &MapRef, path: &str) -> Option<MapRef> {
    let mut t = v.clone();
    for n in path.split('.') {
        let next = table_of(t.borrow().get(n)?)?;
        t = next;
    }
    Some(t)
}

/// `Values.PathValue`: a non-table value at a dotted path.
pub fn path_value(v: &MapRef, path: &str) -> Option<Value> {
    if path.is_empty() {
        return None;
    }
    let (parent, key) = match path.rsplit_once('.') {
        Some((p, k)) => (table(v, p)?, k),
        None => (v.clone(), path),
    };
    let b = parent.borrow();
    match b.get(key) {
        Some(Value::Map(_)) | None => None,
        Some(x) => Some(x.clone()),
    }
}

/// `coalesceTablesFullKey`: merges `src` into `dst`, `dst` authoritative; without `merge`, nulls in
/// `dst` delete the key.
pub fn coalesce_tables(dst: &MapRef, src: &MapRef, merge: bool) {
    if Rc::ptr_eq(dst, src) {
        return;
    }
    let nil_keys: Vec<String> = dst
        .borrow()
        .iter()
        .filter(|(_, v)| v.is_nil())
        .map(|(k, _)| k.clone())
        .collect();
    for k in nil_keys {
        src.borrow_mut().insert(k, Value::Nil);
    }
    let src_items: Vec<(String, Value)> = src
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, val) in src_items {
        let dv = dst.borrow().get(&key).cloned();
        match dv {
            Some(Value::Nil) if !merge => {
                dst.borrow_mut().remove(&key);
            }
            None => {
                dst.borrow_mut().insert(key, val);
            }
            Some(dv) => {
                if let (Value::Map(sv), Value::Map(dm)) = (&val, &dv) {
                    coalesce_tables(dm, sv, merge);
                }
            }
        }
    }
}

/// `MergeTables`.
pub fn merge_tables(dst: &MapRef, src: &MapRef) {
    coalesce_tables(dst, src, true);
}

fn coalesce_globals(dest: &MapRef, src: &MapRef) {
    let dg = match dest.borrow().get("global") {
        None => new_map(),
        Some(Value::Map(m)) => m.clone(),
        Some(_) => return,
    };
    let sg = match src.borrow().get("global") {
        None => new_map(),
        Some(Value::Map(m)) => m.clone(),
        Some(_) => return,
    };
    let items: Vec<(String, Value)> = sg
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, val) in items {
        if let Value::Map(vm) = &val {
            let vv = shallow_copy_map(vm);
            let existing = dg.borrow().get(&key).cloned();
            match existing {
                None => {
                    dg.borrow_mut().insert(key, Value::Map(vv));
                }
                Some(Value::Map(destv)) => {
                    coalesce_tables(&vv, &destv, true);
                    dg.borrow_mut().insert(key, Value::Map(vv));
                }
                Some(_) => {}
            }
        } else if matches!(dg.borrow().get(&key), Some(Value::Map(_))) {
            // A table is not overwritten by a scalar.
        } else {
            dg.borrow_mut().insert(key, val);
        }
    }
    dest.borrow_mut().insert("global".into(), Value::Map(dg));
}

/// Helm's `copyMap`: copies nested maps, shares everything else.
fn shallow_copy_map(m: &MapRef) -> MapRef {
    let out: BTreeMap<String, Value> = m
        .borrow()
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Map(inner) => Value::Map(shallow_copy_map(inner)),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect();
    Rc::new(MapData::new(out))
}

fn coalesce_values(c: &Node<'_>, v: &MapRef, merge: bool) {
    let vc = deep_copy_map(&c.values);
    let items: Vec<(String, Value)> = vc
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, val) in items {
        let cur = v.borrow().get(&key).cloned();
        match cur {
            Some(Value::Nil) if !merge => {
                v.borrow_mut().remove(&key);
            }
            Some(Value::Map(dest)) => {
                if let Value::Map(src) = &val {
                    let merge = merge || c.deps.iter().any(|d| d.name == key);
                    coalesce_tables(&dest, src, merge);
                }
            }
            Some(_) => {}
            None => {
                v.borrow_mut().insert(key, val);
            }
        }
    }
}

fn coalesce_deps(c: &Node<'_>, dest: &MapRef, merge: bool) -> Result<(), Error> {
    for sub in &c.deps {
        let cur = dest.borrow().get(&sub.name).cloned();
        let dv = match cur {
            None => {
                let m = new_map();
                dest.borrow_mut()
                    .insert(sub.name.clone(), Value::Map(m.clone()));
                m
            }
            Some(Value::Map(m)) => m,
            Some(other) => {
                return Err(Error::Values(format!(
                    "type mismatch on {}: %!t({}={})",
                    sub.name,
                    other.type_name(),
                    tether_gotmpl::fmt::go_sprint(std::slice::from_ref(&other))
                )));
            }
        };
        coalesce_globals(&dv, dest);
        coalesce(sub, &dv, merge)?;
    }
    Ok(())
}

/// `coalesce`: the chart's defaults (and its subcharts') under `dest`, in place.
pub fn coalesce(c: &Node<'_>, dest: &MapRef, merge: bool) -> Result<(), Error> {
    coalesce_values(c, dest, merge);
    coalesce_deps(c, dest, merge)
}

/// `CoalesceValues`: a copy of `vals` with the chart's defaults coalesced under it.
pub fn coalesce_values_copy(c: &Node<'_>, vals: &MapRef) -> Result<MapRef, Error> {
    let v = deep_copy_map(vals);
    coalesce(c, &v, false)?;
    Ok(v)
}

/// `MergeValues`: like [`coalesce_values_copy`] but nulls are kept.
pub fn merge_values_copy(c: &Node<'_>, vals: &MapRef) -> Result<MapRef, Error> {
    let v = deep_copy_map(vals);
    coalesce(c, &v, true)?;
    Ok(v)
}

fn alias_dependency<'c>(charts: &[Node<'c>], dep: &Dependency) -> Option<Node<'c>> {
    for c in charts {
        if c.name != dep.name {
            continue;
        }
        if !is_compatible_range(&dep.version, &c.chart.metadata.version) {
            continue;
        }
        let mut out = c.copy();
        if !dep.alias.is_empty() {
            out.name = dep.alias.clone();
        }
        return Some(out);
    }
    None
}

fn process_tags(reqs: &mut [Dependency], cvals: &MapRef) {
    let Some(vt) = table(cvals, "tags") else {
        return;
    };
    let vt = vt.borrow();
    for r in reqs.iter_mut() {
        let (mut has_true, mut has_false) = (false, false);
        for k in &r.tags {
            if let Some(Value::Bool(b)) = vt.get(k) {
                if *b {
                    has_true = true;
                } else {
                    has_false = true;
                }
            }
        }
        if !has_true && has_false {
            r.enabled = false;
        } else if has_true || !has_false {
            r.enabled = true;
        }
    }
}

fn process_conditions(reqs: &mut [Dependency], cvals: &MapRef, path: &str) {
    for r in reqs.iter_mut() {
        for c in r.condition.trim().split(',') {
            if c.is_empty() {
                continue;
            }
            if let Some(Value::Bool(b)) = path_value(cvals, &format!("{path}{c}")) {
                r.enabled = b;
                break;
            }
        }
    }
}

/// `processDependencyEnabled`: aliases, conditions and tags decide which subcharts stay.
pub fn process_enabled(c: &mut Node<'_>, v: &MapRef, path: &str) -> Result<(), Error> {
    if c.reqs.is_empty() {
        return Ok(());
    }
    let mut deps = Vec::new();
    'outer: for existing in &c.deps {
        for req in &c.reqs {
            if existing.name == req.name
                && is_compatible_range(&req.version, &existing.chart.metadata.version)
            {
                continue 'outer;
            }
        }
        deps.push(existing.copy());
    }
    for i in 0..c.reqs.len() {
        if let Some(d) = alias_dependency(&c.deps, &c.reqs[i]) {
            deps.push(d);
        }
        if !c.reqs[i].alias.is_empty() {
            c.reqs[i].name = c.reqs[i].alias.clone();
        }
    }
    c.deps = deps;
    for r in &mut c.reqs {
        r.enabled = true;
    }
    let cvals = coalesce_values_copy(c, v)?;
    process_tags(&mut c.reqs, &cvals);
    process_conditions(&mut c.reqs, &cvals, path);
    let removed: Vec<String> = c
        .reqs
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.name.clone())
        .collect();
    c.deps.retain(|d| !removed.contains(&d.name));
    c.reqs.retain(|r| !removed.contains(&r.name));
    for t in &mut c.deps {
        let sub = format!("{path}{}.", t.name);
        process_enabled(t, &cvals, &sub)?;
    }
    Ok(())
}

fn path_to_map(path: &str, data: MapRef) -> MapRef {
    if path == "." {
        return data;
    }
    let mut cur = data;
    for p in path.split('.').rev() {
        let m = new_map();
        m.borrow_mut().insert(p.to_string(), Value::Map(cur));
        cur = m;
    }
    cur
}

fn process_import_values(c: &mut Node<'_>) -> Result<(), Error> {
    if c.reqs.is_empty() {
        return Ok(());
    }
    let cvals = merge_values_copy(c, &new_map())?;
    let b = new_map();
    for r in &c.reqs {
        for iv in &r.import_values {
            match iv {
                ImportValue::Map { child, parent } => {
                    if let Some(vv) = table(&cvals, &format!("{}.{child}", r.name)) {
                        merge_tables(&b, &path_to_map(parent, vv));
                    }
                }
                ImportValue::Export(s) => {
                    if let Some(vm) = table(&cvals, &format!("{}.exports.{s}", r.name)) {
                        merge_tables(&b, &vm);
                    }
                }
            }
        }
    }
    let cvals = deep_copy_map(&cvals);
    merge_tables(&cvals, &b);
    c.values = cvals;
    Ok(())
}

/// `processDependencyImportValues`, children first.
pub fn process_imports(c: &mut Node<'_>) -> Result<(), Error> {
    for d in &mut c.deps {
        process_imports(d)?;
    }
    process_import_values(c)
}

/// `mergeMaps` of Helm's values options: `b` over `a`, maps merged recursively.
pub fn merge_maps(a: &MapRef, b: &MapRef) -> MapRef {
    let out: BTreeMap<String, Value> = a.borrow().clone();
    let out = Rc::new(MapData::new(out));
    for (k, v) in b.borrow().iter() {
        if let Value::Map(vm) = v {
            let existing = out.borrow().get(k).cloned();
            if let Some(Value::Map(bv)) = existing {
                let merged = merge_maps(&bv, vm);
                out.borrow_mut().insert(k.clone(), Value::Map(merged));
                continue;
            }
        }
        out.borrow_mut().insert(k.clone(), v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::{File, load_files};

    fn chart(files: &[(&str, &str)]) -> Chart {
        load_files(
            files
                .iter()
                .map(|(n, d)| File {
                    name: n.to_string(),
                    data: d.as_bytes().to_vec(),
                })
                .collect(),
        )
        .unwrap()
    }

    fn json(m: &MapRef) -> String {
        tether_gotmpl::json::marshal(
            &Value::Map(m.clone()),
            &tether_gotmpl::json::JsonOpts {
                escape_html: true,
                indent: None,
            },
        )
        .unwrap()
    }

    fn yaml(s: &str) -> MapRef {
        as_map(Value::from_yaml_str(s).unwrap())
    }

    #[test]
    fn coalesce_order_globals_and_null() {
        let c = chart(&[
            ("Chart.yaml", "apiVersion: v2\nname: p\nversion: 1.0.0\n"),
            (
                "values.yaml",
                "a: 1\nb: {c: 2, d: 3}\nsub: {x: parent}\nglobal: {g: 1}\n",
            ),
            (
                "charts/sub/Chart.yaml",
                "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
            ),
            (
                "charts/sub/values.yaml",
                "x: child\nz: child\nglobal: {g: 0, h: 2}\n",
            ),
        ]);
        let node = Node::new(&c);
        let out = coalesce_values_copy(&node, &yaml("b: {c: null}\nnew: null\n")).unwrap();
        assert_eq!(
            json(&out),
            r#"{"a":1,"b":{"d":3},"global":{"g":1},"new":null,"sub":{"global":{"g":1,"h":2},"x":"parent","z":"child"}}"#
        );
    }

    #[test]
    fn conditions_tags_alias_imports() {
        let c = chart(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: p\nversion: 1.0.0\ndependencies:\n- {name: sub, version: 1.x, condition: 'off.enabled,sub.enabled'}\n- {name: sub, version: 1.x, alias: two, tags: [t], import-values: [data, {child: x, parent: imp}]}\n",
            ),
            (
                "values.yaml",
                "sub: {enabled: false}\ntags: {t: true}\ndata: mine\n",
            ),
            (
                "charts/sub/Chart.yaml",
                "apiVersion: v2\nname: sub\nversion: 1.2.0\n",
            ),
            (
                "charts/sub/values.yaml",
                "x: {k: v}\nexports: {data: {data: theirs, more: 1}}\n",
            ),
        ]);
        let mut node = Node::new(&c);
        process_enabled(&mut node, &new_map(), "").unwrap();
        assert_eq!(
            node.deps
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>(),
            ["two"]
        );
        process_imports(&mut node).unwrap();
        let v = node.values.borrow();
        assert_eq!(tether_gotmpl::fmt::go_sprint(&[v["data"].clone()]), "mine");
        assert_eq!(tether_gotmpl::fmt::go_sprint(&[v["more"].clone()]), "1");
        assert_eq!(
            tether_gotmpl::fmt::go_sprint(&[v["imp"].clone()]),
            "map[k:v]"
        );
    }

    #[test]
    fn user_maps_merge() {
        let a = yaml("a: {b: 1, c: 2}\nl: [1]\n");
        let b = yaml("a: {c: 3}\nl: [2]\n");
        assert_eq!(json(&merge_maps(&a, &b)), r#"{"a":{"b":1,"c":3},"l":[2]}"#);
    }
}
