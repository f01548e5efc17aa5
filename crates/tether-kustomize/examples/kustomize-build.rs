//! `kustomize-build DIR [--load-restrictor none]`: builds a kustomization and prints the YAML
//! stream, the same work as `tether render kustomize DIR`. Used by the benchmark in
//! `docs/benchmarks.md` to time the whole process against `kubectl kustomize`.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: kustomize-build DIR [--load-restrictor none]");
        return ExitCode::from(2);
    };
    let mut opts = tether_kustomize::BuildOptions::default();
    if args
        .windows(2)
        .any(|w| w[0] == "--load-restrictor" && w[1] == "none")
    {
        opts.load_restrictor = tether_kustomize::LoadRestrictor::None;
    }
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.into());
    match tether_kustomize::build(&tether_kustomize::RealFs, &dir, &opts) {
        Ok(objs) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(tether_kustomize::to_yaml(&objs).as_bytes())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
