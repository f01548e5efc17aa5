//! A real Kubernetes control plane for Tether's tests.
//!
//! The first call in a test binary starts one control plane through `scripts/testenv run`:
//! etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (a node simulator),
//! all built from Go modules by `scripts/testenv build` and cached in
//! `~/.cache/tether-testenv/<k8s-version>/bin`. Every test then gets its own namespace.
//! Deployments really create ReplicaSets and Pods, Pods become Running and Ready, Jobs
//! complete and namespaces finish terminating. Nothing here fakes the API server.
//!
//! The control plane lives as long as the test binary. The supervisor script holds the read
//! end of a pipe whose write end only this process has. When the process exits, whether it
//! returns, panics or is killed, the pipe closes and the supervisor stops every component.
//! Each component also gets `SIGKILL` if the supervisor itself dies.
//!
//! ```no_run
//! # async fn doc() {
//! use k8s_openapi::api::core::v1::ConfigMap;
//! let ns = tether_testenv::namespace().await;
//! let config_maps = ns.api::<ConfigMap>();
//! // ... create objects in `ns.name()` with `ns.client()` or `config_maps` ...
//! # }
//! ```
//!
//! Set `TETHER_TESTENV_DIR` to use binaries from another directory, or
//! `TETHER_TESTENV_KUBECONFIG` to use a control plane that is already running (for example
//! from `eval "$(scripts/testenv start)"`, then `TETHER_TESTENV_KUBECONFIG=$KUBECONFIG`).
//! See `docs/testenv.md`.

use std::fmt;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, Resource};

/// Label put on every namespace made by [`namespace`], holding the test's name.
pub const TEST_LABEL: &str = "tether.dev/testenv-test";

/// Why the test control plane or a client for it could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The supervisor script is not where the repository layout puts it.
    #[error("`{}` not found; tether-testenv must be built from the Tether repository", path.display())]
    ScriptMissing { path: PathBuf },
    /// The run directory could not be created or the script could not be spawned.
    #[error("could not launch `{}`: {source}", script.display())]
    Spawn {
        script: PathBuf,
        source: std::io::Error,
    },
    /// The control plane did not become ready; `log` is the supervisor's output, which names
    /// the component that failed (or says to run `scripts/testenv build`).
    #[error("the test control plane did not start (run dir {}):\n{log}", dir.display())]
    StartFailed { dir: PathBuf, log: String },
    /// The kubeconfig written by the script could not be read or used.
    #[error("could not load the test kubeconfig `{}`: {source}", path.display())]
    Kubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    /// A client could not be built from the kubeconfig.
    #[error("could not build a client for the test control plane: {0}")]
    Client(#[source] kube::Error),
    /// The shared control plane failed to start earlier in this process.
    #[error(transparent)]
    ControlPlane(&'static Error),
    /// A namespace for a test could not be created.
    #[error("could not create test namespace `{name}`: {source}")]
    CreateNamespace { name: String, source: kube::Error },
}

/// A running control plane, owned by this process.
struct ControlPlane {
    dir: PathBuf,
    kubeconfig: PathBuf,
    /// Never written, never closed by us: the supervisor stops when this pipe reaches EOF,
    /// which happens exactly when this process exits. `None` for a control plane started
    /// elsewhere (`TETHER_TESTENV_KUBECONFIG`).
    _lifeline: Option<ChildStdin>,
}

static CONTROL_PLANE: OnceLock<Result<ControlPlane, Error>> = OnceLock::new();

/// `scripts/testenv` of the checkout running the tests: found from the running package's
/// directory (`cargo test` sets `CARGO_MANIFEST_DIR` at run time, and the current directory),
/// else from where this crate was compiled. Checkouts at other paths may share one target
/// directory, and cargo may then reuse a build of this crate made in another checkout.
fn script_path() -> PathBuf {
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/testenv");
    let starts = [
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::current_dir().ok(),
    ];
    starts
        .into_iter()
        .flatten()
        .find_map(|dir| {
            dir.ancestors()
                .map(|d| d.join("scripts/testenv"))
                .find(|p| p.is_file())
        })
        .unwrap_or(compiled)
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!("{:08x}", hasher.finish() & 0xffff_ffff)
}

/// Names the kubeconfig of a control plane that is already running (e.g. from
/// `scripts/testenv start`) to use instead of starting one per test binary.
pub const KUBECONFIG_ENV: &str = "TETHER_TESTENV_KUBECONFIG";

/// Starts a control plane, retrying when a component lost the race for its free port to another
/// process (ports are picked free, then bound by the component a moment later).
fn start() -> Result<ControlPlane, Error> {
    let mut attempt = 1;
    loop {
        match start_once() {
            Err(Error::StartFailed { log, .. })
                if attempt < 3 && log.contains("address already in use") =>
            {
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn start_once() -> Result<ControlPlane, Error> {
    if let Some(kubeconfig) = std::env::var_os(KUBECONFIG_ENV) {
        let kubeconfig = PathBuf::from(kubeconfig);
        let dir = kubeconfig
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        return Ok(ControlPlane {
            dir,
            kubeconfig,
            _lifeline: None,
        });
    }
    let script = script_path();
    if !script.is_file() {
        return Err(Error::ScriptMissing { path: script });
    }
    let dir = std::env::temp_dir().join(format!(
        "tether-testenv-{}-{}",
        std::process::id(),
        unique_suffix()
    ));
    let spawn_err = |source| Error::Spawn {
        script: script.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(spawn_err)?;
    let log_path = dir.join("supervisor.log");
    let log = File::create(&log_path).map_err(spawn_err)?;
    let mut child = Command::new(&script)
        .arg("run")
        .arg("--dir")
        .arg(&dir)
        .args(["--until-stdin-closes", "--remove-dir"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(spawn_err)?;
    let lifeline = child.stdin.take().expect("stdin was configured as a pipe");
    let stdout = child
        .stdout
        .take()
        .expect("stdout was configured as a pipe");

    // The script prints `export KUBECONFIG=<path>` once everything is ready, or exits.
    let mut kubeconfig = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
            kubeconfig = Some(PathBuf::from(path));
            break;
        }
    }
    match kubeconfig {
        Some(kubeconfig) => Ok(ControlPlane {
            dir,
            kubeconfig,
            _lifeline: Some(lifeline),
        }),
        None => {
            drop(lifeline);
            let status = child
                .wait()
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.to_string());
            let mut log = String::new();
            if let Ok(mut file) = File::open(&log_path) {
                let _ = file.read_to_string(&mut log);
            }
            log.push_str(&format!("(scripts/testenv run: {status})"));
            // Keep the directory only if a component ran and left logs to read.
            if !dir.join("logs").is_dir() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            Err(Error::StartFailed { dir, log })
        }
    }
}

fn control_plane() -> Result<&'static ControlPlane, &'static Error> {
    CONTROL_PLANE.get_or_init(start).as_ref()
}

/// Starts this process's control plane if it is not running yet (this blocks for a few
/// seconds), and returns the path of its admin kubeconfig, e.g. to hand to the `tether`
/// binary in end-to-end tests.
pub fn try_kubeconfig_path() -> Result<&'static Path, &'static Error> {
    control_plane().map(|plane| plane.kubeconfig.as_path())
}

/// Like [`try_kubeconfig_path`], but panics with the reason when the control plane cannot start.
pub fn kubeconfig_path() -> &'static Path {
    match try_kubeconfig_path() {
        Ok(path) => path,
        Err(err) => panic!("{err}"),
    }
}

/// The directory holding the running control plane's state and component logs
/// (`logs/<component>.log`). It is removed when the process exits.
pub fn run_dir() -> Result<&'static Path, &'static Error> {
    control_plane().map(|plane| plane.dir.as_path())
}

/// A fresh client for the shared control plane, starting it on first use.
///
/// Each call builds a new client: a `kube::Client` is tied to the Tokio runtime it was
/// created on, and every `#[tokio::test]` has its own runtime.
pub async fn try_client() -> Result<Client, Error> {
    let path = tokio::task::spawn_blocking(try_kubeconfig_path)
        .await
        .expect("starting the control plane does not panic")
        .map_err(Error::ControlPlane)?;
    client_for(path).await
}

async fn client_for(path: &Path) -> Result<Client, Error> {
    let kubeconfig_err = |source| Error::Kubeconfig {
        path: path.to_path_buf(),
        source,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_err)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(kubeconfig_err)?;
    Client::try_from(config).map_err(Error::Client)
}

/// Like [`try_client`], but panics with the reason (for example "run `scripts/testenv build`").
pub async fn client() -> Client {
    match try_client().await {
        Ok(client) => client,
        Err(err) => panic!("{err}"),
    }
}

/// A namespace of its own for one test, with a client. It is deleted (best effort, without
/// waiting for it to finish terminating) when dropped, also when the test panics.
pub struct TestNamespace {
    name: String,
    client: Client,
}

impl TestNamespace {
    /// The namespace's name: the test's name, made DNS-safe, plus a random suffix.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A client for the control plane (not restricted to this namespace).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// An `Api` for namespaced resources of kind `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

impl fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // The test's runtime may be shutting down, so delete from a runtime of our own.
        let Ok(path) = try_kubeconfig_path() else {
            return;
        };
        let name = self.name.clone();
        let deleter = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(client) = client_for(path).await {
                    let _ = Api::<Namespace>::all(client)
                        .delete(&name, &DeleteParams::background())
                        .await;
                }
            });
        });
        let _ = deleter.join();
    }
}

/// Turns a test's thread name (`module::test_name`) into a DNS label prefix.
fn namespace_prefix(test_name: &str) -> String {
    let last = test_name.rsplit("::").next().unwrap_or(test_name);
    let mut prefix: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    prefix = prefix.trim_matches('-').to_string();
    if prefix.is_empty() {
        "test".to_string()
    } else {
        prefix
    }
}

/// Creates a fresh namespace for the calling test, named after it.
pub async fn try_namespace() -> Result<TestNamespace, Error> {
    let test_name = std::thread::current().name().unwrap_or("test").to_string();
    let client = try_client().await?;
    let name = format!("{}-{}", namespace_prefix(&test_name), unique_suffix());
    let label = namespace_prefix(&test_name);
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some([(TEST_LABEL.to_string(), label)].into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map_err(|source| Error::CreateNamespace {
            name: name.clone(),
            source,
        })?;
    Ok(TestNamespace { name, client })
}

/// Like [`try_namespace`], but panics with the reason.
pub async fn namespace() -> TestNamespace {
    match try_namespace().await {
        Ok(ns) => ns,
        Err(err) => panic!("{err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::namespace_prefix;

    #[test]
    fn namespace_prefix_is_a_dns_label() {
        assert_eq!(
            namespace_prefix("deploy::Deployment_Becomes_Available"),
            "deployment-becomes-available"
        );
        assert_eq!(namespace_prefix("__"), "test");
        let long = "x".repeat(100);
        assert_eq!(namespace_prefix(&long).len(), 40);
    }
}
