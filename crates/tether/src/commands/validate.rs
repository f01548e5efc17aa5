//! `tether validate FILE...`: check Application, AppProject and ApplicationSet manifests.
//!
//! Exit codes: 0 when every file is valid, 1 when any is invalid, 2 when any cannot be read.

use std::io::Write;
use std::path::PathBuf;

use tether_model::validate::{Severity, validate_yaml};

/// Arguments of `tether validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Manifest files (multi-document YAML). `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Treat warnings (such as unknown fields) as errors.
    #[arg(long)]
    pub strict: bool,
}

/// The outcome of a validation run, mapped to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Valid = 0,
    Invalid = 1,
    Unreadable = 2,
}

/// Validates every file, writing one line per finding to `out` and a summary to `out` at the end.
pub fn run(args: &ValidateArgs, out: &mut impl Write) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::Valid;
    let mut documents = 0;
    for path in &args.files {
        let label = path.display().to_string();
        let text = if label == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read(path).and_then(|bytes| {
                String::from_utf8(bytes).map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")
                })
            })
        };
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                writeln!(out, "{label}: cannot read: {e}")?;
                outcome = outcome.max(Outcome::Unreadable);
                continue;
            }
        };
        let report = validate_yaml(&text);
        documents += report.documents;
        for finding in &report.findings {
            writeln!(out, "{label}: {finding}")?;
            if finding.severity == Severity::Error || args.strict {
                outcome = outcome.max(Outcome::Invalid);
            }
        }
    }
    let verdict = match outcome {
        Outcome::Valid => "valid",
        Outcome::Invalid => "invalid",
        Outcome::Unreadable => "unreadable",
    };
    writeln!(
        out,
        "{} file(s), {documents} document(s): {verdict}",
        args.files.len()
    )?;
    Ok(outcome)
}
