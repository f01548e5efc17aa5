//! A native Go `text/template` engine with the Sprig and Helm function sets, matching what Helm 3 renders,
//! quirks included. Pure: no I/O.
//!
//! ```
//! use tether_gotmpl::{ExecOptions, Templates, Value};
//!
//! let set = Templates::parse(&[
//!     ("chart/templates/_helpers.tpl", r#"{{ define "name" }}{{ .Values.name | default "app" }}{{ end }}"#),
//!     ("chart/templates/cm.yaml", r#"name: {{ include "name" . | quote }}"#),
//! ])
//! .unwrap();
//! let data = Value::from_yaml_str("Values: {name: web}").unwrap();
//! let out = set.exec("chart/templates/cm.yaml", &data, &ExecOptions::default()).unwrap();
//! assert_eq!(out, r#"name: "web""#);
//! ```
//!
//! Layout: [`lex`] and [`parse`] build trees (once per chart), [`exec`] walks them with Go's semantics,
//! [`fmt`] prints like Go's `fmt`, [`funcs`] holds every function, [`yaml`] and [`json`] reproduce
//! go-yaml v2 / encoding/json byte for byte. [`Templates`] is `Send + Sync`; values are per execution.

use std::collections::HashMap;
use std::sync::Arc;

pub mod exec;
pub mod fmt;
pub mod funcs;
pub mod fuzzing;
pub mod gotime;
pub mod json;
pub mod lex;
pub mod parse;
pub mod toml;
pub mod value;
pub mod yaml;
mod yaml_scalar;

pub use value::{ListKind, MapData, MapRef, Object, Value};

use parse::Tree;

/// Errors from parsing or executing templates. Messages are Go's (`template: NAME:LINE: ...`).
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum Error {
    /// A template failed to parse.
    #[error("{0}")]
    Parse(String),
    /// Execution failed (Go's `template: FILE:LINE:COL: executing "NAME" at <NODE>: MSG`).
    #[error("{0}")]
    Exec(String),
    /// `exec` was asked for a template that does not exist.
    #[error("template: no template {0:?} associated with template \"gotpl\"")]
    NoTemplate(String),
    /// A safety limit (depth, output size, steps) was exceeded.
    #[error("{0}")]
    Limit(String),
}

impl Error {
    /// The message as `helm template` prints it (after `Error: `), applying Helm's clean-up of parse
    /// errors and of `fail`/`required` messages.
    pub fn helm_message(&self) -> String {
        match self {
            Error::Parse(m) => {
                let tokens: Vec<&str> = m.split(": ").collect();
                if tokens.len() == 1 {
                    return m.clone();
                }
                format!(
                    "parse error at ({}): {}",
                    tokens[1],
                    tokens[tokens.len() - 1]
                )
            }
            Error::Exec(m) => {
                let tokens: Vec<&str> = m.splitn(3, ": ").collect();
                if tokens.len() == 3
                    && let Some(start) = tokens[2].find(funcs::WARN_START)
                {
                    let rest = &tokens[2][start + funcs::WARN_START.len()..];
                    if let Some(end) = rest.rfind(funcs::WARN_END) {
                        return format!("execution error at ({}): {}", tokens[1], &rest[..end]);
                    }
                }
                m.clone()
            }
            other => other.to_string(),
        }
    }
}

/// Safety limits, so that hostile templates cannot hang or exhaust memory.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Nested template/include/tpl calls (Go allows 100000 for `template`; Helm 1000 per include name).
    pub max_depth: usize,
    /// Output bytes per execution.
    pub max_output: usize,
    /// Evaluation steps (nodes walked, range iterations).
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 100_000,
            max_output: 256 * 1024 * 1024,
            max_steps: 200_000_000,
        }
    }
}

/// Execution options.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Remove every `<no value>` from the output, as Helm does.
    pub strip_no_value: bool,
    pub limits: Limits,
    /// Go's `time.Local` for the date functions.
    pub local_zone: LocalZone,
}

/// Which zone Go's `time.Local` is.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LocalZone {
    /// The process's, as Go resolves it at start-up: `$TZ` if set (`""` is UTC, `:NAME`, `/path`, an IANA
    /// name; UTC when it cannot be loaded), else `/etc/localtime`, else UTC.
    #[default]
    Process,
    /// As if `$TZ` had this value.
    Tz(String),
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            strip_no_value: true,
            limits: Limits::default(),
            local_zone: LocalZone::Process,
        }
    }
}

/// A parsed set of named templates: files plus their `define`s. Parse once, execute many times.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    pub(crate) trees: HashMap<String, Arc<Tree>>,
}

impl Templates {
    /// Parses files in order. Later `define`s of the same name replace earlier ones, as in Go. The
    /// error is the first file's in that order. Files are parsed on two threads when there is enough
    /// text (each file parses on its own; only the merge is ordered).
    pub fn parse(files: &[(&str, &str)]) -> Result<Templates, Error> {
        let mut t = Templates::default();
        for ((name, _), parsed) in files.iter().zip(parse_all(files)) {
            let (tree, defines) = parsed.map_err(Error::Parse)?;
            t.insert(name, tree, defines);
        }
        Ok(t)
    }

    /// Adds one file to the set.
    pub fn add(&mut self, name: &str, src: &str) -> Result<(), Error> {
        let (tree, defines) = parse_one(name, src).map_err(Error::Parse)?;
        self.insert(name, tree, defines);
        Ok(())
    }

    fn insert(&mut self, name: &str, tree: Tree, defines: Vec<Tree>) {
        self.trees.insert(name.to_string(), Arc::new(tree));
        for d in defines {
            // Go: an empty redefinition does not replace a non-empty one.
            if d.root.is_empty() && self.trees.get(&d.name).is_some_and(|t| !t.root.is_empty()) {
                continue;
            }
            self.trees.insert(d.name.clone(), Arc::new(d));
        }
    }

    /// Whether a template of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// Template names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.trees.keys().map(String::as_str).collect();
        v.sort();
        v
    }

    /// Executes the template `name` with `data` as dot.
    pub fn exec(&self, name: &str, data: &Value, opts: &ExecOptions) -> Result<String, Error> {
        let mut e = exec::Exec::new(self, opts);
        let out = e.exec_named(name, data.clone())?;
        // Only copy when there is something to strip (the output of a large chart is big).
        Ok(if opts.strip_no_value && out.contains("<no value>") {
            out.replace("<no value>", "")
        } else {
            out
        })
    }
}

type Parsed = Result<(Tree, Vec<Tree>), parse::ParseError>;

fn parse_one(name: &str, src: &str) -> Parsed {
    parse::parse_file(name, src, &funcs::exists)
}

/// Below this much template text a second thread costs more than it saves.
const PARALLEL_MIN_BYTES: usize = 64 * 1024;

/// Parses every file, on this thread and one helper when the text is large and a second CPU is
/// there. Results are in the order of `files`.
fn parse_all(files: &[(&str, &str)]) -> Vec<Parsed> {
    // Files with the same text (a library chart vendored in several subcharts, a subchart under
    // several aliases) parse to the same trees: parse the first, rename copies for the others.
    let mut first_with: HashMap<&str, usize> = HashMap::new();
    let firsts: Vec<usize> = (0..files.len())
        .map(|i| *first_with.entry(files[i].1).or_insert(i))
        .collect();
    let unique: Vec<usize> = (0..files.len()).filter(|&i| firsts[i] == i).collect();
    let distinct: Vec<(&str, &str)> = unique.iter().map(|&i| files[i]).collect();
    let mut parsed: Vec<Option<Parsed>> = (0..files.len()).map(|_| None).collect();
    for (&i, p) in unique.iter().zip(parse_distinct(&distinct)) {
        parsed[i] = Some(p);
    }
    let copies: Vec<Option<Parsed>> = (0..files.len())
        .map(|i| {
            let name = files[i].0;
            let first = parsed[firsts[i]].as_ref().filter(|_| firsts[i] != i)?;
            Some(match first {
                Ok((tree, defines)) => Ok((
                    tree.renamed(name, name),
                    defines.iter().map(|d| d.renamed(&d.name, name)).collect(),
                )),
                // Never reported: the set stops at the first error in order, the first copy's.
                Err(e) => Err(e.clone()),
            })
        })
        .collect();
    parsed
        .into_iter()
        .zip(copies)
        .filter_map(|(p, c)| p.or(c))
        .collect()
}

/// Parses files with distinct texts.
fn parse_distinct(files: &[(&str, &str)]) -> Vec<Parsed> {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let total: usize = files.iter().map(|(_, s)| s.len()).sum();
    let cpus = || *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if files.len() < 2 || total < PARALLEL_MIN_BYTES || cpus() < 2 {
        return files.iter().map(|(n, s)| parse_one(n, s)).collect();
    }
    // Largest first, each to the less loaded side.
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].1.len()));
    let (mut here, mut there) = (Vec::new(), Vec::new());
    let (mut here_bytes, mut there_bytes) = (0, 0);
    for i in order {
        if here_bytes <= there_bytes {
            here_bytes += files[i].1.len();
            here.push(i);
        } else {
            there_bytes += files[i].1.len();
            there.push(i);
        }
    }
    let run = |idx: &[usize]| -> Vec<(usize, Parsed)> {
        idx.iter()
            .map(|&i| (i, parse_one(files[i].0, files[i].1)))
            .collect()
    };
    let (mine, theirs) = std::thread::scope(|s| {
        // The parser recurses; give the helper the main thread's stack size.
        let helper = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn_scoped(s, || run(&there));
        let mine = run(&here);
        let theirs = match helper {
            Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            Err(_) => run(&there),
        };
        (mine, theirs)
    });
    let mut out: Vec<Option<Parsed>> = (0..files.len()).map(|_| None).collect();
    for (i, p) in mine.into_iter().chain(theirs) {
        out[i] = Some(p);
    }
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, values: &str) -> Result<String, Error> {
        let t = Templates::parse(&[("t", src)])?;
        let v = Value::from_yaml_str(values).expect("values");
        let data = Value::map([("Values".to_string(), v)].into_iter().collect());
        t.exec("t", &data, &ExecOptions::default())
    }

    #[test]
    fn basics() {
        assert_eq!(render("a{{ .Values.x }}b", "x: 1").unwrap(), "a1b");
        assert_eq!(render("{{ .Values.x }}", "x: 1000000").unwrap(), "1e+06");
        assert_eq!(
            render(
                "{{- range $k, $v := .Values }}{{ $k }}={{ $v }};{{ end }}",
                "b: 2\na: x"
            )
            .unwrap(),
            "a=x;b=2;"
        );
        assert_eq!(
            render("{{ toYaml .Values }}", "b: [1, 2]\na: {c: 'yes'}").unwrap(),
            "a:\n  c: \"yes\"\nb:\n- 1\n- 2"
        );
    }

    #[test]
    fn concurrent_execution_shares_one_parse() {
        let set = std::sync::Arc::new(
            Templates::parse(&[
                (
                    "c/templates/_h.tpl",
                    r#"{{ define "n" }}{{ .Values.num | toString | printf "n-%s" }}{{ end }}"#,
                ),
                (
                    "c/templates/a.yaml",
                    r#"{{ include "n" . }}/{{ toYaml .Values }}"#,
                ),
            ])
            .unwrap(),
        );
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let set = set.clone();
                std::thread::spawn(move || {
                    let v = Value::from_yaml_str(&format!("num: {i}")).unwrap();
                    let data = Value::map([("Values".to_string(), v)].into_iter().collect());
                    (0..50)
                        .map(|_| {
                            set.exec("c/templates/a.yaml", &data, &ExecOptions::default())
                                .unwrap()
                        })
                        .next_back()
                        .unwrap()
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), format!("n-{i}/num: {i}"));
        }
    }

    #[test]
    fn a_large_set_parses_on_two_threads_with_sequential_results() {
        // Enough text to take the two-thread path; sizes differ so that files are interleaved
        // between the threads.
        let filler = |i: usize| format!("{{{{/* {} */}}}}", "x".repeat(1000 * (i % 7 + 1)));
        let mut files: Vec<(String, String)> = (0..24)
            .map(|i| {
                (
                    format!("c/templates/f{i:02}.tpl"),
                    format!("{}{{{{ define \"d\" }}}}{i}{{{{ end }}}}", filler(i)),
                )
            })
            .collect();
        let parse = |files: &[(String, String)]| {
            let v: Vec<(&str, &str)> = files
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            Templates::parse(&v)
        };
        assert!(files.iter().map(|f| f.1.len()).sum::<usize>() > PARALLEL_MIN_BYTES);
        // The last file's define wins, as when parsing one file after another.
        let set = parse(&files).unwrap();
        let out = set.exec("d", &Value::Nil, &ExecOptions::default()).unwrap();
        assert_eq!(out, "23");
        // With two broken files the first in order is reported, whichever thread parsed it.
        let mut broken = files.clone();
        broken[3].1.push_str("{{ nosuchfunc }}");
        broken[17].1.push_str("{{ end }}");
        let err = parse(&broken).unwrap_err().to_string();
        assert!(
            err.contains("f03.tpl") && err.contains("\"nosuchfunc\" not defined"),
            "{err}"
        );
        files[0].1.push_str("{{ if }}");
        let err = parse(&files).unwrap_err().to_string();
        assert!(
            err.contains("f00.tpl") && err.contains("missing value for if"),
            "{err}"
        );
    }

    #[test]
    fn files_with_the_same_text_keep_their_own_names() {
        let text = "{{ define \"d\" }}{{ .x.y }}{{ end }}{{ template \"d\" . }}";
        let set = Templates::parse(&[("a/t.yaml", text), ("b/t.yaml", text)]).unwrap();
        let data = Value::from_yaml_str("x: 1").unwrap();
        let opts = ExecOptions::default();
        for name in ["a/t.yaml", "b/t.yaml"] {
            let err = set.exec(name, &data, &opts).unwrap_err().to_string();
            // The define in force is the later file's, and errors name the file it came from.
            assert!(err.starts_with("template: b/t.yaml:1:"), "{name}: {err}");
        }
        let err = Templates::parse(&[("a/u.yaml", "{{ if }}"), ("b/u.yaml", "{{ if }}")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("template: a/u.yaml:1:"), "{err}");
        // A copy's file tree is its own: executing it names the copy.
        let set =
            Templates::parse(&[("a/v.yaml", "{{ .x.y }}"), ("b/v.yaml", "{{ .x.y }}")]).unwrap();
        let err = set.exec("b/v.yaml", &data, &opts).unwrap_err().to_string();
        assert!(err.starts_with("template: b/v.yaml:1:"), "{err}");
    }

    #[test]
    fn templates_are_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Templates>();
    }
}
