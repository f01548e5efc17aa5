//! Argo CD's `source.kustomize` overrides: `tests/argocd/source` built with the overrides of
//! `tests/argocd/overrides.yaml` must equal the reference kustomize's build of the
//! kustomization those overrides produce (`corpus/argocd-overrides-equivalent`).

use std::path::PathBuf;
use tether_kustomize::argocd::{ApplicationSourceKustomize, build_argocd};
use tether_kustomize::{BuildOptions, RealFs};

#[test]
fn overrides_match_the_edited_kustomization() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
    let overrides: ApplicationSourceKustomize = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("argocd/overrides.yaml")).expect("read"),
    )
    .expect("parse");
    let objs = build_argocd(
        &RealFs,
        &root.join("argocd/source"),
        &BuildOptions::default(),
        &overrides,
    )
    .expect("build");
    let ours: Vec<serde_json::Value> = objs.into_iter().map(serde_json::Value::Object).collect();
    let expected =
        std::fs::read_to_string(root.join("corpus/argocd-overrides-equivalent/expected.yaml"))
            .expect("read");
    let theirs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&expected)
        .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
        .collect();
    assert_eq!(ours, theirs);
}

#[test]
fn common_label_conflict_needs_force() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/argocd/source");
    let mut o = ApplicationSourceKustomize::default();
    o.common_labels.insert("existing".into(), "2".into());
    let err = build_argocd(&RealFs, &root, &BuildOptions::default(), &o).expect_err("conflict");
    assert!(err.to_string().contains("existing"), "{err}");
    o.force_common_labels = Some(true);
    let objs = build_argocd(&RealFs, &root, &BuildOptions::default(), &o).expect("forced");
    assert!(
        objs.iter()
            .all(|x| x["metadata"]["labels"]["existing"] == "2")
    );
}

#[test]
fn label_without_selector_leaves_selectors() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/argocd/source");
    let mut o = ApplicationSourceKustomize {
        label_without_selector: Some(true),
        ..Default::default()
    };
    o.common_labels.insert("team".into(), "a".into());
    let objs = build_argocd(&RealFs, &root, &BuildOptions::default(), &o).expect("build");
    let svc = objs
        .iter()
        .find(|x| x["kind"] == "Service")
        .expect("service");
    assert_eq!(svc["metadata"]["labels"]["team"], "a");
    assert!(svc["spec"]["selector"].get("team").is_none());
}

#[test]
fn remote_resources_are_a_clear_error() {
    let mut fs = tether_kustomize::fs::MemFs::default();
    fs.insert(
        "/app/kustomization.yaml",
        "resources:\n- https://github.com/example/repo//base?ref=v1\n",
    );
    let err = tether_kustomize::build(&fs, std::path::Path::new("/app"), &BuildOptions::default())
        .expect_err("remote");
    assert!(err.to_string().contains("remote"), "{err}");
}
