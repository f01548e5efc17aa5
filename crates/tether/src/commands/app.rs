//! `tether app`: see and steer Applications through `tether run`'s API (file mode).
//!
//! ```text
//! tether app list [-o json|yaml|wide]
//! tether app get NAME [-o json|yaml|wide]          # summary and a resource table
//! tether app diff NAME [--local DIR [--local-repo-root D] [--source-position N]]  # exit 1 when live differs
//! tether app sync NAME [--prune] [--dry-run] [--revision R] [--resource GROUP:KIND:NAME]…
//!                      [--force] [--server-side] [--apply-out-of-sync-only] [--async] [--timeout S]
//! tether app wait NAME [--health] [--sync] [--operation] [--timeout S]
//! tether app history NAME
//! tether app rollback NAME ID [--prune] [--dry-run] [--async]
//! tether app manifests NAME [-o yaml|json]
//! tether app set NAME [-p name=value]… [--helm-set …] [--kustomize-image …] [--revision R] …
//! tether app refresh NAME [--hard]
//! tether app delete NAME [--cascade=false]
//! tether app terminate-op NAME
//! ```
//!
//! Exit codes: see [`EXIT_CODES`] (also in `tether app --help` and docs/cli.md).
//!
//! `app sync`, `app rollback` and `app wait --operation` show the sync's progress on stderr while
//! it runs: a table per resource redrawn in place on a terminal, one line per change otherwise.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::client::{Client, ServerArgs, seg};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Output {
    /// A table.
    #[default]
    Table,
    /// A table with more columns.
    Wide,
    Json,
    Yaml,
}

/// The exit codes of `tether app`, as `--help` shows them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success (`app diff`: no difference)
  1  failure: `tether run` unreachable, unknown application, request refused (e.g. an operation
     already running, rollback with auto-sync on), an operation that ended Failed or Error,
     `app sync`/`app rollback`/`app wait`/`app set` timed out, `app diff`: a difference
  2  the command line could not be parsed; `app diff`: it could not compare";

/// `tether app`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct AppArgs {
    #[command(subcommand)]
    pub command: AppCommand,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
}

/// The `tether app` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AppCommand {
    /// List Applications.
    List,
    /// Show an Application and its resources.
    Get { name: String },
    /// Show how the live state differs from Git, or from a working copy (exit 1 when it does).
    Diff(DiffArgs),
    /// Sync an Application.
    Sync(SyncArgs),
    /// Wait until an Application is synced / healthy / has no operation.
    Wait(WaitArgs),
    /// Deployment history.
    History { name: String },
    /// Roll back to a history ID (refused while auto-sync is on).
    Rollback(RollbackArgs),
    /// The rendered manifests.
    Manifests { name: String },
    /// Change an Application's spec (Argo CD's `argocd app set` flags). Cluster mode: the
    /// Application resource; `--apps DIR`: the declaring file, rewritten in place; `--apps-repo`:
    /// refused (commit the change to Git).
    Set(Box<super::app_set::SetArgs>),
    /// Remove Helm/Kustomize overrides (Argo CD's `argocd app unset` flags), written back as
    /// `app set` writes.
    Unset(Box<super::app_unset::UnsetArgs>),
    /// Refresh now.
    Refresh {
        name: String,
        /// Skip caches.
        #[arg(long)]
        hard: bool,
    },
    /// Delete an Application (with its resources unless `--cascade=false`).
    Delete {
        name: String,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        cascade: bool,
    },
    /// Terminate the running operation.
    TerminateOp { name: String },
}

/// `tether app sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    pub name: String,
    /// Delete resources no longer in Git.
    #[arg(long)]
    pub prune: bool,
    /// Only check with the API server; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Sync to this revision instead of targetRevision.
    #[arg(long)]
    pub revision: Option<String>,
    /// Only these resources: GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME (empty group for core).
    #[arg(long = "resource")]
    pub resources: Vec<String>,
    /// Replace resources that cannot be patched.
    #[arg(long)]
    pub force: bool,
    /// Server-side apply (ServerSideApply=true).
    #[arg(long)]
    pub server_side: bool,
    /// Only apply resources that are out of sync (ApplyOutOfSyncOnly=true).
    #[arg(long)]
    pub apply_out_of_sync_only: bool,
    /// Return once the operation is accepted.
    #[arg(long = "async")]
    pub async_: bool,
    /// Give up waiting after this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
}

/// `tether app diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    pub name: String,
    /// Diff a working copy: render DIR as the app's source would be rendered (its Helm,
    /// Kustomize, directory or Jsonnet settings) and compare that with the live objects.
    #[arg(long)]
    pub local: Option<PathBuf>,
    /// With `--local`: the repository root value files may not leave (default `/`).
    #[arg(long, requires = "local", default_value = "/")]
    pub local_repo_root: PathBuf,
    /// With `--local`, multi-source apps: the source DIR is a working copy of (counting from
    /// 1); the other sources are rendered as `tether run` last compared them.
    #[arg(long, requires = "local", conflicts_with = "source_name")]
    pub source_position: Option<usize>,
    /// With `--local`, multi-source apps: the source DIR is a working copy of, by its `name`.
    #[arg(long, requires = "local")]
    pub source_name: Option<String>,
}

/// `tether app wait`.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    pub name: String,
    #[arg(long)]
    pub health: bool,
    #[arg(long)]
    pub sync: bool,
    #[arg(long)]
    pub operation: bool,
    /// Seconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
}

/// `tether app rollback`.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    pub name: String,
    pub id: i64,
    #[arg(long)]
    pub prune: bool,
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long = "async")]
    pub async_: bool,
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// Left-aligned columns separated by three spaces, like kubectl.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |x| x.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Writes a value as JSON or YAML; false when the format is a table.
pub fn structured(out: &mut impl Write, v: &Value, fmt: Output) -> anyhow::Result<bool> {
    match fmt {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(v)?)?,
        Output::Yaml => write!(out, "{}", serde_yaml::to_string(v)?)?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn short(rev: &str) -> &str {
    if rev.len() == 40 { &rev[..7] } else { rev }
}

fn conditions(app: &Value) -> String {
    app.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| s(c, "/type").to_owned())
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "<none>".into())
}

fn list(c: &Client, out: &mut impl Write, fmt: Output) -> anyhow::Result<ExitCode> {
    let v = c.get("/api/v1/applications")?;
    let items = v.get("items").cloned().unwrap_or(Value::Array(vec![]));
    if structured(out, &items, fmt)? {
        return Ok(ExitCode::SUCCESS);
    }
    let wide = fmt == Output::Wide;
    let mut rows = vec![
        [
            "NAME",
            "PROJECT",
            "SYNC",
            "HEALTH",
            "REVISION",
            "CONDITIONS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    if wide {
        rows[0].extend(["REPO", "PATH", "DESTINATION"].map(String::from));
    }
    for a in items.as_array().into_iter().flatten() {
        let mut row = vec![
            s(a, "/metadata/name").to_owned(),
            a.pointer("/spec/project")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .unwrap_or("default")
                .to_owned(),
            or_unknown(s(a, "/status/sync/status")),
            or_unknown(s(a, "/status/health/status")),
            short(s(a, "/status/sync/revision")).to_owned(),
            conditions(a),
        ];
        if wide {
            row.push(s(a, "/spec/source/repoURL").to_owned());
            row.push(s(a, "/spec/source/path").to_owned());
            row.push(format!(
                "{}/{}",
                if s(a, "/spec/destination/server").is_empty() {
                    s(a, "/spec/destination/name")
                } else {
                    s(a, "/spec/destination/server")
                },
                s(a, "/spec/destination/namespace")
            ));
        }
        rows.push(row);
    }
    out.write_all(table(&rows).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn or_unknown(x: &str) -> String {
    if x.is_empty() {
        "Unknown".into()
    } else {
        x.into()
    }
}

fn resource_rows(resources: &[Value]) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "GROUP",
            "KIND",
            "NAMESPACE",
            "NAME",
            "STATUS",
            "HEALTH",
            "HOOK",
            "MESSAGE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in resources {
        let mut status = s(r, "/status").to_owned();
        if r.get("requiresPruning").and_then(Value::as_bool) == Some(true) {
            status.push_str(" (requires pruning)");
        }
        rows.push(vec![
            s(r, "/group").to_owned(),
            s(r, "/kind").to_owned(),
            s(r, "/namespace").to_owned(),
            s(r, "/name").to_owned(),
            status,
            s(r, "/health/status").to_owned(),
            if r.get("hook").and_then(Value::as_bool) == Some(true) {
                "yes".into()
            } else {
                String::new()
            },
            s(r, "/health/message").to_owned(),
        ]);
    }
    rows
}

fn get(c: &Client, out: &mut impl Write, name: &str, fmt: Output) -> anyhow::Result<ExitCode> {
    let a = c.get(&format!("/api/v1/applications/{}", seg(name)))?;
    if structured(out, &a, fmt)? {
        return Ok(ExitCode::SUCCESS);
    }
    let src = a
        .pointer("/spec/source")
        .or_else(|| a.pointer("/spec/sources/0"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut head = vec![
        vec!["Name:".into(), name.to_owned()],
        vec![
            "Project:".into(),
            or_default(s(&a, "/spec/project"), "default"),
        ],
        vec![
            "Server:".into(),
            or_default(
                s(&a, "/spec/destination/server"),
                s(&a, "/spec/destination/name"),
            ),
        ],
        vec![
            "Namespace:".into(),
            s(&a, "/spec/destination/namespace").to_owned(),
        ],
        vec!["Repo:".into(), s(&src, "/repoURL").to_owned()],
        vec![
            "Target:".into(),
            or_default(s(&src, "/targetRevision"), "HEAD"),
        ],
        vec!["Path:".into(), s(&src, "/path").to_owned()],
        vec![
            "Sync Policy:".into(),
            if a.pointer("/spec/syncPolicy/automated").is_some() {
                let mut p = "Automated".to_owned();
                if a.pointer("/spec/syncPolicy/automated/prune") == Some(&Value::Bool(true)) {
                    p.push_str(" (Prune)");
                }
                p
            } else {
                "Manual".into()
            },
        ],
        vec![
            "Sync Status:".into(),
            format!(
                "{} to {}",
                or_unknown(s(&a, "/status/sync/status")),
                short(s(&a, "/status/sync/revision"))
            ),
        ],
        vec![
            "Health Status:".into(),
            or_unknown(s(&a, "/status/health/status")),
        ],
    ];
    if let Some(op) = a.pointer("/status/operationState") {
        head.push(vec![
            "Last Operation:".into(),
            format!("{}: {}", s(op, "/phase"), s(op, "/message")),
        ]);
    }
    out.write_all(table(&head).as_bytes())?;
    if let Some(cs) = a.pointer("/status/conditions").and_then(Value::as_array)
        && !cs.is_empty()
    {
        writeln!(out)?;
        let mut rows = vec![vec!["CONDITION".to_owned(), "MESSAGE".to_owned()]];
        for cnd in cs {
            rows.push(vec![s(cnd, "/type").into(), s(cnd, "/message").into()]);
        }
        out.write_all(table(&rows).as_bytes())?;
    }
    let resources = a
        .pointer("/status/resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    writeln!(out)?;
    out.write_all(table(&resource_rows(&resources)).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn or_default(x: &str, d: &str) -> String {
    if x.is_empty() { d.into() } else { x.into() }
}

/// Renders a working copy with the app's source settings (for `app diff --local`); with a
/// multi-source app, the position (1-based) of the source it stands for.
fn render_local(
    app: &Value,
    settings: &Value,
    a: &DiffArgs,
    dir: &std::path::Path,
) -> anyhow::Result<(Vec<Value>, Option<usize>)> {
    let root = &a.local_repo_root;
    let app: tether_model::Application =
        serde_json::from_value(app.clone()).context("reading the application")?;
    let (source, position) = if app.spec.sources.is_empty() {
        if a.source_position.is_some_and(|p| p != 1) || a.source_name.is_some() {
            bail!("`--source-position`/`--source-name`: the application has one source");
        }
        (app.spec.source.clone().unwrap_or_default(), None)
    } else {
        let n = app.spec.sources.len();
        let pos = match (&a.source_name, a.source_position) {
            (Some(name), _) => {
                app.spec
                    .sources
                    .iter()
                    .position(|s| s.name.as_deref() == Some(name.as_str()))
                    .with_context(|| format!("`--source-name {name}`: no source has that name"))?
                    + 1
            }
            (None, Some(p)) if (1..=n).contains(&p) => p,
            (None, Some(p)) => bail!("`--source-position {p}`: the application has {n} sources"),
            (None, None) => bail!(
                "`--local` on an application with {n} sources: say which source DIR is with `--source-position N` (1..{n}) or `--source-name NAME`"
            ),
        };
        (app.spec.sources[pos - 1].clone(), Some(pos))
    };
    if !dir.is_dir() {
        bail!("`--local {}`: not a directory", dir.display());
    }
    // Kustomize sources are built with the server's `kustomize.buildOptions`, as Argo CD's CLI
    // takes them from its settings API.
    let options = &settings["kustomizeOptions"];
    let kustomize = match (options["buildOptions"].as_str(), options["error"].as_str()) {
        (_, Some(e)) => Err(e.to_owned()),
        (flags, None) => {
            tether_controller::settings::KustomizeBuildOptions::parse(flags.unwrap_or_default())
        }
    };
    let ctx = tether_controller::render::AppContext {
        name: app.metadata.name.clone().unwrap_or_default(),
        namespace: app.spec.destination.namespace.clone().unwrap_or_default(),
        kustomize,
    };
    let (objects, _) = tether_controller::render::render_dir(dir, root, &source, &ctx, None)
        .map_err(|e| anyhow::anyhow!("rendering `{}`: {e}", dir.display()))?;
    Ok((objects, position))
}

fn diff(c: &Client, out: &mut impl Write, a: &DiffArgs, fmt: Output) -> ExitCode {
    let path = format!("/api/v1/applications/{}/diff", seg(&a.name));
    let v = match &a.local {
        None => c.get(&path),
        Some(dir) => c
            .get(&format!("/api/v1/applications/{}", seg(&a.name)))
            .and_then(|app| Ok((app, c.get("/api/v1/settings")?)))
            .and_then(|(app, settings)| render_local(&app, &settings, a, dir))
            .and_then(|(objects, position)| {
                c.post(
                    &path,
                    &json!({"objects": objects, "sourcePosition": position}),
                )
            }),
    };
    let v = match v {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut differs = false;
    let items = v
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let structured_out = matches!(fmt, Output::Json | Output::Yaml);
    for r in &items {
        let status = s(r, "/status");
        let modified = r.get("modified").and_then(Value::as_bool) == Some(true);
        if status == "Synced" && !modified {
            continue;
        }
        differs = true;
        if structured_out {
            continue;
        }
        let _ = writeln!(
            out,
            "===== {}/{} {}/{} ({status}) ======",
            s(r, "/group"),
            s(r, "/kind"),
            s(r, "/namespace"),
            s(r, "/name")
        );
        let _ = write!(out, "{}", s(r, "/diff"));
        if !s(r, "/diff").ends_with('\n') && !s(r, "/diff").is_empty() {
            let _ = writeln!(out);
        }
    }
    if structured_out && structured(out, &v, fmt).is_err() {
        return ExitCode::from(2);
    }
    if differs {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn parse_resource(r: &str) -> anyhow::Result<Value> {
    let parts: Vec<&str> = r.splitn(3, ':').collect();
    let [group, kind, name] = parts[..] else {
        bail!("`--resource {r}`: expected GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME");
    };
    let (namespace, name) = match name.split_once('/') {
        Some((ns, n)) => (ns, n),
        None => ("", name),
    };
    if kind.is_empty() || name.is_empty() {
        bail!("`--resource {r}`: kind and name are required");
    }
    Ok(json!({"group": group, "kind": kind, "name": name, "namespace": namespace}))
}

/// Polls until the app has no operation; prints the result. Exit 1 when it did not succeed.
fn wait_operation(
    c: &Client,
    out: &mut impl Write,
    name: &str,
    timeout: u64,
    fmt: Output,
) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let mut last_phase = String::new();
    let mut progress = SyncProgress::new(std::io::stderr().is_terminal());
    loop {
        let a = c.get(&format!("/api/v1/applications/{}", seg(name)))?;
        progress.update(&a);
        let op = a
            .pointer("/status/operationState")
            .cloned()
            .unwrap_or(Value::Null);
        let phase = s(&op, "/phase").to_owned();
        if a.get("operation").is_none_or(Value::is_null) && !phase.is_empty() && phase != "Running"
        {
            if structured(out, &op, fmt)? {
                return Ok(if phase == "Succeeded" {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            let mut head = vec![
                vec!["Operation:".to_owned(), "Sync".to_owned()],
                vec![
                    "Sync Revision:".into(),
                    s(&op, "/syncResult/revision").into(),
                ],
                vec!["Phase:".into(), phase.clone()],
                vec!["Start:".into(), s(&op, "/startedAt").into()],
                vec!["Finished:".into(), s(&op, "/finishedAt").into()],
                vec!["Message:".into(), s(&op, "/message").into()],
            ];
            head.retain(|r| !r[1].is_empty());
            out.write_all(table(&head).as_bytes())?;
            let mut rows = vec![
                [
                    "GROUP",
                    "KIND",
                    "NAMESPACE",
                    "NAME",
                    "STATUS",
                    "HOOK",
                    "MESSAGE",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for r in op
                .pointer("/syncResult/resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                rows.push(vec![
                    s(r, "/group").into(),
                    s(r, "/kind").into(),
                    s(r, "/namespace").into(),
                    s(r, "/name").into(),
                    s(r, "/status").into(),
                    s(r, "/hookType").into(),
                    s(r, "/message").into(),
                ]);
            }
            writeln!(out)?;
            out.write_all(table(&rows).as_bytes())?;
            return Ok(if phase == "Succeeded" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        if phase != last_phase && !phase.is_empty() && !progress.tty {
            eprintln!("{name}: {phase} {}", s(&op, "/message"));
            last_phase = phase;
        }
        if timeout > 0 && start.elapsed() > Duration::from_secs(timeout) {
            bail!("timed out after {timeout}s waiting for the operation of {name:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The live progress of a running sync on stderr: on a terminal, a table of the operation's
/// resources (with their health) redrawn in place; otherwise one line per resource change.
struct SyncProgress {
    tty: bool,
    /// Lines of the table drawn last (terminal).
    drawn: usize,
    /// The last line shown per resource (log mode).
    seen: BTreeMap<String, String>,
}

const PROGRESS_HEADER: [&str; 8] = [
    "GROUP",
    "KIND",
    "NAMESPACE",
    "NAME",
    "STATUS",
    "HEALTH",
    "HOOK",
    "MESSAGE",
];

/// `HH:MM:SS` (UTC) now.
fn clock() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

impl SyncProgress {
    fn new(tty: bool) -> Self {
        Self {
            tty,
            drawn: 0,
            seen: BTreeMap::new(),
        }
    }

    /// One row per resource result of the running operation, with the live health.
    fn rows(app: &Value) -> Vec<(String, Vec<String>)> {
        let running = s(app, "/status/operationState/phase") == "Running";
        let results = app
            .pointer("/status/operationState/syncResult/resources")
            .and_then(Value::as_array)
            .filter(|_| running);
        let health = |r: &Value| {
            app.pointer("/status/resources")
                .and_then(Value::as_array)
                .and_then(|all| {
                    all.iter().find(|x| {
                        ["/group", "/kind", "/namespace", "/name"]
                            .iter()
                            .all(|p| s(x, p) == s(r, p))
                    })
                })
                .map(|x| s(x, "/health/status").to_owned())
                .unwrap_or_default()
        };
        results
            .into_iter()
            .flatten()
            .map(|r| {
                let key = ["/group", "/kind", "/namespace", "/name", "/syncPhase"]
                    .map(|p| s(r, p))
                    .join("/");
                let status = match s(r, "/hookPhase") {
                    "" => s(r, "/status").to_owned(),
                    h if s(r, "/status").is_empty() => h.to_owned(),
                    h => format!("{} ({h})", s(r, "/status")),
                };
                let row = vec![
                    s(r, "/group").to_owned(),
                    s(r, "/kind").to_owned(),
                    s(r, "/namespace").to_owned(),
                    s(r, "/name").to_owned(),
                    status,
                    health(r),
                    s(r, "/hookType").to_owned(),
                    s(r, "/message").to_owned(),
                ];
                (key, row)
            })
            .collect()
    }

    fn update(&mut self, app: &Value) {
        let rows = Self::rows(app);
        let mut err = std::io::stderr().lock();
        if self.tty {
            if rows.is_empty() {
                return;
            }
            let mut all = vec![PROGRESS_HEADER.map(String::from).to_vec()];
            all.extend(rows.into_iter().map(|(_, r)| r));
            let text = table(&all);
            if self.drawn > 0 {
                // Up to the table's first line, clear to the end of the screen.
                let _ = write!(err, "\x1b[{}A\x1b[J", self.drawn);
            }
            let _ = write!(err, "{text}");
            self.drawn = all.len();
        } else {
            for (key, row) in rows {
                let line = row.join("  ");
                if self.seen.get(&key) == Some(&line) {
                    continue;
                }
                if self.seen.is_empty() {
                    let _ = writeln!(err, "TIME      {}", PROGRESS_HEADER.join("  "));
                }
                let _ = writeln!(err, "{}  {line}", clock());
                self.seen.insert(key, line);
            }
        }
    }
}

fn wait(c: &Client, out: &mut impl Write, a: &WaitArgs) -> anyhow::Result<ExitCode> {
    let all = !(a.health || a.sync || a.operation);
    let start = Instant::now();
    let mut progress = SyncProgress::new(std::io::stderr().is_terminal());
    loop {
        let app = c.get(&format!("/api/v1/applications/{}", seg(&a.name)))?;
        if all || a.operation {
            progress.update(&app);
        }
        let healthy = s(&app, "/status/health/status") == "Healthy";
        let synced = s(&app, "/status/sync/status") == "Synced";
        let no_op = app.get("operation").is_none_or(Value::is_null);
        let ok = (!(all || a.health) || healthy)
            && (!(all || a.sync) || synced)
            && (!(all || a.operation) || no_op);
        if ok {
            writeln!(
                out,
                "{}: sync {} health {}",
                a.name,
                or_unknown(s(&app, "/status/sync/status")),
                or_unknown(s(&app, "/status/health/status"))
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        if a.timeout > 0 && start.elapsed() > Duration::from_secs(a.timeout) {
            bail!(
                "timed out after {}s waiting for {:?} (sync {}, health {}, operation {})",
                a.timeout,
                a.name,
                or_unknown(s(&app, "/status/sync/status")),
                or_unknown(s(&app, "/status/health/status")),
                if no_op { "none" } else { "running" }
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn history(c: &Client, out: &mut impl Write, name: &str, fmt: Output) -> anyhow::Result<ExitCode> {
    let a = c.get(&format!("/api/v1/applications/{}", seg(name)))?;
    let h = a
        .pointer("/status/history")
        .cloned()
        .unwrap_or(Value::Array(vec![]));
    if structured(out, &h, fmt)? {
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        ["ID", "DATE", "REVISION", "INITIATED-BY"]
            .map(String::from)
            .to_vec(),
    ];
    for e in h.as_array().into_iter().flatten() {
        let by = if e.pointer("/initiatedBy/automated") == Some(&Value::Bool(true)) {
            "automated".to_owned()
        } else {
            s(e, "/initiatedBy/username").to_owned()
        };
        let rev = match s(e, "/revision") {
            "" => e
                .get("revisions")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default(),
            r => r.to_owned(),
        };
        rows.push(vec![
            e.get("id").map(Value::to_string).unwrap_or_default(),
            s(e, "/deployedAt").to_owned(),
            rev,
            by,
        ]);
    }
    out.write_all(table(&rows).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `tether app`.
pub fn run(args: AppArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let c = Client::new(&args.server)?;
    let fmt = args.output;
    match args.command {
        AppCommand::List => list(&c, out, fmt),
        AppCommand::Get { name } => get(&c, out, &name, fmt),
        AppCommand::Diff(a) => Ok(diff(&c, out, &a, fmt)),
        AppCommand::Set(a) => super::app_set::run(&c, out, &a, fmt),
        AppCommand::Unset(a) => super::app_unset::run(&c, out, &a, fmt),
        AppCommand::Sync(a) => {
            let mut options = Vec::new();
            if a.server_side {
                options.push("ServerSideApply=true");
            }
            if a.apply_out_of_sync_only {
                options.push("ApplyOutOfSyncOnly=true");
            }
            let resources = a
                .resources
                .iter()
                .map(|r| parse_resource(r))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut body = json!({
                "prune": a.prune,
                "dryRun": a.dry_run,
                "syncOptions": options,
                "resources": resources,
            });
            if let Some(r) = &a.revision {
                body["revision"] = json!(r);
            }
            if a.force {
                body["syncStrategy"] = json!({"apply": {"force": true}});
            }
            c.post(
                &format!("/api/v1/applications/{}/sync", seg(&a.name)),
                &body,
            )?;
            if a.async_ {
                writeln!(out, "sync of {:?} requested", a.name)?;
                return Ok(ExitCode::SUCCESS);
            }
            wait_operation(&c, out, &a.name, a.timeout, fmt)
        }
        AppCommand::Wait(a) => wait(&c, out, &a),
        AppCommand::History { name } => history(&c, out, &name, fmt),
        AppCommand::Rollback(a) => {
            c.post(
                &format!("/api/v1/applications/{}/rollback", seg(&a.name)),
                &json!({"id": a.id, "prune": a.prune, "dryRun": a.dry_run}),
            )?;
            if a.async_ {
                writeln!(out, "rollback of {:?} to {} requested", a.name, a.id)?;
                return Ok(ExitCode::SUCCESS);
            }
            wait_operation(&c, out, &a.name, a.timeout, fmt)
        }
        AppCommand::Manifests { name } => {
            let v = c.get(&format!("/api/v1/applications/{}/manifests", seg(&name)))?;
            let items = v.get("items").cloned().unwrap_or(Value::Array(vec![]));
            if fmt == Output::Json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"apiVersion": "v1", "kind": "List", "items": items})
                    )?
                )?;
            } else {
                let objs: Vec<serde_json::Map<String, Value>> = items
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.as_object().cloned())
                    .collect();
                out.write_all(tether_kustomize::to_yaml(&objs).as_bytes())
                    .context("writing manifests")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Refresh { name, hard } => {
            c.post(
                &format!("/api/v1/applications/{}/refresh?hard={hard}", seg(&name)),
                &json!({}),
            )?;
            writeln!(out, "refresh of {name:?} requested")?;
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Delete { name, cascade } => {
            let v = c.delete(&format!(
                "/api/v1/applications/{}?cascade={cascade}",
                seg(&name)
            ))?;
            writeln!(out, "application {name:?} deleted")?;
            let left = v.get("remaining").and_then(Value::as_u64).unwrap_or(0);
            if left > 0 {
                bail!("{left} resources could not be deleted");
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::TerminateOp { name } => {
            c.delete(&format!("/api/v1/applications/{}/operation", seg(&name)))?;
            writeln!(out, "operation of {name:?} terminated")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_resources_parse() {
        let t = table(&[
            vec!["NAME".into(), "SYNC".into()],
            vec!["guestbook".into(), "Synced".into()],
        ]);
        assert_eq!(t, "NAME        SYNC\nguestbook   Synced\n");
        assert_eq!(
            parse_resource("apps:Deployment:ns/web").unwrap(),
            json!({"group": "apps", "kind": "Deployment", "name": "web", "namespace": "ns"})
        );
        assert_eq!(parse_resource(":ConfigMap:c").unwrap()["group"], "");
        assert!(parse_resource("Deployment").is_err());
    }
}
