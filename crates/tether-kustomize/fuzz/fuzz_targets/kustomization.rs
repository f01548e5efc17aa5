#![no_main]
//! Fuzzes the kustomization parser and the build over a fixed set of resources.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_kustomize::fuzzing::kustomization(data));
