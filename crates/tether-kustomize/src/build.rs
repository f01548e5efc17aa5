//! The build: loads a kustomization, accumulates its resources (files, nested
//! kustomizations, components), runs its generators and transformers in kustomize's order,
//! then at the top level adds name hashes, fixes name references, resolves vars and sorts.

use crate::error::{Error, Result};
use crate::fieldspec::TransformerConfig;
use crate::fs::{FileSystem, LoadRestrictor, Loader, clean};
use crate::generators::{self, GenKind};
use crate::helm::ChartPuller;
use crate::patches::{self, Loaded};
use crate::remote::{self, RemoteLoader, RepoSpec};
use crate::resource::{Behavior, Resource, parse_objects};
use crate::types::{Kustomization, Replacement, ReplacementEntry, TransformerConfigDef, Var};
use crate::{nameref, replacements, transformers, vars};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The names kustomize accepts for a kustomization file, in its order of preference.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Build settings.
#[derive(Clone, Default)]
pub struct BuildOptions {
    pub load_restrictor: LoadRestrictor,
    pub enable_helm: bool,
    /// Fetches remote (git) resources and components; without one they are an error.
    pub remote: Option<Arc<dyn RemoteLoader>>,
    /// Pulls `helmCharts` that are not vendored under the chart home from their `repo` (what
    /// kustomize does with `helm pull`); without one such charts are an error.
    pub charts: Option<Arc<dyn ChartPuller>>,
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("load_restrictor", &self.load_restrictor)
            .field("enable_helm", &self.enable_helm)
            .field("remote", &self.remote.is_some())
            .field("charts", &self.charts.is_some())
            .finish()
    }
}

/// The loader context of the kustomization being built: kustomize gives every kustomization
/// read from a cloned repository the root-only restrictor and keeps its bases in the repo.
#[derive(Debug, Clone)]
struct Ctx {
    restrictor: LoadRestrictor,
    /// The canonical root of the repository the kustomization was cloned from.
    repo: Option<PathBuf>,
    /// The remote addresses that led here (cycle detection).
    raws: Vec<String>,
}

/// The objects a build produced, in output order.
pub type Objects = Vec<Map<String, Value>>;

/// Builds the kustomization in `dir`.
pub fn build(fs: &dyn FileSystem, dir: &Path, opts: &BuildOptions) -> Result<Objects> {
    build_with(fs, dir, opts, None)
}

/// Builds `dir`, with `overlay` (when given) replacing the kustomization read from disk.
pub fn build_with(
    fs: &dyn FileSystem,
    dir: &Path,
    opts: &BuildOptions,
    overlay: Option<Kustomization>,
) -> Result<Objects> {
    let dir = clean(dir);
    let _schema = crate::schema::BuildScope::new();
    let mut b = Builder {
        fs,
        opts,
        stack: Vec::new(),
        top: dir.clone(),
        ctx: Ctx {
            restrictor: opts.load_restrictor,
            repo: None,
            raws: Vec::new(),
        },
        track: false,
    };
    let (kust, kfile) = match overlay {
        Some(k) => (k, dir.join("kustomization.yaml")),
        None => load_kustomization(fs, &dir)?,
    };
    b.track = kust
        .build_metadata
        .iter()
        .any(|m| m == "transformerAnnotations");
    let mut acc = b.target_with(&dir, &kfile, kust.clone(), false)?;
    for r in acc.res.iter_mut() {
        if r.needs_hash {
            let h = generators::hash_suffix(r)?;
            r.store_previous_id();
            let n = format!("{}-{h}", r.name());
            r.set_name(&n);
        }
    }
    nameref::fix(&mut acc.res, &acc.cfg)?;
    vars::resolve(&mut acc.res, &acc.vars, &acc.cfg)?;
    acc.res.retain(|r| {
        r.obj
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get("config.kubernetes.io/local-config"))
            .and_then(Value::as_str)
            != Some("true")
    });
    sort(&mut acc.res, &kust)?;
    if kust.build_metadata.iter().any(|m| m == "managedByLabel") {
        for r in acc.res.iter_mut() {
            let mut l = r.meta_map("labels");
            // The version kustomize reports when built into kubectl.
            l.insert(
                "app.kubernetes.io/managed-by".into(),
                Value::String("kustomize-(devel)".into()),
            );
            r.set_meta_map("labels", l);
        }
    }
    if b.track {
        for r in acc.res.iter_mut() {
            if r.transformations.is_empty() {
                continue;
            }
            let text: String = r
                .transformations
                .iter()
                .map(|(file, kind)| {
                    format!(
                        "- configuredIn: {file}\n  configuredBy:\n    apiVersion: builtin\n    kind: {kind}\n"
                    )
                })
                .collect();
            let mut a = r.meta_map("annotations");
            a.insert(
                "alpha.config.kubernetes.io/transformations".into(),
                Value::String(text),
            );
            r.set_meta_map("annotations", a);
        }
    }
    if kust.build_metadata.iter().any(|m| m == "originAnnotations") {
        for r in acc.res.iter_mut() {
            if let Some(o) = r.origin.clone() {
                let mut a = r.meta_map("annotations");
                a.insert("config.kubernetes.io/origin".into(), Value::String(o));
                r.set_meta_map("annotations", a);
            }
        }
    }
    Ok(acc.res.into_iter().map(|r| r.obj).collect())
}

/// Finds and parses the kustomization file of `dir`.
pub fn load_kustomization(fs: &dyn FileSystem, dir: &Path) -> Result<(Kustomization, PathBuf)> {
    let found: Vec<PathBuf> = KUSTOMIZATION_FILES
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| fs.is_file(p))
        .collect();
    let path = match found.len() {
        0 => return Err(Error::MissingKustomization(dir.to_path_buf())),
        1 => found[0].clone(),
        _ => return Err(Error::MultipleKustomizations(dir.to_path_buf())),
    };
    let bytes = fs.read(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| Error::InvalidKustomization {
        path: path.clone(),
        message: "file is not UTF-8".into(),
    })?;
    Ok((parse_kustomization(&text, &path)?, path))
}

/// Parses kustomization text strictly.
pub fn parse_kustomization(text: &str, path: &Path) -> Result<Kustomization> {
    let v: Value = serde_yaml::from_str(text).map_err(|e| Error::InvalidKustomization {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut v = if v.is_null() {
        Value::Object(Map::new())
    } else {
        v
    };
    // YAML 1.1, as kustomize reads kustomization files: unquoted yes/no/on/off are booleans.
    let bools = crate::yaml11::find_bools(text);
    crate::yaml11::apply(&mut v, &bools);
    let mut k: Kustomization = serde_path_to_error::deserialize(v).map_err(|e| {
        let field = e.path().to_string();
        let mut message = if field == "." {
            e.inner().to_string()
        } else {
            format!("field `{field}`: {}", e.inner())
        };
        if let Some(b) = bools.iter().find(|b| {
            let p = crate::yaml11::display_path(&b.path);
            p == field || p.starts_with(&format!("{field}.")) || p.starts_with(&format!("{field}["))
        }) {
            message.push_str(&format!(
                " (line {}: unquoted `{}` is a boolean in YAML 1.1, as kustomize reads it; quote it to make it a string)",
                b.line, b.word
            ));
        }
        Error::InvalidKustomization {
            path: path.to_path_buf(),
            message,
        }
    })?;
    let bases = std::mem::take(&mut k.bases);
    k.resources.extend(bases);
    // kustomize's FixKustomization: the legacy helmChartInflationGenerator becomes helmCharts.
    let legacy = std::mem::take(&mut k.helm_chart_inflation_generator);
    if !legacy.is_empty() {
        let (charts, globals) = crate::helm::split_legacy(&legacy);
        if k.helm_globals.is_none()
            && (!globals.chart_home.is_empty() || !globals.config_home.is_empty())
        {
            k.helm_globals = Some(globals);
        }
        k.helm_charts.extend(charts);
    }
    Ok(k)
}

struct Acc {
    res: Vec<Resource>,
    cfg: TransformerConfig,
    vars: Vec<Var>,
}

struct Builder<'a> {
    fs: &'a dyn FileSystem,
    opts: &'a BuildOptions,
    stack: Vec<PathBuf>,
    /// The top kustomization's directory: origins are relative to it.
    top: PathBuf,
    ctx: Ctx,
    /// `buildMetadata: [transformerAnnotations]` of the top kustomization (kustomize hands the
    /// top's build metadata down to every kustomization it builds).
    track: bool,
}

/// `to` relative to the directory `from` (both clean paths).
fn relative(from: &Path, to: &Path) -> String {
    let f: Vec<_> = from.components().collect();
    let t: Vec<_> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), f.len() - common).collect();
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

fn push_unique(acc: &mut Acc, r: Resource, origin: &str) -> Result<()> {
    let id = r.cur_id();
    if acc.res.iter().any(|x| x.cur_id().matches(&id)) {
        return Err(Error::Conflict(format!(
            "accumulating resources from '{origin}': may not add resource with an already registered id: {id}"
        )));
    }
    acc.res.push(r);
    Ok(())
}

impl<'a> Builder<'a> {
    /// Builds the kustomization in directory `p` and adds its objects to `acc`.
    fn sub_kustomization(&mut self, p: &Path, entry: &str, acc: &mut Acc) -> Result<()> {
        let (sub, spath) = load_kustomization(self.fs, p)?;
        self.check_kind(&sub, &spath, false)?;
        let sub_acc = self.target_with(p, &spath, sub, false)?;
        for r in sub_acc.res {
            push_unique(acc, r, entry)?;
        }
        acc.cfg.merge(&sub_acc.cfg);
        merge_vars(&mut acc.vars, sub_acc.vars)
    }

    /// Fetches a remote kustomization: its directory and the repository's canonical root.
    fn fetch_remote(&self, spec: &RepoSpec, kpath: &Path) -> Result<(PathBuf, PathBuf)> {
        for prev in &self.ctx.raws {
            if prev.starts_with(&spec.raw) {
                return Err(Error::Remote {
                    url: spec.raw.clone(),
                    message: format!(
                        "cycle detected: URI '{}' referenced by previous URI '{prev}'",
                        spec.raw
                    ),
                });
            }
        }
        let Some(loader) = &self.opts.remote else {
            return Err(Error::Unsupported(format!(
                "remote resource `{}` in `{}`: no git loader is configured for this build",
                spec.raw,
                kpath.display()
            )));
        };
        let root = loader.fetch(spec).map_err(|message| Error::Remote {
            url: spec.raw.clone(),
            message,
        })?;
        let dir = clean(&root.join(&spec.kust_root_path));
        let remote_err = |message: String| Error::Remote {
            url: spec.raw.clone(),
            message,
        };
        if !self.fs.is_dir(&dir) {
            return Err(remote_err(if self.fs.is_file(&dir) {
                format!(
                    "'{}' refers to file '{}'; expecting directory",
                    spec.kust_root_path, spec.kust_root_path
                )
            } else {
                format!(
                    "path `{}` does not exist in the repository",
                    spec.kust_root_path
                )
            }));
        }
        let canon_root = self.fs.canonical(&root);
        if !self.fs.canonical(&dir).starts_with(&canon_root) {
            return Err(remote_err(format!(
                "{:?} refers to directory outside of repo",
                spec.kust_root_path
            )));
        }
        Ok((dir, canon_root))
    }

    /// Switches to a cloned repository's context; returns the previous one.
    fn enter_repo(&mut self, repo_root: PathBuf, spec: &RepoSpec) -> Ctx {
        let saved = self.ctx.clone();
        self.ctx.restrictor = LoadRestrictor::RootOnly;
        self.ctx.repo = Some(repo_root);
        self.ctx.raws.push(spec.raw.clone());
        saved
    }

    /// kustomize's git containment rule: bases of a cloned kustomization stay in the repo.
    fn check_in_repo(&self, p: &Path) -> Result<()> {
        if let Some(repo) = &self.ctx.repo
            && !self.fs.canonical(p).starts_with(repo)
        {
            return Err(Error::OutsideRepo {
                base: p.to_path_buf(),
                repo: repo.clone(),
            });
        }
        Ok(())
    }

    fn enter(&mut self, dir: &Path) -> Result<()> {
        let canon = self.fs.canonical(dir);
        for visited in &self.stack {
            if visited.starts_with(&canon) {
                return Err(Error::Cycle(dir.to_path_buf()));
            }
        }
        self.stack.push(canon);
        Ok(())
    }

    /// Builds a kustomization into a fresh accumulator.
    fn target_with(
        &mut self,
        dir: &Path,
        kfile: &Path,
        kust: Kustomization,
        component: bool,
    ) -> Result<Acc> {
        let mut acc = Acc {
            res: Vec::new(),
            cfg: TransformerConfig::builtin(),
            vars: Vec::new(),
        };
        self.enter(dir)?;
        let r = self.accumulate(dir, kfile, &kust, &mut acc, component);
        self.stack.pop();
        r.map(|_| acc)
    }

    /// The objects of a resource URL that downloads as a manifest; `None` when it does not
    /// download or does not parse (the caller tries it as a repository then).
    fn remote_file(&self, url: &str) -> Option<Vec<Map<String, Value>>> {
        let loader = self.opts.remote.as_ref()?;
        let bytes = loader.fetch_file(url).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        parse_objects(&text, Path::new(url))
            .ok()
            .filter(|objs| !objs.is_empty())
    }

    /// The kustomization's `openapi` field (kyaml's `SetSchema`, see [`crate::schema`]).
    fn choose_schema(&self, ldr: &Loader<'_>, kust: &Kustomization, kpath: &Path) -> Result<()> {
        let top = self.stack.len() <= 1;
        let empty = serde_json::Map::new();
        let openapi = match &kust.openapi {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(o)) => o,
            Some(_) => {
                return Err(Error::InvalidKustomization {
                    path: kpath.to_path_buf(),
                    message: "field `openapi`: expected a map of `path` or `version`".into(),
                });
            }
        };
        let custom = match openapi.get("path") {
            Some(Value::String(p)) => Some(ldr.read_string(p)?),
            Some(_) => {
                return Err(Error::InvalidKustomization {
                    path: kpath.to_path_buf(),
                    message: "field `openapi.path`: expected a string".into(),
                });
            }
            None => None,
        };
        crate::schema::choose(openapi, custom.as_ref().map(|(_, t)| t.as_str()), top).map_err(
            |message| match &custom {
                Some((path, _)) => Error::InvalidKustomization {
                    path: path.clone(),
                    message: format!("OpenAPI schema: {message}"),
                },
                None => Error::InvalidKustomization {
                    path: kpath.to_path_buf(),
                    message: format!("field `openapi`: {message}"),
                },
            },
        )
    }

    fn check_kind(&self, kust: &Kustomization, path: &Path, component: bool) -> Result<()> {
        let kind = kust.kind.as_deref().unwrap_or("Kustomization");
        let kind = if kind.is_empty() {
            "Kustomization"
        } else {
            kind
        };
        if component && kind != "Component" {
            return Err(Error::InvalidKustomization {
                path: path.to_path_buf(),
                message: format!(
                    "expected kind 'Component' for path '{}' but got '{kind}'",
                    path.display()
                ),
            });
        }
        if !component && kind == "Component" {
            return Err(Error::InvalidKustomization {
                path: path.to_path_buf(),
                message: format!("expected kind != 'Component' for path '{}'", path.display()),
            });
        }
        if kind != "Component" && kind != "Kustomization" {
            return Err(Error::InvalidKustomization {
                path: path.to_path_buf(),
                message: format!("unknown kind '{kind}'"),
            });
        }
        Ok(())
    }

    fn accumulate(
        &mut self,
        dir: &Path,
        kfile: &Path,
        kust: &Kustomization,
        acc: &mut Acc,
        component: bool,
    ) -> Result<()> {
        let kpath = kfile.to_path_buf();
        self.check_kind(kust, &kpath, component)?;
        let ldr: Loader<'a> = Loader {
            fs: self.fs,
            root: dir.to_path_buf(),
            restrictor: self.ctx.restrictor,
        };
        self.choose_schema(&ldr, kust, &kpath)?;

        for entry in &kust.resources {
            // A URL is downloaded as a file first (a raw manifest), then tried as a repository.
            if remote::is_http_url(entry)
                && let Some(objs) = self.remote_file(entry)
            {
                let origin = format!("path: {entry}\n");
                for obj in objs {
                    let mut r = Resource::new(obj);
                    r.origin = Some(origin.clone());
                    push_unique(acc, r, entry)?;
                }
                continue;
            }
            if let Some(spec) = remote::parse(entry) {
                let spec = spec.map_err(|message| Error::InvalidKustomization {
                    path: kpath.clone(),
                    message,
                })?;
                let (p, repo_root) = self.fetch_remote(&spec, &kpath)?;
                let saved = self.enter_repo(repo_root, &spec);
                let r = self.sub_kustomization(&p, entry, acc);
                self.ctx = saved;
                r?;
                continue;
            }
            let p = clean(&dir.join(entry));
            if self.fs.is_dir(&p) {
                self.check_in_repo(&p)?;
                self.sub_kustomization(&p, entry, acc)?;
            } else if self.fs.is_file(&p) || ldr.resolve(entry).is_err() {
                let (full, text) = ldr.read_string(entry)?;
                let origin = format!("path: {}\n", relative(&self.top, &full));
                for obj in parse_objects(&text, &full)? {
                    let mut r = Resource::new(obj);
                    r.origin = Some(origin.clone());
                    push_unique(acc, r, entry)?;
                }
            } else {
                return Err(Error::Read {
                    path: p,
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "accumulating resources from '{entry}': must resolve to a file or a directory"
                        ),
                    ),
                });
            }
        }

        for c in &kust.configurations {
            let (full, text) = ldr.read_string(c)?;
            let def: TransformerConfigDef =
                serde_yaml::from_str(&text).map_err(|e| Error::InvalidKustomization {
                    path: full,
                    message: e.to_string(),
                })?;
            acc.cfg.merge_def(&def);
        }
        for c in &kust.crds {
            let (full, text) = ldr.read_string(c)?;
            acc.cfg
                .merge_def(&crate::crds::config_from_file(&text, &full)?);
        }

        // Generators.
        for (kind, list) in [
            (GenKind::ConfigMap, &kust.config_map_generator),
            (GenKind::Secret, &kust.secret_generator),
        ] {
            for args in list {
                let opts = generators::merge_options(
                    args.options.as_ref(),
                    kust.generator_options.as_ref(),
                );
                let mut r = generators::generate(kind, args, &opts, &ldr)?;
                r.origin = Some(format!(
                    "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {}\n",
                    relative(&self.top, &kpath),
                    if kind == GenKind::ConfigMap {
                        "ConfigMapGenerator"
                    } else {
                        "SecretGenerator"
                    }
                ));
                absorb(acc, r)?;
            }
        }
        // Helm charts: the last of kustomize's builtin generators.
        let globals = kust.helm_globals.clone().unwrap_or_default();
        for chart in &kust.helm_charts {
            let objs = crate::helm::inflate(&ldr, &kpath, self.opts, &globals, chart)?;
            let origin = format!(
                "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: HelmChartInflationGenerator\n",
                relative(&self.top, &kpath)
            );
            for obj in objs {
                let mut r = Resource::new(obj);
                r.origin = Some(origin.clone());
                absorb(acc, r)?;
            }
        }
        // kustomize v5.5 runs the parent's generators before its components (observed: a
        // component can merge into a generated ConfigMap of its parent).
        for entry in &kust.components {
            let saved = self.ctx.clone();
            let p = if let Some(spec) = remote::parse(entry) {
                let spec = spec.map_err(|message| Error::InvalidKustomization {
                    path: kpath.clone(),
                    message,
                })?;
                let (p, repo_root) = self.fetch_remote(&spec, &kpath)?;
                self.enter_repo(repo_root, &spec);
                p
            } else {
                let p = clean(&dir.join(entry));
                if !self.fs.is_dir(&p) {
                    return Err(Error::InvalidKustomization {
                        path: kpath.clone(),
                        message: format!(
                            "component `{entry}` must be a directory holding a kustomization"
                        ),
                    });
                }
                self.check_in_repo(&p)?;
                p
            };
            let r = load_kustomization(self.fs, &p).and_then(|(sub, spath)| {
                self.enter(&p)?;
                let r = self.accumulate(&p, &spath, &sub, acc, true);
                self.stack.pop();
                r
            });
            self.ctx = saved;
            r?;
        }

        for (field, list) in [
            ("generators", &kust.generators),
            ("transformers", &kust.transformers),
            ("validators", &kust.validators),
        ] {
            if !list.is_empty() {
                return Err(Error::Unsupported(format!(
                    "`{field}` in `{}`: kustomize plugins are not supported",
                    kpath.display()
                )));
            }
        }

        // Transformers, in kustomize's order; with transformerAnnotations each configured
        // transformer is recorded on every object of the accumulator.
        let kin = relative(&self.top, &kpath);
        let track = self.track;
        let mark = |acc: &mut Acc, kind: &'static str, n: usize| {
            if track {
                for r in acc.res.iter_mut() {
                    for _ in 0..n {
                        r.transformations.push((kin.clone(), kind));
                    }
                }
            }
        };
        let mut psm = Vec::new();
        for e in &kust.patches_strategic_merge {
            psm.extend(patches::load_psm(&ldr, e)?);
        }
        patches::smp_by_id(&mut acc.res, &psm, false, false)?;
        if !kust.patches_strategic_merge.is_empty() {
            mark(acc, "PatchStrategicMergeTransformer", 1);
        }
        for p in &kust.patches {
            let allow_name = p.options.get("allowNameChange").copied().unwrap_or(false);
            let allow_kind = p.options.get("allowKindChange").copied().unwrap_or(false);
            match patches::load_patch(&ldr, p)? {
                Loaded::Smp(objs) => match &p.target {
                    Some(t) => {
                        patches::smp_by_target(&mut acc.res, &objs, t, allow_name, allow_kind)?
                    }
                    None => patches::smp_by_id(&mut acc.res, &objs, allow_name, allow_kind)?,
                },
                Loaded::Json(jp) => {
                    let t = p.target.as_ref().ok_or_else(|| {
                        Error::Patch("must specify a target for JSON patch".into())
                    })?;
                    patches::json_by_target(&mut acc.res, &jp, t)?;
                }
            }
            mark(acc, "PatchTransformer", 1);
        }
        transformers::namespace(
            &mut acc.res,
            kust.namespace.as_deref().unwrap_or(""),
            &acc.cfg,
        )?;
        if kust.namespace.as_deref().is_some_and(|n| !n.is_empty()) {
            mark(acc, "NamespaceTransformer", 1);
        }
        transformers::prefix_suffix(
            &mut acc.res,
            kust.name_prefix.as_deref().unwrap_or(""),
            kust.name_suffix.as_deref().unwrap_or(""),
            &acc.cfg,
        )?;
        if kust.name_prefix.as_deref().is_some_and(|n| !n.is_empty()) {
            mark(acc, "PrefixTransformer", 1);
        }
        if kust.name_suffix.as_deref().is_some_and(|n| !n.is_empty()) {
            mark(acc, "SuffixTransformer", 1);
        }
        transformers::labels(&mut acc.res, &kust.labels, &kust.common_labels, &acc.cfg)?;
        if !kust.labels.is_empty() || !kust.common_labels.is_empty() {
            mark(acc, "LabelTransformer", kust.labels.len() + 1);
        }
        transformers::annotations(&mut acc.res, &kust.common_annotations, &acc.cfg)?;
        if !kust.common_annotations.is_empty() {
            mark(acc, "AnnotationsTransformer", 1);
        }
        for p in &kust.patches_json6902 {
            let jp = patches::load_json6902(&ldr, p)?;
            let t = p
                .target
                .as_ref()
                .ok_or_else(|| Error::Patch("must specify a target for JSON patch".into()))?;
            patches::json_by_target(&mut acc.res, &jp, t)?;
            mark(acc, "PatchJson6902Transformer", 1);
        }
        transformers::replicas(&mut acc.res, &kust.replicas, &acc.cfg)?;
        mark(acc, "ReplicaCountTransformer", kust.replicas.len());
        transformers::images(&mut acc.res, &kust.images, &acc.cfg)?;
        mark(acc, "ImageTagTransformer", kust.images.len());
        let mut reps: Vec<Replacement> = Vec::new();
        for e in &kust.replacements {
            match e {
                ReplacementEntry::Inline(r) => reps.push(r.clone()),
                ReplacementEntry::Path { path } => {
                    let (full, text) = ldr.read_string(path)?;
                    let v: Value =
                        serde_yaml::from_str(&text).map_err(|e| Error::InvalidKustomization {
                            path: full.clone(),
                            message: e.to_string(),
                        })?;
                    let list = if v.is_array() {
                        v
                    } else {
                        Value::Array(vec![v])
                    };
                    let more: Vec<Replacement> =
                        serde_json::from_value(list).map_err(|e| Error::InvalidKustomization {
                            path: full,
                            message: e.to_string(),
                        })?;
                    reps.extend(more);
                }
            }
        }
        replacements::apply(&mut acc.res, &reps)?;
        if !kust.replacements.is_empty() {
            mark(acc, "ReplacementTransformer", 1);
        }
        merge_vars(&mut acc.vars, kust.vars.clone())?;
        Ok(())
    }
}

fn merge_vars(into: &mut Vec<Var>, more: Vec<Var>) -> Result<()> {
    for v in more {
        if into.iter().any(|x| x.name == v.name) {
            return Err(Error::Conflict(format!(
                "var '{}' already encountered",
                v.name
            )));
        }
        into.push(v);
    }
    Ok(())
}

fn merge_str_maps(old: Map<String, Value>, new: Map<String, Value>) -> Map<String, Value> {
    let mut m = old;
    for (k, v) in new {
        m.insert(k, v);
    }
    m
}

/// Adds a generated object: create, or merge into / replace an existing one.
fn absorb(acc: &mut Acc, mut r: Resource) -> Result<()> {
    let id = r.cur_id();
    let behavior = r.behavior.unwrap_or_default();
    let hits: Vec<usize> = acc
        .res
        .iter()
        .enumerate()
        .filter(|(_, x)| x.all_ids().iter().any(|i| i.matches(&id)))
        .map(|(i, _)| i)
        .collect();
    match hits.len() {
        0 => match behavior {
            Behavior::Create => {
                acc.res.push(r);
                Ok(())
            }
            _ => Err(Error::Generator(format!(
                "id {id} does not exist; cannot merge or replace"
            ))),
        },
        1 => {
            let old = &acc.res[hits[0]];
            if behavior == Behavior::Merge {
                r.origin = old.origin.clone();
            }
            match behavior {
                Behavior::Create => {
                    return Err(Error::Generator(format!(
                        "id {id} exists; behavior must be merge or replace"
                    )));
                }
                Behavior::Merge => {
                    for field in ["data", "binaryData"] {
                        let o = old
                            .obj
                            .get(field)
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default();
                        let n = r
                            .obj
                            .get(field)
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default();
                        let m = merge_str_maps(o, n);
                        if !m.is_empty() {
                            r.obj.insert(field.into(), Value::Object(m));
                        }
                    }
                }
                Behavior::Replace => {}
            }
            let labels = merge_str_maps(old.meta_map("labels"), r.meta_map("labels"));
            let ann = merge_str_maps(old.meta_map("annotations"), r.meta_map("annotations"));
            r.set_meta_map("labels", labels);
            r.set_meta_map("annotations", ann);
            r.set_name(old.name());
            r.set_namespace(old.namespace());
            r.prev_ids = old.prev_ids.clone();
            r.prefixes = old.prefixes.clone();
            r.suffixes = old.suffixes.clone();
            r.needs_hash = old.needs_hash;
            r.transformations = old.transformations.clone();
            acc.res[hits[0]] = r;
            Ok(())
        }
        _ => Err(Error::Generator(format!(
            "found multiple objects {id} that could accept merge"
        ))),
    }
}

const ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn sort(res: &mut [Resource], kust: &Kustomization) -> Result<()> {
    let (first, last): (Vec<String>, Vec<String>) = match &kust.sort_options {
        Some(so) => match so.order.as_deref().unwrap_or("") {
            "fifo" => return Ok(()),
            "legacy" | "" => match &so.legacy_sort_options {
                Some(l) => (l.order_first.clone(), l.order_last.clone()),
                None => (
                    ORDER_FIRST.map(String::from).to_vec(),
                    ORDER_LAST.map(String::from).to_vec(),
                ),
            },
            other => {
                return Err(Error::InvalidKustomization {
                    path: "kustomization.yaml".into(),
                    message: format!("unknown sort order `{other}`"),
                });
            }
        },
        None => (
            ORDER_FIRST.map(String::from).to_vec(),
            ORDER_LAST.map(String::from).to_vec(),
        ),
    };
    let order = |kind: &str| -> i64 {
        if let Some(i) = first.iter().position(|k| k == kind) {
            return i as i64 - first.len() as i64;
        }
        if let Some(i) = last.iter().position(|k| k == kind) {
            return 1 + i as i64;
        }
        0
    };
    res.sort_by(|a, b| {
        let (ga, gb) = (a.gvk(), b.gvk());
        if ga != gb {
            let (ia, ib) = (order(&ga.kind), order(&gb.kind));
            if ia != ib {
                return ia.cmp(&ib);
            }
            if ga.kind == "Namespace"
                && gb.kind == "Namespace"
                && (ga.group.is_empty() || gb.group.is_empty())
            {
                return gb.sort_string().cmp(&ga.sort_string());
            }
            return ga.sort_string().cmp(&gb.sort_string());
        }
        a.cur_id().sort_string().cmp(&b.cur_id().sort_string())
    });
    Ok(())
}
