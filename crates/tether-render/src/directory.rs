//! Plain directory sources, as Argo CD's repo-server reads them: `*.yaml`, `*.yml` and
//! `*.json` files (and `*.jsonnet` when Jsonnet is enabled), optionally recursing, filtered by
//! `include`/`exclude` globs (with `{a,b}` alternation; exclude wins) matched against the
//! path relative to the source directory. Multi-document YAML and `List` kinds are expanded.
//! A YAML file that parses into no Kubernetes objects and does not look like one is skipped,
//! as Argo CD does; one that looks like a manifest but is not valid is an error naming it.

use crate::jsonnet::{self, JsonnetSettings};
use crate::{Error, Object, Result, expand_lists};
use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Argo CD's `source.directory`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DirectorySettings {
    #[serde(default)]
    pub recurse: bool,
    #[serde(default)]
    pub include: Option<String>,
    #[serde(default)]
    pub exclude: Option<String>,
    #[serde(default)]
    pub jsonnet: JsonnetSettings,
}

fn glob(pattern: &str) -> Result<GlobMatcher> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::Glob {
            pattern: pattern.to_string(),
            message: e.to_string(),
        })
}

fn is_object(v: &serde_json::Value) -> bool {
    v.get("kind")
        .and_then(|k| k.as_str())
        .is_some_and(|k| !k.is_empty())
        && v.get("apiVersion")
            .and_then(|k| k.as_str())
            .is_some_and(|k| !k.is_empty())
}

fn parse_yaml(path: &Path, text: &str) -> Result<Vec<Object>> {
    let mut objs = Vec::new();
    let mut failure: Option<String> = None;
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v: serde_json::Value = match serde::Deserialize::deserialize(doc) {
            Ok(v) => v,
            Err(e) => {
                failure.get_or_insert(e.to_string());
                break;
            }
        };
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::Object(m) if is_object(&serde_json::Value::Object(m.clone())) => {
                objs.push(m)
            }
            serde_json::Value::Object(m) if m.is_empty() => {}
            _ => {
                failure.get_or_insert("Object 'Kind' is missing".to_string());
            }
        }
    }
    match failure {
        None => Ok(objs),
        Some(message) => {
            let looks_like_manifest = text.contains("apiVersion:")
                && text.contains("kind:")
                && text.contains("metadata:");
            if objs.is_empty() && !looks_like_manifest {
                Ok(Vec::new())
            } else {
                Err(Error::NotAnObject {
                    path: path.to_path_buf(),
                    message,
                })
            }
        }
    }
}

fn parse_json(path: &Path, text: &str) -> Result<Vec<Object>> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    match v {
        serde_json::Value::Object(m) if is_object(&serde_json::Value::Object(m.clone())) => Ok(vec![m]),
        _ => Err(Error::NotAnObject {
            path: path.to_path_buf(),
            message: "Object 'Kind' is missing: a JSON manifest must be one object with `apiVersion` and `kind`".into(),
        }),
    }
}

/// Renders a directory source. `repo_root` bounds symlinks and anchors Jsonnet library paths.
pub fn render_directory(
    dir: &Path,
    s: &DirectorySettings,
    repo_root: &Path,
    jsonnet_enabled: bool,
) -> Result<Vec<Object>> {
    let include = s
        .include
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(glob)
        .transpose()?;
    let exclude = s
        .exclude
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(glob)
        .transpose()?;
    let root_canon = std::fs::canonicalize(repo_root).unwrap_or_else(|_| repo_root.to_path_buf());
    let mut walker = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .follow_links(false);
    if !s.recurse {
        walker = walker.max_depth(1);
    }
    let mut out = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| Error::Read {
            path: e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.to_path_buf()),
            source: std::io::Error::other(e.to_string()),
        })?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_dir() {
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let kind = match ext {
            "yaml" | "yml" => "yaml",
            "json" => "json",
            "jsonnet" if jsonnet_enabled => "jsonnet",
            _ => continue,
        };
        let rel: PathBuf = path.strip_prefix(dir).unwrap_or(path).to_path_buf();
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        if exclude.as_ref().is_some_and(|g| g.is_match(&rel_str)) {
            continue;
        }
        if include.as_ref().is_some_and(|g| !g.is_match(&rel_str)) {
            continue;
        }
        if entry.path_is_symlink() {
            let target = std::fs::canonicalize(path).map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })?;
            if !target.starts_with(&root_canon) {
                return Err(Error::OutsideRepo {
                    path: path.to_path_buf(),
                    root: repo_root.to_path_buf(),
                });
            }
            if target.is_dir() {
                continue;
            }
        }
        let _ = name;
        let objs = if kind == "jsonnet" {
            jsonnet::evaluate(path, &s.jsonnet, repo_root)?
        } else {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })?;
            if kind == "json" {
                parse_json(path, &text)?
            } else {
                parse_yaml(path, &text)?
            }
        };
        out.extend(objs);
    }
    Ok(expand_lists(out))
}
