//! The `tether` command line: a thin layer of clap commands over the library crates.

pub mod commands;

use std::process::ExitCode;

/// Entry point of the `tether` binary.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
