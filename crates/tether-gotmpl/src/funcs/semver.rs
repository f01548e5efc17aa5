//! Sprig's `semver` and `semverCompare`, on tether-semver (Masterminds/semver v3.3, what helm v3.17
//! links): loose versions, `^ ~ >= < != x X * ||` constraints, hyphen ranges, prereleases only for
//! constraints that carry one, and Masterminds' error texts.

use std::rc::Rc;

use tether_semver::{Constraints, Version};

use super::{P, Registry, s};
use crate::value::{Object, Value};

/// A `*semver.Version` in templates: fields `Major`, `Minor`, `Patch`, `Prerelease`, `Metadata`,
/// `Original`, `String`; prints as `String()`.
#[derive(Clone, Debug)]
pub struct SemverVersion(pub Version);

impl Object for SemverVersion {
    fn type_name(&self) -> String {
        "*semver.Version".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        let v = &self.0;
        Some(match name {
            "Major" => Value::U64(v.major()),
            "Minor" => Value::U64(v.minor()),
            "Patch" => Value::U64(v.patch()),
            "Prerelease" => Value::str(v.prerelease()),
            "Metadata" => Value::str(v.metadata()),
            "Original" => Value::str(v.original()),
            "String" => Value::str(v.to_string()),
            _ => return None,
        })
    }
    fn display(&self) -> Option<String> {
        Some(self.0.to_string())
    }
}

pub(super) fn register(r: &mut Registry) {
    r.add("semver", &[P::Str], None, |_, a| {
        let v = Version::parse(s(&a[0])).map_err(|e| e.to_string())?;
        Ok(Value::Object(Rc::new(SemverVersion(v))))
    });
    r.add("semverCompare", &[P::Str, P::Str], None, |_, a| {
        // Sprig parses the constraint first, so its error wins.
        let c = Constraints::parse(s(&a[0])).map_err(|e| e.to_string())?;
        let v = Version::parse(s(&a[1])).map_err(|e| e.to_string())?;
        Ok(Value::Bool(c.check(&v)))
    });
}
