//! `helm template`'s output (`pkg/releaseutil` + `pkg/action`): documents split on Helm's `---` regex,
//! each parsed for its head, manifests sorted by file path then by install order of kind, hooks after
//! them, `# Source:` headers.

use std::sync::Arc;

use tether_gotmpl::Value;

use crate::Error;

/// Helm v3.17's `InstallOrder`.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// The next match of the separator `(?:^|\s*\n)---\s*` (leftmost-first, `\s` as Unicode
/// whitespace) at or after `from`, as a byte range. Hand-written: compiling the regex costs more
/// than rendering a small chart.
fn next_separator(s: &str, from: usize) -> Option<(usize, usize)> {
    let ws_end = |i: usize| {
        s[i..]
            .char_indices()
            .find(|(_, c)| !c.is_whitespace())
            .map_or(s.len(), |(j, _)| i + j)
    };
    if from == 0 && s.starts_with("---") {
        return Some((0, ws_end(3)));
    }
    // `\s*\n---`: `-` is no whitespace, so the `\n` ends a whitespace run that `---` follows;
    // the match starts where that run starts (not before `from`).
    let q = from + s[from..].find("\n---")?;
    let start = s[from..q]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_whitespace())
        .last()
        .map_or(q, |(j, _)| from + j);
    Some((start, ws_end(q + 4)))
}

/// `releaseutil.SplitManifests`, in order.
pub fn split_manifests(big: &str) -> Vec<String> {
    split_ranges(big)
        .into_iter()
        .map(|r| big[r].to_string())
        .collect()
}

/// [`split_manifests`] as byte ranges of `big`.
fn split_ranges(big: &str) -> Vec<std::ops::Range<usize>> {
    let s = big.trim();
    let base = s.as_ptr() as usize - big.as_ptr() as usize;
    let mut out = Vec::new();
    let mut push = |from: usize, to: usize| {
        let d = &s[from..to];
        if !d.is_empty() {
            let t = d.trim();
            let start = base + from + (t.as_ptr() as usize - d.as_ptr() as usize);
            out.push(start..start + t.len());
        }
    };
    let mut last = 0;
    while let Some((start, end)) = next_separator(s, last) {
        push(last, start);
        last = end;
    }
    push(last, s.len());
    out
}

/// One rendered document.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Template path, e.g. `chart/templates/deploy.yaml`.
    pub path: Arc<str>,
    /// The template's whole output; the document is `file[range]`, so the documents of a file share
    /// one copy of its text.
    file: Arc<String>,
    range: std::ops::Range<usize>,
    pub kind: String,
    /// Parsed document (`Nil` for comment-only documents).
    pub value: Value,
    /// Hook events when it is a hook.
    pub hook_events: Vec<String>,
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Map(_) => "object",
        Value::List(..) => "array",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        _ => "number",
    }
}

fn head_err(path: &str, what: String) -> Error {
    Error::Render(format!(
        "YAML parse error on {path}: error unmarshaling JSON: while decoding JSON: json: {what}"
    ))
}

/// Parses a document's head like `yaml.Unmarshal(doc, &SimpleHead{})`. With `full`, the returned
/// value is the whole parsed document; without, it holds only the head's keys.
pub(crate) fn parse_head(
    path: &str,
    doc: &str,
    full: bool,
) -> Result<(Value, String, Option<String>), Error> {
    let v = if full {
        Value::from_yaml_str(doc)
    } else {
        tether_gotmpl::yaml::parse_values_head(doc, &["apiVersion", "kind", "metadata"])
    }
    .map_err(|e| Error::Render(format!("YAML parse error on {path}: {e}")))?;
    let m = match &v {
        Value::Map(m) => m.clone(),
        Value::Nil => return Ok((Value::Nil, String::new(), None)),
        other => {
            return Err(head_err(
                path,
                format!(
                    "cannot unmarshal {} into Go value of type releaseutil.SimpleHead",
                    json_kind(other)
                ),
            ));
        }
    };
    // An empty document parses as an empty map: Helm sees null.
    if m.borrow().is_empty()
        && doc
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok((Value::Nil, String::new(), None));
    }
    let b = m.borrow();
    let field_str = |v: Option<&Value>, go: &str| -> Result<String, Error> {
        match v {
            None | Some(Value::Nil) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.to_string()),
            // sigs.k8s.io/yaml converts scalars to strings for string targets.
            Some(Value::Float(f)) => Ok(tether_gotmpl::json::go_json_float(*f).unwrap_or_default()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            Some(o) => Err(head_err(
                path,
                format!(
                    "cannot unmarshal {} into Go struct field {go} of type string",
                    json_kind(o)
                ),
            )),
        }
    };
    field_str(b.get("apiVersion"), "SimpleHead.apiVersion")?;
    let kind = field_str(b.get("kind"), "SimpleHead.kind")?;
    let mut hook = None;
    match b.get("metadata") {
        None | Some(Value::Nil) => {}
        Some(Value::Map(md)) => {
            let md = md.borrow();
            field_str(md.get("name"), ".metadata.name")?;
            match md.get("annotations") {
                None | Some(Value::Nil) => {}
                Some(Value::Map(a)) => {
                    for (k, av) in a.borrow().iter() {
                        let s = field_str(Some(av), ".metadata.annotations")?;
                        if k == "helm.sh/hook" {
                            hook = Some(s);
                        }
                    }
                }
                Some(o) => {
                    return Err(head_err(
                        path,
                        format!(
                            "cannot unmarshal {} into Go struct field .metadata.annotations of type map[string]string",
                            json_kind(o)
                        ),
                    ));
                }
            }
        }
        Some(o) => {
            return Err(head_err(
                path,
                format!(
                    "cannot unmarshal {} into Go struct field SimpleHead.metadata of type struct {{ Name string \"json:\\\"name\\\"\"; Annotations map[string]string \"json:\\\"annotations\\\"\" }}",
                    json_kind(o)
                ),
            ));
        }
    }
    drop(b);
    Ok((v, kind, hook))
}

/// The sorted result: manifests and hooks.
#[derive(Debug, Default)]
pub struct Sorted {
    pub manifests: Vec<Manifest>,
    pub hooks: Vec<Manifest>,
}

impl Manifest {
    /// The document's text (trimmed).
    pub fn content(&self) -> &str {
        &self.file[self.range.clone()]
    }
}

fn kind_rank(k: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|x| *x == k)
}

/// `lessByKind` as a stable sort.
///
/// Sorts `(rank, index)` pairs and then moves the manifests in place: a stable sort of the
/// manifests themselves allocates a scratch copy of them (150 KB for 1331 documents).
pub fn sort_by_kind(ms: &mut [Manifest]) {
    use std::cmp::Ordering;
    // Known kinds by install order, then unknown kinds by name.
    let unknown = INSTALL_ORDER.len();
    let mut order: Vec<(usize, usize)> = ms
        .iter()
        .enumerate()
        .map(|(i, m)| (kind_rank(&m.kind).unwrap_or(unknown), i))
        .collect();
    order.sort_by(|a, b| match a.0.cmp(&b.0) {
        Ordering::Equal if a.0 == unknown => ms[a.1].kind.cmp(&ms[b.1].kind),
        o => o,
    });
    // `order[i].1` is the manifest that goes to place `i`; follow each cycle of the permutation.
    for start in 0..ms.len() {
        let mut i = start;
        while order[i].1 != start {
            let from = order[i].1;
            ms.swap(i, from);
            order[i].1 = i;
            i = from;
        }
        order[i].1 = i;
    }
}

/// `releaseutil.SortManifests` over rendered files (path → text).
pub fn sort_manifests(files: &[(String, String)]) -> Result<Sorted, Error> {
    sort_manifests_with(files.to_vec(), true)
}

/// [`sort_manifests`]; without `values`, each manifest's `value` is `Nil` (the documents are still
/// parsed and checked, but not converted, which is most of the cost for large charts).
pub fn sort_manifests_with(
    mut files: Vec<(String, String)>,
    values: bool,
) -> Result<Sorted, Error> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Sorted::default();
    // The documents point into their file's text: the output is held once.
    for (path, content) in files {
        let base = path.rsplit('/').next().unwrap_or(&path);
        if base.starts_with('_') || content.trim().is_empty() {
            continue;
        }
        let (path, file): (Arc<str>, _) = (path.into(), Arc::new(content));
        for range in split_ranges(&file) {
            let doc = &file[range.clone()];
            // Without values, most documents' heads are read without the full YAML parser.
            let fast = if values {
                None
            } else {
                crate::head::fast_head(doc)
            };
            let (value, kind, hook) = match fast {
                Some((kind, hook)) => (Value::Nil, kind, hook),
                None => parse_head(&path, doc, values)?,
            };
            let value = if values { value } else { Value::Nil };
            let Some(hook) = hook else {
                out.manifests.push(Manifest {
                    path: path.clone(),
                    file: file.clone(),
                    range,
                    kind,
                    value,
                    hook_events: Vec::new(),
                });
                continue;
            };
            let mut events = Vec::new();
            let mut unknown = false;
            for t in hook.split(',') {
                let t = t.trim().to_lowercase();
                if !HOOK_EVENTS.contains(&t.as_str()) {
                    unknown = true;
                    break;
                }
                events.push(if t == "test-success" {
                    "test".into()
                } else {
                    t
                });
            }
            if unknown {
                continue;
            }
            out.hooks.push(Manifest {
                path: path.clone(),
                file: file.clone(),
                range,
                kind,
                value,
                hook_events: events,
            });
        }
    }
    sort_by_kind(&mut out.hooks);
    sort_by_kind(&mut out.manifests);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split() {
        assert_eq!(split_manifests("a: 1\n---\nb: 2\n"), ["a: 1", "b: 2"]);
        // Go's regexp consumes the blank lines, so the last `---` is no separator (Helm's quirk).
        assert_eq!(
            split_manifests("---\na: 1\n---   \n\n---\n"),
            ["a: 1", "---"]
        );
        assert_eq!(split_manifests("# c\n---\n"), ["# c"]);
        assert_eq!(split_manifests("a: |\n  x\n  ---\n"), ["a: |\n  x\n  ---"]);
    }

    #[test]
    fn split_matches_helms_regex() {
        // Every string over a small alphabet up to length 7, against the regex Helm uses.
        let sep = regex::Regex::new(r"(?:^|\s*\n)---\s*").unwrap();
        let by_regex = |big: &str| -> Vec<String> {
            sep.split(big.trim())
                .filter(|d| !d.is_empty())
                .map(|d| d.trim().to_string())
                .collect()
        };
        let alphabet = ['-', '\n', ' ', 'a', '\u{a0}'];
        let mut cases = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..7 {
            let mut next = Vec::new();
            for c in &cases {
                for a in alphabet {
                    next.push(format!("{c}{a}"));
                }
            }
            all.extend(next.iter().cloned());
            cases = next;
        }
        for big in &all {
            assert_eq!(split_manifests(big), by_regex(big), "{big:?}");
        }
    }

    fn files(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn sort_and_hooks() {
        let s = sort_manifests(&files(&[
            ("c/templates/b.yaml", "kind: Deployment\n---\nkind: Service\n---\nkind: Zed\n---\nkind: Alpha\n"),
            ("c/templates/a.yaml", "kind: Deployment\nmetadata: {name: a}\n---\n# only a comment\n"),
            ("c/templates/h.yaml", "kind: Job\nmetadata: {annotations: {helm.sh/hook: 'pre-install, test'}}\n---\nkind: Pod\nmetadata: {annotations: {helm.sh/hook: nope}}\n"),
            ("c/templates/_x.tpl", "kind: Secret\n"),
        ]))
        .unwrap();
        let kinds: Vec<_> = s
            .manifests
            .iter()
            .map(|m| (&*m.path, m.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("c/templates/b.yaml", "Service"),
                ("c/templates/a.yaml", "Deployment"),
                ("c/templates/b.yaml", "Deployment"),
                ("c/templates/a.yaml", ""),
                ("c/templates/b.yaml", "Alpha"),
                ("c/templates/b.yaml", "Zed"),
            ]
        );
        assert_eq!(s.hooks.len(), 1);
        assert_eq!(s.hooks[0].hook_events, ["pre-install", "test"]);
    }

    #[test]
    fn sort_by_kind_is_the_stable_sort_by_install_order() {
        // Every sequence of 6 kinds over a mix of known and unknown kinds, against `sort_by`.
        let kinds = ["Service", "Zed", "Namespace", "Alpha", "Service", "Zed"];
        let key = |k: &str| kind_rank(k).map_or((1, k.to_string()), |r| (0, format!("{r:03}")));
        for n in 0..6u32 {
            for seed in 0..6usize.pow(n) {
                let picked: Vec<&str> = (0..n as usize)
                    .map(|i| kinds[seed / 6usize.pow(i as u32) % 6])
                    .collect();
                let file = Arc::new(String::new());
                let mut ms: Vec<Manifest> = picked
                    .iter()
                    .enumerate()
                    .map(|(i, k)| Manifest {
                        path: i.to_string().into(),
                        file: file.clone(),
                        range: 0..0,
                        kind: k.to_string(),
                        value: Value::Nil,
                        hook_events: Vec::new(),
                    })
                    .collect();
                let mut want: Vec<(String, String)> = ms
                    .iter()
                    .map(|m| (m.kind.clone(), m.path.to_string()))
                    .collect();
                want.sort_by_key(|a| key(&a.0));
                sort_by_kind(&mut ms);
                let got: Vec<(String, String)> = ms
                    .iter()
                    .map(|m| (m.kind.clone(), m.path.to_string()))
                    .collect();
                assert_eq!(got, want, "{picked:?}");
            }
        }
    }

    #[test]
    fn scalar_heads_become_strings() {
        let s = sort_manifests(&files(&[(
            "c/templates/a.yaml",
            "kind: Zed\n---\nkind: 5\nmetadata: {annotations: {helm.sh/hook-weight: 5}}\n",
        )]))
        .unwrap();
        assert_eq!(s.manifests[0].kind, "5");
        assert!(sort_manifests(&files(&[("c/templates/a.yaml", "kind: [a]\n")])).is_err());
    }

    #[test]
    fn non_mapping_document_is_an_error() {
        let e = sort_manifests(&files(&[("c/templates/a.yaml", "- a\n- b\n")])).unwrap_err();
        assert!(
            e.message()
                .starts_with("YAML parse error on c/templates/a.yaml:"),
            "{e}"
        );
    }
}
