//! `tether health`: custom Lua health checks in Argo CD's `resource_customizations` layout.
//!
//! ```text
//! tether health test DIR      # run every health_test.yaml under DIR against its health.lua
//! ```
//!
//! One line per failing case, then `N passed, M failed`; exit code 0 only when nothing failed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tether_health::LuaLimits;

/// `tether health`.
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    #[command(subcommand)]
    pub command: HealthCommand,
}

/// The `tether health` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum HealthCommand {
    /// Run every `health_test.yaml` under DIR against the `health.lua` beside it.
    Test {
        /// Directory laid out as `<group>/<Kind>/health.lua` + `health_test.yaml` + `testdata/`.
        dir: PathBuf,
    },
}

/// Runs `tether health`.
pub fn run(args: HealthArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    match args.command {
        HealthCommand::Test { dir } => {
            let report = tether_health::testing::run_dir(&dir, &LuaLimits::default())
                .with_context(|| {
                    format!("cannot run the health checks under `{}`", dir.display())
                })?;
            for failure in &report.failures {
                writeln!(out, "{failure}")?;
            }
            writeln!(out, "{}", report.summary())?;
            Ok(if report.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
