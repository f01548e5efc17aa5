//! `replacements`: copy a field of one object into fields of others, with kustomize's field
//! path syntax (`spec.template.spec.containers.[name=app].image`, `*`, indexes), delimiter
//! options and `create`.

use crate::error::{Error, Result};
use crate::resid::{Gvk, ResId};
use crate::resource::Resource;
use crate::select::LabelSelector;
use crate::types::{Replacement, ReplacementOptions, Selector};
use serde_json::{Map, Value};

/// Splits a dotted field path; dots inside `[...]` do not split.
pub fn split_field_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c)
            }
            ']' => {
                depth -= 1;
                cur.push(c)
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// Finds (and with `create`, makes) every node at `path`.
fn lookup<'a>(
    node: &'a mut Value,
    path: &[String],
    create: Option<&Value>,
    out: &mut Vec<&'a mut Value>,
) {
    let Some((seg, rest)) = path.split_first() else {
        out.push(node);
        return;
    };
    let intermediate = || {
        if rest.first().is_some_and(|s| s.starts_with('[')) {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        }
    };
    if let Some(inner) = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let Value::Array(items) = node else { return };
        let (k, v) = inner.split_once('=').unwrap_or((inner, ""));
        let hit = items
            .iter()
            .any(|it| it.get(k).and_then(scalar_text).as_deref() == Some(v));
        if !hit {
            if create.is_none() {
                return;
            }
            let mut m = Map::new();
            m.insert(k.to_string(), Value::String(v.to_string()));
            items.push(Value::Object(m));
        }
        for it in items.iter_mut() {
            if it.get(k).and_then(scalar_text).as_deref() == Some(v) {
                lookup(it, rest, create, out);
            }
        }
        return;
    }
    match node {
        Value::Array(items) => {
            if seg == "*" {
                for it in items.iter_mut() {
                    lookup(it, rest, create, out);
                }
            } else if let Ok(i) = seg.parse::<usize>()
                && let Some(it) = items.get_mut(i)
            {
                lookup(it, rest, create, out);
            }
        }
        Value::Object(m) => {
            if seg == "*" {
                for (_, v) in m.iter_mut() {
                    lookup(v, rest, create, out);
                }
                return;
            }
            if !m.contains_key(seg.as_str())
                || m.get(seg.as_str()).is_some_and(Value::is_null) && create.is_some()
            {
                let Some(leaf) = create else { return };
                let v = if rest.is_empty() {
                    match leaf {
                        Value::Object(_) => Value::Object(Map::new()),
                        Value::Array(_) => Value::Array(Vec::new()),
                        _ => Value::Null,
                    }
                } else {
                    intermediate()
                };
                m.insert(seg.clone(), v);
            }
            if let Some(child) = m.get_mut(seg.as_str()) {
                lookup(child, rest, create, out);
            }
        }
        Value::Null if create.is_some() => {
            *node = if seg.starts_with('[') {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            };
            lookup(node, path, create, out);
        }
        _ => {}
    }
}

fn id_selected(id: &ResId, s: &Selector) -> bool {
    let gvk = Gvk {
        group: s.group.clone().unwrap_or_default(),
        version: s.version.clone().unwrap_or_default(),
        kind: s.kind.clone().unwrap_or_default(),
    };
    s.name
        .as_deref()
        .is_none_or(|n| n.is_empty() || n == id.name)
        && s.namespace.as_deref().is_none_or(|n| {
            n.is_empty()
                || ResId {
                    namespace: n.into(),
                    ..id.clone()
                }
                .effective_namespace()
                    == id.effective_namespace()
        })
        && id.gvk.is_selected(&gvk)
}

fn selected(r: &Resource, s: &Selector) -> Result<bool> {
    if !r.all_ids().iter().any(|id| id_selected(id, s)) {
        return Ok(false);
    }
    if let Some(l) = s.label_selector.as_deref().filter(|l| !l.is_empty())
        && !LabelSelector::parse(l)?.matches(&r.meta_map("labels"))
    {
        return Ok(false);
    }
    if let Some(a) = s.annotation_selector.as_deref().filter(|l| !l.is_empty())
        && !LabelSelector::parse(a)?.matches(&r.meta_map("annotations"))
    {
        return Ok(false);
    }
    Ok(true)
}

fn source_value(res: &[Resource], rep: &Replacement) -> Result<Value> {
    let src = rep
        .source
        .as_ref()
        .ok_or_else(|| Error::Transform("replacement has no source".into()))?;
    let sel = Selector {
        group: src.group.clone(),
        version: src.version.clone(),
        kind: src.kind.clone(),
        name: src.name.clone(),
        namespace: src.namespace.clone(),
        ..Default::default()
    };
    let mut found: Option<&Resource> = None;
    for r in res {
        if selected(r, &sel)? {
            if found.is_some() {
                return Err(Error::Transform(format!(
                    "multiple matches for selector {sel:?}"
                )));
            }
            found = Some(r);
        }
    }
    let r = found.ok_or_else(|| Error::Transform(format!("nothing selected by {sel:?}")))?;
    let fp = src
        .field_path
        .clone()
        .unwrap_or_else(|| "metadata.name".into());
    let mut obj = Value::Object(r.obj.clone());
    let mut hits = Vec::new();
    lookup(&mut obj, &split_field_path(&fp), None, &mut hits);
    let v = hits.into_iter().next().map(|v| v.clone()).ok_or_else(|| {
        Error::Transform(format!(
            "fieldPath `{fp}` is missing for replacement source {}",
            r.cur_id()
        ))
    })?;
    if let Some(o) = &src.options
        && let Some(d) = o.delimiter.as_deref().filter(|d| !d.is_empty())
    {
        let text = scalar_text(&v).ok_or_else(|| {
            Error::Transform("delimiter option can only be used with scalar nodes".into())
        })?;
        let parts: Vec<&str> = text.split(d).collect();
        if o.index < 0 || o.index as usize >= parts.len() {
            return Err(Error::Transform(format!(
                "options.index {} is out of bounds for value {text}",
                o.index
            )));
        }
        return Ok(Value::String(parts[o.index as usize].to_string()));
    }
    Ok(v)
}

fn set_value(target: &mut Value, value: &Value, opts: Option<&ReplacementOptions>) -> Result<()> {
    let mut value = value.clone();
    if let Some(o) = opts
        && let Some(d) = o.delimiter.as_deref().filter(|d| !d.is_empty())
    {
        let tv = scalar_text(target).ok_or_else(|| {
            Error::Transform("delimiter option can only be used with scalar nodes".into())
        })?;
        let mut parts: Vec<String> = tv.split(d).map(str::to_string).collect();
        let v = scalar_text(&value).unwrap_or_default();
        if o.index < 0 {
            parts.insert(0, v);
        } else if o.index as usize >= parts.len() {
            parts.push(v);
        } else {
            parts[o.index as usize] = v;
        }
        value = Value::String(parts.join(d));
    }
    // A scalar target keeps its YAML tag: only the text is copied. A created (or null) target
    // has no tag, so the text resolves as a plain scalar would (`8080` becomes a number).
    let resolve = |text: &str| {
        serde_yaml::from_str::<Value>(text)
            .ok()
            .filter(|v| !v.is_object() && !v.is_array())
    };
    match (&*target, scalar_text(&value)) {
        (Value::String(_), Some(text)) if !value.is_null() => *target = Value::String(text),
        (Value::Number(n), Some(text)) if !value.is_null() => match resolve(&text) {
            Some(v @ Value::Number(_)) => *target = v,
            _ => {
                let tag = if n.is_f64() { "!!float" } else { "!!int" };
                return Err(Error::Transform(format!(
                    "yaml: cannot decode !!str `{text}` as a {tag}"
                )));
            }
        },
        (Value::Bool(_), Some(text)) if !value.is_null() => match resolve(&text) {
            Some(v @ Value::Bool(_)) => *target = v,
            _ => {
                return Err(Error::Transform(format!(
                    "yaml: cannot decode !!str `{text}` as a !!bool"
                )));
            }
        },
        (Value::Null, Some(text))
            if !value.is_null() && !value.is_object() && !value.is_array() =>
        {
            *target = resolve(&text).unwrap_or(Value::String(text));
        }
        _ => *target = value,
    }
    Ok(())
}

/// Applies `replacements` in order.
pub fn apply(res: &mut [Resource], reps: &[Replacement]) -> Result<()> {
    for rep in reps {
        let value = source_value(res, rep)?;
        for t in &rep.targets {
            let Some(sel) = &t.select else {
                return Err(Error::Transform(
                    "replacement target has no `select`".into(),
                ));
            };
            for r in res.iter_mut() {
                if !selected(r, sel)? {
                    continue;
                }
                let mut rejected = false;
                for rj in &t.reject {
                    if selected(r, rj)? {
                        rejected = true;
                    }
                }
                if rejected {
                    continue;
                }
                let create = t.options.as_ref().is_some_and(|o| o.create);
                let id = r.cur_id();
                let mut obj = Value::Object(std::mem::take(&mut r.obj));
                let mut result = Ok(());
                for fp in &t.field_paths {
                    let mut hits = Vec::new();
                    lookup(
                        &mut obj,
                        &split_field_path(fp),
                        create.then_some(&value),
                        &mut hits,
                    );
                    if hits.is_empty() {
                        result = Err(Error::Transform(if create {
                            format!(
                                "unable to find or create field \"{fp}\" in replacement target {id}"
                            )
                        } else {
                            format!("unable to find field \"{fp}\" in replacement target {id}")
                        }));
                        break;
                    }
                    for h in hits {
                        if let Err(e) = set_value(h, &value, t.options.as_ref()) {
                            result = Err(e);
                        }
                    }
                }
                if let Value::Object(m) = obj {
                    r.obj = m;
                }
                result?;
            }
        }
    }
    Ok(())
}
