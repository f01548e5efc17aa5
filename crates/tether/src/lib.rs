//! The `tether` command line: a thin layer of clap commands over the library crates.

pub mod commands;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tether: GitOps continuous delivery that speaks Argo CD's API.
#[derive(Debug, Parser)]
#[command(name = "tether", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
pub enum Command {
    /// Print the Application, AppProject and ApplicationSet CRDs as a YAML stream.
    Crds(commands::crds::CrdsArgs),
    /// Check Application, AppProject and ApplicationSet manifests (exit 0 valid, 1 invalid, 2 unreadable).
    Validate(commands::validate::ValidateArgs),
    /// Render a source (Kustomize, plain directory, Jsonnet) to a YAML or JSON stream.
    Render(commands::render::RenderArgs),
    /// Custom Lua health checks: `tether health test DIR` runs Argo CD-style `health_test.yaml` fixtures.
    Health(commands::health::HealthArgs),
    /// Talk to a Git repository: list its refs, resolve a revision to a commit.
    Repo(commands::repo::RepoArgs),
    /// Run the GitOps controller (file mode: `--apps DIR`), its HTTP API and webhook endpoint.
    Run(commands::run::RunArgs),
    /// See and steer Applications through `tether run` (exit codes: `tether app --help`).
    App(commands::app::AppArgs),
    /// AppProjects as `tether run` sees them.
    Proj(commands::proj::ProjArgs),
}

/// Entry point of the `tether` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Crds(args) => commands::crds::run(&args, &mut out).map(|()| ExitCode::SUCCESS),
        Command::Validate(args) => {
            commands::validate::run(&args, &mut out).map(|outcome| ExitCode::from(outcome as u8))
        }
        Command::Render(args) => commands::render::run(args, &mut out),
        Command::Health(args) => commands::health::run(args, &mut out),
        Command::Repo(args) => commands::repo::run(args, &mut out),
        Command::Run(args) => commands::run::run(args),
        Command::App(args) => commands::app::run(args, &mut out),
        Command::Proj(args) => commands::proj::run(args, &mut out),
    };
    let _ = out.flush();
    match result {
        Ok(code) => code,
        // A closed pipe (`tether crds | head`) is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
