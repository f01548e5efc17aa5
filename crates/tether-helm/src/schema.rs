//! `values.schema.json` validation after coalescing, for the root chart and every enabled subchart
//! (Helm's `ValidateAgainstSchema`), with gojsonschema-style messages (`- path: description`).

use tether_gotmpl::{MapRef, Value};

use crate::Error;
use crate::value_to_json;
use crate::values::Node;

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) => {
            if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) {
                "integer"
            } else {
                "number"
            }
        }
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn field(path: &str) -> String {
    if path.is_empty() || path == "/" {
        "(root)".to_string()
    } else {
        path.trim_start_matches('/')
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect::<Vec<_>>()
            .join(".")
    }
}

fn describe(e: &jsonschema::ValidationError<'_>, schema: &serde_json::Value) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    let path = field(e.instance_path.as_str());
    let inst = &*e.instance;
    let msg = match &e.kind {
        K::Type { kind } => {
            let expected = match kind {
                jsonschema::error::TypeKind::Single(t) => t.to_string(),
                jsonschema::error::TypeKind::Multiple(ts) => {
                    // gojsonschema lists the types in the schema's order.
                    match schema.pointer(e.schema_path.as_str()) {
                        Some(serde_json::Value::Array(a)) => format!(
                            "[{}]",
                            a.iter()
                                .filter_map(|t| t.as_str())
                                .collect::<Vec<_>>()
                                .join(",")
                        ),
                        _ => {
                            let v: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
                            format!("[{}]", v.join(","))
                        }
                    }
                }
            };
            format!(
                "Invalid type. Expected: {expected}, given: {}",
                json_type(inst)
            )
        }
        K::Required { property } => {
            let p = property.as_str().unwrap_or_default().to_string();
            return format!("{path}: {p} is required");
        }
        K::AdditionalProperties { unexpected } => {
            return unexpected
                .iter()
                .map(|u| format!("{path}: Additional property {u} is not allowed"))
                .collect::<Vec<_>>()
                .join("\n- ");
        }
        K::Enum { options } => {
            let opts: Vec<String> = match options {
                serde_json::Value::Array(a) => a.iter().map(|o| o.to_string()).collect(),
                o => vec![o.to_string()],
            };
            format!("{path} must be one of the following: {}", opts.join(", "))
        }
        K::Constant { expected_value } => format!("{path} does not match: {expected_value}"),
        K::Minimum { limit } => format!("Must be greater than or equal to {limit}"),
        K::Maximum { limit } => format!("Must be less than or equal to {limit}"),
        K::ExclusiveMinimum { limit } => format!("Must be greater than {limit}"),
        K::ExclusiveMaximum { limit } => format!("Must be less than {limit}"),
        K::MinLength { limit } => format!("String length must be greater than or equal to {limit}"),
        K::MaxLength { limit } => format!("String length must be less than or equal to {limit}"),
        K::Pattern { pattern } => format!("Does not match pattern '{pattern}'"),
        K::MinItems { limit } => format!("Array must have at least {limit} items"),
        K::MaxItems { limit } => format!("Array must have at most {limit} items"),
        K::UniqueItems => "array items[0,1] must be unique".to_string(),
        _ => e.to_string(),
    };
    format!("{path}: {msg}")
}

/// Validates values against one schema; the error lists violations as `- field: description\n`.
pub fn validate_one(values: &MapRef, schema: &[u8]) -> Result<(), String> {
    let schema: serde_json::Value = serde_json::from_slice(schema).map_err(|e| e.to_string())?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
    let instance = value_to_json(&Value::Map(values.clone()));
    let mut out = String::new();
    for e in validator.iter_errors(&instance) {
        out.push_str(&format!("- {}\n", describe(&e, &schema)));
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

fn validate_rec(n: &Node<'_>, values: &MapRef, out: &mut String) -> Result<(), Error> {
    if let Some(schema) = &n.chart.schema
        && let Err(e) = validate_one(values, schema)
    {
        out.push_str(&format!("{}:\n{e}", n.name));
    }
    for d in &n.deps {
        let sub = match values.borrow().get(&d.name) {
            Some(Value::Map(m)) => m.clone(),
            _ => crate::values::new_map(),
        };
        validate_rec(d, &sub, out)?;
    }
    Ok(())
}

/// Helm's `ValidateAgainstSchema` over the chart tree.
pub fn validate_tree(root: &Node<'_>, values: &MapRef) -> Result<(), Error> {
    let mut out = String::new();
    validate_rec(root, values, &mut out)?;
    if out.is_empty() {
        return Ok(());
    }
    Err(Error::Values(format!(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{out}"
    )))
}
