//! Where custom Lua health checks come from, and which one applies to an object.
//!
//! Argo CD's lookup order (`util/lua.VM.GetHealthScript`): the exact ConfigMap key for the object's
//! `group/Kind` (`Kind` alone for the core group), then the first ConfigMap key whose glob matches it
//! (`*` matches any text, `/` included), then the built-in script library, which has no wildcards.
//! Tether's script library is a directory in Argo CD's `resource_customizations` layout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::lua::LuaScript;

/// ConfigMap key prefix of a health script (`resource.customizations.health.<group>_<kind>`).
pub const HEALTH_KEY_PREFIX: &str = "resource.customizations.health.";
/// ConfigMap key prefix of Argo CD's `useOpenLibs` switch for one group/kind.
pub const OPEN_LIBS_KEY_PREFIX: &str = "resource.customizations.useOpenLibs.";
/// The legacy single ConfigMap key holding a YAML map of `group/Kind` to overrides.
pub const LEGACY_KEY: &str = "resource.customizations";

/// Why health overrides could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A ConfigMap key's `<group>_<kind>` part has more than one `_` or is empty.
    #[error("argocd-cm key `{key}`: group kind should be in format `<group>_<kind>` or `<kind>`")]
    BadKey { key: String },
    /// The legacy `resource.customizations` value is not YAML of the expected shape.
    #[error("argocd-cm key `resource.customizations`: {0}")]
    Legacy(serde_yaml::Error),
    /// A file or directory could not be read.
    #[error("failed to read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `health.lua` is not at `<group>/<Kind>/health.lua` or `<Kind>/health.lua` under the root.
    #[error("`{}`: expected the layout <group>/<Kind>/health.lua", path.display())]
    Layout { path: PathBuf },
}

/// Custom health checks, by Argo CD's override keys (`group/Kind`, or `Kind` for the core group).
#[derive(Debug, Clone, Default)]
pub struct LuaOverrides {
    /// From the ConfigMap: exact keys and globs.
    configured: BTreeMap<String, LuaScript>,
    /// From a script library directory: exact keys only.
    library: BTreeMap<String, LuaScript>,
}

/// Argo CD's override key of a group and kind.
pub fn override_key(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{group}/{kind}")
    }
}

fn convert_key(cm_key: &str, group_kind: &str) -> Result<String, LoadError> {
    let parts: Vec<&str> = group_kind.split('_').collect();
    match parts.as_slice() {
        [group, kind] => Ok(format!("{group}/{kind}")),
        [kind] if !kind.is_empty() => Ok((*kind).to_string()),
        _ => Err(LoadError::BadKey {
            key: cm_key.to_string(),
        }),
    }
}

#[derive(serde::Deserialize)]
struct LegacyOverride {
    #[serde(rename = "health.lua", default)]
    health_lua: String,
    #[serde(rename = "health.lua.useOpenLibs", default)]
    use_open_libs: bool,
}

impl LuaOverrides {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the health keys of an `argocd-cm` ConfigMap's `data`; other keys are ignored. The per-kind
    /// keys win over the legacy `resource.customizations` map, as in Argo CD.
    pub fn from_config_map<'a>(
        data: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, LoadError> {
        let data: Vec<(&str, &str)> = data.into_iter().collect();
        let mut configured = BTreeMap::new();
        if let Some((_, legacy)) = data.iter().find(|(k, _)| *k == LEGACY_KEY) {
            let map: BTreeMap<String, LegacyOverride> =
                serde_yaml::from_str(legacy).map_err(LoadError::Legacy)?;
            for (key, o) in map {
                if !o.health_lua.is_empty() {
                    let mut script = LuaScript::new(
                        o.health_lua,
                        format!("argocd-cm resource.customizations[{key}]"),
                    );
                    script.use_open_libs = o.use_open_libs;
                    configured.insert(key, script);
                }
            }
        }
        for (k, v) in &data {
            if let Some(group_kind) = k.strip_prefix(HEALTH_KEY_PREFIX) {
                let key = convert_key(k, group_kind)?;
                configured.insert(key, LuaScript::new(*v, format!("argocd-cm {k}")));
            }
        }
        for (k, v) in &data {
            if let Some(group_kind) = k.strip_prefix(OPEN_LIBS_KEY_PREFIX) {
                let key = convert_key(k, group_kind)?;
                if let Some(script) = configured.get_mut(&key) {
                    script.use_open_libs = v.trim() == "true";
                }
            }
        }
        Ok(Self {
            configured,
            library: BTreeMap::new(),
        })
    }

    /// Adds every `health.lua` under `root`, laid out as Argo CD's `resource_customizations`:
    /// `<group>/<Kind>/health.lua`, or `<Kind>/health.lua` for the core group.
    pub fn add_library_dir(&mut self, root: &Path) -> Result<(), LoadError> {
        for path in find_files(root, "health.lua")? {
            let key = key_of_script(root, &path)?;
            let source = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
                path: path.clone(),
                source,
            })?;
            self.library
                .insert(key, LuaScript::new(source, path.display().to_string()));
        }
        Ok(())
    }

    /// Sets the check for an override key (`group/Kind`, `Kind`, or a glob such as `*.crossplane.io/*`).
    pub fn insert(&mut self, key: impl Into<String>, script: LuaScript) {
        self.configured.insert(key.into(), script);
    }

    /// Whether there are no overrides at all.
    pub fn is_empty(&self) -> bool {
        self.configured.is_empty() && self.library.is_empty()
    }

    /// The check that applies to a group and kind, in Argo CD's order. Globs are tried in key order
    /// (Argo CD's order is Go's random map order; a sorted one is at least reproducible).
    pub fn find(&self, group: &str, kind: &str) -> Option<&LuaScript> {
        let key = override_key(group, kind);
        if let Some(s) = self.configured.get(&key) {
            return Some(s);
        }
        if let Some((_, s)) = self.configured.iter().find(|(pattern, _)| {
            pattern.contains(['*', '?']) && glob_match(pattern.as_bytes(), key.as_bytes())
        }) {
            return Some(s);
        }
        self.library.get(&key)
    }
}

/// The override key of `<root>/<group>/<Kind>/health.lua`.
pub(crate) fn key_of_script(root: &Path, script: &Path) -> Result<String, LoadError> {
    let layout = || LoadError::Layout {
        path: script.to_path_buf(),
    };
    let dir = script
        .parent()
        .and_then(|d| d.strip_prefix(root).ok())
        .ok_or_else(layout)?;
    let parts: Vec<String> = dir
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [kind] => Ok(kind.clone()),
        [group, kind] => Ok(format!("{group}/{kind}")),
        _ => Err(layout()),
    }
}

/// Every file named `name` under `root`, sorted; symlinked directories are not followed.
pub(crate) fn find_files(root: &Path, name: &str) -> Result<Vec<PathBuf>, LoadError> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| LoadError::Io {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| LoadError::Io {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            let ty = entry.file_type().map_err(|source| LoadError::Io {
                path: path.clone(),
                source,
            })?;
            if ty.is_dir() {
                stack.push(path);
            } else if entry.file_name() == name {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Glob matching as Argo CD's `glob.Match` (gobwas/glob without separators): `*` matches any text,
/// `/` included, and `?` any one character.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    p = bp + 1;
                    t = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_argo_cd_does() {
        let m = |p: &str, t: &str| glob_match(p.as_bytes(), t.as_bytes());
        assert!(m("*.crossplane.io/*", "pkg.crossplane.io/Provider"));
        assert!(m("*", "apps/Deployment"));
        assert!(m("*/Certificate", "cert-manager.io/Certificate"));
        assert!(m(
            "cert-manager.io/?ertificate",
            "cert-manager.io/Certificate"
        ));
        assert!(!m("*.crossplane.io/*", "example.com/Provider"));
        assert!(!m("apps/*", "extensions/Deployment"));
        assert!(!m("a*b", "a/c"));
    }

    #[test]
    fn script_keys_follow_the_directory_layout() {
        let root = Path::new("/lib");
        let key = |p: &str| key_of_script(root, Path::new(p)).map_err(|e| e.to_string());
        assert_eq!(
            key("/lib/cert-manager.io/Certificate/health.lua"),
            Ok("cert-manager.io/Certificate".into())
        );
        assert_eq!(key("/lib/ConfigMap/health.lua"), Ok("ConfigMap".into()));
        assert!(key("/lib/a/b/c/health.lua").is_err_and(|e| e.contains("/lib/a/b/c/health.lua")));
    }
}
