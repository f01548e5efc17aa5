//! `tether crds` prints the three CRDs, and `manifests/crds/` holds exactly that output.

use std::path::Path;
use std::process::Command;

#[test]
fn checked_in_crds_match_generated() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/crds");
    let crds = tether_model::crd::all();
    for (crd, file) in crds.iter().zip(tether_model::crd::FILE_NAMES) {
        let checked_in =
            std::fs::read_to_string(dir.join(file)).expect("manifests/crds file exists");
        assert!(
            checked_in == tether_model::crd::to_yaml(crd),
            "manifests/crds/{file} drifted from the types; run scripts/gen-crds"
        );
    }
}

#[test]
fn tether_crds_prints_three_crds() {
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("crds")
        .output()
        .expect("tether runs");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let names: Vec<String> = serde_yaml::Deserializer::from_str(&stdout)
        .map(|d| {
            let v: serde_yaml::Value = serde::Deserialize::deserialize(d).expect("YAML");
            assert_eq!(v["kind"].as_str(), Some("CustomResourceDefinition"));
            v["metadata"]["name"].as_str().expect("named").to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "applications.argoproj.io",
            "appprojects.argoproj.io",
            "applicationsets.argoproj.io"
        ]
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/crds");
    let joined: Vec<String> = tether_model::crd::FILE_NAMES
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).expect("file"))
        .collect();
    assert_eq!(stdout, joined.join("---\n"));
}
