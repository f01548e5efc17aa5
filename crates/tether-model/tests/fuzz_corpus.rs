//! Replays the fuzz corpus (`fuzz/corpus/validate`, seeds plus anything the fuzzer found) through the
//! validator in the normal test run: no input may panic.

use std::path::Path;

#[test]
fn fuzz_corpus_replays_without_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/validate");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus directory exists") {
        let path = entry.expect("readable entry").path();
        let bytes = std::fs::read(&path).expect("readable corpus file");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let report = tether_model::validate::validate_yaml(text);
            for finding in &report.findings {
                assert!(!finding.to_string().is_empty());
            }
        }
        count += 1;
    }
    assert!(count > 0, "the corpus is not empty");
}
