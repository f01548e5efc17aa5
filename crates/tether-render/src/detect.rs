//! Source type detection, as Argo CD's `AppType`: a kustomization file makes a Kustomize
//! source, else a `Chart.yaml` a Helm source, else the directory is plain manifests (Jsonnet
//! files in it are evaluated when Jsonnet is enabled).

use std::path::Path;

/// How a source directory is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceType {
    Helm,
    Kustomize,
    /// A plain directory holding `*.jsonnet` files (rendered as a directory with Jsonnet).
    Jsonnet,
    Directory,
}

impl std::fmt::Display for SourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceType::Helm => "Helm",
            SourceType::Kustomize => "Kustomize",
            SourceType::Jsonnet => "Jsonnet",
            SourceType::Directory => "Directory",
        })
    }
}

/// Detects the source type of `dir`. Argo CD walks files in lexical order and a
/// kustomization file seen after `Chart.yaml` wins, so Kustomize takes precedence.
pub fn detect(dir: &Path, jsonnet_enabled: bool) -> SourceType {
    if tether_kustomize::build::KUSTOMIZATION_FILES
        .iter()
        .any(|f| dir.join(f).is_file())
    {
        return SourceType::Kustomize;
    }
    if dir.join("Chart.yaml").is_file() {
        return SourceType::Helm;
    }
    if jsonnet_enabled
        && let Ok(rd) = std::fs::read_dir(dir)
        && rd
            .filter_map(|e| e.ok())
            .any(|e| e.path().extension().is_some_and(|x| x == "jsonnet"))
    {
        return SourceType::Jsonnet;
    }
    SourceType::Directory
}
