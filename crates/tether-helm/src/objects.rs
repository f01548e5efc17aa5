//! Helm's built-in objects as Go values: `.Chart` (`struct { chart.Metadata; IsRoot bool }`),
//! `.Capabilities` (`*chartutil.Capabilities`), `.Files` (`engine.files`, a map with methods).

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use tether_gotmpl::{ListKind, MapData, Object, Value};

use crate::chart::{Dependency, ImportValue, Metadata};
use crate::ignore::glob_regex;

/// The Kubernetes version `helm template` v3.17 assumes (client-go v0.32).
pub const DEFAULT_KUBE_VERSION: &str = "v1.32.0";
/// The helm version reported by `.Capabilities.HelmVersion` (the reference oracle's).
pub const HELM_VERSION: &str = "v3.17.3";
pub const HELM_GIT_COMMIT: &str = "e4da49785aa6e6ee2b86efd5dd9e43400318262b";
pub const HELM_GO_VERSION: &str = "go1.23.7";

/// Helm v3.17's default API versions (`chartutil.DefaultVersionSet`), in its order.
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1alpha1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha1",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1alpha1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// `chartutil.KubeVersion`.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeVersion {
    pub version: String,
    pub major: String,
    pub minor: String,
}

impl KubeVersion {
    /// Parses `--kube-version` as Helm does (`v` prefix optional; Masterminds loose parsing).
    pub fn parse(v: &str) -> Result<KubeVersion, String> {
        let re = regex_lite::Regex::new(
            r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-[0-9A-Za-z\-.]+)?(\+[0-9A-Za-z\-.]+)?$",
        )
        .expect("valid regex");
        let c = re
            .captures(v.trim())
            .ok_or_else(|| format!("invalid kube version {v:?}: Invalid Semantic Version"))?;
        let num = |i: usize| {
            c.get(i)
                .map(|m| {
                    m.as_str()
                        .trim_start_matches('.')
                        .parse::<u64>()
                        .unwrap_or(0)
                })
                .unwrap_or(0)
        };
        let (major, minor, patch) = (num(1), num(2), num(3));
        let pre = c.get(4).map(|m| m.as_str()).unwrap_or("");
        let meta = c.get(5).map(|m| m.as_str()).unwrap_or("");
        Ok(KubeVersion {
            version: format!("v{major}.{minor}.{patch}{pre}{meta}"),
            major: major.to_string(),
            minor: minor.to_string(),
        })
    }
}

impl Default for KubeVersion {
    fn default() -> Self {
        KubeVersion::parse(DEFAULT_KUBE_VERSION).expect("valid default")
    }
}

impl Object for KubeVersion {
    fn type_name(&self) -> String {
        "chartutil.KubeVersion".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Version" | "GitVersion" | "String" => Value::str(self.version.as_str()),
            "Major" => Value::str(self.major.as_str()),
            "Minor" => Value::str(self.minor.as_str()),
            _ => return None,
        })
    }
    fn display(&self) -> Option<String> {
        Some(format!(
            "{{{} {} {}}}",
            self.version, self.major, self.minor
        ))
    }
    fn print_action(&self) -> Option<String> {
        Some(self.version.clone())
    }
    fn marshal(&self) -> Option<Value> {
        Some(Value::map(BTreeMap::from([
            ("Version".to_string(), Value::str(self.version.as_str())),
            ("Major".to_string(), Value::str(self.major.as_str())),
            ("Minor".to_string(), Value::str(self.minor.as_str())),
        ])))
    }
}

/// `chartutil.VersionSet` (`[]string` with `Has`), exposed to templates as a gotmpl `VersionSet` list.
#[derive(Debug, Clone)]
pub struct VersionSet(pub Arc<Vec<String>>);

#[derive(Debug)]
struct HelmVersion;

impl Object for HelmVersion {
    fn type_name(&self) -> String {
        "version.BuildInfo".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::str(match name {
            "Version" => HELM_VERSION,
            "GitCommit" => HELM_GIT_COMMIT,
            "GitTreeState" => "clean",
            "GoVersion" => HELM_GO_VERSION,
            _ => return None,
        }))
    }
    fn display(&self) -> Option<String> {
        Some(format!(
            "{{{HELM_VERSION} {HELM_GIT_COMMIT} clean {HELM_GO_VERSION}}}"
        ))
    }
    fn marshal(&self) -> Option<Value> {
        Some(Value::map(BTreeMap::from([
            ("version".to_string(), Value::str(HELM_VERSION)),
            ("git_commit".to_string(), Value::str(HELM_GIT_COMMIT)),
            ("git_tree_state".to_string(), Value::str("clean")),
            ("go_version".to_string(), Value::str(HELM_GO_VERSION)),
        ])))
    }
}

/// `*chartutil.Capabilities`.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub kube_version: KubeVersion,
    pub api_versions: VersionSet,
}

impl Object for Capabilities {
    fn type_name(&self) -> String {
        "*chartutil.Capabilities".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "KubeVersion" => Value::Object(Rc::new(self.kube_version.clone())),
            "APIVersions" => Value::List(
                ListKind::VersionSet,
                self.api_versions
                    .0
                    .iter()
                    .map(|v| Value::str(v.as_str()))
                    .collect::<Vec<_>>()
                    .into(),
            ),
            "HelmVersion" => Value::Object(Rc::new(HelmVersion)),
            _ => return None,
        })
    }
    fn display(&self) -> Option<String> {
        Some(format!(
            "&{{{{{} {} {}}} [{}] {}}}",
            self.kube_version.version,
            self.kube_version.major,
            self.kube_version.minor,
            self.api_versions.0.join(" "),
            HelmVersion.display().unwrap_or_default()
        ))
    }
}

fn strs(v: &[String]) -> Value {
    Value::string_list(v.to_vec())
}

fn dependency_value(d: &Dependency) -> Value {
    Value::Object(Rc::new(DependencyObj(d.clone())))
}

#[derive(Debug)]
struct DependencyObj(Dependency);

impl DependencyObj {
    fn imports(&self) -> Value {
        Value::list(
            self.0
                .import_values
                .iter()
                .map(|iv| match iv {
                    ImportValue::Export(s) => Value::str(s.as_str()),
                    ImportValue::Map { child, parent } => Value::map(BTreeMap::from([
                        ("child".to_string(), Value::str(child.as_str())),
                        ("parent".to_string(), Value::str(parent.as_str())),
                    ])),
                })
                .collect(),
        )
    }
}

impl Object for DependencyObj {
    fn type_name(&self) -> String {
        "*chart.Dependency".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        let d = &self.0;
        Some(match name {
            "Name" => Value::str(d.name.as_str()),
            "Version" => Value::str(d.version.as_str()),
            "Repository" => Value::str(d.repository.as_str()),
            "Condition" => Value::str(d.condition.as_str()),
            "Tags" => strs(&d.tags),
            "Enabled" => Value::Bool(d.enabled),
            "ImportValues" => self.imports(),
            "Alias" => Value::str(d.alias.as_str()),
            _ => return None,
        })
    }
    fn marshal(&self) -> Option<Value> {
        let d = &self.0;
        let mut m = BTreeMap::new();
        m.insert("name".into(), Value::str(d.name.as_str()));
        for (k, v) in [
            ("version", &d.version),
            ("repository", &d.repository),
            ("condition", &d.condition),
            ("alias", &d.alias),
        ] {
            if !v.is_empty() || k == "repository" {
                m.insert(k.to_string(), Value::str(v.as_str()));
            }
        }
        if !d.tags.is_empty() {
            m.insert("tags".into(), strs(&d.tags));
        }
        if d.enabled {
            m.insert("enabled".into(), Value::Bool(true));
        }
        if !d.import_values.is_empty() {
            m.insert("import-values".into(), self.imports());
        }
        Some(Value::map(m))
    }
}

/// `.Chart`: the chart's metadata (Go field names) plus `IsRoot`.
#[derive(Debug)]
pub struct ChartObj {
    pub md: Metadata,
    pub is_root: bool,
}

impl ChartObj {
    fn maintainers(&self) -> Value {
        Value::list(
            self.md
                .maintainers
                .iter()
                .map(|m| {
                    Value::map(BTreeMap::from([
                        ("Name".to_string(), Value::str(m.name.as_str())),
                        ("Email".to_string(), Value::str(m.email.as_str())),
                        ("URL".to_string(), Value::str(m.url.as_str())),
                    ]))
                })
                .collect(),
        )
    }
    fn annotations(&self) -> Value {
        Value::map(
            self.md
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), Value::str(v.as_str())))
                .collect(),
        )
    }
}

impl Object for ChartObj {
    fn type_name(&self) -> String {
        "struct { chart.Metadata; IsRoot bool }".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        let md = &self.md;
        Some(match name {
            "Name" => Value::str(md.name.as_str()),
            "Home" => Value::str(md.home.as_str()),
            "Sources" => strs(&md.sources),
            "Version" => Value::str(md.version.as_str()),
            "Description" => Value::str(md.description.as_str()),
            "Keywords" => strs(&md.keywords),
            "Maintainers" => self.maintainers(),
            "Icon" => Value::str(md.icon.as_str()),
            "APIVersion" => Value::str(md.api_version.as_str()),
            "Condition" => Value::str(md.condition.as_str()),
            "Tags" => Value::str(md.tags.as_str()),
            "AppVersion" => Value::str(md.app_version.as_str()),
            "Deprecated" => Value::Bool(md.deprecated),
            "Annotations" => self.annotations(),
            "KubeVersion" => Value::str(md.kube_version.as_str()),
            "Dependencies" => Value::list(md.dependencies.iter().map(dependency_value).collect()),
            "Type" => Value::str(md.chart_type.as_str()),
            "IsRoot" => Value::Bool(self.is_root),
            "Metadata" => Value::Object(Rc::new(ChartObj {
                md: md.clone(),
                is_root: self.is_root,
            })),
            _ => return None,
        })
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Validate" if args.is_empty() => Some(Ok(Value::Nil)),
            _ => None,
        }
    }
    fn display(&self) -> Option<String> {
        let md = &self.md;
        let list = |v: &[String]| format!("[{}]", v.join(" "));
        let ann = tether_gotmpl::fmt::go_sprint(&[self.annotations()]);
        let ann = if md.annotations.is_empty() {
            "map[]".to_string()
        } else {
            ann
        };
        let deps = md
            .dependencies
            .iter()
            .map(|d| format!("{:p}", d as *const Dependency))
            .collect::<Vec<_>>()
            .join(" ");
        let maint = md
            .maintainers
            .iter()
            .map(|m| format!("{:p}", m as *const crate::chart::Maintainer))
            .collect::<Vec<_>>()
            .join(" ");
        Some(format!(
            "{{{{{} {} {} {} {} {} [{}] {} {} {} {} {} {} {} {} [{}] {}}} {}}}",
            md.name,
            md.home,
            list(&md.sources),
            md.version,
            md.description,
            list(&md.keywords),
            maint,
            md.icon,
            md.api_version,
            md.condition,
            md.tags,
            md.app_version,
            md.deprecated,
            ann,
            md.kube_version,
            deps,
            md.chart_type,
            self.is_root
        ))
    }
    fn marshal(&self) -> Option<Value> {
        let md = &self.md;
        let mut m = BTreeMap::new();
        let mut s = |k: &str, v: &str| {
            if !v.is_empty() {
                m.insert(k.to_string(), Value::str(v));
            }
        };
        s("name", &md.name);
        s("home", &md.home);
        s("version", &md.version);
        s("description", &md.description);
        s("icon", &md.icon);
        s("apiVersion", &md.api_version);
        s("condition", &md.condition);
        s("tags", &md.tags);
        s("appVersion", &md.app_version);
        s("kubeVersion", &md.kube_version);
        s("type", &md.chart_type);
        if !md.sources.is_empty() {
            m.insert("sources".into(), strs(&md.sources));
        }
        if !md.keywords.is_empty() {
            m.insert("keywords".into(), strs(&md.keywords));
        }
        if md.deprecated {
            m.insert("deprecated".into(), Value::Bool(true));
        }
        if !md.annotations.is_empty() {
            m.insert("annotations".into(), self.annotations());
        }
        if !md.maintainers.is_empty() {
            m.insert(
                "maintainers".into(),
                Value::list(
                    md.maintainers
                        .iter()
                        .map(|x| {
                            let mut mm = BTreeMap::new();
                            mm.insert("name".to_string(), Value::str(x.name.as_str()));
                            if !x.email.is_empty() {
                                mm.insert("email".to_string(), Value::str(x.email.as_str()));
                            }
                            if !x.url.is_empty() {
                                mm.insert("url".to_string(), Value::str(x.url.as_str()));
                            }
                            Value::map(mm)
                        })
                        .collect(),
                ),
            );
        }
        if !md.dependencies.is_empty() {
            m.insert(
                "dependencies".into(),
                Value::list(md.dependencies.iter().map(dependency_value).collect()),
            );
        }
        m.insert("IsRoot".into(), Value::Bool(self.is_root));
        Some(Value::map(m))
    }
}

/// Methods of `engine.files`.
#[derive(Debug)]
pub struct FilesMethods {
    files: Rc<BTreeMap<String, Rc<[u8]>>>,
}

/// Builds `.Files` (or a `Glob` result): a Go map from path to `[]byte`, with the methods.
pub fn files_value(files: Rc<BTreeMap<String, Rc<[u8]>>>) -> Value {
    let m: BTreeMap<String, Value> = files
        .iter()
        .map(|(k, v)| (k.clone(), Value::Bytes(v.clone())))
        .collect();
    let data = Rc::new(MapData::new(m));
    data.set_type_name(Some("engine.files"));
    data.set_methods(Some(Rc::new(FilesMethods { files })));
    Value::Map(data)
}

fn to_yaml_map(m: BTreeMap<String, Value>) -> String {
    let y = tether_gotmpl::yaml::to_yaml(&Value::map(m));
    y.strip_suffix('\n').map(str::to_string).unwrap_or(y)
}

fn str_arg(name: &str, args: &[Value]) -> Result<String, String> {
    match args {
        [Value::String(s)] => Ok(s.to_string()),
        [other] => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
        _ => Err(format!(
            "wrong number of args for {name}: want 1 got {}",
            args.len()
        )),
    }
}

impl Object for FilesMethods {
    fn type_name(&self) -> String {
        "engine.files".into()
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        Some(match name {
            "Get" => str_arg(name, args).map(|p| {
                Value::str(
                    self.files
                        .get(&p)
                        .map(|d| String::from_utf8_lossy(d).into_owned())
                        .unwrap_or_default(),
                )
            }),
            "GetBytes" => str_arg(name, args).map(|p| {
                Value::Bytes(
                    self.files
                        .get(&p)
                        .cloned()
                        .unwrap_or_else(|| Rc::from(&[][..])),
                )
            }),
            "Lines" => str_arg(name, args).map(|p| match self.files.get(&p) {
                None => Value::List(ListKind::String, Rc::from(Vec::new())),
                Some(d) => {
                    let s = String::from_utf8_lossy(d);
                    let s = s.strip_suffix('\n').unwrap_or(&s);
                    Value::string_list(s.split('\n').map(str::to_string).collect())
                }
            }),
            "Glob" => str_arg(name, args).map(|p| {
                let sel: BTreeMap<String, Rc<[u8]>> = match glob_regex(&p) {
                    Ok(re) => self
                        .files
                        .iter()
                        .filter(|(k, _)| re.is_match(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    Err(_) => BTreeMap::new(),
                };
                files_value(Rc::new(sel))
            }),
            "AsConfig" if args.is_empty() => Ok(Value::str(to_yaml_map(
                self.files
                    .iter()
                    .map(|(k, v)| {
                        (
                            base(k).to_string(),
                            Value::str(String::from_utf8_lossy(v).into_owned()),
                        )
                    })
                    .collect(),
            ))),
            "AsSecrets" if args.is_empty() => {
                use base64::Engine as _;
                Ok(Value::str(to_yaml_map(
                    self.files
                        .iter()
                        .map(|(k, v)| {
                            (
                                base(k).to_string(),
                                Value::str(base64::engine::general_purpose::STANDARD.encode(v)),
                            )
                        })
                        .collect(),
                )))
            }
            _ => return None,
        })
    }
}

fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_version_parse() {
        let k = KubeVersion::parse("1.29").unwrap();
        assert_eq!(
            (k.version.as_str(), k.major.as_str(), k.minor.as_str()),
            ("v1.29.0", "1", "29")
        );
        assert_eq!(KubeVersion::default().version, "v1.32.0");
        assert!(KubeVersion::parse("abc").is_err());
    }
}
