//! `.helmignore` rules with Helm's semantics (`pkg/ignore`), and Go's `path.Match`.
//!
//! Helm's rules are not gitignore's: a pattern without `/` matches the base name only, a pattern with
//! `/` matches the whole relative path, a leading `/` anchors it, a trailing `/` restricts it to
//! directories, `**` is rejected. The first positive rule that matches ignores the path; a negated rule
//! ignores every path that it does *not* match (Helm's quirk, kept).

/// One parsed rule.
#[derive(Debug, Clone)]
struct Pattern {
    rule: String,
    negate: bool,
    must_dir: bool,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Leading `/`: the whole path, anchored.
    Rooted,
    /// Contains `/`: the whole path.
    Structural,
    /// No `/`: the base name only.
    Base,
}

/// A set of `.helmignore` rules.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    patterns: Vec<Pattern>,
}

impl Rules {
    /// Parses a `.helmignore` file. Errors carry Helm's wording.
    pub fn parse(text: &str) -> Result<Rules, String> {
        let mut r = Rules::default();
        for line in text.lines() {
            r.add(line)?;
        }
        Ok(r)
    }

    /// Helm's default rule: dot files in `templates/`.
    pub fn add_defaults(&mut self) {
        let _ = self.add("templates/.?*");
    }

    fn add(&mut self, line: &str) -> Result<(), String> {
        let mut rule = line.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err("double-star (**) syntax is not supported".into());
        }
        match_path(rule, "abc")?;
        let mut negate = false;
        if let Some(r) = rule.strip_prefix('!') {
            negate = true;
            rule = r;
        }
        let mut must_dir = false;
        if let Some(r) = rule.strip_suffix('/') {
            must_dir = true;
            rule = r;
        }
        let kind = if rule.starts_with('/') {
            Kind::Rooted
        } else if rule.contains('/') {
            Kind::Structural
        } else {
            Kind::Base
        };
        let rule = if kind == Kind::Rooted {
            rule.trim_start_matches('/')
        } else {
            rule
        };
        self.patterns.push(Pattern {
            rule: rule.to_string(),
            negate,
            must_dir,
            kind,
        });
        Ok(())
    }

    /// Whether `path` (relative, `/`-separated) is ignored.
    pub fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for p in &self.patterns {
            let matches = || {
                let subject = match p.kind {
                    Kind::Base => path.rsplit('/').next().unwrap_or(path),
                    _ => path,
                };
                match_path(&p.rule, subject).unwrap_or(false)
            };
            if p.negate {
                if p.must_dir && !is_dir {
                    return true;
                }
                if !matches() {
                    return true;
                }
                continue;
            }
            if p.must_dir && !is_dir {
                continue;
            }
            if matches() {
                return true;
            }
        }
        false
    }
}

/// Go's `path.Match`/`filepath.Match` on `/` separators: `*`, `?`, `[...]` (with `^` negation and
/// ranges) and `\` escapes. Errors are Go's `syntax error in pattern`.
pub fn match_path(pattern: &str, name: &str) -> Result<bool, String> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let r = m(&p, &n)?;
    // Go validates the rest of the pattern even on mismatch.
    validate(&p)?;
    Ok(r)
}

fn bad() -> String {
    "syntax error in pattern".to_string()
}

fn validate(p: &[char]) -> Result<(), String> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(bad());
                }
                i += 2;
            }
            '[' => {
                let (_, next) = class(p, i, None)?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parses a class at `p[i] == '['`; with `c`, reports whether it matches. Returns the index after `]`.
fn class(p: &[char], i: usize, c: Option<char>) -> Result<(bool, usize), String> {
    let mut j = i + 1;
    let mut negated = false;
    if j < p.len() && p[j] == '^' {
        negated = true;
        j += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        if j >= p.len() {
            return Err(bad());
        }
        if p[j] == ']' && !first {
            j += 1;
            break;
        }
        first = false;
        let lo = esc(p, &mut j)?;
        let mut hi = lo;
        if j < p.len() && p[j] == '-' {
            j += 1;
            hi = esc(p, &mut j)?;
        }
        if let Some(c) = c
            && lo <= c
            && c <= hi
        {
            matched = true;
        }
    }
    Ok((matched != negated, j))
}

fn esc(p: &[char], j: &mut usize) -> Result<char, String> {
    if *j >= p.len() || p[*j] == '-' || p[*j] == ']' {
        return Err(bad());
    }
    if p[*j] == '\\' {
        *j += 1;
        if *j >= p.len() {
            return Err(bad());
        }
    }
    let c = p[*j];
    *j += 1;
    Ok(c)
}

fn m(p: &[char], n: &[char]) -> Result<bool, String> {
    if p.is_empty() {
        return Ok(n.is_empty());
    }
    match p[0] {
        '*' => {
            let mut k = 0;
            loop {
                if m(&p[1..], &n[k..])? {
                    return Ok(true);
                }
                if k >= n.len() || n[k] == '/' {
                    return Ok(false);
                }
                k += 1;
            }
        }
        '?' => Ok(!n.is_empty() && n[0] != '/' && m(&p[1..], &n[1..])?),
        '[' => {
            if n.is_empty() || n[0] == '/' {
                class(p, 0, None)?;
                return Ok(false);
            }
            let (ok, next) = class(p, 0, Some(n[0]))?;
            Ok(ok && m(&p[next..], &n[1..])?)
        }
        '\\' => {
            if p.len() < 2 {
                return Err(bad());
            }
            Ok(!n.is_empty() && n[0] == p[1] && m(&p[2..], &n[1..])?)
        }
        c => Ok(!n.is_empty() && n[0] == c && m(&p[1..], &n[1..])?),
    }
}

/// gobwas/glob with `/` as separator, as `.Files.Glob` uses it: `*` and `?` stay within a path
/// segment, `**` crosses segments, `[...]`/`[!...]` classes, `{a,b}` alternatives, `\` escapes.
pub fn glob_regex(pattern: &str) -> Result<regex_lite::Regex, String> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' => {
                if i + 1 < chars.len() && chars[i + 1] == '*' {
                    re.push_str(".*");
                    i += 1;
                } else {
                    re.push_str("[^/]*");
                }
            }
            '?' => re.push_str("[^/]"),
            '[' => {
                let mut j = i + 1;
                let mut cls = String::from("[");
                if j < chars.len() && chars[j] == '!' {
                    cls.push('^');
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    let ch = chars[j];
                    if ch == '\\' || ch == '[' || ch == '^' || ch == '&' || ch == '~' {
                        cls.push('\\');
                    }
                    cls.push(ch);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!("unexpected end of input in {pattern:?}"));
                }
                cls.push(']');
                re.push_str(&cls);
                i = j;
            }
            '{' => {
                depth += 1;
                re.push_str("(?:");
            }
            '}' if depth > 0 => {
                depth -= 1;
                re.push(')');
            }
            ',' if depth > 0 => re.push('|'),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push_str(&regex_lite::escape(&chars[i].to_string()));
            }
            c => re.push_str(&regex_lite::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    regex_lite::Regex::new(&re).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match() {
        assert!(match_path("*.txt", "a.txt").unwrap());
        assert!(!match_path("*.txt", "d/a.txt").unwrap());
        assert!(match_path("d/*.txt", "d/a.txt").unwrap());
        assert!(match_path("a?c", "abc").unwrap());
        assert!(match_path("[a-c]x", "bx").unwrap());
        assert!(!match_path("[^a-c]x", "bx").unwrap());
        assert!(match_path("\\*", "*").unwrap());
        assert!(match_path("[", "a").is_err());
    }

    #[test]
    fn helmignore_semantics() {
        let mut r = Rules::parse("# c\n*.bak\nsecret/\n/top.txt\nsub/*.md\n").unwrap();
        r.add_defaults();
        assert!(r.ignore("x.bak", false));
        assert!(r.ignore("deep/x.bak", false));
        assert!(r.ignore("secret", true));
        assert!(!r.ignore("secret", false));
        assert!(r.ignore("top.txt", false));
        assert!(!r.ignore("d/top.txt", false));
        assert!(r.ignore("sub/a.md", false));
        assert!(!r.ignore("x/sub/a.md", false));
        assert!(r.ignore("templates/.hidden", false));
        assert!(!r.ignore("templates/a.yaml", false));
        assert!(Rules::parse("a/**/b").is_err());
        // A negation ignores everything it does not match.
        let n = Rules::parse("!keep.txt").unwrap();
        assert!(n.ignore("other.txt", false));
        assert!(!n.ignore("keep.txt", false));
    }

    #[test]
    fn files_glob() {
        let g = glob_regex("files/*").unwrap();
        assert!(g.is_match("files/a.conf") && !g.is_match("files/sub/a.conf"));
        let g = glob_regex("**.conf").unwrap();
        assert!(g.is_match("files/sub/a.conf"));
        let g = glob_regex("{a,b}/*.yaml").unwrap();
        assert!(g.is_match("b/x.yaml") && !g.is_match("c/x.yaml"));
    }
}
