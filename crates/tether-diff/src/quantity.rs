//! Kubernetes resource quantities (`resource.Quantity`): `1000m` and `1` are the same amount.

const NANO_PER_UNIT: i128 = 1_000_000_000;

/// The amount of a quantity string in a canonical form (an exact count of nano-units), or `None` when
/// the string is not a quantity. Equal amounts give equal strings whatever their spelling.
pub fn canonical_quantity(s: &str) -> Option<String> {
    let s = s.trim();
    let (number, suffix) = split(s)?;
    let multiplier: (i128, i128) = match suffix {
        "" => (1, 1),
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1000),
        "k" => (1000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().ok()?;
            if exp >= 0 {
                (10i128.checked_pow(exp.unsigned_abs())?, 1)
            } else {
                (1, 10i128.checked_pow(exp.unsigned_abs())?)
            }
        }
        _ => return None,
    };
    // number = mantissa / 10^scale
    let negative = number.starts_with('-');
    let digits = number.strip_prefix(['+', '-']).unwrap_or(number);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let mantissa: i128 = format!("{int}{frac}").parse().ok()?;
    let scale = 10i128.checked_pow(u32::try_from(frac.len()).ok()?)?;
    let numerator = mantissa
        .checked_mul(multiplier.0)?
        .checked_mul(NANO_PER_UNIT)?;
    let denominator = scale.checked_mul(multiplier.1)?;
    // Kubernetes rounds below nano-units up; so do we.
    let nanos = (numerator + denominator - 1) / denominator;
    Some(format!(
        "{}{nanos}n",
        if negative && nanos != 0 { "-" } else { "" }
    ))
}

fn split(s: &str) -> Option<(&str, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    (end > 0).then(|| (&s[..end], &s[end..]))
}

#[cfg(test)]
mod tests {
    use super::canonical_quantity as q;

    #[test]
    fn equal_amounts_are_equal_whatever_the_spelling() {
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1k"), q("1e3"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("1"), Some("1000000000n".to_string()));
        assert_ne!(q("1"), q("1001m"));
        assert_ne!(q("1Gi"), q("1G"));
    }

    #[test]
    fn non_quantities_are_rejected() {
        for s in ["", "abc", "1x", "Mi", "1.2.3", "--1"] {
            assert_eq!(q(s), None, "{s}");
        }
    }
}
