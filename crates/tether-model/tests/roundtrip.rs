//! Every document under `examples/argocd/` (written in the style of Argo CD's documentation, using
//! every option) parses into the typed model and serialises back to the same object, with no
//! unknown fields and no validation findings.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tether_model::{AppProject, Application, ApplicationSet};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/argocd");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/argocd exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn roundtrip<T: DeserializeOwned + Serialize>(doc: &serde_json::Value) -> serde_json::Value {
    let typed: T =
        serde_json::from_value(doc.clone()).expect("document parses into the typed model");
    serde_json::to_value(&typed).expect("typed model serialises")
}

#[test]
fn documents_roundtrip_unchanged() {
    let mut counts = [0usize; 3];
    for file in examples() {
        let text = std::fs::read_to_string(&file).expect("readable example");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let doc: serde_json::Value = serde::Deserialize::deserialize(doc).expect("valid YAML");
            let back = match doc["kind"].as_str() {
                Some("Application") => {
                    counts[0] += 1;
                    roundtrip::<Application>(&doc)
                }
                Some("AppProject") => {
                    counts[1] += 1;
                    roundtrip::<AppProject>(&doc)
                }
                Some("ApplicationSet") => {
                    counts[2] += 1;
                    roundtrip::<ApplicationSet>(&doc)
                }
                other => panic!("{}: unexpected kind {other:?}", file.display()),
            };
            assert_eq!(
                back,
                doc,
                "{}: round trip changed the object",
                file.display()
            );
        }
        let report = tether_model::validate::validate_yaml(&text);
        assert!(
            report.findings.is_empty(),
            "{}: {:?}",
            file.display(),
            report.findings
        );
    }
    assert!(
        counts.iter().all(|c| *c > 0),
        "every kind is covered: {counts:?}"
    );
}

#[test]
fn defaults_follow_argo_cd() {
    let spec = tether_model::ApplicationSpec::default();
    assert_eq!(spec.revision_history_limit(), 10);
    assert_eq!(spec.project(), "default");
    let retry = tether_model::source::RetryStrategy::default();
    let delays: Vec<u64> = (0..8)
        .map(|n| retry.next_delay(n).expect("defaults parse").as_secs())
        .collect();
    assert_eq!(delays, vec![5, 10, 20, 40, 80, 160, 180, 180]);
}
