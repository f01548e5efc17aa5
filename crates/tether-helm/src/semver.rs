//! Masterminds/semver v3 as Helm uses it (chart versions, `kubeVersion`, dependency versions), on top
//! of tether-gotmpl's implementation of Sprig's `semver`/`semverCompare`.

use tether_gotmpl::funcs::semver as ms;

/// A loosely parsed version (`1`, `1.2`, `v1.2.3-rc.1+meta`).
pub struct Version(pub ms::Version);

impl Version {
    pub fn parse(v: &str) -> Option<Version> {
        ms::parse_version(v).ok().map(Version)
    }
}

/// Helm's `chartutil.IsCompatibleRange`: false when either side does not parse.
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    let Ok(v) = ms::parse_version(version) else {
        return false;
    };
    ms::constraint_check(constraint, &v).unwrap_or(false)
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
