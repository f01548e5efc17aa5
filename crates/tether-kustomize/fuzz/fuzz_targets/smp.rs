#![no_main]
//! Fuzzes the strategic merge patch engine: `dest\n---\npatch`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_kustomize::fuzzing::smp(data));
