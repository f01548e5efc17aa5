//! The body of the fuzz target (`fuzz/fuzz_targets/parse_exec.rs`), shared with the corpus replay test so
//! that CI runs every committed corpus input without a nightly toolchain.

use crate::{ExecOptions, Limits, Templates, Value};

/// Values the fuzzed templates can reach.
const VALUES: &str = "a: 1\nb: [x, 2.5, null, {c: d}]\nc: {d: {e: deep}}\ns: 'yes'\nbig: 1000000\n";

/// Parses `data` as a template file (plus a helper defining `h`) and executes it with tight limits.
/// Errors are expected; panics, hangs and unbounded memory are the bugs.
pub fn parse_exec(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(set) = Templates::parse(&[
        ("t/templates/f.yaml", src),
        ("t/templates/_h.tpl", "{{ define \"h\" }}<{{ . }}>{{ end }}"),
    ]) else {
        return;
    };
    let values = Value::from_yaml_str(VALUES).expect("fixed values parse");
    let data = Value::map([("Values".to_string(), values)].into_iter().collect());
    let opts = ExecOptions {
        strip_no_value: true,
        limits: Limits {
            max_depth: 300,
            max_output: 1 << 20,
            max_steps: 200_000,
        },
        ..ExecOptions::default()
    };
    let _ = set.exec("t/templates/f.yaml", &data, &opts);
}
