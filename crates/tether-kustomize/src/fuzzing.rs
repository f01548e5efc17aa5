//! Entry points shared by the fuzz targets (`fuzz/`) and the tests that replay them: they
//! must never panic, whatever the input.

use crate::build::{BuildOptions, build, parse_kustomization};
use crate::fs::MemFs;
use crate::smp::merge_object;
use std::path::Path;

const RESOURCES: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n";

/// Parses `data` as a kustomization and builds it over a small fixed set of resources.
pub fn kustomization(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if parse_kustomization(text, Path::new("kustomization.yaml")).is_err() {
        return;
    }
    let mut fs = MemFs::default();
    fs.insert("/app/kustomization.yaml", text);
    fs.insert("/app/resources.yaml", RESOURCES);
    fs.insert(
        "/app/patch.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  c: d\n",
    );
    fs.insert("/base/kustomization.yaml", "resources:\n- r.yaml\n");
    fs.insert("/base/r.yaml", RESOURCES);
    let _ = build(&fs, Path::new("/app"), &BuildOptions::default());
}

/// Splits `data` at the first `\n---\n` into a destination object and a patch, and merges.
pub fn smp(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_once("\n---\n").unwrap_or((text, ""));
    let parse = |s: &str| {
        serde_yaml::from_str::<serde_json::Value>(s)
            .ok()
            .and_then(|v| v.as_object().cloned())
    };
    let (Some(dest), Some(patch)) = (parse(a), parse(b)) else {
        return;
    };
    let _ = merge_object(dest, &patch);
}
