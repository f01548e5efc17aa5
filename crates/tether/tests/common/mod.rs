//! Helpers shared by the end-to-end tests of `tether run` (file mode and cluster mode): the
//! running process, the CLI, manifests, Git seeding and polling with a deadline. Each test
//! binary uses a part of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::Value;
use tether_gitserver::Repo;

/// How long any wait may take.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// Where `tether run` takes its Applications from.
pub enum Mode<'a> {
    /// `--apps DIR` (file mode).
    Files(&'a Path),
    /// Cluster mode with this control namespace.
    Cluster(&'a str),
}

/// A running `tether run`, stopped (SIGTERM) on drop.
pub struct Run {
    child: Child,
    pub server: String,
    log: PathBuf,
    _data: Option<tempfile::TempDir>,
}

impl Run {
    /// Starts `tether run` with its store and Git cache in `data` (kept by the caller, so a
    /// later start resumes from it); waits until it listens.
    pub fn start(mode: Mode<'_>, data: &Path) -> Self {
        Self::start_args(mode, data, &[])
    }

    /// [`Run::start`] with more `tether run` arguments (`--app-resync` among them replaces the
    /// tests' 3 s).
    pub fn start_args(mode: Mode<'_>, data: &Path, extra: &[&str]) -> Self {
        let n = std::fs::read_dir(data)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("run-"))
                })
                .count()
            })
            .unwrap_or(0);
        let log = data.join(format!("run-{n}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tether"));
        cmd.arg("run");
        match mode {
            Mode::Files(dir) => {
                cmd.arg("--apps").arg(dir).args(["--reload", "1s"]);
            }
            Mode::Cluster(ns) => {
                cmd.args(["--namespace", ns]);
            }
        }
        if !extra.contains(&"--app-resync") {
            cmd.args(["--app-resync", "3s"]);
        }
        let child = cmd
            .args(extra)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--kubeconfig")
            .arg(tether_testenv::kubeconfig_path())
            .arg("--data-dir")
            .arg(data)
            .env("TETHER_LOG", "info,tether_controller=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn tether run");
        let mut run = Self {
            child,
            server: String::new(),
            log,
            _data: None,
        };
        let start = Instant::now();
        loop {
            let text = run.log();
            if let Some(rest) = text.split("listening on ").nth(1) {
                run.server = rest.split_whitespace().next().unwrap().to_owned();
                break;
            }
            if let Ok(Some(status)) = run.child.try_wait() {
                panic!("tether run exited with {status}:\n{text}");
            }
            assert!(
                start.elapsed() < DEADLINE,
                "tether run did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        run
    }

    /// Starts `tether run` on a data directory of its own, removed when the run is dropped.
    pub fn start_temp(mode: Mode<'_>) -> Self {
        Self::start_temp_args(mode, &[])
    }

    /// [`Run::start_temp`] with more `tether run` arguments.
    pub fn start_temp_args(mode: Mode<'_>, extra: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut run = Self::start_args(mode, data.path(), extra);
        run._data = Some(data);
        run
    }

    /// POSTs a webhook to this server's `/api/webhook` (curl): the HTTP status.
    pub fn webhook(&self, headers: &[(&str, &str)], body: &str) -> u16 {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"]);
        for (k, v) in headers {
            cmd.arg("-H").arg(format!("{k}: {v}"));
        }
        let out = cmd
            .args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
            ])
            .arg(format!("{}/api/webhook", self.server))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(body.as_bytes())?;
                c.wait_with_output()
            })
            .expect("curl");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// This run's log (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `tether ARGS` against this server: (exit code, stdout, stderr).
    pub fn tether(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_tether"))
            .args(args)
            .env("TETHER_SERVER", &self.server)
            .output()
            .expect("run tether");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `tether app get NAME -o json`.
    pub fn app(&self, name: &str) -> Value {
        let (code, out, err) = self.tether(&["app", "get", name, "-o", "json"]);
        assert_eq!(code, 0, "app get {name}: {err}");
        serde_json::from_str(&out).unwrap()
    }

    /// Polls the app (through the CLI) until `pred` holds.
    pub fn wait_app(&self, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (code, out, _) = self.tether(&["app", "get", name, "-o", "json"]);
            if code == 0 {
                let app: Value = serde_json::from_str(&out).unwrap();
                if pred(&app) {
                    return app;
                }
                if start.elapsed() > DEADLINE {
                    panic!(
                        "{name}: timed out waiting for {what}; last state:\n{}\nlog:\n{}",
                        serde_json::to_string_pretty(&app["status"]).unwrap(),
                        self.log()
                    );
                }
            } else if start.elapsed() > DEADLINE {
                panic!("{name}: not found waiting for {what}\nlog:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Panics (with the log) if the process has exited.
    pub fn alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("tether run exited with {status}:\n{}", self.log());
        }
    }

    /// Sends a signal (`TERM`, `KILL`, `INT`) and waits for the process to exit.
    pub fn signal(&mut self, signal: &str) -> ExitStatus {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "tether run did not exit on SIG{signal}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A string at a JSON pointer, or `""`.
pub fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// The app's condition of a type.
pub fn condition<'a>(app: &'a Value, ty: &str) -> Option<&'a Value> {
    app.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty))
}

/// The message of the app's condition of a type, or `""`.
pub fn condition_message<'a>(app: &'a Value, ty: &str) -> &'a str {
    condition(app, ty).map_or("", |c| s(c, "/message"))
}

/// Synced at this revision.
pub fn synced_at(rev: &str) -> impl Fn(&Value) -> bool + '_ {
    move |a| s(a, "/status/sync/status") == "Synced" && s(a, "/status/sync/revision") == rev
}

/// An Application of project `default` on one path of a repository; `policy` is appended to
/// its spec (`  syncPolicy: …`).
pub fn application(name: &str, repo: &str, path: &str, ns: &str, policy: &str) -> String {
    format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
spec:
  project: default
  source:
    repoURL: {repo}
    path: {path}
    targetRevision: HEAD
  destination:
    server: https://kubernetes.default.svc
    namespace: {ns}
{policy}"#
    )
}

/// The same Application in another project.
pub fn in_project(app: String, project: &str) -> String {
    app.replace("project: default", &format!("project: {project}"))
}

/// Automated with prune and selfHeal.
pub const AUTO: &str = "  syncPolicy:\n    automated: {prune: true, selfHeal: true}\n";

/// A ConfigMap with `data.key`.
pub fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: \"{value}\"\n"
    )
}

/// A GitHub push event for `repo_url`'s `main` branch (the default branch), as GitHub sends it.
pub fn github_push(repo_url: &str, before: &str, after: &str, modified: &[&str]) -> String {
    serde_json::json!({
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "repository": {"html_url": repo_url, "default_branch": "main"},
        "commits": [{"added": [], "modified": modified, "removed": []}],
    })
    .to_string()
}

/// GitHub's `X-Hub-Signature-256` of a body (`openssl dgst -hmac`, the reference tool).
pub fn hub_signature(secret: &str, body: &str) -> String {
    use std::io::Write;
    let mut c = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    c.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256={}", text.trim().rsplit(' ').next().unwrap())
}

/// Writes the files and pushes one commit; its SHA.
pub fn seed(repo: &Repo, files: &[(&str, String)]) -> String {
    for (p, c) in files {
        repo.write(p, c).unwrap();
    }
    repo.commit_and_push("seed").unwrap()
}

/// Pushes examples/gitops/repo (the demo's repository) as one commit, with `@REPO@` in the
/// demo's Application files replaced by `url`, as scripts/demo does; its SHA.
pub fn seed_examples(repo: &Repo, url: &str) -> String {
    fn walk(dir: &Path, rel: &str, repo: &Repo, url: &str) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &rel, repo, url);
            } else {
                let text = std::fs::read_to_string(e.path()).unwrap();
                repo.write(&rel, &text.replace("@REPO@", url)).unwrap();
            }
        }
    }
    walk(&examples_dir().join("gitops/repo"), "", repo, url);
    repo.commit_and_push("examples").unwrap()
}

/// The repository's examples/ directory.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// App names are the tracking key: unique per test so parallel tests never share objects.
pub fn unique(ns: &str, base: &str) -> String {
    let suffix = ns.rsplit('-').next().unwrap_or("x");
    format!("{base}-{suffix}")
}

/// A ConfigMap's `data.key` in the test's namespace.
pub async fn cm_value(ns: &tether_testenv::TestNamespace, name: &str) -> Option<String> {
    ns.api::<ConfigMap>()
        .get_opt(name)
        .await
        .unwrap()
        .and_then(|c| c.data)
        .and_then(|d| d.get("key").cloned())
}

/// Polls `f` until it gives a value.
pub async fn wait_for<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Installs the CRDs `tether crds` prints (server-side apply, as `kubectl apply
/// --server-side`), and waits until they are served.
pub async fn install_crds() {
    let out = Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("crds")
        .output()
        .expect("tether crds");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(tether_testenv::client().await);
    let pp = PatchParams::apply("kubectl").force();
    let mut names = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let crd: CustomResourceDefinition = serde::Deserialize::deserialize(doc).unwrap();
        let name = crd.metadata.name.clone().unwrap();
        api.patch(&name, &pp, &Patch::Apply(&crd)).await.unwrap();
        names.push(name);
    }
    for name in names {
        wait_for(&format!("CRD {name} established"), async || {
            let crd = api.get(&name).await.ok()?;
            crd.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        })
        .await;
    }
}

/// The Argo CD kinds in the test's namespace (cluster mode), as `kubectl` reaches them.
pub struct Argo {
    pub apps: Api<DynamicObject>,
    pub projects: Api<DynamicObject>,
}

impl Argo {
    pub fn new(ns: &tether_testenv::TestNamespace) -> Self {
        let ar = |kind: &str, plural: &str| ApiResource {
            group: "argoproj.io".into(),
            version: "v1alpha1".into(),
            api_version: "argoproj.io/v1alpha1".into(),
            kind: kind.into(),
            plural: plural.into(),
        };
        Self {
            apps: Api::namespaced_with(ns.client(), ns.name(), &ar("Application", "applications")),
            projects: Api::namespaced_with(
                ns.client(),
                ns.name(),
                &ar("AppProject", "appprojects"),
            ),
        }
    }

    /// `kubectl apply --server-side -f -` of one YAML document.
    pub async fn apply(&self, yaml: &str) {
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        let api = if v["kind"] == "AppProject" {
            &self.projects
        } else {
            &self.apps
        };
        let name = v["metadata"]["name"].as_str().unwrap().to_owned();
        api.patch(
            &name,
            &PatchParams::apply("kubectl").force(),
            &Patch::Apply(&v),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {name}: {e}"));
    }

    /// `kubectl patch application NAME --type merge -p PATCH`.
    pub async fn patch(&self, name: &str, patch: Value) {
        self.apps
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patching {name}: {e}"));
    }

    pub async fn get(&self, name: &str) -> Option<Value> {
        self.apps
            .get_opt(name)
            .await
            .unwrap()
            .map(|o| serde_json::to_value(o).unwrap())
    }

    /// Polls the Application resource until `pred` holds.
    pub async fn wait(
        &self,
        run: &mut Run,
        name: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            run.alive();
            let app = self.get(name).await;
            if let Some(a) = &app
                && pred(a)
            {
                return a.clone();
            }
            if start.elapsed() > DEADLINE {
                panic!(
                    "{name}: timed out waiting for {what}; last:\n{}\nlog:\n{}",
                    serde_json::to_string_pretty(&app).unwrap(),
                    run.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// A kustomization inflating a vendored chart (`helmCharts`, chart under `charts/web`) that
/// makes the ConfigMap `NAME-web` with `data.key` from the chart's values; files under `dir`.
pub fn kustomize_helm_chart(dir: &str, name: &str, value: &str) -> Vec<(String, String)> {
    vec![
        (
            format!("{dir}/kustomization.yaml"),
            format!("helmCharts:\n- name: web\n  releaseName: {name}\n  valuesInline:\n    key: \"{value}\"\n"),
        ),
        (
            format!("{dir}/charts/web/Chart.yaml"),
            "apiVersion: v2\nname: web\nversion: 0.1.0\n".into(),
        ),
        (format!("{dir}/charts/web/values.yaml"), "key: default\n".into()),
        (
            format!("{dir}/charts/web/templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-web\ndata:\n  key: {{ .Values.key | quote }}\n".into(),
        ),
    ]
}
