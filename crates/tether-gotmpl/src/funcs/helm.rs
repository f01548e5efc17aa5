//! Helm's own template functions: include, tpl, required, fail, toYaml & co, JSON, lookup.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use super::{FnError, FnResult, P, Registry, s};
use crate::Error;
use crate::exec::Exec;
use crate::json::{JsonOpts, marshal};
use crate::value::Value;

/// Helm's include recursion limit per template name.
pub const INCLUDE_LIMIT: usize = 1000;
/// The name Helm gives its root template (seen in `tpl` errors).
pub const ROOT_NAME: &str = "gotpl";
pub const WARN_START: &str = "HELM_ERR_START";
pub const WARN_END: &str = "HELM_ERR_END";

fn include(e: &mut Exec<'_>, a: Vec<Value>) -> FnResult {
    let name = s(&a[0]).to_string();
    let count = e.include_counts.entry(name.clone()).or_insert(0);
    if *count > INCLUDE_LIMIT {
        return Err(format!(
            "rendering template has a nested reference name: {name}: unable to execute template"
        )
        .into());
    }
    *count += 1;
    let r = e.exec_named(&name, a[1].clone());
    if let Some(c) = e.include_counts.get_mut(&name) {
        *c -= 1;
    }
    match r {
        Ok(s) => Ok(Value::str(s)),
        Err(Error::NoTemplate(n)) => Err(format!(
            "template: no template {n:?} associated with template {ROOT_NAME:?}"
        )
        .into()),
        Err(Error::Exec(m)) => Err(FnError::Msg(m)),
        Err(other) => Err(FnError::Fatal(other)),
    }
}

fn tpl(e: &mut Exec<'_>, a: Vec<Value>) -> FnResult {
    let text = s(&a[0]).to_string();
    let (tree, defines) = match crate::parse::parse_file(ROOT_NAME, &text, &super::exists) {
        Ok(x) => x,
        Err(msg) => {
            return Err(format!(
                "cannot parse template {}: {msg}",
                crate::fmt::go_quote(&text)
            )
            .into());
        }
    };
    let mut overlay: HashMap<String, Arc<crate::parse::Tree>> = HashMap::new();
    for d in defines {
        overlay.insert(d.name.clone(), Arc::new(d));
    }
    let tree = Arc::new(tree);
    overlay.insert(ROOT_NAME.to_string(), tree);
    e.overlays.push(Rc::new(overlay));
    let r = e.exec_named(ROOT_NAME, a[1].clone());
    e.overlays.pop();
    match r {
        Ok(out) => Ok(Value::str(out.replace("<no value>", ""))),
        Err(Error::Exec(m)) => Err(format!(
            "error during tpl function execution for {}: {m}",
            crate::fmt::go_quote(&text)
        )
        .into()),
        Err(other) => Err(FnError::Fatal(other)),
    }
}

fn warn_wrap(msg: &str) -> String {
    format!("{WARN_START}{msg}{WARN_END}")
}

fn json_fn(v: &Value, escape_html: bool, indent: Option<&'static str>) -> Result<String, String> {
    marshal(
        v,
        &JsonOpts {
            escape_html,
            indent,
        },
    )
}

pub(super) fn register(r: &mut Registry) {
    r.add("include", &[P::Str, P::Any], None, include);
    r.add("tpl", &[P::Str, P::Any], None, tpl);
    r.add("required", &[P::Str, P::Any], None, |_, a| {
        let missing = match &a[1] {
            Value::Nil => true,
            Value::String(st) => st.is_empty(),
            _ => false,
        };
        if missing {
            return Err(warn_wrap(s(&a[0])).into());
        }
        Ok(a[1].clone())
    });
    r.add("fail", &[P::Str], None, |_, a| {
        Err(warn_wrap(s(&a[0])).into())
    });
    r.add("toYaml", &[P::Any], None, |_, a| {
        Ok(Value::str(crate::yaml::to_yaml(&a[0])))
    });
    r.add("toYamlPretty", &[P::Any], None, |_, a| {
        Ok(Value::str(crate::yaml::to_yaml_pretty(&a[0])))
    });
    r.add("fromYaml", &[P::Str], None, |_, a| {
        Ok(crate::yaml::from_yaml(s(&a[0])))
    });
    r.add("fromYamlArray", &[P::Str], None, |_, a| {
        Ok(crate::yaml::from_yaml_array(s(&a[0])))
    });
    r.add("toJson", &[P::Any], None, |_, a| {
        Ok(Value::str(json_fn(&a[0], true, None).unwrap_or_default()))
    });
    r.add("mustToJson", &[P::Any], None, |_, a| {
        Ok(Value::str(json_fn(&a[0], true, None)?))
    });
    r.add("toPrettyJson", &[P::Any], None, |_, a| {
        Ok(Value::str(
            json_fn(&a[0], true, Some("  ")).unwrap_or_default(),
        ))
    });
    r.add("mustToPrettyJson", &[P::Any], None, |_, a| {
        Ok(Value::str(json_fn(&a[0], true, Some("  "))?))
    });
    r.add("toRawJson", &[P::Any], None, |_, a| {
        Ok(Value::str(json_fn(&a[0], false, None).unwrap_or_default()))
    });
    r.add("mustToRawJson", &[P::Any], None, |_, a| {
        Ok(Value::str(json_fn(&a[0], false, None)?))
    });
    r.add("fromJson", &[P::Str], None, |_, a| {
        Ok(crate::json::from_json(s(&a[0])))
    });
    r.add("fromJsonArray", &[P::Str], None, |_, a| {
        Ok(crate::json::from_json_array(s(&a[0])))
    });
    r.add("mustFromJson", &[P::Str], None, |_, a| {
        Ok(crate::json::from_json_any(s(&a[0]))?)
    });
    r.add("toToml", &[P::Any], None, |_, a| {
        Ok(Value::str(crate::toml::to_toml(&a[0])))
    });
    r.add("fromToml", &[P::Str], None, |_, a| {
        Ok(crate::toml::from_toml(s(&a[0])))
    });
    r.add("lookup", &[P::Str, P::Str, P::Str, P::Str], None, |_, _| {
        Ok(Value::empty_map())
    });
}
