//! `tether proj`: AppProjects as `tether run` sees them (the built-in `default` included).
//!
//! ```text
//! tether proj list [-o json|yaml|wide]
//! tether proj get NAME [-o json|yaml]
//! ```

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;

use super::app::{Output, structured, table};
use super::client::{Client, ServerArgs, seg};

/// `tether proj`.
#[derive(Debug, clap::Args)]
pub struct ProjArgs {
    #[command(subcommand)]
    pub command: ProjCommand,
    #[command(flatten)]
    pub server: ServerArgs,
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
}

/// The `tether proj` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ProjCommand {
    /// List projects.
    List,
    /// Show a project.
    Get { name: String },
}

fn joined(v: &Value, key: &str, f: impl Fn(&Value) -> String) -> String {
    let items: Vec<String> = v
        .pointer(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(f)
        .collect();
    if items.is_empty() {
        "<none>".into()
    } else {
        items.join(",")
    }
}

fn row(p: &Value) -> Vec<String> {
    let st = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    vec![
        p.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        p.pointer("/spec/description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        joined(p, "/spec/destinations", |d| {
            let server = st(d, "server");
            format!(
                "{},{}",
                if server.is_empty() {
                    st(d, "name")
                } else {
                    server
                },
                st(d, "namespace")
            )
        }),
        joined(p, "/spec/sourceRepos", |r| {
            r.as_str().unwrap_or("").to_owned()
        }),
        joined(p, "/spec/clusterResourceWhitelist", |g| {
            format!("{}/{}", st(g, "group"), st(g, "kind"))
        }),
        joined(p, "/spec/namespaceResourceBlacklist", |g| {
            format!("{}/{}", st(g, "group"), st(g, "kind"))
        }),
    ]
}

const HEADER: [&str; 6] = [
    "NAME",
    "DESCRIPTION",
    "DESTINATIONS",
    "SOURCES",
    "CLUSTER-RESOURCE-WHITELIST",
    "NAMESPACE-RESOURCE-BLACKLIST",
];

/// Runs `tether proj`.
pub fn run(args: ProjArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let c = Client::new(&args.server)?;
    let v = match &args.command {
        ProjCommand::List => c
            .get("/api/v1/projects")?
            .get("items")
            .cloned()
            .unwrap_or(Value::Array(vec![])),
        ProjCommand::Get { name } => c.get(&format!("/api/v1/projects/{}", seg(name)))?,
    };
    if structured(out, &v, args.output)? {
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![HEADER.map(String::from).to_vec()];
    match &args.command {
        ProjCommand::List => rows.extend(v.as_array().into_iter().flatten().map(row)),
        ProjCommand::Get { .. } => rows.push(row(&v)),
    }
    out.write_all(table(&rows).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
