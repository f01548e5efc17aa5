//! The output emitter: objects printed as kustomize prints them. `Resource.AsYAML` marshals an
//! object to JSON and converts that with sigs.k8s.io/yaml's `JSONToYAML`, i.e. go-yaml v2: keys
//! in its natural order, its quoting of strings a YAML 1.1 reader could take for something else
//! (`yes`, `0777`, `1e3`), literal blocks, and its folding of long strings at 80 columns. The
//! go-yaml v2 emitter is tether-gotmpl's (the one behind Helm's `toYaml`, the same library).

use serde_json::{Map, Value};
use tether_gotmpl::yaml::{YNode, emit, natural_cmp, value_to_ynode};

/// The JSON value as go-yaml sees it after the JSON round trip. Integers stay integers; floats
/// take Go's JSON spelling first (`1.0` becomes `1`).
fn node(v: &Value) -> YNode {
    match v {
        Value::Null => YNode::Null,
        Value::Bool(b) => YNode::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => YNode::Int(i128::from(i)),
            (_, Some(u)) => YNode::Int(i128::from(u)),
            _ => value_to_ynode(&tether_gotmpl::Value::Float(n.as_f64().unwrap_or(0.0)))
                .unwrap_or(YNode::Null),
        },
        Value::String(s) => YNode::Str(s.clone()),
        Value::Array(a) => YNode::Seq(a.iter().map(node).collect()),
        Value::Object(o) => map_node(o),
    }
}

fn map_node(o: &Map<String, Value>) -> YNode {
    let mut items: Vec<(String, YNode)> = o.iter().map(|(k, v)| (k.clone(), node(v))).collect();
    items.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    YNode::Map(items)
}

/// Renders one object as a YAML document (without the `---` separator).
pub fn object_to_yaml(m: &Map<String, Value>) -> String {
    emit(&map_node(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_sorts_keys_and_quotes_ambiguous_strings() {
        let v = json!({"a": "yes", "b": "0777", "c": "1e3", "d": "plain-value", "e": "line1\nline2\n",
            "f": "x: y", "g": [1, "on", {"h": null, "i": []}, [true]], "j": {}, "k": "", "l": "tail\n\n",
            "m key": "-lead", "n": 1.5, "o": "no-newline\nend", "p": "a\u{2028}b\nc", "q": "x\u{85}",
            "k10": 1, "k9": 2, "big": 9007199254740993_u64, "whole": 2.0});
        let m = v.as_object().expect("object");
        let text = object_to_yaml(m);
        let back: Value = serde_yaml::from_str(&text).expect("valid YAML");
        assert_eq!(back["p"], v["p"], "{text}");
        assert_eq!(back["big"], v["big"], "{text}");
        assert!(text.contains("a: \"yes\""), "{text}");
        assert!(text.contains("d: plain-value"), "{text}");
        assert!(text.contains("whole: 2\n"), "{text}");
        // go-yaml v2's natural order: k9 before k10.
        assert!(text.find("k9:") < text.find("k10:"), "{text}");
        assert!(text.find("a:") < text.find("b:"), "{text}");
    }
}
