//! One module per `tether` subcommand. Each exposes a clap `Args` type and a `run` function that
//! writes to an `impl Write`, so commands are testable without spawning a process.

pub mod app;
pub mod app_set;
pub mod app_unset;
pub mod client;
pub mod crds;
pub mod health;
pub mod proj;
pub mod render;
pub mod render_helm;
pub mod render_repo;
pub mod repo;
pub mod run;
pub mod validate;
