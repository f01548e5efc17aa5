//! Sprig dict functions. `set`, `unset`, `merge` and `mergeOverwrite` mutate their first argument, which
//! later templates see (Go maps are references).

use std::collections::BTreeMap;

use super::{FnError, FnResult, P, Registry, is_empty, s, strval};
use crate::value::{MapRef, Value};

fn map_of(v: &Value) -> Option<MapRef> {
    match v {
        Value::Map(m) => Some(m.clone()),
        _ => None,
    }
}

/// mergo.Merge / mergo.Merge(WithOverride) on `map[string]interface{}` as Sprig calls it.
pub(crate) fn mergo(dst: &MapRef, src: &MapRef, overwrite: bool, depth: usize) {
    if depth > 64 || dst.same_map(src) {
        return;
    }
    let src_items: Vec<(String, Value)> = src
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, sv) in src_items {
        let dv = dst.borrow().get(&k).cloned();
        match &sv {
            Value::Nil => {
                if overwrite {
                    dst.borrow_mut().insert(k, Value::Nil);
                }
                continue;
            }
            Value::Map(sm) => {
                if let Some(Value::Map(dm)) = &dv {
                    mergo(dm, sm, overwrite, depth + 1);
                    if !dm.borrow().is_empty() {
                        continue;
                    }
                }
            }
            Value::List(..) => {
                let dst_empty = dv.as_ref().is_none_or(is_empty);
                if overwrite || dst_empty {
                    dst.borrow_mut().insert(k, sv.clone());
                }
                continue;
            }
            _ => {}
        }
        let dst_empty = dv.as_ref().is_none_or(is_empty);
        if overwrite || dst_empty {
            dst.borrow_mut().insert(k, sv);
        }
    }
}

fn merge_fn(a: Vec<Value>, overwrite: bool) -> FnResult {
    let Some(dst) = map_of(&a[0]) else {
        return Ok(a[0].clone());
    };
    for src in &a[1..] {
        if let Some(sm) = map_of(src) {
            mergo(&dst, &sm, overwrite, 0);
        }
    }
    Ok(Value::Map(dst))
}

fn dig(m: &MapRef, def: Value, keys: &[String]) -> FnResult {
    let step = m.borrow().get(&keys[0]).cloned();
    let Some(step) = step else { return Ok(def) };
    if keys.len() == 1 {
        return Ok(step);
    }
    match step {
        Value::Map(n) => dig(&n, def, &keys[1..]),
        other => Err(FnError::Msg(format!(
            "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
            if other.is_nil() {
                "nil".to_string()
            } else {
                other.type_name()
            }
        ))),
    }
}

pub(super) fn register(r: &mut Registry) {
    r.add("dict", &[], Some(P::Any), |_, a| {
        let mut m = BTreeMap::new();
        let mut i = 0;
        while i < a.len() {
            let k = strval(&a[i]);
            let v = a.get(i + 1).cloned().unwrap_or_else(|| Value::str(""));
            m.insert(k, v);
            i += 2;
        }
        Ok(Value::map(m))
    });
    r.add("get", &[P::Map, P::Str], None, |_, a| {
        let Some(m) = map_of(&a[0]) else {
            return Ok(Value::str(""));
        };
        let v = m.borrow().get(s(&a[1])).cloned();
        Ok(v.unwrap_or_else(|| Value::str("")))
    });
    r.add("set", &[P::Map, P::Str, P::Any], None, |_, a| {
        let Some(m) = map_of(&a[0]) else {
            return Err("assignment to entry in nil map".into());
        };
        m.borrow_mut().insert(s(&a[1]).to_string(), a[2].clone());
        Ok(a[0].clone())
    });
    r.add("unset", &[P::Map, P::Str], None, |_, a| {
        if let Some(m) = map_of(&a[0]) {
            m.borrow_mut().remove(s(&a[1]));
        }
        Ok(a[0].clone())
    });
    r.add("hasKey", &[P::Map, P::Str], None, |_, a| {
        Ok(Value::Bool(
            map_of(&a[0]).is_some_and(|m| m.borrow().contains_key(s(&a[1]))),
        ))
    });
    r.add("pluck", &[P::Str], Some(P::Map), |_, a| {
        let k = s(&a[0]);
        let mut out = Vec::new();
        for d in &a[1..] {
            if let Some(m) = map_of(d)
                && let Some(v) = m.borrow().get(k)
            {
                out.push(v.clone());
            }
        }
        Ok(Value::list(out))
    });
    r.add("keys", &[], Some(P::Map), |_, a| {
        let mut out = Vec::new();
        for d in &a {
            if let Some(m) = map_of(d) {
                out.extend(m.borrow().keys().cloned());
            }
        }
        Ok(Value::string_list(out))
    });
    r.add("values", &[P::Map], None, |_, a| {
        let out = map_of(&a[0])
            .map(|m| m.borrow().values().cloned().collect())
            .unwrap_or_default();
        Ok(Value::list(out))
    });
    r.add("pick", &[P::Map], Some(P::Str), |_, a| {
        let mut out = BTreeMap::new();
        if let Some(m) = map_of(&a[0]) {
            let m = m.borrow();
            for k in &a[1..] {
                if let Some(v) = m.get(s(k)) {
                    out.insert(s(k).to_string(), v.clone());
                }
            }
        }
        Ok(Value::map(out))
    });
    r.add("omit", &[P::Map], Some(P::Str), |_, a| {
        let mut out = BTreeMap::new();
        if let Some(m) = map_of(&a[0]) {
            let omit: Vec<&str> = a[1..].iter().map(s).collect();
            for (k, v) in m.borrow().iter() {
                if !omit.contains(&k.as_str()) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(Value::map(out))
    });
    r.add("merge", &[P::Map], Some(P::Map), |_, a| merge_fn(a, false));
    r.add("mustMerge", &[P::Map], Some(P::Map), |_, a| {
        merge_fn(a, false)
    });
    r.add("mergeOverwrite", &[P::Map], Some(P::Map), |_, a| {
        merge_fn(a, true)
    });
    r.add("mustMergeOverwrite", &[P::Map], Some(P::Map), |_, a| {
        merge_fn(a, true)
    });
    r.add("dig", &[], Some(P::Any), |_, a| {
        if a.len() < 3 {
            return Err("dig needs at least three arguments".into());
        }
        let n = a.len();
        let Some(m) = map_of(&a[n - 1]).filter(|m| m.type_name().is_none()) else {
            return Err(format!(
                "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                if a[n - 1].is_nil() {
                    "nil".to_string()
                } else {
                    a[n - 1].type_name()
                }
            )
            .into());
        };
        let mut keys = Vec::new();
        for k in &a[..n - 2] {
            match k {
                Value::String(s) => keys.push(s.to_string()),
                other => {
                    return Err(format!(
                        "interface conversion: interface {{}} is {}, not string",
                        if other.is_nil() {
                            "nil".to_string()
                        } else {
                            other.type_name()
                        }
                    )
                    .into());
                }
            }
        }
        dig(&m, a[n - 2].clone(), &keys)
    });
}
