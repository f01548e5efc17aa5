//! Release-only link settings for the `tether` binary (debug builds and tests are untouched).
//!
//! - `-no-pie`: a position-dependent executable. The PIE build carries ~67k relative relocations
//!   (a 1.6 MB `.rela.dyn`) that the dynamic loader applies at every start, dirtying the 1.1 MB
//!   `.data.rel.ro`: about 3 MiB of resident memory and a few hundred microseconds per process,
//!   which dominate short commands such as `tether render helm`. The cost: no ASLR for the
//!   executable image itself (shared libraries, heap and stacks stay randomised).
//! - `link/tether.order` (when present): the functions that `tether render helm` runs, listed by
//!   `scripts/link-order`, are placed next to each other at the start of `.text`, so a render
//!   faults in ~1.5 MB of code instead of pages scattered over 28 MB. Symbols that no longer
//!   exist are ignored; a stale list only costs memory, never correctness.
//! - `link/tether.rodata.ld` (when present): a linker script from `scripts/link-order` that puts
//!   the read-only data sections a render reads into `.rodata.hot`, before `.rodata` (they were
//!   spread over 19 fault-around windows, 1.2 MiB resident for ~30 KB read). Names that no longer
//!   exist match nothing.
//! - static builds (`+crt-static`: scripts/bench-helm, scripts/link-order) also write a link map
//!   to `OUT_DIR/tether.map`, where `scripts/link-order` finds those sections.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/tether.order");
    println!("cargo:rerun-if-changed=link/tether.rodata.ld");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    // x86_64-unknown-linux-gnu links with rust-lld by default (Rust >= 1.90), which reads the
    // ordering file; other targets keep the default link.
    let target = (
        var("CARGO_CFG_TARGET_ARCH"),
        var("CARGO_CFG_TARGET_OS"),
        var("CARGO_CFG_TARGET_ENV"),
    );
    if !release || target != ("x86_64".into(), "linux".into(), "gnu".into()) {
        return;
    }
    println!("cargo:rustc-link-arg-bin=tether=-no-pie");
    let link = Path::new(&var("CARGO_MANIFEST_DIR")).join("link");
    // The linker reads copies in OUT_DIR: checkouts sharing a target directory can reuse this
    // script's output, and a path into another (perhaps deleted) checkout would break the link.
    let out_dir = Path::new(&var("OUT_DIR")).to_path_buf();
    let copy = |name: &str| {
        let dst = out_dir.join(name);
        std::fs::copy(link.join(name), &dst).ok().map(|_| dst)
    };
    if let Some(order) = copy("tether.order") {
        println!(
            "cargo:rustc-link-arg-bin=tether=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=tether=-Wl,--no-warn-symbol-ordering");
    }
    if let Some(rodata) = copy("tether.rodata.ld") {
        println!(
            "cargo:rustc-link-arg-bin=tether=-Wl,-T,{}",
            rodata.display()
        );
    }
    // The static build (scripts/bench-helm, scripts/link-order) writes a link map, where
    // scripts/link-order finds the input sections of the read-only data a render reads.
    if var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static")
    {
        let map = Path::new(&var("OUT_DIR")).join("tether.map");
        println!("cargo:rustc-link-arg-bin=tether=-Wl,-Map={}", map.display());
    }
}
