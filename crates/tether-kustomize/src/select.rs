//! Resource selection for patch targets and replacements: anchored regular expressions on
//! group, version, kind, name and namespace, and Kubernetes label/annotation selectors.

use crate::error::{Error, Result};
use crate::resource::Resource;
use crate::types::Selector;
use regex::Regex;
use serde_json::{Map, Value};

fn anchored(pat: &str) -> Result<Regex> {
    Regex::new(&format!("^(?:{pat})$"))
        .map_err(|e| Error::Transform(format!("invalid selector regex `{pat}`: {e}")))
}

/// A compiled selector.
pub struct Compiled {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<LabelSelector>,
    annotations: Option<LabelSelector>,
}

fn opt(s: &Option<String>) -> Result<Option<Regex>> {
    match s.as_deref() {
        None | Some("") => Ok(None),
        Some(p) => anchored(p).map(Some),
    }
}

impl Compiled {
    pub fn new(s: &Selector) -> Result<Self> {
        Ok(Compiled {
            group: opt(&s.group)?,
            version: opt(&s.version)?,
            kind: opt(&s.kind)?,
            name: opt(&s.name)?,
            namespace: opt(&s.namespace)?,
            labels: match s.label_selector.as_deref() {
                None | Some("") => None,
                Some(l) => Some(LabelSelector::parse(l)?),
            },
            annotations: match s.annotation_selector.as_deref() {
                None | Some("") => None,
                Some(l) => Some(LabelSelector::parse(l)?),
            },
        })
    }

    /// kustomize's `ResMap.Select`: names and namespaces match on the original or current id.
    pub fn matches(&self, r: &Resource) -> bool {
        let cur = r.cur_id();
        let org = r.org_id();
        if let Some(ns) = &self.namespace
            && !ns.is_match(org.effective_namespace())
            && !ns.is_match(cur.effective_namespace())
        {
            return false;
        }
        if let Some(n) = &self.name
            && !n.is_match(&org.name)
            && !n.is_match(&cur.name)
        {
            return false;
        }
        let gvk = r.gvk();
        if self.group.as_ref().is_some_and(|g| !g.is_match(&gvk.group))
            || self
                .version
                .as_ref()
                .is_some_and(|g| !g.is_match(&gvk.version))
            || self.kind.as_ref().is_some_and(|g| !g.is_match(&gvk.kind))
        {
            return false;
        }
        if let Some(l) = &self.labels
            && !l.matches(&r.meta_map("labels"))
        {
            return false;
        }
        if let Some(a) = &self.annotations
            && !a.matches(&r.meta_map("annotations"))
        {
            return false;
        }
        true
    }
}

#[derive(Debug)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A Kubernetes label selector string: `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
#[derive(Debug)]
pub struct LabelSelector(Vec<Req>);

fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn set_values(s: &str) -> Result<Vec<String>> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| Error::Transform(format!("invalid label selector set `{s}`")))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            if let Some(k) = part.strip_prefix('!') {
                reqs.push(Req::NotExists(k.trim().to_string()));
            } else if let Some((k, v)) = part.split_once("!=") {
                reqs.push(Req::Ne(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once("==") {
                reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once('=') {
                reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once(" notin ") {
                reqs.push(Req::NotIn(k.trim().into(), set_values(v)?));
            } else if let Some((k, v)) = part.split_once(" in ") {
                reqs.push(Req::In(k.trim().into(), set_values(v)?));
            } else if part.contains(' ') || part.contains('(') {
                return Err(Error::Transform(format!(
                    "unable to parse requirement `{part}` in selector `{s}`"
                )));
            } else {
                reqs.push(Req::Exists(part));
            }
        }
        Ok(LabelSelector(reqs))
    }

    pub fn matches(&self, m: &Map<String, Value>) -> bool {
        let get = |k: &str| {
            m.get(k).map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
        };
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
            Req::Ne(k, v) => get(k).as_deref() != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Req::Exists(k) => m.contains_key(k),
            Req::NotExists(k) => !m.contains_key(k),
        })
    }
}
