#![no_main]
//! Fuzzes the manifest parser and validator: any input must give findings, never a panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let report = tether_model::validate::validate_yaml(text);
        for finding in &report.findings {
            let _ = finding.to_string();
        }
    }
});
