//! `patches`, `patchesStrategicMerge` and `patchesJson6902`: strategic merge patches (see
//! [`crate::smp`]) and RFC 6902 JSON patches, by id or by target selector.

use crate::error::{Error, Result};
use crate::fs::Loader;
use crate::resid::ResId;
use crate::resource::{Resource, parse_objects};
use crate::select::Compiled;
use crate::smp;
use crate::types::{Patch, Selector};
use serde_json::{Map, Value};
use std::path::PathBuf;

/// A loaded patch.
pub enum Loaded {
    Smp(Vec<Map<String, Value>>),
    Json(json_patch::Patch),
}

fn load_text(ldr: &Loader<'_>, p: &Patch) -> Result<(String, PathBuf)> {
    match (&p.path, &p.patch) {
        (Some(path), None) => {
            let (full, text) = ldr.read_string(path)?;
            Ok((text, full))
        }
        (None, Some(text)) => Ok((text.clone(), ldr.root.join("kustomization.yaml"))),
        (Some(_), Some(_)) => Err(Error::Patch(
            "patch and path can't be set at the same time".into(),
        )),
        (None, None) => Err(Error::Patch(
            "must specify one of patch and path in a patch entry".into(),
        )),
    }
}

fn parse_json_patch(text: &str, origin: &std::path::Path) -> Result<json_patch::Patch> {
    let v: Value = serde_yaml::from_str(text).map_err(|e| {
        Error::Patch(format!(
            "unable to parse JSON patch from `{}`: {e}",
            origin.display()
        ))
    })?;
    serde_json::from_value(v).map_err(|e| {
        Error::Patch(format!(
            "unable to parse JSON patch from `{}`: {e}",
            origin.display()
        ))
    })
}

fn looks_like_json_patch(text: &str) -> bool {
    matches!(serde_yaml::from_str::<Value>(text), Ok(Value::Array(_)))
}

/// Loads a `patches` entry, telling SMP from JSON patch by its shape.
pub fn load_patch(ldr: &Loader<'_>, p: &Patch) -> Result<Loaded> {
    let (text, origin) = load_text(ldr, p)?;
    if looks_like_json_patch(&text) {
        return Ok(Loaded::Json(parse_json_patch(&text, &origin)?));
    }
    let objs = parse_objects(&text, &origin).map_err(|e| {
        Error::Patch(format!(
            "unable to parse SM or JSON patch from `{}`: {e}",
            origin.display()
        ))
    })?;
    Ok(Loaded::Smp(objs))
}

/// Loads a `patchesJson6902` entry.
pub fn load_json6902(ldr: &Loader<'_>, p: &Patch) -> Result<json_patch::Patch> {
    let (text, origin) = load_text(ldr, p)?;
    parse_json_patch(&text, &origin)
}

/// Loads a `patchesStrategicMerge` entry: a file, or inline YAML.
pub fn load_psm(ldr: &Loader<'_>, entry: &str) -> Result<Vec<Map<String, Value>>> {
    let is_inline =
        entry.contains('\n') || (!ldr.fs.is_file(&ldr.root.join(entry)) && entry.contains(':'));
    if is_inline {
        return parse_objects(entry, &ldr.root.join("kustomization.yaml"));
    }
    let (full, text) = ldr.read_string(entry)?;
    parse_objects(&text, &full)
}

fn patch_id(p: &Map<String, Value>) -> ResId {
    let r = Resource::new(p.clone());
    r.cur_id()
}

/// Applies one strategic merge patch to one resource. Returns false when the patch deleted it.
fn apply_smp(
    r: &mut Resource,
    patch: &Map<String, Value>,
    allow_name: bool,
    allow_kind: bool,
) -> Result<bool> {
    let name = r.name().to_string();
    let ns = r.namespace().to_string();
    let kind = r.kind().to_string();
    if allow_name || allow_kind {
        r.store_previous_id();
    }
    let mut p = patch.clone();
    // The patch takes the target's apiVersion (and kind unless it may change it).
    p.insert(
        "apiVersion".into(),
        Value::String(r.api_version().to_string()),
    );
    if !allow_kind {
        p.insert("kind".into(), Value::String(kind.clone()));
    }
    let merged = smp::merge_object(std::mem::take(&mut r.obj), &p).map_err(|e| {
        Error::Patch(format!(
            "applying patch to {}: {e}",
            ResId {
                name: name.clone(),
                ..r.cur_id()
            }
        ))
    })?;
    let Some(m) = merged else { return Ok(false) };
    r.obj = m;
    if !allow_kind {
        r.obj.insert("kind".into(), Value::String(kind));
    }
    if !allow_name {
        r.set_name(&name);
    }
    r.set_namespace(&ns);
    Ok(true)
}

fn select(res: &mut [Resource], target: &Selector) -> Result<Vec<usize>> {
    let c = Compiled::new(target)?;
    Ok(res
        .iter()
        .enumerate()
        .filter(|(_, r)| c.matches(r))
        .map(|(i, _)| i)
        .collect())
}

/// Applies strategic merge patches found by id (no target).
pub fn smp_by_id(
    res: &mut Vec<Resource>,
    patches: &[Map<String, Value>],
    allow_name: bool,
    allow_kind: bool,
) -> Result<()> {
    for p in patches {
        let id = patch_id(p);
        let hits: Vec<usize> = res
            .iter()
            .enumerate()
            .filter(|(_, r)| r.all_ids().iter().any(|x| x.matches(&id)))
            .map(|(i, _)| i)
            .collect();
        match hits.len() {
            0 => {
                return Err(Error::Patch(format!(
                    "no resource matches strategic merge patch \"{id}\": no matches for Id {id}; failed to find unique target for patch {id}"
                )));
            }
            1 => {}
            _ => {
                return Err(Error::Patch(format!(
                    "multiple matches for Id {id}; failed to find unique target for patch {id}"
                )));
            }
        }
        let i = hits[0];
        if !apply_smp(&mut res[i], p, allow_name, allow_kind)? {
            res.remove(i);
        }
    }
    Ok(())
}

/// Applies strategic merge patches to every resource the target selects.
pub fn smp_by_target(
    res: &mut Vec<Resource>,
    patches: &[Map<String, Value>],
    target: &Selector,
    allow_name: bool,
    allow_kind: bool,
) -> Result<()> {
    for p in patches {
        let hits = select(res, target)?;
        let mut deleted = Vec::new();
        for i in hits {
            let r = &mut res[i];
            let mut pc = p.clone();
            let md = pc
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(md) = md {
                if !allow_name {
                    md.insert("name".into(), Value::String(r.name().to_string()));
                }
                if r.namespace().is_empty() {
                    md.remove("namespace");
                } else {
                    md.insert("namespace".into(), Value::String(r.namespace().to_string()));
                }
            }
            if !apply_smp(r, &pc, allow_name, allow_kind)? {
                deleted.push(i);
            }
        }
        for i in deleted.into_iter().rev() {
            res.remove(i);
        }
    }
    Ok(())
}

/// Applies a JSON patch to every resource the target selects.
pub fn json_by_target(
    res: &mut [Resource],
    patch: &json_patch::Patch,
    target: &Selector,
) -> Result<()> {
    for i in select(res, target)? {
        let r = &mut res[i];
        r.store_previous_id();
        let id = r.cur_id();
        let mut v = Value::Object(std::mem::take(&mut r.obj));
        let mut out = Ok(());
        // kustomize applies JSON patches with "ensure path exists on add": missing parents of
        // an `add` are created. Operations are applied one by one so that each sees the last.
        for op in &patch.0 {
            if let json_patch::PatchOperation::Add(add) = op {
                ensure_parents(&mut v, &add.path.to_string());
            }
            out = json_patch::patch(&mut v, std::slice::from_ref(op));
            if out.is_err() {
                break;
            }
        }
        if let Value::Object(m) = v {
            r.obj = m;
        }
        out.map_err(|e| Error::Patch(format!("unable to apply JSON patch to {id}: {e}")))?;
    }
    Ok(())
}

/// Creates the missing parents of a JSON pointer: maps, or lists before a `-`/index token.
fn ensure_parents(v: &mut Value, pointer: &str) {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((_, parents)) = tokens.split_last() else {
        return;
    };
    let mut cur = v;
    for (i, t) in parents.iter().enumerate() {
        let next_is_index = tokens
            .get(i + 1)
            .is_some_and(|n| n == "-" || n.chars().all(|c| c.is_ascii_digit()));
        cur = match cur {
            Value::Object(m) => {
                let child = m.entry(t.clone()).or_insert(Value::Null);
                if child.is_null() {
                    *child = if next_is_index {
                        Value::Array(Vec::new())
                    } else {
                        Value::Object(Map::new())
                    };
                }
                child
            }
            Value::Array(a) => match t.parse::<usize>() {
                Ok(n) if n < a.len() => &mut a[n],
                _ => return,
            },
            _ => return,
        };
    }
}
