//! Differential test: `tether render helm` against the reference `helm template` (v3.17) on the corpus
//! under `tests/helm_corpus/` (charts written for Tether, cases, and helm's committed outputs from
//! `scripts/gen-helm-expected`).
//!
//! Success cases: both outputs are split into YAML documents; the documents must agree in order, in
//! their parsed value (mapping key order does not matter, scalars compare as parsed YAML), and in their
//! `# Source:` comment. Error cases: non-zero exit, empty stdout, and stderr containing the case's
//! `error` substring (helm's wording, checked against helm by the script).
//!
//! `HELM_CASE=substr` runs only the matching cases. `helm_corpus/known_failures.txt` lists cases (one per
//! line: `<case> <reason>`) whose mismatch is known; they are skipped for equality, and the test fails if
//! a listed case now passes, so the list only shrinks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    chart: String,
    #[serde(default)]
    args: Vec<String>,
    error: Option<String>,
}

/// One YAML document of a rendered stream: its `# Source:` path (if any) and its canonical text
/// (keys sorted recursively), which is what we compare.
#[derive(PartialEq)]
struct Doc {
    source: Option<String>,
    canonical: String,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm_corpus")
}

fn canonicalize(value: Value) -> Value {
    match value {
        Value::Mapping(map) => {
            let mut entries: Vec<(Value, Value)> =
                map.into_iter().map(|(k, v)| (k, canonicalize(v))).collect();
            entries.sort_by_key(|(k, _)| serde_yaml::to_string(k).unwrap_or_default());
            Value::Mapping(entries.into_iter().collect())
        }
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(canonicalize).collect()),
        Value::Tagged(tagged) => {
            let mut tagged = *tagged;
            tagged.value = canonicalize(tagged.value);
            Value::Tagged(Box::new(tagged))
        }
        other => other,
    }
}

/// Splits a `helm template` style stream on `---` lines. Whitespace-only chunks are dropped;
/// comment-only chunks are kept (as `null` documents with their `# Source:`).
fn split_docs(stream: &str) -> Result<Vec<Doc>, String> {
    let mut chunks: Vec<String> = vec![String::new()];
    for line in stream.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed == "---" || (trimmed.starts_with("---") && trimmed[3..].trim().is_empty()) {
            chunks.push(String::new());
        } else if let Some(last) = chunks.last_mut() {
            last.push_str(line);
        }
    }
    let mut docs = Vec::new();
    for (index, chunk) in chunks.iter().enumerate() {
        if chunk.trim().is_empty() {
            continue;
        }
        let source = chunk
            .lines()
            .take_while(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
            .find_map(|l| l.strip_prefix("# Source: "))
            .map(|s| s.trim().to_owned());
        let value: Value = serde_yaml::from_str(chunk)
            .map_err(|e| format!("document {index} is not YAML ({e}):\n{chunk}"))?;
        let canonical = serde_yaml::to_string(&canonicalize(value))
            .map_err(|e| format!("document {index}: {e}"))?;
        docs.push(Doc { source, canonical });
    }
    Ok(docs)
}

fn render_docs(docs: &[Doc]) -> String {
    let mut out = String::new();
    for doc in docs {
        out.push_str("---\n");
        if let Some(source) = &doc.source {
            let _ = writeln!(out, "# Source: {source}");
        }
        out.push_str(&doc.canonical);
    }
    out
}

/// A short unified diff (3 lines of context, at most 60 lines).
fn short_diff(expected: &str, actual: &str) -> String {
    let diff = similar::TextDiff::from_lines(expected, actual);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header("helm (expected)", "tether (actual)")
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > 60 {
        format!(
            "{}\n... ({} more diff lines)",
            lines[..60].join("\n"),
            lines.len() - 60
        )
    } else {
        text
    }
}

fn load_known_failures(dir: &Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(dir.join("known_failures.txt")) else {
        return BTreeMap::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((case, reason)) => (case.to_owned(), reason.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

/// Runs one case; `Ok(())` when tether agrees with helm, `Err(description)` otherwise.
fn run_case(dir: &Path, name: &str, case: &Case) -> Result<(), String> {
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .current_dir(dir)
        .args(["render", "helm", &case.chart])
        .args(&case.args)
        .output()
        .map_err(|e| format!("cannot run tether: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let command = format!("tether render helm {} {}", case.chart, case.args.join(" "));
    if let Some(want) = &case.error {
        let mut problems = Vec::new();
        if output.status.success() {
            problems.push("exited 0, helm fails".to_owned());
        }
        if !stdout.trim().is_empty() {
            problems.push(format!("stdout is not empty ({} bytes)", stdout.len()));
        }
        if !stderr.contains(want.as_str()) {
            problems.push(format!("stderr lacks {want:?}"));
        }
        if problems.is_empty() {
            return Ok(());
        }
        let helm_err = std::fs::read_to_string(dir.join("expected").join(format!("{name}.err")))
            .unwrap_or_default();
        return Err(format!(
            "`{command}`: {}\n  tether stderr: {}\n  helm stderr:   {}",
            problems.join("; "),
            stderr.trim(),
            helm_err.trim()
        ));
    }
    let expected_path = dir.join("expected").join(format!("{name}.yaml"));
    let expected = std::fs::read_to_string(&expected_path).map_err(|e| {
        format!(
            "{}: {e} (run scripts/gen-helm-expected {name})",
            expected_path.display()
        )
    })?;
    if !output.status.success() {
        return Err(format!(
            "`{command}` failed ({}):\n{}",
            output.status,
            stderr.trim()
        ));
    }
    let want = split_docs(&expected).map_err(|e| format!("expected output: {e}"))?;
    let got = split_docs(&stdout).map_err(|e| format!("tether output: {e}"))?;
    if want == got {
        return Ok(());
    }
    let mut summary = format!(
        "`{command}`: {} documents from helm, {} from tether",
        want.len(),
        got.len()
    );
    if let Some(i) = want.iter().zip(&got).position(|(a, b)| a != b) {
        let _ = write!(
            summary,
            "; first difference at document {i} (helm {:?}, tether {:?})",
            want[i].source, got[i].source
        );
    }
    Err(format!(
        "{summary}\n{}",
        short_diff(&render_docs(&want), &render_docs(&got))
    ))
}

#[test]
fn tether_renders_the_corpus_like_helm() {
    let dir = corpus();
    let charts = std::fs::read_dir(dir.join("charts"))
        .expect("charts/")
        .count();
    assert!(
        charts >= 40,
        "the corpus has {charts} charts, want at least 40"
    );

    let filter = std::env::var("HELM_CASE").ok();
    let known = load_known_failures(&dir);
    let mut names: Vec<String> = std::fs::read_dir(dir.join("cases"))
        .expect("cases/")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".yaml").map(str::to_owned)
        })
        .collect();
    names.sort();
    for case in known.keys() {
        assert!(
            names.contains(case),
            "known_failures.txt names {case:?}, which is not a case"
        );
    }

    let mut failures = Vec::new();
    let mut now_passing = Vec::new();
    let mut ran = 0;
    for name in &names {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        ran += 1;
        let text = std::fs::read_to_string(dir.join("cases").join(format!("{name}.yaml")))
            .expect("case file");
        let case: Case =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("cases/{name}.yaml: {e}"));
        match (run_case(&dir, name, &case), known.contains_key(name)) {
            (Ok(()), false) | (Err(_), true) => {}
            (Ok(()), true) => now_passing.push(name.clone()),
            (Err(problem), false) => failures.push(format!("== {name}: {problem}")),
        }
    }
    assert!(ran > 0, "HELM_CASE={filter:?} matches no case");
    let mut report = String::new();
    if !failures.is_empty() {
        let _ = writeln!(
            report,
            "{} of {ran} cases differ from helm:\n",
            failures.len()
        );
        report.push_str(&failures.join("\n\n"));
    }
    if !now_passing.is_empty() {
        let _ = writeln!(
            report,
            "\n\nthese cases pass now; remove them from helm_corpus/known_failures.txt: {}",
            now_passing.join(", ")
        );
    }
    assert!(report.is_empty(), "{report}");
}

#[test]
fn splitting_keeps_comment_only_documents_and_drops_empty_ones() {
    let docs = split_docs("---\n# Source: c/templates/a.yaml\n# only a comment\n---\n\n---\n# Source: c/templates/b.yaml\nb: 1\na: {y: 2, x: 1}\n")
        .expect("splits");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].source.as_deref(), Some("c/templates/a.yaml"));
    assert_eq!(docs[0].canonical, "null\n");
    assert_eq!(docs[1].source.as_deref(), Some("c/templates/b.yaml"));
    assert_eq!(docs[1].canonical, "a:\n  x: 1\n  y: 2\nb: 1\n");
}
