//! `configMapGenerator` and `secretGenerator`, and the name hash kustomize appends to
//! generated objects.

use crate::error::{Error, Result};
use crate::fs::Loader;
use crate::resource::{Behavior, Resource};
use crate::types::{GeneratorArgs, GeneratorOptions};
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Which object a generator makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenKind {
    ConfigMap,
    Secret,
}

/// Merges `generatorOptions` into a generator's own options: the generator's labels and
/// annotations win; either side can disable the hash or make the object immutable.
pub fn merge_options(
    local: Option<&GeneratorOptions>,
    global: Option<&GeneratorOptions>,
) -> GeneratorOptions {
    let mut o = local.cloned().unwrap_or_default();
    if let Some(g) = global {
        for (k, v) in &g.labels {
            o.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in &g.annotations {
            o.annotations.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if g.disable_name_suffix_hash == Some(true) {
            o.disable_name_suffix_hash = Some(true);
        }
        if g.immutable == Some(true) {
            o.immutable = Some(true);
        }
    }
    o
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn valid_env_name(k: &str) -> bool {
    let mut chars = k.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '-' || c == '.' => {}
        _ => return false,
    }
    k.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Parses an env file.
pub fn env_pairs(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = if i == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = match line.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (line.to_string(), std::env::var(line).unwrap_or_default()),
        };
        if !valid_env_name(&k) {
            return Err(Error::Generator(format!("\"{k}\" is not a valid key name")));
        }
        out.push((k, v));
    }
    Ok(out)
}

enum Data {
    Text(String),
    Binary(Vec<u8>),
}

/// Builds one generated object.
pub fn generate(
    kind: GenKind,
    args: &GeneratorArgs,
    opts: &GeneratorOptions,
    ldr: &Loader<'_>,
) -> Result<Resource> {
    let mut entries: Vec<(String, Data)> = Vec::new();
    let add = |entries: &mut Vec<(String, Data)>, k: String, d: Data| -> Result<()> {
        if entries.iter().any(|(x, _)| *x == k) {
            return Err(Error::Generator(format!(
                "configmap/secret `{}`: cannot add key {k}, another key by that name already exists",
                args.name
            )));
        }
        entries.push((k, d));
        Ok(())
    };
    let mut env_files: Vec<&String> = args.envs.iter().collect();
    if let Some(e) = &args.env {
        env_files.push(e);
    }
    for f in env_files {
        let (_, text) = ldr.read_string(f)?;
        for (k, v) in env_pairs(&text)? {
            add(&mut entries, k, Data::Text(v))?;
        }
    }
    for lit in &args.literals {
        let (k, v) = lit.split_once('=').ok_or_else(|| {
            Error::Generator(format!("invalid literal source {lit}, expected key=value"))
        })?;
        add(
            &mut entries,
            k.to_string(),
            Data::Text(remove_quotes(v).to_string()),
        )?;
    }
    for f in &args.files {
        let (key, path) = match f.split_once('=') {
            Some((k, p)) => {
                if k.is_empty() {
                    return Err(Error::Generator(format!(
                        "key name for file path {p} missing"
                    )));
                }
                (k.to_string(), p.to_string())
            }
            None => {
                let base = std::path::Path::new(f)
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (base, f.clone())
            }
        };
        let (_, bytes) = ldr.read(&path)?;
        let d = match String::from_utf8(bytes) {
            Ok(s) => Data::Text(s),
            Err(e) => Data::Binary(e.into_bytes()),
        };
        add(&mut entries, key, d)?;
    }

    let b64 = base64::engine::general_purpose::STANDARD;
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), "v1".into());
    obj.insert(
        "kind".into(),
        if kind == GenKind::ConfigMap {
            "ConfigMap"
        } else {
            "Secret"
        }
        .into(),
    );
    let mut md = Map::new();
    md.insert("name".into(), Value::String(args.name.clone()));
    if let Some(ns) = args.namespace.as_deref().filter(|n| !n.is_empty()) {
        md.insert("namespace".into(), Value::String(ns.into()));
    }
    if !opts.labels.is_empty() {
        md.insert(
            "labels".into(),
            opts.labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        );
    }
    if !opts.annotations.is_empty() {
        md.insert(
            "annotations".into(),
            opts.annotations
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        );
    }
    obj.insert("metadata".into(), Value::Object(md));
    let mut data = Map::new();
    let mut binary = Map::new();
    for (k, d) in entries {
        match (kind, d) {
            (GenKind::ConfigMap, Data::Text(s)) => {
                data.insert(k, Value::String(s));
            }
            (GenKind::ConfigMap, Data::Binary(b)) => {
                binary.insert(k, Value::String(b64.encode(b)));
            }
            (GenKind::Secret, Data::Text(s)) => {
                data.insert(k, Value::String(wrapped_base64(s.as_bytes())));
            }
            (GenKind::Secret, Data::Binary(b)) => {
                data.insert(k, Value::String(wrapped_base64(&b)));
            }
        }
    }
    if kind == GenKind::Secret {
        obj.insert(
            "type".into(),
            Value::String(
                args.type_
                    .clone()
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "Opaque".into()),
            ),
        );
    }
    if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    if opts.immutable == Some(true) {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(obj);
    r.behavior = Some(Behavior::parse(args.behavior.as_deref())?);
    r.needs_hash = opts.disable_name_suffix_hash != Some(true);
    Ok(r)
}

/// Base64 as kustomize writes Secret data: in lines of 70 characters, each ended by a newline,
/// once the encoding reaches 70 characters.
fn wrapped_base64(b: &[u8]) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(b);
    if enc.len() < 70 {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / 70 + 1);
    for chunk in enc.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// Go's `json.Marshal` escapes these inside strings.
fn go_json(v: &Value) -> String {
    let s = serde_json::to_string(v).expect("JSON values serialise");
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn field_or_empty(obj: &Map<String, Value>, k: &str) -> Value {
    match obj.get(k) {
        Some(Value::Object(m)) => {
            let mut sorted: Vec<(&String, &Value)> = m.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Null) | None => Value::String(String::new()),
        Some(other) => other.clone(),
    }
}

/// The hash suffix kustomize gives a generated ConfigMap or Secret.
pub fn hash_suffix(r: &Resource) -> Result<String> {
    // kustomize looks the name up with a path it never finds, so the name hashes as "".
    let name = Value::String(String::new());
    // Keys in Go's sorted order.
    let mut m = Map::new();
    let json = match r.kind() {
        "ConfigMap" => {
            if let Some(Value::Object(_)) = r.obj.get("binaryData") {
                m.insert("binaryData".into(), field_or_empty(&r.obj, "binaryData"));
            }
            m.insert("data".into(), field_or_empty(&r.obj, "data"));
            m.insert("kind".into(), "ConfigMap".into());
            m.insert("name".into(), name);
            go_json(&Value::Object(m))
        }
        "Secret" => {
            m.insert("data".into(), field_or_empty(&r.obj, "data"));
            m.insert("kind".into(), "Secret".into());
            m.insert("name".into(), name);
            if let Some(Value::Object(_)) = r.obj.get("stringData") {
                m.insert("stringData".into(), field_or_empty(&r.obj, "stringData"));
            }
            m.insert("type".into(), field_or_empty(&r.obj, "type"));
            go_json(&Value::Object(m))
        }
        other => {
            return Err(Error::Generator(format!(
                "cannot compute a name hash for kind {other}"
            )));
        }
    };
    let digest = Sha256::digest(json.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect())
}
