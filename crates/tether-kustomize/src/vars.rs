//! Legacy `vars`: `$(NAME)` references in the var-reference fields are replaced by a field of
//! the named object, after names are final.

use crate::error::{Error, Result};
use crate::fieldspec::{Leaf, TransformerConfig};
use crate::resid::Gvk;
use crate::resource::Resource;
use crate::types::Var;
use serde_json::Value;
use std::collections::HashMap;

fn field_value(obj: &Value, path: &str) -> Option<Value> {
    let mut cur = obj;
    for part in path.split('.') {
        let (name, idx) = match part.find('[') {
            Some(i) => (&part[..i], Some(&part[i..])),
            None => (part, None),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        if let Some(mut rest) = idx {
            while let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']')?;
                let n: usize = r[..end].parse().ok()?;
                cur = cur.get(n)?;
                rest = &r[end + 1..];
            }
        }
    }
    Some(cur.clone())
}

fn expand(s: &str, vals: &HashMap<String, Value>) -> Value {
    if let Some(name) = s.strip_prefix("$(").and_then(|x| x.strip_suffix(')'))
        && let Some(v) = vals.get(name)
        && !name.contains(['$', '(', ')'])
    {
        return v.clone();
    }
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        if b[i] == b'$' && i + 1 < s.len() && b[i + 1] == b'$' {
            out.push('$');
            i += 2;
            continue;
        }
        if b[i] == b'$'
            && i + 1 < s.len()
            && b[i + 1] == b'('
            && let Some(end) = s[i + 2..].find(')')
        {
            let name = &s[i + 2..i + 2 + end];
            if let Some(v) = vals.get(name) {
                match v {
                    Value::String(x) => out.push_str(x),
                    other => out.push_str(&other.to_string()),
                }
                i += 3 + end;
                continue;
            }
        }
        let ch = s[i..].chars().next().expect("index is on a char boundary");
        out.push(ch);
        i += ch.len_utf8();
    }
    Value::String(out)
}

fn expand_node(v: &mut Value, vals: &HashMap<String, Value>) {
    match v {
        Value::String(s) => *v = expand(s, vals),
        Value::Array(items) => items.iter_mut().for_each(|i| expand_node(i, vals)),
        Value::Object(m) => m.values_mut().for_each(|i| expand_node(i, vals)),
        _ => {}
    }
}

/// Resolves vars and expands references.
pub fn resolve(res: &mut [Resource], vars: &[Var], cfg: &TransformerConfig) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut vals = HashMap::new();
    for v in vars {
        let gvk = Gvk::from_api_version(
            v.objref.api_version.as_deref().unwrap_or(""),
            v.objref.kind.as_deref().unwrap_or(""),
        );
        let name = v.objref.name.as_deref().unwrap_or("");
        let ns = v.objref.namespace.as_deref().unwrap_or("");
        let hits: Vec<&Resource> = res
            .iter()
            .filter(|r| {
                r.all_ids().iter().any(|id| {
                    id.gvk == gvk && id.name == name && (ns.is_empty() || id.namespace == ns)
                })
            })
            .collect();
        if hits.len() > 1 {
            return Err(Error::Transform(format!(
                "found {} resId matches for var {} (unable to disambiguate)",
                hits.len(),
                v.name
            )));
        }
        let Some(r) = hits.first() else {
            return Err(Error::Transform(format!(
                "var '{}' cannot be mapped to a field in the set of known resources",
                v.name
            )));
        };
        let path = v
            .fieldref
            .as_ref()
            .map(|f| f.fieldpath.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("metadata.name");
        let val = field_value(&Value::Object(r.obj.clone()), path).ok_or_else(|| {
            Error::Transform(format!(
                "field specified in var '{}' not found in corresponding resource",
                v.name
            ))
        })?;
        vals.insert(v.name.clone(), val);
    }
    for r in res.iter_mut() {
        let gvk = r.gvk();
        for fs in &cfg.var_reference {
            if !gvk.is_selected(&fs.gvk) {
                continue;
            }
            let mut v = Value::Object(std::mem::take(&mut r.obj));
            let out = fs.apply(&mut v, Leaf::None, &mut |node| {
                expand_node(node, &vals);
                Ok(())
            });
            if let Value::Object(m) = v {
                r.obj = m;
            }
            out.map_err(Error::Transform)?;
        }
    }
    Ok(())
}
