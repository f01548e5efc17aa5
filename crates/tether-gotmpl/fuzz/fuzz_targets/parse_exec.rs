#![no_main]
//! Parse + execute arbitrary templates: no panics, no hangs (execution limits are enforced).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tether_gotmpl::fuzzing::parse_exec(data);
});
