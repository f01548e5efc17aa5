//! Directory and Jsonnet sources against expectations written from Argo CD's documented
//! behaviour (`tests/cases/<case>/expected.yaml`), or errors that must name the file.

use std::path::{Path, PathBuf};
use tether_render::DirectorySettings;

fn parse_stream(text: &str) -> Vec<serde_json::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML"))
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect()
}

fn run(dir: &Path) -> Result<(), String> {
    let settings: DirectorySettings = serde_yaml::from_str(
        &std::fs::read_to_string(dir.join("settings.yaml")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let got = tether_render::render_directory(&dir.join("source"), &settings, dir, true);
    if let Ok(expected) = std::fs::read_to_string(dir.join("expected.yaml")) {
        let objs = got.map_err(|e| format!("render failed: {e}"))?;
        let ours: Vec<serde_json::Value> =
            objs.into_iter().map(serde_json::Value::Object).collect();
        let theirs = parse_stream(&expected);
        if ours != theirs {
            return Err(format!("got {ours:#?}\nexpected {theirs:#?}"));
        }
        return Ok(());
    }
    let err = match got {
        Ok(o) => return Err(format!("expected an error, got {} objects", o.len())),
        Err(e) => e.to_string(),
    };
    let mentions = std::fs::read_to_string(dir.join("error-mentions")).unwrap_or_default();
    for m in mentions.lines().filter(|l| !l.trim().is_empty()) {
        if !err.contains(m.trim()) {
            return Err(format!("error does not mention `{m}`: {err}"));
        }
    }
    Ok(())
}

#[test]
fn directory_and_jsonnet_cases() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("cases")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    cases.sort();
    let (mut passed, mut failed) = (0, 0);
    for c in &cases {
        match run(c) {
            Ok(()) => passed += 1,
            Err(e) => {
                failed += 1;
                eprintln!("FAIL {}: {e}", c.display());
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    assert!(passed > 0);
    assert_eq!(failed, 0);
}

#[test]
fn detection() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    use tether_render::{SourceType, detect};
    assert_eq!(
        detect(&root.join("dir-basic/source"), true),
        SourceType::Directory
    );
    assert_eq!(
        detect(&root.join("jsonnet-error/source"), true),
        SourceType::Jsonnet
    );
    assert_eq!(
        detect(&root.join("jsonnet-error/source"), false),
        SourceType::Directory
    );
    let k = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tether-kustomize/tests/corpus/basic-resources/app");
    assert_eq!(detect(&k, true), SourceType::Kustomize);
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("Chart.yaml"), "name: x\n").expect("write");
    assert_eq!(detect(tmp.path(), true), SourceType::Helm);
    std::fs::write(tmp.path().join("kustomization.yaml"), "resources: []\n").expect("write");
    assert_eq!(detect(tmp.path(), true), SourceType::Kustomize);
}
