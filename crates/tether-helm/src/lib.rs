//! Native Helm chart rendering, identical to `helm template` v3.17: chart loading ([`chart`]), values
//! ([`values`], [`strvals`]), built-in objects ([`objects`]), Helm's engine order ([`engine`]) and its
//! output sorting ([`sorter`]), on top of `tether-gotmpl`.
//!
//! ```no_run
//! use tether_helm::{Renderer, RenderOptions, UserValues};
//! let r = Renderer::load(std::path::Path::new("chart")).unwrap();
//! let out = r.render(&UserValues::default(), &RenderOptions::default()).unwrap();
//! print!("{}", out.text);
//! ```
//!
//! [`Renderer`] holds a loaded chart (it is `Send + Sync`) and caches the parsed template set, so
//! rendering the same chart again only executes templates.

pub mod argo;
pub mod chart;
pub mod engine;
mod head;
pub mod ignore;
pub mod objects;
pub mod schema;
pub mod semver;
pub mod sorter;
pub mod strvals;
pub mod values;

use std::path::Path;
use std::sync::Arc;

use tether_gotmpl::{MapRef, Value};

pub use chart::{Chart, load, load_archive, load_dir};
pub use sorter::Manifest;

/// Errors, worded as `helm template` prints them after `Error: `.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum Error {
    /// The chart could not be loaded (Chart.yaml, values.yaml, archive, `.helmignore`).
    #[error("{0}")]
    Load(String),
    /// Values: value files, `--set` forms, coalescing, schema.
    #[error("{0}")]
    Values(String),
    /// Dependencies missing from `charts/`.
    #[error("{0}")]
    Dependencies(String),
    /// Template parsing, execution or output parsing.
    #[error("{0}")]
    Render(String),
    /// Options (kube version, chart type, ...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The message without the variant.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// Reads a `--set-file` path.
pub type FileReader = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// User-supplied values, in Helm's categories (applied in this order, whatever the flag order).
#[derive(Clone, Default)]
pub struct UserValues {
    /// `-f` files: (name for errors, content).
    pub files: Vec<(String, String)>,
    /// `--set-json`.
    pub set_json: Vec<String>,
    /// `--set`.
    pub set: Vec<String>,
    /// `--set-string`.
    pub set_string: Vec<String>,
    /// `--set-file`: expressions and the reader for their paths.
    pub set_file: Vec<String>,
    pub file_reader: Option<FileReader>,
    /// `--set-literal`.
    pub set_literal: Vec<String>,
}

impl std::fmt::Debug for UserValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserValues")
            .field(
                "files",
                &self.files.iter().map(|f| &f.0).collect::<Vec<_>>(),
            )
            .field("set", &self.set.len())
            .finish_non_exhaustive()
    }
}

impl UserValues {
    /// Merges them as Helm's `values.Options.MergeValues`.
    pub fn merge(&self) -> Result<MapRef, Error> {
        let mut base = values::new_map();
        for (name, text) in &self.files {
            let v = Value::from_yaml_str(text)
                .map_err(|e| Error::Values(format!("failed to parse {name}: {e}")))?;
            let m = match v {
                Value::Map(m) => m,
                Value::Nil => values::new_map(),
                _ => {
                    return Err(Error::Values(format!(
                        "failed to parse {name}: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {{}}"
                    )));
                }
            };
            base = values::merge_maps(&base, &m);
        }
        for s in &self.set_json {
            let t = s.trim();
            if t.starts_with('{') {
                let j: serde_json::Value = serde_json::from_str(t).map_err(|_| {
                    Error::Values(format!("failed parsing --set-json data JSON: {s}"))
                })?;
                let Value::Map(m) = Value::from_json(&j) else {
                    return Err(Error::Values(format!(
                        "failed parsing --set-json data JSON: {s}"
                    )));
                };
                base = values::merge_maps(&base, &m);
            } else {
                strvals::parse_json(s, &base)
                    .map_err(|_| Error::Values(format!("failed parsing --set-json data {s}")))?;
            }
        }
        for s in &self.set {
            strvals::parse_into(s, &base)
                .map_err(|e| Error::Values(format!("failed parsing --set data: {e}")))?;
        }
        for s in &self.set_string {
            strvals::parse_into_string(s, &base)
                .map_err(|e| Error::Values(format!("failed parsing --set-string data: {e}")))?;
        }
        if !self.set_file.is_empty() {
            let default_reader: FileReader = Arc::new(|p: &str| {
                std::fs::read_to_string(p).map_err(|e| format!("open {p}: {e}"))
            });
            let reader = self.file_reader.clone().unwrap_or(default_reader);
            for s in &self.set_file {
                strvals::parse_into_file(s, &base, &*reader)
                    .map_err(|e| Error::Values(format!("failed parsing --set-file data: {e}")))?;
            }
        }
        for s in &self.set_literal {
            strvals::parse_literal_into(s, &base)
                .map_err(|e| Error::Values(format!("failed parsing --set-literal data: {e}")))?;
        }
        Ok(base)
    }
}

/// Options of `helm template`.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub release_name: String,
    pub namespace: String,
    /// `--kube-version` (default v1.32.0, as helm v3.17).
    pub kube_version: Option<String>,
    /// `--api-versions`, added to the default set.
    pub api_versions: Vec<String>,
    pub include_crds: bool,
    /// `--skip-crds`: only matters for installs; `helm template` prints CRDs only with `--include-crds`.
    pub skip_crds: bool,
    pub no_hooks: bool,
    pub skip_tests: bool,
    pub skip_schema_validation: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            release_name: "release-name".into(),
            namespace: "default".into(),
            kube_version: None,
            api_versions: Vec::new(),
            include_crds: false,
            skip_crds: false,
            no_hooks: false,
            skip_tests: false,
            skip_schema_validation: false,
        }
    }
}

/// A rendered chart.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// Exactly what `helm template` prints on stdout.
    pub text: String,
    /// The documents in output order (CRDs when included, manifests, hooks), each with its source path.
    pub documents: Vec<Document>,
    /// The root chart's rendered NOTES.txt.
    pub notes: String,
}

/// One output document.
#[derive(Debug, Clone)]
pub struct Document {
    /// `chart/templates/x.yaml` (or `chart/crds/x.yaml`).
    pub source: String,
    pub content: String,
    /// The parsed object; `None` for comment-only documents.
    pub object: Option<serde_json::Map<String, serde_json::Value>>,
}

/// How missing dependencies are filled in, as the Helm command that would do it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyMode {
    /// `helm dependency build` (what Argo CD's repo-server runs): the versions of Chart.lock when
    /// there is one (which must be in sync with Chart.yaml: same digest), else as `Update`.
    Build,
    /// `helm dependency update` (what `helm template --dependency-update` runs): Chart.yaml's version
    /// constraints resolved against the repositories; Chart.lock is ignored.
    Update,
}

/// Fetches dependencies that are declared but missing from `charts/` (HTTP chart repositories are
/// implemented by tether-chartrepo). Returning `Ok(None)` keeps Helm's missing-dependency error.
pub trait DependencyFetcher: Send + Sync {
    /// Returns the chart for `dep` of `parent`. `dep.version` is the constraint to resolve, or the
    /// exact version Chart.lock pinned (in [`DependencyMode::Build`]).
    fn fetch(
        &self,
        parent: &chart::Metadata,
        dep: &chart::Dependency,
    ) -> Result<Option<Chart>, Error>;

    /// The repository URL for a dependency's `repository` (`@name` / `alias:name` are names of
    /// configured repositories): used for the Chart.lock digest, as Helm rewrites aliases before it.
    fn repository_url(&self, repository: &str) -> Result<String, Error> {
        Ok(repository.to_owned())
    }
}

/// Helm's `CheckDependencies`: every declared dependency must be present in `charts/`.
pub fn check_dependencies(c: &Chart) -> Result<(), Error> {
    let missing: Vec<&str> = c
        .metadata
        .dependencies
        .iter()
        .filter(|r| !c.dependencies.iter().any(|d| d.metadata.name == r.name))
        .map(|r| r.name.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Dependencies(format!(
        "An error occurred while checking for chart dependencies. You may need to run `helm dependency build` to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: {}",
        missing.join(", ")
    )))
}

/// Go's `json.Marshal` of a string (HTML characters and U+2028/9 escaped).
fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for ch in serde_json::to_string(s).unwrap_or_default().chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `json.Marshal` of a `*chart.Dependency`.
fn go_json_dependency(d: &chart::Dependency) -> String {
    let mut out = format!("{{\"name\":{}", go_json_string(&d.name));
    if !d.version.is_empty() {
        out += &format!(",\"version\":{}", go_json_string(&d.version));
    }
    out += &format!(",\"repository\":{}", go_json_string(&d.repository));
    if !d.condition.is_empty() {
        out += &format!(",\"condition\":{}", go_json_string(&d.condition));
    }
    if !d.tags.is_empty() {
        let tags: Vec<String> = d.tags.iter().map(|t| go_json_string(t)).collect();
        out += &format!(",\"tags\":[{}]", tags.join(","));
    }
    if d.enabled {
        out += ",\"enabled\":true";
    }
    if !d.import_values.is_empty() {
        let items: Vec<String> = d
            .import_values
            .iter()
            .map(|iv| match iv {
                chart::ImportValue::Export(s) => go_json_string(s),
                chart::ImportValue::Map { child, parent } => format!(
                    "{{\"child\":{},\"parent\":{}}}",
                    go_json_string(child),
                    go_json_string(parent)
                ),
            })
            .collect();
        out += &format!(",\"import-values\":[{}]", items.join(","));
    }
    if !d.alias.is_empty() {
        out += &format!(",\"alias\":{}", go_json_string(&d.alias));
    }
    out + "}"
}

/// Helm's `resolver.HashReq`: `sha256:` + the SHA-256 of the JSON of `[requirements, locked]`.
pub fn hash_req(req: &[chart::Dependency], locked: &[chart::Dependency]) -> String {
    use sha2::{Digest, Sha256};
    let list = |deps: &[chart::Dependency]| {
        let items: Vec<String> = deps.iter().map(go_json_dependency).collect();
        format!("[{}]", items.join(","))
    };
    let json = format!("[{},{}]", list(req), list(locked));
    let digest = Sha256::digest(json.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Fills dependencies missing from `charts/` through `fetcher` as `helm dependency build` /
/// `helm dependency update` would (see [`DependencyMode`]), then checks them (Helm's error when one
/// is still missing). Without a fetcher this is [`check_dependencies`] (`helm template`).
pub fn resolve_dependencies(
    c: &mut Chart,
    fetcher: Option<&dyn DependencyFetcher>,
    mode: DependencyMode,
) -> Result<(), Error> {
    let Some(f) = fetcher else {
        return check_dependencies(c);
    };
    let missing: Vec<chart::Dependency> = c
        .metadata
        .dependencies
        .iter()
        .filter(|r| !c.dependencies.iter().any(|d| d.metadata.name == r.name))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let lock = match (mode, &c.lock) {
        (DependencyMode::Build, Some(lock)) => {
            let lock_file = if c.metadata.api_version == "v1" {
                ("requirements.lock", "requirements.yaml")
            } else {
                ("Chart.lock", "Chart.yaml")
            };
            let mut req = c.metadata.dependencies.clone();
            for d in &mut req {
                if d.repository.starts_with('@') || d.repository.starts_with("alias:") {
                    d.repository = f.repository_url(&d.repository)?;
                }
            }
            if hash_req(&req, &lock.dependencies) != lock.digest {
                return Err(Error::Dependencies(format!(
                    "the lock file ({}) is out of sync with the dependencies file ({}). Please update the dependencies",
                    lock_file.0, lock_file.1
                )));
            }
            Some(lock)
        }
        _ => None,
    };
    let mut fetched = Vec::new();
    for mut dep in missing {
        if let Some(lock) = lock {
            match lock.dependencies.iter().find(|l| l.name == dep.name) {
                Some(locked) => dep.version = locked.version.clone(),
                None => continue,
            }
        }
        if let Some(sc) = f.fetch(&c.metadata, &dep)? {
            fetched.push(sc);
        }
    }
    c.dependencies.extend(fetched);
    c.dependencies
        .sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    check_dependencies(c)
}

static RELEASE_NAME: std::sync::LazyLock<regex_lite::Regex> = std::sync::LazyLock::new(|| {
    regex_lite::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        .expect("valid regex")
});

/// Helm's `chartutil.ValidateReleaseName`.
pub fn validate_release_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > 53 || !RELEASE_NAME.is_match(name) {
        return Err(Error::Invalid(format!(
            "release name {name:?}: invalid release name, must match regex {} and the length must not be longer than 53",
            RELEASE_NAME.as_str()
        )));
    }
    Ok(())
}

/// A loaded chart ready to render many times.
#[derive(Debug)]
pub struct Renderer {
    pub chart: Chart,
    cache: engine::SetCache,
}

impl Renderer {
    /// Loads a chart directory or archive.
    pub fn load(path: &Path) -> Result<Renderer, Error> {
        Ok(Renderer::new(load(path)?))
    }

    pub fn new(chart: Chart) -> Renderer {
        Renderer {
            chart,
            cache: engine::SetCache::default(),
        }
    }

    /// Renders like `helm template`.
    pub fn render(&self, user: &UserValues, opts: &RenderOptions) -> Result<Rendered, Error> {
        let vals = user.merge()?;
        self.render_values(&vals, opts)
    }

    /// Renders like `helm template` and returns only what it prints (`Rendered::text`): the
    /// documents are checked as for [`Renderer::render`] but not converted to objects.
    pub fn render_text(&self, user: &UserValues, opts: &RenderOptions) -> Result<String, Error> {
        Ok(self.render_output(user, opts)?.into_text())
    }

    /// Like [`Renderer::render_text`], but the text is not built: [`TextOutput::write_to`] writes
    /// it document by document (a large chart's output is not held twice in memory).
    pub fn render_output(
        &self,
        user: &UserValues,
        opts: &RenderOptions,
    ) -> Result<TextOutput, Error> {
        let vals = user.merge()?;
        self.render_impl(&vals, opts, false)
    }

    /// Renders with already merged user values.
    pub fn render_values(&self, vals: &MapRef, opts: &RenderOptions) -> Result<Rendered, Error> {
        Ok(self.render_impl(vals, opts, true)?.into_rendered())
    }

    fn render_impl(
        &self,
        vals: &MapRef,
        opts: &RenderOptions,
        documents: bool,
    ) -> Result<TextOutput, Error> {
        let c = &self.chart;
        validate_release_name(&opts.release_name)?;
        check_dependencies(c)?;
        if !matches!(c.metadata.chart_type.as_str(), "" | "application") {
            return Err(Error::Invalid(format!(
                "{} charts are not installable",
                c.metadata.chart_type
            )));
        }
        let kube = match &opts.kube_version {
            Some(v) => objects::KubeVersion::parse(v).map_err(Error::Invalid)?,
            None => objects::KubeVersion::default(),
        };
        let mut apis: Vec<String> = objects::DEFAULT_API_VERSIONS
            .iter()
            .map(|s| s.to_string())
            .collect();
        apis.extend(opts.api_versions.iter().cloned());
        let caps = objects::Capabilities {
            kube_version: kube.clone(),
            api_versions: objects::VersionSet(Arc::new(apis)),
        };
        // Dependencies: conditions, tags, aliases, then import-values.
        let mut root = values::Node::new(c);
        values::process_enabled(&mut root, vals, "")?;
        values::process_imports(&mut root)?;
        let final_vals = values::coalesce_values_copy(&root, vals)?;
        if !opts.skip_schema_validation {
            schema::validate_tree(&root, &final_vals)?;
        }
        if !c.metadata.kube_version.is_empty()
            && !semver::is_compatible_range(&c.metadata.kube_version, &kube.version)
        {
            return Err(Error::Invalid(format!(
                "chart requires kubeVersion: {} which is incompatible with Kubernetes {}",
                c.metadata.kube_version, kube.version
            )));
        }
        let release = engine::Release {
            name: opts.release_name.clone(),
            namespace: opts.namespace.clone(),
            revision: 1,
            is_install: true,
            is_upgrade: false,
        };
        let (tpls, tops) = engine::all_templates(&root, &final_vals, &release, &caps);
        let set = self.cache.get_or_parse(&tpls)?;
        let mut files = engine::execute(&set, &tpls, &tops)?;
        let notes_path = format!("{}/templates/NOTES.txt", root.name);
        let mut notes = String::new();
        files.retain(|(k, v)| {
            if k.ends_with("NOTES.txt") {
                if *k == notes_path {
                    notes = v.clone();
                }
                return false;
            }
            true
        });
        let sorted = sorter::sort_manifests_with(files, documents)?;
        let mut crds = Vec::new();
        if opts.include_crds {
            crd_objects(&root, "", &mut crds);
        }
        Ok(TextOutput {
            crds,
            sorted,
            notes,
            no_hooks: opts.no_hooks,
            skip_tests: opts.skip_tests,
        })
    }
}

fn crd_objects(n: &values::Node<'_>, parent: &str, out: &mut Vec<(String, String)>) {
    let full = if parent.is_empty() {
        n.name.clone()
    } else {
        format!("{parent}/charts/{}", n.name)
    };
    for f in &n.chart.files {
        let lower = f.name.to_ascii_lowercase();
        if f.name.starts_with("crds/")
            && (lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json"))
        {
            out.push((
                format!("{full}/{}", f.name),
                String::from_utf8_lossy(&f.data).into_owned(),
            ));
        }
    }
    for d in &n.deps {
        crd_objects(d, &full, out);
    }
}

/// Converts a parsed document to JSON (integral float64 numbers print as integers, as Go's JSON).
pub fn value_to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) | Value::I64(i) => serde_json::Value::from(*i),
        Value::U64(u) => serde_json::Value::from(*u),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                serde_json::Value::from(*f as i64)
            } else {
                serde_json::Number::from_f64(*f)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::Bytes(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
        Value::List(_, l) => serde_json::Value::Array(l.iter().map(value_to_json).collect()),
        Value::Map(m) => serde_json::Value::Object(
            m.borrow()
                .iter()
                .map(|(k, v)| (k.clone(), value_to_json(v)))
                .collect(),
        ),
        Value::Object(o) => serde_json::Value::String(o.display().unwrap_or_default()),
    }
}

fn doc(source: &str, content: &str, value: Option<&Value>) -> Document {
    let object = match value {
        Some(v @ Value::Map(_)) => match value_to_json(v) {
            serde_json::Value::Object(m) => Some(m),
            _ => None,
        },
        _ => None,
    };
    Document {
        source: source.to_string(),
        content: content.to_string(),
        object,
    }
}

/// A rendered chart before its text is built: [`Renderer::render_output`].
pub struct TextOutput {
    crds: Vec<(String, String)>,
    sorted: sorter::Sorted,
    notes: String,
    no_hooks: bool,
    skip_tests: bool,
}

/// Writes text, holding back trailing whitespace so that it can be dropped at a trim point
/// (`strings.TrimSpace` of the manifests, in Helm) without building the whole text first.
struct Trimming<'w, W: std::io::Write> {
    out: &'w mut W,
    pending: String,
}

impl<W: std::io::Write> Trimming<'_, W> {
    fn write(&mut self, s: &str) -> std::io::Result<()> {
        let kept = s.trim_end();
        if kept.is_empty() {
            self.pending.push_str(s);
            return Ok(());
        }
        self.out.write_all(self.pending.as_bytes())?;
        self.out.write_all(kept.as_bytes())?;
        self.pending.clear();
        self.pending.push_str(&s[kept.len()..]);
        Ok(())
    }

    fn doc(&mut self, source: &str, content: &str) -> std::io::Result<()> {
        self.write("---\n# Source: ")?;
        self.write(source)?;
        self.write("\n")?;
        self.write(content)?;
        self.write("\n")
    }

    /// Drops the whitespace held back so far.
    fn trim(&mut self) {
        self.pending.clear();
    }

    fn finish(self) -> std::io::Result<()> {
        self.out.write_all(self.pending.as_bytes())
    }
}

impl TextOutput {
    fn hook_skipped(&self, h: &sorter::Manifest) -> bool {
        self.skip_tests && h.hook_events.iter().any(|e| e == "test")
    }

    /// Writes exactly what `helm template` prints: the CRDs when included, the manifests, then the
    /// hooks, each document under its `# Source:` line. Each document is dropped once written.
    pub fn write_to(mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut w = Trimming {
            out,
            pending: String::new(),
        };
        for (name, data) in std::mem::take(&mut self.crds) {
            w.doc(&name, &data)?;
        }
        for m in std::mem::take(&mut self.sorted.manifests) {
            w.doc(&m.path, m.content())?;
        }
        // `strings.TrimSpace` of the manifests (they start with `---`), then a newline.
        w.trim();
        w.write("\n")?;
        if !self.no_hooks {
            for h in std::mem::take(&mut self.sorted.hooks) {
                if !self.hook_skipped(&h) {
                    w.doc(&h.path, h.content())?;
                }
            }
        }
        w.finish()
    }

    /// The whole text at once.
    pub fn into_text(self) -> String {
        let mut buf = Vec::new();
        self.write_to(&mut buf)
            .expect("writing to memory cannot fail");
        String::from_utf8(buf).expect("the text is built from strings")
    }

    /// The text and the documents as objects.
    fn into_rendered(self) -> Rendered {
        let mut documents = Vec::new();
        for (name, data) in &self.crds {
            for d in sorter::split_manifests(data) {
                let v = Value::from_yaml_str(&d).ok();
                documents.push(doc(name, &d, v.as_ref()));
            }
        }
        for m in &self.sorted.manifests {
            documents.push(doc(&m.path, m.content(), Some(&m.value)));
        }
        if !self.no_hooks {
            for h in &self.sorted.hooks {
                if !self.hook_skipped(h) {
                    documents.push(doc(&h.path, h.content(), Some(&h.value)));
                }
            }
        }
        let notes = self.notes.clone();
        Rendered {
            text: self.into_text(),
            documents,
            notes,
        }
    }
}

/// Loads and renders in one call.
pub fn render(path: &Path, user: &UserValues, opts: &RenderOptions) -> Result<Rendered, Error> {
    Renderer::load(path)?.render(user, opts)
}

/// Loads and renders in one call, returning only the text `helm template` prints
/// ([`Renderer::render_text`]).
pub fn render_text(path: &Path, user: &UserValues, opts: &RenderOptions) -> Result<String, Error> {
    Renderer::load(path)?.render_text(user, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renderer_is_shareable_across_threads() {
        fn check<T: Send + Sync>() {}
        check::<Renderer>();
    }

    #[test]
    fn template_set_parsed_once_per_chart() {
        let c = chart::load_files(vec![
            chart::File {
                name: "Chart.yaml".into(),
                data: b"apiVersion: v2\nname: c\nversion: 1.0.0\n".to_vec(),
            },
            chart::File {
                name: "templates/cm.yaml".into(),
                data: b"kind: ConfigMap\nv: {{ .Values.v }}\n".to_vec(),
            },
        ])
        .unwrap();
        let r = Renderer::new(c);
        for v in ["a", "b"] {
            let user = UserValues {
                set: vec![format!("v={v}")],
                ..Default::default()
            };
            let out = r.render(&user, &RenderOptions::default()).unwrap();
            assert_eq!(
                out.text,
                format!("---\n# Source: c/templates/cm.yaml\nkind: ConfigMap\nv: {v}\n")
            );
        }
        assert_eq!(r.cache.len(), 1);
    }
}
