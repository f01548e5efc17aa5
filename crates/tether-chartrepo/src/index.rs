//! A chart repository's `index.yaml`, loaded the way Helm's `repo.loadIndex` does: entries without a name
//! or with an unparsable version are skipped, each chart's versions are sorted newest first, and a
//! missing `apiVersion` is an error.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

use crate::semver::{Constraints, Version};

/// One chart version listed in an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartVersion {
    pub name: String,
    /// The version as written in the index.
    pub version: String,
    pub app_version: Option<String>,
    pub description: Option<String>,
    /// Download URLs, absolute or relative to the repository URL.
    pub urls: Vec<String>,
    /// The archive's SHA-256 as lowercase hex (Helm's `digest`), when the index gives one.
    pub digest: Option<String>,
    pub created: Option<String>,
    pub deprecated: bool,
}

/// A parsed index: chart name → versions, newest first.
#[derive(Clone, Debug, Default)]
pub struct IndexFile {
    pub api_version: String,
    pub entries: BTreeMap<String, Vec<ChartVersion>>,
}

/// Why an index cannot be used or has no matching version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("empty index.yaml file")]
    Empty,
    #[error("index.yaml is not valid YAML: {0}")]
    Yaml(String),
    #[error("no API version specified")]
    NoApiVersion,
    #[error("chart {name:?} not found in the repository index")]
    NoChartName { name: String },
    #[error(
        "chart {name:?} version {constraint:?} not found in the repository index (available: {available})"
    )]
    NoChartVersion {
        name: String,
        constraint: String,
        available: String,
    },
    #[error("invalid version constraint {constraint:?} for chart {name:?}: {message}")]
    BadConstraint {
        name: String,
        constraint: String,
        message: String,
    },
}

#[derive(Deserialize)]
struct RawIndex {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<Value>,
    #[serde(default)]
    entries: BTreeMap<String, Option<Vec<Option<Value>>>>,
}

/// Helm reads the index through JSON, so scalars of any type become strings where it expects strings.
fn scalar(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn chart_version(value: &Value) -> Option<ChartVersion> {
    let field = |key: &str| scalar(value.get(key));
    let name = field("name").filter(|n| !n.is_empty())?;
    let version = field("version")?;
    Version::parse(&version).ok()?;
    let urls = match value.get("urls") {
        Some(Value::Sequence(items)) => items.iter().filter_map(|u| scalar(Some(u))).collect(),
        _ => Vec::new(),
    };
    Some(ChartVersion {
        name,
        version,
        app_version: field("appVersion"),
        description: field("description"),
        urls,
        digest: field("digest").filter(|d| !d.is_empty()),
        created: field("created"),
        deprecated: matches!(value.get("deprecated"), Some(Value::Bool(true))),
    })
}

impl IndexFile {
    /// Parses `index.yaml` bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, IndexError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(IndexError::Empty);
        }
        let raw: RawIndex =
            serde_yaml::from_slice(bytes).map_err(|e| IndexError::Yaml(e.to_string()))?;
        let mut entries = BTreeMap::new();
        for (name, versions) in raw.entries {
            let mut parsed: Vec<(Version, ChartVersion)> = Vec::new();
            for value in versions.unwrap_or_default().into_iter().flatten() {
                match chart_version(&value) {
                    Some(cv) => {
                        let v = Version::parse(&cv.version).expect("checked in chart_version");
                        parsed.push((v, cv));
                    }
                    None => tracing::warn!(chart = %name, "skipping an invalid index entry"),
                }
            }
            // Newest first; stable for equal versions, as Helm's sort.Sort on the reversed order is not
            // guaranteed stable either, but equal versions differ only in build metadata.
            parsed.sort_by(|a, b| b.0.cmp(&a.0));
            entries.insert(name, parsed.into_iter().map(|(_, cv)| cv).collect());
        }
        let api_version = scalar(raw.api_version.as_ref()).unwrap_or_default();
        if api_version.is_empty() {
            return Err(IndexError::NoApiVersion);
        }
        Ok(IndexFile {
            api_version,
            entries,
        })
    }

    /// The newest version of `name` that satisfies `constraint` (empty: the newest non-prerelease), as
    /// Helm's `IndexFile.Get`: a version string equal to the constraint wins first.
    pub fn get(&self, name: &str, constraint: &str) -> Result<&ChartVersion, IndexError> {
        let versions = self
            .entries
            .get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| IndexError::NoChartName {
                name: name.to_owned(),
            })?;
        let constraint = constraint.trim();
        if !constraint.is_empty()
            && let Some(exact) = versions.iter().find(|cv| cv.version == constraint)
        {
            return Ok(exact);
        }
        let parsed = Constraints::parse(if constraint.is_empty() {
            "*"
        } else {
            constraint
        })
        .map_err(|e| IndexError::BadConstraint {
            name: name.to_owned(),
            constraint: constraint.to_owned(),
            message: e.to_string(),
        })?;
        versions
            .iter()
            .find(|cv| Version::parse(&cv.version).is_ok_and(|v| parsed.check(&v)))
            .ok_or_else(|| IndexError::NoChartVersion {
                name: name.to_owned(),
                constraint: constraint.to_owned(),
                available: versions
                    .iter()
                    .map(|cv| cv.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"
apiVersion: v1
entries:
  nginx:
    - {name: nginx, version: 1.2.0, urls: [nginx-1.2.0.tgz], digest: "aa"}
    - {name: nginx, version: 1.10.0, urls: [nginx-1.10.0.tgz]}
    - {name: nginx, version: 2.0.0-rc.1, urls: [nginx-2.0.0-rc.1.tgz]}
    - {name: nginx, version: not-a-version, urls: [x.tgz]}
    - {name: nginx, version: 1.9.3, appVersion: 1.25, urls: [https://cdn.example.com/nginx-1.9.3.tgz]}
    - null
  empty: []
generated: "2024-01-01T00:00:00Z"
"#;

    #[test]
    fn entries_are_sorted_newest_first_and_invalid_ones_skipped() {
        let index = IndexFile::parse(INDEX.as_bytes()).expect("parses");
        let versions: Vec<&str> = index.entries["nginx"]
            .iter()
            .map(|c| c.version.as_str())
            .collect();
        assert_eq!(versions, ["2.0.0-rc.1", "1.10.0", "1.9.3", "1.2.0"]);
        assert_eq!(
            index.entries["nginx"][2].app_version.as_deref(),
            Some("1.25")
        );
    }

    #[test]
    fn get_resolves_like_helm() {
        let index = IndexFile::parse(INDEX.as_bytes()).expect("parses");
        let get = |c: &str| index.get("nginx", c).map(|cv| cv.version.clone());
        assert_eq!(get("").unwrap(), "1.10.0");
        assert_eq!(get("^1.2.0").unwrap(), "1.10.0");
        assert_eq!(get("~1.9").unwrap(), "1.9.3");
        assert_eq!(get("<1.9").unwrap(), "1.2.0");
        assert_eq!(get(">=2.0.0-0").unwrap(), "2.0.0-rc.1");
        assert_eq!(get("2.0.0-rc.1").unwrap(), "2.0.0-rc.1");
        assert!(matches!(get("^3"), Err(IndexError::NoChartVersion { .. })));
        assert!(matches!(get("~~"), Err(IndexError::BadConstraint { .. })));
        assert!(matches!(
            index.get("empty", ""),
            Err(IndexError::NoChartName { .. })
        ));
        assert!(matches!(
            index.get("redis", ""),
            Err(IndexError::NoChartName { .. })
        ));
    }

    #[test]
    fn broken_indexes_are_errors() {
        assert_eq!(IndexFile::parse(b"  \n").unwrap_err(), IndexError::Empty);
        assert_eq!(
            IndexFile::parse(b"entries: {}\n").unwrap_err(),
            IndexError::NoApiVersion
        );
        assert!(matches!(
            IndexFile::parse(b"apiVersion: [\n").unwrap_err(),
            IndexError::Yaml(_)
        ));
    }
}
