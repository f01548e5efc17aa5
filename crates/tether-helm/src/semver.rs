//! Masterminds/semver v3 as Helm uses it (chart versions, `kubeVersion`), from tether-semver.

pub use tether_semver::Version;

/// Helm's `chartutil.IsCompatibleRange`: false when either side does not parse.
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    let Ok(v) = Version::parse(version) else {
        return false;
    };
    tether_semver::Constraints::parse(constraint).is_ok_and(|c| c.check(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(is_compatible_range(">=1.20.0-0", "v1.32.0"));
        assert!(!is_compatible_range("<1.20", "v1.32.0"));
        assert!(is_compatible_range("^1.2.0", "1.3.0"));
        assert!(!is_compatible_range("", "1.3.0"));
        assert!(!is_compatible_range("1.x", "not-a-version"));
    }
}
