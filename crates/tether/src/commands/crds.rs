//! `tether crds`: print the Application, AppProject and ApplicationSet CRDs as one YAML stream.

use std::io::Write;

/// Arguments of `tether crds`.
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {}

/// Writes the three CRDs, separated by `---`.
pub fn run(_args: &CrdsArgs, out: &mut impl Write) -> anyhow::Result<()> {
    out.write_all(tether_model::crd::yaml_stream().as_bytes())?;
    Ok(())
}
