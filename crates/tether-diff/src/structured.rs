//! A structured diff for machines: one [`Change`] per differing leaf, addressed by an RFC 6901 JSON
//! pointer, read as "what applying desired would do to live" (`add`: only desired has it, `remove`:
//! only live has it, `replace`: both, different). Objects are compared key by key, arrays index by
//! index; anything else (including a type change) is one `replace`.

use serde::Serialize;
use serde_json::Value;

use crate::managed::FieldOwner;

/// What a change does to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Add,
    Remove,
    Replace,
}

/// One difference between desired and live.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// JSON pointer of the field.
    pub path: String,
    pub op: Op,
    /// The desired value (absent for `remove`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<Value>,
    /// The live value (absent for `add`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Value>,
    /// Who last set the live field (drift attribution), when live managedFields say so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<FieldOwner>,
}

/// Escapes one pointer token (`~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The changes that turn `live` into `desired`, in document order. `None` stands for a missing object.
pub fn structured_diff(desired: Option<&Value>, live: Option<&Value>) -> Vec<Change> {
    let mut out = Vec::new();
    walk(&mut String::new(), desired, live, &mut out);
    out
}

fn walk(path: &mut String, desired: Option<&Value>, live: Option<&Value>, out: &mut Vec<Change>) {
    let change = |path: &str, op, d: Option<&Value>, l: Option<&Value>| Change {
        path: path.to_string(),
        op,
        desired: d.cloned(),
        live: l.cloned(),
        owner: None,
    };
    match (desired, live) {
        (None, None) => {}
        (Some(d), None) => out.push(change(path, Op::Add, Some(d), None)),
        (None, Some(l)) => out.push(change(path, Op::Remove, None, Some(l))),
        (Some(Value::Object(d)), Some(Value::Object(l))) => {
            let len = path.len();
            for (k, dv) in d {
                path.push('/');
                path.push_str(&escape_token(k));
                walk(path, Some(dv), l.get(k), out);
                path.truncate(len);
            }
            for (k, lv) in l.iter().filter(|(k, _)| !d.contains_key(*k)) {
                path.push('/');
                path.push_str(&escape_token(k));
                walk(path, None, Some(lv), out);
                path.truncate(len);
            }
        }
        (Some(Value::Array(d)), Some(Value::Array(l))) => {
            let len = path.len();
            for i in 0..d.len().max(l.len()) {
                path.push('/');
                path.push_str(&i.to_string());
                walk(path, d.get(i), l.get(i), out);
                path.truncate(len);
            }
        }
        (Some(d), Some(l)) if d == l => {}
        (Some(d), Some(l)) => out.push(change(path, Op::Replace, Some(d), Some(l))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_are_reported_with_pointers_and_both_values() {
        let desired = json!({"metadata": {"labels": {"a/b": "1", "new": "x"}}, "spec": {"replicas": 2, "ports": [80, 443]}});
        let live = json!({"metadata": {"labels": {"a/b": "2", "old": "y"}}, "spec": {"replicas": 2, "ports": [80]}});
        let changes = structured_diff(Some(&desired), Some(&live));
        let summary: Vec<(&str, Op)> = changes.iter().map(|c| (c.path.as_str(), c.op)).collect();
        assert_eq!(
            summary,
            [
                ("/metadata/labels/a~1b", Op::Replace),
                ("/metadata/labels/new", Op::Add),
                ("/metadata/labels/old", Op::Remove),
                ("/spec/ports/1", Op::Add),
            ]
        );
        assert_eq!(changes[0].desired, Some(json!("1")));
        assert_eq!(changes[0].live, Some(json!("2")));
        let text = serde_json::to_string(&changes[2]).expect("json");
        assert_eq!(
            text,
            r#"{"path":"/metadata/labels/old","op":"remove","live":"y"}"#
        );
        assert!(structured_diff(Some(&desired), Some(&desired)).is_empty());
        let whole = structured_diff(Some(&desired), None);
        assert_eq!((whole[0].path.as_str(), whole[0].op), ("", Op::Add));
    }
}
