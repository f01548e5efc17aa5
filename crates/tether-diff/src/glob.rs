//! Glob patterns as Argo CD matches `ignoreDifferences` groups and kinds (`util/glob`, gobwas/glob
//! without separators): `*` any run of characters, `?` one character, `[abc]`/`[a-z]`/`[!abc]` a
//! class, `{a,b}` alternatives, `\` escapes the next character. A pattern without special characters
//! matches only itself. A malformed pattern (unclosed `[` or `{`) matches nothing, as in Argo CD.

/// Whether `text` matches the glob `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let Some(alternatives) = expand_braces(pattern) else {
        return false;
    };
    let text: Vec<char> = text.chars().collect();
    alternatives.iter().any(|p| {
        let p: Vec<char> = p.chars().collect();
        match_from(&p, &text)
    })
}

/// Expands `{a,b}` groups (nesting allowed) into plain patterns; `None` when braces don't balance.
fn expand_braces(pattern: &str) -> Option<Vec<String>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut open = None;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '{' => {
                open = Some(i);
                break;
            }
            '}' => return None,
            _ => {}
        }
        i += 1;
    }
    let Some(start) = open else {
        return Some(vec![pattern.to_string()]);
    };
    // Find the matching close brace and the top-level commas.
    let (mut depth, mut j, mut cuts) = (0usize, start + 1, vec![start]);
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 1,
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => cuts.push(j),
            _ => {}
        }
        j += 1;
    }
    if j >= chars.len() {
        return None;
    }
    cuts.push(j);
    let prefix: String = chars[..start].iter().collect();
    let suffix: String = chars[j + 1..].iter().collect();
    let mut out = Vec::new();
    for w in cuts.windows(2) {
        let alt: String = chars[w[0] + 1..w[1]].iter().collect();
        out.extend(expand_braces(&format!("{prefix}{alt}{suffix}"))?);
    }
    Some(out)
}

fn match_from(p: &[char], t: &[char]) -> bool {
    let Some((&first, rest)) = p.split_first() else {
        return t.is_empty();
    };
    match first {
        '*' => (0..=t.len()).any(|skip| match_from(rest, &t[skip..])),
        '?' => !t.is_empty() && match_from(rest, &t[1..]),
        '[' => {
            let Some(close) = rest.iter().position(|c| *c == ']') else {
                return false;
            };
            let Some(&c) = t.first() else {
                return false;
            };
            let (negate, class) = match rest[..close].split_first() {
                Some(('!', class)) => (true, class),
                _ => (false, &rest[..close]),
            };
            let mut hit = false;
            let mut k = 0;
            while k < class.len() {
                if k + 2 < class.len() && class[k + 1] == '-' {
                    hit |= class[k] <= c && c <= class[k + 2];
                    k += 3;
                } else {
                    hit |= class[k] == c;
                    k += 1;
                }
            }
            hit != negate && match_from(&rest[close + 1..], &t[1..])
        }
        '\\' => match rest.split_first() {
            Some((&esc, rest)) => t.first() == Some(&esc) && match_from(rest, &t[1..]),
            None => false,
        },
        c => t.first() == Some(&c) && match_from(rest, &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;

    #[test]
    fn argo_cd_group_and_kind_patterns() {
        assert!(m("apps", "apps"));
        assert!(!m("apps", "apps2"));
        assert!(m("*", ""));
        assert!(m("*", "apps"));
        assert!(m("*.aws.crossplane.io", "ec2.aws.crossplane.io"));
        assert!(!m("*.aws.crossplane.io", "aws.crossplane.io"));
        assert!(m("Deploy?ent", "Deployment"));
        assert!(m("{apps,extensions}", "extensions"));
        assert!(!m("{apps,extensions}", "batch"));
        assert!(m("[CD]*", "Deployment"));
        assert!(!m("[!CD]*", "Deployment"));
        assert!(m("[a-c]pps", "apps"));
        assert!(m(r"\*", "*"));
        assert!(!m(r"\*", "x"));
        // Malformed patterns match nothing.
        assert!(!m("{apps", "apps"));
        assert!(!m("[ab", "a"));
    }
}
