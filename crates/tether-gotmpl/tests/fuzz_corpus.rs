//! Replays the committed fuzz corpus (`fuzz/corpus/parse_exec`) through the fuzz target's body.

#[test]
fn replay_fuzz_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_exec");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir)
        .expect("corpus dir exists")
        .flatten()
    {
        let data = std::fs::read(entry.path()).expect("read corpus file");
        tether_gotmpl::fuzzing::parse_exec(&data);
        n += 1;
    }
    assert!(n > 0, "empty fuzz corpus");
}
