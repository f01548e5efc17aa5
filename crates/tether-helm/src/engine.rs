//! Helm's engine (`pkg/engine`): one template set for the chart and its subcharts, parsed in Helm's
//! order, executed in that order with each chart's own top-level object.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use tether_gotmpl::{ExecOptions, MapData, MapRef, Templates, Value};

use crate::Error;
use crate::objects::{Capabilities, ChartObj, files_value};
use crate::values::{Node, new_map, table};

/// A template to execute: its full name, source and the index of its chart's top-level object.
pub struct Renderable<'c> {
    pub name: String,
    pub src: &'c [u8],
    pub top: usize,
    pub base_path: String,
}

/// Release facts for `.Release`.
#[derive(Debug, Clone)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub revision: i64,
    pub is_install: bool,
    pub is_upgrade: bool,
}

/// Collects every template (`recAllTpls`) and builds each chart's top-level object.
pub fn all_templates<'c>(
    root: &Node<'c>,
    values: &MapRef,
    release: &Release,
    caps: &Capabilities,
) -> (Vec<Renderable<'c>>, Vec<MapRef>) {
    let release_v = Value::map(BTreeMap::from([
        ("Name".to_string(), Value::str(release.name.as_str())),
        (
            "Namespace".to_string(),
            Value::str(release.namespace.as_str()),
        ),
        ("IsUpgrade".to_string(), Value::Bool(release.is_upgrade)),
        ("IsInstall".to_string(), Value::Bool(release.is_install)),
        ("Revision".to_string(), Value::Int(release.revision)),
        ("Service".to_string(), Value::str("Helm")),
    ]));
    let caps_v = Value::Object(Rc::new(caps.clone()));
    let mut out = Vec::new();
    let mut tops = Vec::new();
    let vals = Value::Map(values.clone()).into_chart_values();
    rec(
        root, None, &vals, &release_v, &caps_v, "", &mut out, &mut tops,
    );
    (out, tops)
}

#[allow(clippy::too_many_arguments)]
fn rec<'c>(
    c: &Node<'c>,
    parent_vals: Option<&MapRef>,
    root_vals: &Value,
    release: &Value,
    caps: &Value,
    parent_path: &str,
    out: &mut Vec<Renderable<'c>>,
    tops: &mut Vec<MapRef>,
) -> MapRef {
    let values = match parent_vals {
        None => root_vals.clone(),
        Some(pv) => {
            let vals = pv.borrow().get("Values").cloned().unwrap_or_default();
            match &vals {
                Value::Map(m) => match table(m, &c.name) {
                    Some(t) => Value::Map(t).into_chart_values(),
                    None => Value::Map(new_map()).into_chart_values(),
                },
                _ => Value::Map(new_map()).into_chart_values(),
            }
        }
    };
    let mut md = c.chart.metadata.clone();
    md.name = c.name.clone();
    md.dependencies = c.reqs.clone();
    let files: BTreeMap<String, Rc<[u8]>> = c
        .chart
        .files
        .iter()
        .map(|f| (f.name.clone(), Rc::from(f.data.as_slice())))
        .collect();
    let subcharts = new_map();
    let next = Rc::new(MapData::new(BTreeMap::from([
        (
            "Chart".to_string(),
            Value::Object(Rc::new(ChartObj {
                md,
                is_root: parent_vals.is_none(),
            })),
        ),
        ("Files".to_string(), files_value(Rc::new(files))),
        ("Release".to_string(), release.clone()),
        ("Capabilities".to_string(), caps.clone()),
        ("Values".to_string(), values),
        ("Subcharts".to_string(), Value::Map(subcharts.clone())),
    ])));
    let full = if parent_path.is_empty() {
        c.name.clone()
    } else {
        format!("{parent_path}/charts/{}", c.name)
    };
    for d in &c.deps {
        let child = rec(d, Some(&next), root_vals, release, caps, &full, out, tops);
        subcharts
            .borrow_mut()
            .insert(d.name.clone(), Value::Map(child));
    }
    let idx = tops.len();
    tops.push(next.clone());
    for t in &c.chart.templates {
        let base = t.name.rsplit('/').next().unwrap_or(&t.name);
        if c.chart.is_library() && !base.starts_with('_') {
            continue;
        }
        out.push(Renderable {
            name: format!("{full}/{}", t.name),
            src: &t.data,
            top: idx,
            base_path: format!("{full}/templates"),
        });
    }
    next
}

/// Helm's `sortTemplates`: deeper paths first, then reverse lexical order.
pub fn sort_templates(names: &mut [&str]) {
    names.sort_by(|a, b| {
        let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
        if ca == cb { b.cmp(a) } else { cb.cmp(&ca) }
    });
}

/// Parses the template set in Helm's order.
pub fn parse_set(tpls: &[Renderable<'_>]) -> Result<Templates, Error> {
    let mut by_name: BTreeMap<&str, &Renderable<'_>> = BTreeMap::new();
    for t in tpls {
        by_name.insert(&t.name, t);
    }
    let mut names: Vec<&str> = by_name.keys().copied().collect();
    sort_templates(&mut names);
    let sources: Vec<_> = names
        .iter()
        .map(|n| String::from_utf8_lossy(by_name[n].src))
        .collect();
    let files: Vec<(&str, &str)> = names
        .iter()
        .copied()
        .zip(sources.iter().map(|s| &**s))
        .collect();
    Templates::parse(&files).map_err(|e| Error::Render(e.helm_message()))
}

/// Executes every non-partial template in Helm's order; returns (path, output) pairs.
pub fn execute(
    set: &Templates,
    tpls: &[Renderable<'_>],
    tops: &[MapRef],
) -> Result<Vec<(String, String)>, Error> {
    let mut by_name: BTreeMap<&str, &Renderable<'_>> = BTreeMap::new();
    for t in tpls {
        by_name.insert(&t.name, t);
    }
    let mut names: Vec<&str> = by_name.keys().copied().collect();
    sort_templates(&mut names);
    let opts = ExecOptions::default();
    let mut out = Vec::new();
    for n in names {
        let base = n.rsplit('/').next().unwrap_or(n);
        if base.starts_with('_') {
            continue;
        }
        let r = by_name[n];
        let top = &tops[r.top];
        let tmpl = Value::map(BTreeMap::from([
            ("Name".to_string(), Value::str(n)),
            ("BasePath".to_string(), Value::str(r.base_path.as_str())),
        ]))
        .into_chart_values();
        top.borrow_mut().insert("Template".into(), tmpl);
        let text = set
            .exec(n, &Value::Map(top.clone()), &opts)
            .map_err(|e| Error::Render(exec_message(n, &e)))?;
        out.push((n.to_string(), text));
    }
    Ok(out)
}

fn exec_message(file: &str, e: &tether_gotmpl::Error) -> String {
    match e {
        tether_gotmpl::Error::Exec(m) if m.splitn(3, ": ").count() != 3 => {
            format!("execution error in ({file}): {m}")
        }
        other => other.helm_message(),
    }
}

/// Caches parsed template sets by the list of template names (the set depends on which subcharts are
/// enabled and how they are aliased).
#[derive(Default)]
pub struct SetCache {
    sets: std::sync::Mutex<BTreeMap<Vec<String>, Arc<Templates>>>,
}

impl SetCache {
    /// Number of cached sets.
    pub fn len(&self) -> usize {
        self.sets.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get_or_parse(&self, tpls: &[Renderable<'_>]) -> Result<Arc<Templates>, Error> {
        let mut key: Vec<String> = tpls.iter().map(|t| t.name.clone()).collect();
        key.sort();
        if let Some(s) = self.sets.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(s);
        }
        let set = Arc::new(parse_set(tpls)?);
        if let Ok(mut m) = self.sets.lock() {
            m.insert(key, set.clone());
        }
        Ok(set)
    }
}

impl std::fmt::Debug for SetCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetCache")
    }
}
