//! File mode: Applications and AppProjects declared in a directory of YAML (or JSON) files,
//! several documents per file allowed. A malformed Application never stops loading: it is kept,
//! by name, with the problem, and the controller shows it as an `InvalidSpecError` condition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tether_model::validate::{Severity, validate_yaml};
use tether_model::{AppProject, Application, ApplicationSpec};

/// What a directory declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Declared {
    /// Applications by name; a malformed one carries its problem.
    pub apps: BTreeMap<String, DeclaredApp>,
    /// AppProjects by name (malformed ones are left out and reported in `errors`).
    pub projects: BTreeMap<String, AppProject>,
    /// Problems that belong to no Application (unreadable files, documents without a name,
    /// malformed projects, duplicates).
    pub errors: Vec<String>,
}

/// One declared Application.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredApp {
    pub app: Application,
    /// Where it was declared: `file:document`.
    pub origin: String,
    /// Why it is invalid (field paths included), if it is.
    pub invalid: Option<String>,
}

/// Reads every `*.yaml`, `*.yml` and `*.json` file under `dir` (recursively, sorted by path).
pub fn load_dir(dir: &Path) -> Declared {
    let mut out = Declared::default();
    let mut files = Vec::new();
    if let Err(e) = collect(dir, &mut files) {
        out.errors.push(format!("reading `{}`: {e}", dir.display()));
        return out;
    }
    files.sort();
    for file in files {
        let shown = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        match std::fs::read_to_string(&file) {
            Ok(text) => load_text(&text, &shown, &mut out),
            Err(e) => out.errors.push(format!("reading `{shown}`: {e}")),
        }
    }
    out
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect(&path, files)?;
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Adds the documents of one file (`shown` names it in messages).
pub fn load_text(text: &str, shown: &str, out: &mut Declared) {
    load_documents(text, shown, &|number| format!("{shown}:{number}"), out);
}

/// Adds one Application or AppProject read from the API server (cluster mode), checked as a
/// file's document is; `origin` (`namespace/name`) names it in messages.
pub fn load_object(object: &serde_json::Value, origin: &str, out: &mut Declared) {
    let mut object = object.clone();
    if let Some(m) = object
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
    {
        m.remove("managedFields");
    }
    match serde_yaml::to_string(&object) {
        Ok(text) => load_documents(&text, origin, &|_| origin.to_owned(), out),
        Err(e) => out.errors.push(format!("{origin}: {e}")),
    }
}

fn load_documents(
    text: &str,
    shown: &str,
    origin_of: &dyn Fn(usize) -> String,
    out: &mut Declared,
) {
    let report = validate_yaml(text);
    let mut documents = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        match <serde_yaml::Value as serde::Deserialize>::deserialize(doc) {
            Ok(v) => documents.push(v),
            Err(e) => {
                out.errors.push(format!("{shown}: YAML syntax error: {e}"));
                break;
            }
        }
    }
    let mut number = 0;
    for value in documents {
        if value.is_null() {
            continue;
        }
        number += 1;
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        let name = value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_owned);
        let origin = origin_of(number);
        if kind != "Application" && kind != "AppProject" {
            out.errors.push(format!(
                "{origin}: kind {kind:?} is not an Application or AppProject; ignored"
            ));
            continue;
        }
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            out.errors
                .push(format!("{origin}: {kind} without metadata.name; ignored"));
            continue;
        };
        let object = format!("{kind} {name:?}");
        let problems: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error && f.object == object)
            .map(|f| f.message.clone())
            .collect();
        if kind == "AppProject" {
            if !problems.is_empty() {
                out.errors.push(format!(
                    "{origin}: AppProject {name:?}: {}",
                    problems.join("; ")
                ));
                continue;
            }
            match serde_yaml::from_value::<AppProject>(value) {
                Ok(p) if !out.projects.contains_key(&name) => {
                    out.projects.insert(name, p);
                }
                Ok(_) => out.errors.push(format!(
                    "{origin}: AppProject {name:?} is declared twice; ignored"
                )),
                Err(e) => out
                    .errors
                    .push(format!("{origin}: AppProject {name:?}: {e}")),
            }
            continue;
        }
        if out.apps.contains_key(&name) {
            out.errors.push(format!(
                "{origin}: Application {name:?} is declared twice; ignored"
            ));
            continue;
        }
        let parsed = if problems.is_empty() {
            serde_yaml::from_value::<Application>(value).map_err(|e| e.to_string())
        } else {
            Err(problems.join("; "))
        };
        let declared = match parsed {
            Ok(app) => DeclaredApp {
                app,
                origin,
                invalid: None,
            },
            Err(problem) => DeclaredApp {
                app: Application::new(&name, ApplicationSpec::default()),
                invalid: Some(format!("{origin}: {problem}")),
                origin,
            },
        };
        out.apps.insert(name, declared);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook}
spec:
  project: default
  source: {repoURL: "http://127.0.0.1/r.git", path: guestbook, targetRevision: HEAD}
  destination: {server: "https://kubernetes.default.svc", namespace: gb}
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: team}
spec:
  sourceRepos: ["*"]
  destinations: [{server: "*", namespace: "team-*"}]
"#;

    #[test]
    fn multi_document_files_and_invalid_apps_are_kept_with_their_problem() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), GOOD).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("sub/bad.yml"),
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: broken}\nspec:\n  project: default\n  destination: {namespace: x}\n  syncPolicy: {retry: {limit: many}}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("c.yaml"), "kind: [\n").unwrap();
        std::fs::write(dir.path().join("README.md"), "not yaml").unwrap();
        let d = load_dir(dir.path());
        assert_eq!(d.apps.keys().collect::<Vec<_>>(), ["broken", "guestbook"]);
        assert!(d.apps["guestbook"].invalid.is_none());
        assert_eq!(d.apps["guestbook"].origin, "a.yaml:1");
        let problem = d.apps["broken"].invalid.as_deref().unwrap();
        assert!(
            problem.starts_with("sub/bad.yml:1: ")
                && problem.contains("spec.syncPolicy.retry.limit"),
            "{problem}"
        );
        assert!(d.projects.contains_key("team"));
        assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
        assert!(
            d.errors[0].starts_with("c.yaml: YAML syntax error"),
            "{:?}",
            d.errors
        );
    }

    #[test]
    fn duplicates_and_nameless_documents_are_reported() {
        let mut d = Declared::default();
        load_text(GOOD, "x.yaml", &mut d);
        load_text(GOOD, "y.yaml", &mut d);
        load_text("kind: Application\nspec: {}\n", "z.yaml", &mut d);
        assert_eq!(d.apps.len(), 1);
        assert_eq!(d.apps["guestbook"].origin, "x.yaml:1");
        assert_eq!(d.errors.len(), 3, "{:?}", d.errors);
        assert!(d.errors[2].contains("without metadata.name"));
    }
}
