//! A small YAML emitter for rendered objects. Strings that a YAML 1.1 reader (kubectl's
//! sigs.k8s.io/yaml, PyYAML) could take for something else — `yes`, `on`, `0777`, `1e3`,
//! `null` — are double-quoted, as kustomize's output quotes them; multi-line strings use
//! literal blocks. Output is block style with two-space indentation.

use serde_json::{Map, Value};

const SPECIAL_WORDS: [&str; 11] = [
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "",
];

/// Whether `s` can be written as a plain scalar and read back as the same string by any
/// YAML 1.1 or 1.2 reader.
fn plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == '/' || first == '_') {
        return false;
    }
    if SPECIAL_WORDS.contains(&s.to_ascii_lowercase().as_str()) {
        return false;
    }
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
}

/// Characters YAML 1.1 readers take as line breaks, or that must not appear raw.
const BREAKS: [char; 4] = ['\u{85}', '\u{2028}', '\u{2029}', '\u{feff}'];

fn quoted(s: &str) -> String {
    let q = serde_json::to_string(s).expect("strings serialise");
    if q.contains(BREAKS) {
        q.replace('\u{85}', "\\u0085")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
            .replace('\u{feff}', "\\ufeff")
    } else {
        q
    }
}

fn block_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && !s.ends_with("\n\n")
        && !s
            .chars()
            .any(|c| c == '\r' || BREAKS.contains(&c) || (c.is_control() && c != '\n' && c != '\t'))
        && !s.lines().any(|l| l.ends_with([' ', '\t']))
}

fn scalar(s: &str, indent: usize, out: &mut String) {
    if plain_safe(s) {
        out.push_str(s);
    } else if block_ok(s) {
        out.push_str(if s.ends_with('\n') { "|" } else { "|-" });
        let pad = " ".repeat(indent);
        for line in s.trim_end_matches('\n').split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
        }
    } else {
        out.push_str(&quoted(s));
    }
}

fn key(k: &str, out: &mut String) {
    if plain_safe(k) {
        out.push_str(k)
    } else {
        out.push_str(&quoted(k))
    }
}

fn is_inline(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => true,
    }
}

fn inline(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => scalar(s, indent, out),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

fn map(m: &Map<String, Value>, indent: usize, first_inline: bool, out: &mut String) {
    let pad = " ".repeat(indent);
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !first_inline {
            out.push_str(&pad);
        }
        key(k, out);
        out.push(':');
        if is_inline(v) {
            out.push(' ');
            inline(v, indent + 2, out);
            out.push('\n');
        } else if let Value::Array(a) = v {
            out.push('\n');
            seq(a, indent, out);
        } else if let Value::Object(inner) = v {
            out.push('\n');
            map(inner, indent + 2, false, out);
        }
    }
}

fn seq(a: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for v in a {
        out.push_str(&pad);
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => map(m, indent + 2, true, out),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                seq(inner, indent + 2, out);
            }
            other => {
                inline(other, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

/// Renders one object as a YAML document (without the `---` separator).
pub fn object_to_yaml(m: &Map<String, Value>) -> String {
    let mut out = String::new();
    if m.is_empty() {
        out.push_str("{}\n");
    } else {
        map(m, 0, false, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_quotes_ambiguous_strings() {
        let v = json!({"a": "yes", "b": "0777", "c": "1e3", "d": "plain-value", "e": "line1\nline2\n",
            "f": "x: y", "g": [1, "on", {"h": null, "i": []}, [true]], "j": {}, "k": "", "l": "tail\n\n",
            "m key": "-lead", "n": 1.5, "o": "no-newline\nend", "p": "a\u{2028}b\nc", "q": "x\u{85}"});
        let m = v.as_object().expect("object");
        let text = object_to_yaml(m);
        let back: Value = serde_yaml::from_str(&text).expect("valid YAML");
        assert_eq!(back, v, "{text}");
        assert!(text.contains("a: \"yes\""), "{text}");
        assert!(text.contains("d: plain-value"), "{text}");
        assert!(
            text.contains("\\u2028") && !text.contains('\u{2028}'),
            "{text}"
        );
    }
}
