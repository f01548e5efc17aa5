//! Name-reference propagation: after names changed (prefix, suffix, hash, patches), fields
//! that name another object (a ConfigMap in a volume, a ServiceAccount in a RoleBinding, …)
//! are updated to the new name, following kustomize's name-reference table and its rules for
//! picking among several candidates.

use crate::error::{Error, Result};
use crate::fieldspec::{FieldSpec, Leaf, TransformerConfig};
use crate::resid::{Gvk, ResId};
use crate::resource::Resource;
use serde_json::Value;

struct Cand {
    prev: Vec<ResId>,
    cur: ResId,
    org_ns: String,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let diff = long.len() - short.len();
    if short.is_empty() {
        return diff == 0;
    }
    short.iter().enumerate().all(|(i, s)| long[i + diff] == *s)
}

struct Ctx<'a> {
    cands: &'a [Cand],
    referrer: &'a Cand,
    role_ref: Option<Gvk>,
    target: &'a Gvk,
    fs: &'a FieldSpec,
}

impl Ctx<'_> {
    fn select(&self, old: &str, pool: &[usize], with_ns: bool) -> Result<Option<usize>, String> {
        let mut c: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|&i| self.cands[i].prev.iter().any(|id| id.name == old))
            .filter(|&i| {
                self.cands[i]
                    .prev
                    .iter()
                    .any(|id| id.gvk.is_selected(self.target))
            })
            .collect();
        if self.fs.path.ends_with("roleRef/name")
            && let Some(rr) = &self.role_ref
        {
            c.retain(|&i| self.cands[i].prev.iter().any(|id| id.gvk.is_selected(rr)));
        }
        let rcur = &self.referrer.cur;
        if !rcur.gvk.is_cluster_scoped() {
            c.retain(|&i| {
                let x = &self.cands[i].cur;
                x.gvk.is_cluster_scoped()
                    || x.gvk.kind == "ServiceAccount"
                    || x.effective_namespace() == rcur.effective_namespace()
            });
        }
        if c.len() == 1 {
            return Ok(Some(c[0]));
        }
        c.retain(|&i| {
            same_ending(&self.cands[i].prefixes, &self.referrer.prefixes)
                && same_ending(&self.cands[i].suffixes, &self.referrer.suffixes)
        });
        match c.len() {
            0 => Ok(None),
            1 => Ok(Some(c[0])),
            _ => {
                let f = &self.cands[c[0]].cur;
                let identical = c.iter().all(|&i| {
                    let x = &self.cands[i].cur;
                    x.name == f.name && (!with_ns || x.namespace == f.namespace)
                });
                if identical {
                    Ok(Some(c[0]))
                } else {
                    let ids: Vec<String> =
                        c.iter().map(|&i| self.cands[i].cur.to_string()).collect();
                    Err(format!(
                        "found multiple possible referrals: {}",
                        ids.join(", ")
                    ))
                }
            }
        }
    }

    fn set_scalar(&self, v: &mut Value, pool: &[usize]) -> Result<(), String> {
        let Value::String(old) = v else { return Ok(()) };
        if let Some(i) = self.select(old, pool, false)? {
            *old = self.cands[i].cur.name.clone();
        }
        Ok(())
    }

    fn set_mapping(&self, v: &mut Value, pool: &[usize]) -> Result<(), String> {
        let Value::Object(m) = v else { return Ok(()) };
        let Some(Value::String(old)) = m.get("name").cloned() else {
            return Err("path config error; no 'name' field in node".into());
        };
        let pool: Vec<usize> = match m.get("namespace").and_then(Value::as_str) {
            None => pool.to_vec(),
            Some(ns) => {
                let by_org: Vec<usize> = pool
                    .iter()
                    .copied()
                    .filter(|&i| self.cands[i].org_ns == ns)
                    .collect();
                if by_org.is_empty() {
                    pool.iter()
                        .copied()
                        .filter(|&i| self.cands[i].cur.namespace == ns)
                        .collect()
                } else {
                    by_org
                }
            }
        };
        let Some(i) = self.select(&old, &pool, true)? else {
            return Ok(());
        };
        let c = &self.cands[i].cur;
        if c.name == old && c.namespace.is_empty() {
            return Ok(());
        }
        m.insert("name".into(), Value::String(c.name.clone()));
        if !c.namespace.is_empty() {
            m.insert("namespace".into(), Value::String(c.namespace.clone()));
        }
        Ok(())
    }

    fn set(&self, v: &mut Value, pool: &[usize]) -> Result<(), String> {
        match v {
            Value::Null => Ok(()),
            Value::String(_) => self.set_scalar(v, pool),
            Value::Object(_) => self.set_mapping(v, pool),
            Value::Array(items) => {
                for it in items.iter_mut() {
                    match it {
                        Value::String(_) => self.set_scalar(it, pool)?,
                        Value::Object(_) => self.set_mapping(it, pool)?,
                        _ => {}
                    }
                }
                Ok(())
            }
            _ => Err("node must be a scalar, sequence or map".into()),
        }
    }
}

fn role_ref_gvk(r: &Resource) -> Option<Gvk> {
    let rr = r.obj.get("roleRef")?.as_object()?;
    Some(Gvk {
        group: rr.get("apiGroup")?.as_str()?.to_string(),
        version: String::new(),
        kind: rr.get("kind")?.as_str()?.to_string(),
    })
}

/// The resources a referrer may name: same namespace, cluster-scoped ones, and for a
/// RoleBinding the namespaces of its ServiceAccount subjects.
fn pool_for(cands: &[Cand], referrer: &Resource) -> Vec<usize> {
    let rid = referrer.cur_id();
    if rid.gvk.is_cluster_scoped() {
        return (0..cands.len()).collect();
    }
    let mut sa_ns: Vec<String> = Vec::new();
    if referrer.kind() == "RoleBinding"
        && let Some(Value::Array(subjects)) = referrer.obj.get("subjects")
    {
        for s in subjects {
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                && let Some(ns) = s.get("namespace").and_then(Value::as_str)
            {
                sa_ns.push(ns.to_string());
            }
        }
    }
    (0..cands.len())
        .filter(|&i| {
            let id = &cands[i].cur;
            id.gvk.is_cluster_scoped()
                || id.effective_namespace() == rid.effective_namespace()
                || sa_ns.contains(&id.namespace)
        })
        .collect()
}

/// Fixes every name reference in `res`.
pub fn fix(res: &mut [Resource], cfg: &TransformerConfig) -> Result<()> {
    let cands: Vec<Cand> = res
        .iter()
        .map(|r| Cand {
            prev: r.prev_ids.clone(),
            cur: r.cur_id(),
            org_ns: r.org_id().effective_namespace().to_string(),
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
        })
        .collect();
    for (ri, r) in res.iter_mut().enumerate() {
        let org = r.org_id();
        let pool = pool_for(&cands, r);
        let role_ref = role_ref_gvk(r);
        for (target, specs) in &cfg.name_reference {
            for fs in specs {
                if !org.gvk.is_selected(&fs.gvk) {
                    continue;
                }
                let ctx = Ctx {
                    cands: &cands,
                    referrer: &cands[ri],
                    role_ref: role_ref.clone(),
                    target,
                    fs,
                };
                let mut v = Value::Object(std::mem::take(&mut r.obj));
                let out = fs.apply(&mut v, Leaf::None, &mut |node| ctx.set(node, &pool));
                if let Value::Object(m) = v {
                    r.obj = m;
                }
                out.map_err(|e| {
                    Error::Transform(format!(
                        "updating name reference in '{}' field of '{}': {e}",
                        fs.path, cands[ri].cur
                    ))
                })?;
            }
        }
    }
    Ok(())
}
