//! Charts as Helm's loader builds them (`pkg/chart/loader`): a directory (with `.helmignore`) or a
//! `.tgz`, split into metadata, templates, values, schema, other files and subcharts.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use tether_gotmpl::Value;

use crate::Error;
use crate::ignore::Rules;

/// A file of a chart, by its path relative to the chart root (`/`-separated).
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub name: String,
    pub data: Vec<u8>,
}

/// A maintainer entry of Chart.yaml.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maintainer {
    pub name: String,
    pub email: String,
    pub url: String,
}

/// A dependency declared in Chart.yaml (or requirements.yaml).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    /// `import-values`: strings or `{child, parent}` maps.
    pub import_values: Vec<ImportValue>,
    pub alias: String,
}

/// One `import-values` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportValue {
    /// `- data`: the child's `exports.data` into the parent's root.
    Export(String),
    /// `- {child: a.b, parent: c}`.
    Map { child: String, parent: String },
}

/// Chart.yaml, normalised as Helm does (numbers become strings, control characters cleaned).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub name: String,
    pub home: String,
    pub sources: Vec<String>,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub maintainers: Vec<Maintainer>,
    pub icon: String,
    pub api_version: String,
    pub condition: String,
    pub tags: String,
    pub app_version: String,
    pub deprecated: bool,
    pub annotations: BTreeMap<String, String>,
    pub kube_version: String,
    pub dependencies: Vec<Dependency>,
    pub chart_type: String,
}

/// Chart.lock: the versions `helm dependency update` picked, and the digest of Chart.yaml's
/// dependencies with them (Helm's `resolver.HashReq`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lock {
    pub digest: String,
    pub dependencies: Vec<Dependency>,
}

/// Parses Chart.lock / requirements.lock.
pub fn parse_lock(data: &[u8], file: &str) -> Result<Lock, Error> {
    let text = String::from_utf8_lossy(data);
    let m = match Value::from_yaml_str(&text) {
        Ok(Value::Map(m)) => m.borrow().clone(),
        Ok(Value::Nil) => BTreeMap::new(),
        Ok(other) => {
            return Err(Error::Load(format!(
                "cannot load {file}: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type chart.Lock",
                json_kind(&other)
            )));
        }
        Err(e) => return Err(Error::Load(format!("cannot load {file}: {e}"))),
    };
    Ok(Lock {
        digest: get_str(&m, "digest", file, "Lock.digest of type string")?,
        dependencies: parse_dependencies(m.get("dependencies"), file)?,
    })
}

/// A loaded chart with its subcharts.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub metadata: Metadata,
    /// Templates (`templates/...`), in load order.
    pub templates: Vec<File>,
    /// Files visible through `.Files` (everything else but Chart.yaml, values.yaml, the schema, the
    /// lock and `charts/`).
    pub files: Vec<File>,
    /// The text of `values.yaml` (already checked to parse).
    pub values_yaml: Option<String>,
    /// `values.schema.json`.
    pub schema: Option<Vec<u8>>,
    /// Whether a Chart.lock / requirements.lock was present.
    pub has_lock: bool,
    /// The parsed Chart.lock (requirements.lock for apiVersion v1 charts).
    pub lock: Option<Lock>,
    /// Subcharts from `charts/`, in name order.
    pub dependencies: Vec<Chart>,
}

impl Chart {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The chart's default values as Go values (float64 numbers).
    pub fn values(&self) -> Value {
        match &self.values_yaml {
            Some(y) => Value::from_yaml_str(y).unwrap_or_else(|_| Value::empty_map()),
            None => Value::empty_map(),
        }
    }

    /// Whether the chart is a library chart.
    pub fn is_library(&self) -> bool {
        self.metadata.chart_type == "library"
    }
}

/// Removes control characters and turns whitespace into spaces (Helm's `sanitizeString`).
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{FEFF}') {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

/// A scalar as Helm's metadata loading turns it into a string (numbers as JSON prints float64).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string()),
        Value::Float(f) => Some(tether_gotmpl::json::go_json_float(*f).unwrap_or_default()),
        Value::Int(i) | Value::I64(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Nil => Some(String::new()),
        _ => None,
    }
}

fn field_err(file: &str, field: &str, v: &Value) -> Error {
    Error::Load(format!(
        "cannot load {file}: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field {field}",
        json_kind(v)
    ))
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

fn get_str(m: &BTreeMap<String, Value>, key: &str, file: &str, go: &str) -> Result<String, Error> {
    match m.get(key) {
        None => Ok(String::new()),
        Some(v) => scalar(v).ok_or_else(|| field_err(file, go, v)),
    }
}

fn get_list(
    m: &BTreeMap<String, Value>,
    key: &str,
    file: &str,
    go: &str,
) -> Result<Vec<String>, Error> {
    match m.get(key) {
        None | Some(Value::Nil) => Ok(Vec::new()),
        Some(Value::List(_, l)) => l
            .iter()
            .map(|x| scalar(x).ok_or_else(|| field_err(file, go, x)))
            .collect(),
        Some(v) => Err(field_err(file, go, v)),
    }
}

fn parse_dependencies(v: Option<&Value>, file: &str) -> Result<Vec<Dependency>, Error> {
    let items = match v {
        None | Some(Value::Nil) => return Ok(Vec::new()),
        Some(Value::List(_, l)) => l.clone(),
        Some(v) => {
            return Err(field_err(
                file,
                "Metadata.dependencies of type []*chart.Dependency",
                v,
            ));
        }
    };
    let mut out = Vec::new();
    for it in items.iter() {
        let Value::Map(m) = it else {
            if it.is_nil() {
                continue;
            }
            return Err(field_err(
                file,
                "Metadata.dependencies of type chart.Dependency",
                it,
            ));
        };
        let m = m.borrow();
        let g = |k: &str| get_str(&m, k, file, &format!("Dependency.{k} of type string"));
        let mut imports = Vec::new();
        if let Some(Value::List(_, l)) = m.get("import-values") {
            for iv in l.iter() {
                match iv {
                    Value::String(s) => imports.push(ImportValue::Export(s.to_string())),
                    Value::Map(im) => {
                        let im = im.borrow();
                        imports.push(ImportValue::Map {
                            child: im.get("child").and_then(scalar).unwrap_or_default(),
                            parent: im.get("parent").and_then(scalar).unwrap_or_default(),
                        });
                    }
                    _ => {}
                }
            }
        }
        out.push(Dependency {
            name: sanitize(&g("name")?),
            version: sanitize(&g("version")?),
            repository: sanitize(&g("repository")?),
            condition: sanitize(&g("condition")?),
            tags: get_list(&m, "tags", file, "Dependency.tags of type []string")?
                .iter()
                .map(|t| sanitize(t))
                .collect(),
            enabled: matches!(m.get("enabled"), Some(Value::Bool(true))),
            import_values: imports,
            alias: sanitize(&g("alias")?),
        });
    }
    Ok(out)
}

fn parse_yaml_map(data: &[u8], file: &str) -> Result<BTreeMap<String, Value>, Error> {
    let text = String::from_utf8_lossy(data);
    let v =
        Value::from_yaml_str(&text).map_err(|e| Error::Load(format!("cannot load {file}: {e}")))?;
    match v {
        Value::Map(m) => Ok(m.borrow().clone()),
        Value::Nil => Ok(BTreeMap::new()),
        other => Err(Error::Load(format!(
            "cannot load {file}: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type chart.Metadata",
            json_kind(&other)
        ))),
    }
}

/// Parses Chart.yaml into metadata (without validating it).
pub fn parse_metadata(data: &[u8]) -> Result<Metadata, Error> {
    let f = "Chart.yaml";
    let m = parse_yaml_map(data, f)?;
    let g = |k: &str, go: &str| get_str(&m, k, f, &format!("Metadata.{go} of type string"));
    let mut maintainers = Vec::new();
    if let Some(Value::List(_, l)) = m.get("maintainers") {
        for it in l.iter() {
            if let Value::Map(mm) = it {
                let mm = mm.borrow();
                maintainers.push(Maintainer {
                    name: mm.get("name").and_then(scalar).unwrap_or_default(),
                    email: mm.get("email").and_then(scalar).unwrap_or_default(),
                    url: mm.get("url").and_then(scalar).unwrap_or_default(),
                });
            }
        }
    }
    let mut annotations = BTreeMap::new();
    match m.get("annotations") {
        Some(Value::Map(a)) => {
            for (k, v) in a.borrow().iter() {
                let s = scalar(v)
                    .ok_or_else(|| field_err(f, "Metadata.annotations of type string", v))?;
                annotations.insert(k.clone(), s);
            }
        }
        None | Some(Value::Nil) => {}
        Some(v) => {
            return Err(field_err(
                f,
                "Metadata.annotations of type map[string]string",
                v,
            ));
        }
    }
    let mut md = Metadata {
        name: g("name", "name")?,
        home: g("home", "home")?,
        sources: get_list(&m, "sources", f, "Metadata.sources of type []string")?,
        version: g("version", "version")?,
        description: g("description", "description")?,
        keywords: get_list(&m, "keywords", f, "Metadata.keywords of type []string")?,
        maintainers,
        icon: g("icon", "icon")?,
        api_version: g("apiVersion", "apiVersion")?,
        condition: g("condition", "condition")?,
        tags: g("tags", "tags")?,
        app_version: g("appVersion", "appVersion")?,
        deprecated: matches!(m.get("deprecated"), Some(Value::Bool(true))),
        annotations,
        kube_version: g("kubeVersion", "kubeVersion")?,
        dependencies: parse_dependencies(m.get("dependencies"), f)?,
        chart_type: g("type", "type")?,
    };
    if md.api_version.is_empty() {
        md.api_version = "v1".into();
    }
    Ok(md)
}

static ALIAS: std::sync::LazyLock<regex_lite::Regex> =
    std::sync::LazyLock::new(|| regex_lite::Regex::new("^[a-zA-Z0-9_-]+$").expect("valid regex"));

/// Helm's `Metadata.Validate`: sanitises the strings and checks required fields.
pub fn validate_metadata(md: &mut Metadata) -> Result<(), Error> {
    let v = |m: String| Error::Load(format!("validation: {m}"));
    md.name = sanitize(&md.name);
    md.description = sanitize(&md.description);
    md.home = sanitize(&md.home);
    md.icon = sanitize(&md.icon);
    md.condition = sanitize(&md.condition);
    md.tags = sanitize(&md.tags);
    md.app_version = sanitize(&md.app_version);
    md.kube_version = sanitize(&md.kube_version);
    for s in md.sources.iter_mut().chain(md.keywords.iter_mut()) {
        *s = sanitize(s);
    }
    if md.api_version.is_empty() {
        return Err(v("chart.metadata.apiVersion is required".into()));
    }
    if md.name.is_empty() {
        return Err(v("chart.metadata.name is required".into()));
    }
    if md.name.contains('/') || md.name == "." || md.name == ".." {
        return Err(v(format!("chart.metadata.name {:?} is invalid", md.name)));
    }
    if md.version.is_empty() {
        return Err(v("chart.metadata.version is required".into()));
    }
    if crate::semver::Version::parse(&md.version).is_err() {
        return Err(v(format!(
            "chart.metadata.version {:?} is invalid",
            md.version
        )));
    }
    if !matches!(md.chart_type.as_str(), "" | "application" | "library") {
        return Err(v(
            "chart.metadata.type must be application or library".into()
        ));
    }
    for m in &mut md.maintainers {
        m.name = sanitize(&m.name);
        m.email = sanitize(&m.email);
        m.url = sanitize(&m.url);
        if m.name.is_empty() {
            return Err(v("maintainers must have a name".into()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for d in &md.dependencies {
        if !d.alias.is_empty() && !ALIAS.is_match(&d.alias) {
            return Err(v(format!(
                "dependency {:?} has disallowed characters in the alias",
                d.name
            )));
        }
        let key = if d.alias.is_empty() {
            &d.name
        } else {
            &d.alias
        };
        if !seen.insert(key.clone()) {
            return Err(v(format!(
                "more than one dependency with name or alias {key:?}"
            )));
        }
    }
    Ok(())
}

/// Builds a chart from its files (Helm's `LoadFiles`).
pub fn load_files(files: Vec<File>) -> Result<Chart, Error> {
    let mut c = Chart::default();
    let mut md: Option<Metadata> = None;
    for f in &files {
        if f.name == "Chart.yaml" {
            md = Some(parse_metadata(&f.data)?);
        }
    }
    let mut subcharts: BTreeMap<String, Vec<File>> = BTreeMap::new();
    for f in files {
        match f.name.as_str() {
            "Chart.yaml" => {}
            "Chart.lock" => {
                c.has_lock = true;
                c.lock = Some(parse_lock(&f.data, "Chart.lock")?);
            }
            "values.yaml" => {
                let text = String::from_utf8_lossy(&f.data).into_owned();
                match Value::from_yaml_str(&text) {
                    Ok(Value::Map(_)) => {}
                    Ok(Value::Nil) => {}
                    Ok(other) => {
                        return Err(Error::Load(format!(
                            "cannot load values.yaml: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                            json_kind(&other)
                        )));
                    }
                    Err(e) => return Err(Error::Load(format!("cannot load values.yaml: {e}"))),
                }
                c.values_yaml = Some(text);
            }
            "values.schema.json" => c.schema = Some(f.data),
            "requirements.yaml" => {
                let m = md.get_or_insert_with(|| Metadata {
                    api_version: "v1".into(),
                    ..Default::default()
                });
                let r = parse_yaml_map(&f.data, "requirements.yaml")?;
                m.dependencies = parse_dependencies(r.get("dependencies"), "requirements.yaml")?;
                if m.api_version == "v1" {
                    c.files.push(f);
                }
            }
            "requirements.lock" => {
                c.has_lock = true;
                c.lock = Some(parse_lock(&f.data, "requirements.lock")?);
                if md.as_ref().is_some_and(|m| m.api_version == "v1") {
                    c.files.push(f);
                }
            }
            n if n.starts_with("templates/") => c.templates.push(f),
            n if n.starts_with("charts/") => {
                if n.ends_with(".prov") {
                    c.files.push(f);
                    continue;
                }
                let rest = &n["charts/".len()..];
                let cname = rest.split('/').next().unwrap_or(rest).to_string();
                subcharts.entry(cname).or_default().push(File {
                    name: rest.to_string(),
                    data: f.data,
                });
            }
            _ => c.files.push(f),
        }
    }
    let Some(mut md) = md else {
        return Err(Error::Load("Chart.yaml file is missing".into()));
    };
    validate_metadata(&mut md)?;
    c.metadata = md;
    for (n, files) in subcharts {
        if n.starts_with(['_', '.']) {
            continue;
        }
        let wrap = |e: Error| {
            Error::Load(format!(
                "error unpacking subchart {n} in {}: {}",
                c.metadata.name,
                e.message()
            ))
        };
        let sc = if n.ends_with(".tgz") {
            let f = &files[0];
            if f.name != n {
                return Err(Error::Load(format!(
                    "error unpacking subchart tar in {}: expected {n}, got {}",
                    c.metadata.name, f.name
                )));
            }
            load_archive(&f.data).map_err(wrap)?
        } else {
            let buf: Vec<File> = files
                .into_iter()
                .filter_map(|f| {
                    f.name.split_once('/').map(|(_, rest)| File {
                        name: rest.to_string(),
                        data: f.data,
                    })
                })
                .collect();
            load_files(buf).map_err(wrap)?
        };
        c.dependencies.push(sc);
    }
    Ok(c)
}

fn trim_bom(mut d: Vec<u8>) -> Vec<u8> {
    if d.starts_with(&[0xEF, 0xBB, 0xBF]) {
        d.drain(..3);
    }
    d
}

/// Loads a gzipped chart archive (Helm's `LoadArchive`).
pub fn load_archive(data: &[u8]) -> Result<Chart, Error> {
    let gz = flate2::read::GzDecoder::new(data);
    let mut ar = tar::Archive::new(gz);
    let mut files = Vec::new();
    let entries = ar
        .entries()
        .map_err(|e| Error::Load(format!("reading chart archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::Load(format!("reading chart archive: {e}")))?;
        let ty = entry.header().entry_type();
        if ty.is_dir() || ty.is_pax_global_extensions() || ty.is_pax_local_extensions() {
            continue;
        }
        if !(ty.is_file() || ty == tar::EntryType::Continuous) {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let delim = if raw.contains('\\') { '\\' } else { '/' };
        let parts: Vec<&str> = raw.split(delim).collect();
        let n = parts[1..].join("/");
        if n.starts_with('/') {
            return Err(Error::Load(
                "chart illegally contains absolute paths".into(),
            ));
        }
        let n = clean(&n);
        if n == "." {
            return Err(Error::Load(format!(
                "chart illegally contains content outside the base directory: {raw:?}"
            )));
        }
        if n.starts_with("..") {
            return Err(Error::Load(
                "chart illegally references parent directory".into(),
            ));
        }
        if parts[0] == "Chart.yaml" {
            return Err(Error::Load("chart yaml not in base directory".into()));
        }
        let mut d = Vec::new();
        entry
            .read_to_end(&mut d)
            .map_err(|e| Error::Load(format!("reading chart archive: {e}")))?;
        files.push(File {
            name: n,
            data: trim_bom(d),
        });
    }
    if files.is_empty() {
        return Err(Error::Load("no files in chart archive".into()));
    }
    load_files(files)
}

/// Go's `path.Clean` for relative paths.
fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

/// Loads a chart directory (Helm's `LoadDir`): `.helmignore` from the root applies to the whole tree,
/// symlinks are followed, files are read in lexical order.
pub fn load_dir(dir: &Path) -> Result<Chart, Error> {
    let mut rules = match std::fs::read_to_string(dir.join(".helmignore")) {
        Ok(t) => Rules::parse(&t).map_err(Error::Load)?,
        Err(_) => Rules::default(),
    };
    rules.add_defaults();
    let mut files = Vec::new();
    walk(dir, "", &rules, &mut files, 0)?;
    load_files(files)
}

fn walk(
    dir: &Path,
    rel: &str,
    rules: &Rules,
    out: &mut Vec<File>,
    depth: usize,
) -> Result<(), Error> {
    if depth > 64 {
        return Err(Error::Load(format!(
            "{}: directory nesting too deep",
            dir.display()
        )));
    }
    let io = |e: std::io::Error, p: &Path| Error::Load(format!("{}: {e}", p.display()));
    // The directory entry's type saves a stat per file; symbolic links are followed (as Helm's
    // sympath.Walk does) through a stat of the path.
    let mut entries: Vec<(String, Option<std::fs::FileType>)> = std::fs::read_dir(dir)
        .map_err(|e| io(e, dir))?
        .filter_map(|e| e.ok())
        .map(|e| {
            let ty = e.file_type().ok().filter(|t| !t.is_symlink());
            (e.file_name().to_string_lossy().into_owned(), ty)
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, ty) in entries {
        let path = dir.join(&name);
        let n = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let meta = match ty {
            Some(t) => t,
            None => std::fs::metadata(&path)
                .map_err(|e| io(e, &path))?
                .file_type(),
        };
        if meta.is_dir() {
            if rules.ignore(&n, true) {
                continue;
            }
            walk(&path, &n, rules, out, depth + 1)?;
            continue;
        }
        if rules.ignore(&n, false) {
            continue;
        }
        if !meta.is_file() {
            return Err(Error::Load(format!(
                "cannot load irregular file {} as it has file mode type bits set",
                path.display()
            )));
        }
        let data = std::fs::read(&path).map_err(|e| io(e, &path))?;
        out.push(File {
            name: n,
            data: trim_bom(data),
        });
    }
    Ok(())
}

/// Loads a chart from a directory or a `.tgz` file.
pub fn load(path: &Path) -> Result<Chart, Error> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::Load(format!(
            "path {:?} not found: {e}",
            path.display().to_string()
        ))
    })?;
    if meta.is_dir() {
        if !path.join("Chart.yaml").exists() {
            return Err(Error::Load("Chart.yaml file is missing".into()));
        }
        return load_dir(path);
    }
    let data = std::fs::read(path).map_err(|e| Error::Load(format!("{}: {e}", path.display())))?;
    if !data.starts_with(&[0x1f, 0x8b]) {
        return Err(Error::Load(format!(
            "file '{}' does not appear to be a gzipped archive",
            path.display()
        )));
    }
    load_archive(&data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, data: &str) -> File {
        File {
            name: name.into(),
            data: data.as_bytes().to_vec(),
        }
    }

    #[test]
    fn metadata_normalised() {
        let md = parse_metadata(
            b"apiVersion: v2\nname: c\nversion: 1.0\nappVersion: 1.10\ndescription: \"a\\tb\"\nannotations: {x: 1}\n",
        )
        .unwrap();
        assert_eq!(md.version, "1");
        assert_eq!(md.app_version, "1.1");
        assert_eq!(md.annotations["x"], "1");
        let mut md = md;
        validate_metadata(&mut md).unwrap();
        assert_eq!(md.description, "a b");
    }

    #[test]
    fn files_split_and_subcharts() {
        let c = load_files(vec![
            f("Chart.yaml", "name: p\nversion: 0.1.0\n"),
            f("values.yaml", "a: 1\n"),
            f("templates/x.yaml", "x"),
            f("crds/c.yaml", "c"),
            f(
                "charts/sub/Chart.yaml",
                "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
            ),
            f("charts/sub/templates/y.yaml", "y"),
            f("charts/_skip/Chart.yaml", "bad"),
        ])
        .unwrap();
        assert_eq!(c.metadata.api_version, "v1");
        assert_eq!(c.templates.len(), 1);
        assert_eq!(
            c.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["crds/c.yaml"]
        );
        assert_eq!(c.dependencies.len(), 1);
        assert_eq!(c.dependencies[0].templates[0].name, "templates/y.yaml");
    }

    #[test]
    fn validation_errors() {
        let e = load_files(vec![f("Chart.yaml", "apiVersion: v2\nversion: 1.0.0\n")]).unwrap_err();
        assert_eq!(e.message(), "validation: chart.metadata.name is required");
        let e = load_files(vec![f(
            "Chart.yaml",
            "apiVersion: v2\nname: x\nversion: abc\n",
        )])
        .unwrap_err();
        assert_eq!(
            e.message(),
            "validation: chart.metadata.version \"abc\" is invalid"
        );
        let e = load_files(vec![f("values.yaml", "a: 1")]).unwrap_err();
        assert_eq!(e.message(), "Chart.yaml file is missing");
    }
}
