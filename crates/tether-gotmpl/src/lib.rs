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
    /// Parses files in order. Later `define`s of the same name replace earlier ones, as in Go.
    pub fn parse(files: &[(&str, &str)]) -> Result<Templates, Error> {
        let mut t = Templates::default();
        for (name, src) in files {
            t.add(name, src)?;
        }
        Ok(t)
    }

    /// Adds one file to the set.
    pub fn add(&mut self, name: &str, src: &str) -> Result<(), Error> {
        let (tree, defines) = parse::parse_file(name, src, &funcs::exists).map_err(Error::Parse)?;
        self.trees.insert(name.to_string(), Arc::new(tree));
        for d in defines {
            // Go: an empty redefinition does not replace a non-empty one.
            if d.root.is_empty() && self.trees.get(&d.name).is_some_and(|t| !t.root.is_empty()) {
                continue;
            }
            self.trees.insert(d.name.clone(), Arc::new(d));
        }
        Ok(())
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
    fn templates_are_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Templates>();
    }
}
