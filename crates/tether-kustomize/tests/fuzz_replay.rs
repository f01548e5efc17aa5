//! Replays the fuzz targets' entry points over every kustomization and patch of the corpus,
//! and over mutilated versions of them, so panics on odd input show up in `cargo test`.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
}

#[test]
fn fuzz_entry_points_do_not_panic_on_corpus_inputs() {
    let mut all = Vec::new();
    files(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus"),
        &mut all,
    );
    assert!(!all.is_empty());
    for p in &all {
        let text = std::fs::read(p).expect("read");
        tether_kustomize::fuzzing::kustomization(&text);
        for cut in [text.len() / 3, text.len() / 2, text.len().saturating_sub(7)] {
            tether_kustomize::fuzzing::kustomization(&text[..cut]);
        }
        let mut pair = text.clone();
        pair.extend_from_slice(b"\n---\n");
        pair.extend_from_slice(&text);
        tether_kustomize::fuzzing::smp(&pair);
    }
}
