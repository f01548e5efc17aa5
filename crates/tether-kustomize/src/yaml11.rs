//! YAML 1.1 reading of kustomization files. kustomize reads them with sigs.k8s.io/yaml
//! (go-yaml v2, YAML 1.1), where unquoted `y`, `yes`, `on`, `n`, `no`, `off` (in their
//! capitalisations) are booleans: in a string field kustomize then fails ("cannot unmarshal
//! bool into Go struct field … of type string"), in a boolean field it accepts them. serde_yaml
//! reads YAML 1.2, where they are strings; this module finds those plain scalars (with
//! yaml-rust2's event parser, which reports scalar styles and tags) so the parsed value can be
//! corrected before the kustomization is deserialised.

use serde_json::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A step in a path through a parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A plain scalar YAML 1.1 reads as a boolean where YAML 1.2 reads a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bool11 {
    pub path: Vec<Seg>,
    pub word: String,
    pub value: bool,
    /// 1-based line.
    pub line: usize,
}

fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

enum Frame {
    Map { key: Option<String>, at_key: bool },
    Seq { index: usize },
}

#[derive(Default)]
struct Recv {
    stack: Vec<(Frame, Option<Seg>)>,
    found: Vec<Bool11>,
    docs: usize,
}

impl Recv {
    fn path(&self) -> Vec<Seg> {
        let mut p: Vec<Seg> = self.stack.iter().filter_map(|(_, s)| s.clone()).collect();
        if let Some((f, _)) = self.stack.last() {
            match f {
                Frame::Map { key: Some(k), .. } => p.push(Seg::Key(k.clone())),
                Frame::Seq { index } => p.push(Seg::Index(*index)),
                Frame::Map { key: None, .. } => {}
            }
        }
        p
    }

    /// Called after a value (scalar, alias, or closed collection) completed in the top frame.
    fn value_done(&mut self) {
        if let Some((f, _)) = self.stack.last_mut() {
            match f {
                Frame::Map { key, at_key } => {
                    *key = None;
                    *at_key = true;
                }
                Frame::Seq { index } => *index += 1,
            }
        }
    }

    /// True when the next node is a mapping key.
    fn at_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some((Frame::Map { at_key: true, .. }, _))
        )
    }

    fn start_collection(&mut self, f: Frame) {
        if self.at_key() {
            // A complex key: not tracked; its contents are under no path.
            self.stack.push((f, None));
            return;
        }
        let seg = self.path().pop();
        let seg = if self.stack.is_empty() { None } else { seg };
        self.stack.push((f, seg));
    }
}

impl MarkedEventReceiver for Recv {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.docs > 1 {
            return;
        }
        match ev {
            Event::DocumentStart => self.docs += 1,
            Event::Scalar(v, style, _, tag) => {
                if self.at_key() {
                    if let Some((Frame::Map { key, at_key }, _)) = self.stack.last_mut() {
                        *key = Some(v);
                        *at_key = false;
                    }
                    return;
                }
                if style == TScalarStyle::Plain
                    && tag.is_none()
                    && let Some(b) = yaml11_bool(&v)
                {
                    let path = self.path();
                    self.found.push(Bool11 {
                        path,
                        word: v,
                        value: b,
                        line: mark.line(),
                    });
                }
                self.value_done();
            }
            Event::Alias(_) => {
                if self.at_key() {
                    if let Some((Frame::Map { at_key, .. }, _)) = self.stack.last_mut() {
                        *at_key = false;
                    }
                    return;
                }
                self.value_done();
            }
            Event::MappingStart(..) => self.start_collection(Frame::Map {
                key: None,
                at_key: true,
            }),
            Event::SequenceStart(..) => self.start_collection(Frame::Seq { index: 0 }),
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

/// The plain scalars of the first document that YAML 1.1 reads as booleans. Parse errors are
/// left to the caller's YAML parser.
pub fn find_bools(text: &str) -> Vec<Bool11> {
    let mut r = Recv::default();
    let mut p = Parser::new_from_str(text);
    if p.load(&mut r, true).is_err() {
        return Vec::new();
    }
    r.found
}

/// Replaces each found string with its YAML 1.1 boolean.
pub fn apply(v: &mut Value, found: &[Bool11]) {
    for f in found {
        if let Some(cur) = lookup(v, &f.path)
            && cur.as_str() == Some(f.word.as_str())
        {
            *cur = Value::Bool(f.value);
        }
    }
}

fn lookup<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v);
    };
    let next = match (first, v) {
        (Seg::Key(k), Value::Object(m)) => m.get_mut(k)?,
        (Seg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
        _ => return None,
    };
    lookup(next, rest)
}

/// The path as serde_path_to_error prints it (`images[0].newTag`).
pub fn display_path(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_plain_yaml11_booleans_only() {
        let text = "namePrefix: yes\nquoted: \"yes\"\ntagged: !!str on\nlabels:\n- pairs:\n    a: off\n  includeSelectors: Y\nlist: [n, x, ON]\n";
        let f = find_bools(text);
        let got: Vec<(String, bool, usize)> = f
            .iter()
            .map(|b| (display_path(&b.path), b.value, b.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("namePrefix".to_string(), true, 1),
                ("labels[0].pairs.a".to_string(), false, 6),
                ("labels[0].includeSelectors".to_string(), true, 7),
                ("list[0]".to_string(), false, 8),
                ("list[2]".to_string(), true, 8),
            ]
        );
        let mut v: Value = serde_yaml::from_str(text).expect("yaml");
        apply(&mut v, &f);
        assert_eq!(v["namePrefix"], Value::Bool(true));
        assert_eq!(v["quoted"], Value::String("yes".into()));
        assert_eq!(v["tagged"], Value::String("on".into()));
        assert_eq!(v["list"][1], Value::String("x".into()));
    }
}
