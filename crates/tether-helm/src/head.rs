//! A fast reading of a rendered document's head (`kind` and the `helm.sh/hook` annotation) for the
//! common shape of Kubernetes manifests: block mappings and sequences of one-line scalars, empty
//! flow collections and `|`/`>` block scalars, in printable ASCII.
//!
//! [`fast_head`] answers only when it is sure: anything outside that shape (flow collections,
//! anchors, tags, multi-line plain or quoted scalars, non-ASCII text, tabs, odd indentation, heads
//! that are not plain strings, values that would not convert to JSON, …) gives `None`, and the
//! caller parses the document with the full YAML parser, which also produces the error texts. So
//! the result is always the full parser's; only the work differs (the full parse builds every
//! scalar of every document, most of the cost of sorting a large chart's output).

use tether_gotmpl::yaml::{Resolved, resolve};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Map,
    Seq,
}

/// Which map of the head a mapping is.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Top,
    Metadata,
    Annotations,
    Other,
}

#[derive(Clone, Copy)]
struct Level {
    indent: usize,
    kind: Kind,
    role: Role,
}

/// A key or item whose value is on the following lines (or null).
#[derive(Clone, Copy)]
struct Pending {
    indent: usize,
    role: Role,
    /// A map value may be a sequence at the key's own indentation.
    same_indent_seq: bool,
}

/// A block scalar being skipped.
struct Block {
    parent: usize,
    content: Option<usize>,
}

/// A one-line value.
enum Val<'a> {
    /// A scalar that converts to this string (plain scalars resolving to a string, quoted
    /// scalars without escapes).
    Str(std::borrow::Cow<'a, str>),
    /// A valid scalar of another kind (number, bool, null, escaped text).
    Other,
    /// `{}`.
    EmptyMap,
    /// `[]`.
    EmptySeq,
    /// A `|` or `>` header: the content follows.
    Block,
}

const MAX_DEPTH: usize = 200;

/// `kind` and `helm.sh/hook` of `doc` (a trimmed document of a rendered template) when it has the
/// simple shape described in the module documentation; `None` when the full parser must decide.
pub fn fast_head(doc: &str) -> Option<(String, Option<String>)> {
    if !doc.bytes().all(|b| b == b'\n' || (0x20..0x7f).contains(&b)) {
        return None;
    }
    let mut stack: Vec<Level> = Vec::new();
    let mut pending: Option<Pending> = None;
    let mut block: Option<Block> = None;
    let mut kind: Option<String> = None;
    let mut hook: Option<String> = None;
    // Keys seen in the head maps (duplicates are left to the full parser).
    let mut top_seen = [false; 3];
    let mut md_seen = [false; 2];
    let mut ann_seen: Vec<&str> = Vec::new();
    for line in doc.split('\n') {
        let rest = line.trim_start_matches(' ');
        let indent = line.len() - rest.len();
        if let Some(b) = &mut block {
            if rest.is_empty() {
                // Leading all-space lines may not be longer than the content's indentation.
                if b.content.is_none() && indent > 0 {
                    return None;
                }
                continue;
            }
            match b.content {
                None if indent > b.parent => {
                    b.content = Some(indent);
                    continue;
                }
                Some(ci) if indent >= ci => continue,
                _ => block = None,
            }
        }
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        if rest.starts_with("---") || rest.starts_with("...") {
            return None;
        }
        let is_item = rest == "-" || rest.starts_with("- ");
        if let Some(p) = pending.take()
            && (indent > p.indent || (indent == p.indent && is_item && p.same_indent_seq))
        {
            if is_item && p.role != Role::Other {
                return None;
            }
            stack.push(Level {
                indent,
                kind: if is_item { Kind::Seq } else { Kind::Map },
                role: if is_item { Role::Other } else { p.role },
            });
            if stack.len() > MAX_DEPTH {
                return None;
            }
        }
        while stack.last().is_some_and(|l| l.indent > indent) {
            stack.pop();
        }
        // A sequence at its key's indentation ends at the next key.
        if !is_item
            && stack
                .last()
                .is_some_and(|l| l.indent == indent && l.kind == Kind::Seq)
        {
            stack.pop();
        }
        let (at, mut body, role) = match stack.last() {
            None => {
                if indent != 0 || is_item {
                    return None;
                }
                stack.push(Level {
                    indent: 0,
                    kind: Kind::Map,
                    role: Role::Top,
                });
                (0, rest, Role::Top)
            }
            Some(l) if l.indent != indent => return None,
            Some(l) if l.kind == Kind::Seq => {
                if !is_item {
                    return None;
                }
                let after = &rest[1..];
                let item = after.trim_start_matches(' ');
                let col = indent + 1 + (after.len() - item.len());
                if item.is_empty() || item.starts_with('#') {
                    pending = Some(Pending {
                        indent,
                        role: Role::Other,
                        same_indent_seq: false,
                    });
                    continue;
                }
                if item == "-" || item.starts_with("- ") {
                    return None;
                }
                if key_len(item).is_none() {
                    match value(item)? {
                        Val::Block => {
                            block = Some(Block {
                                parent: indent,
                                content: None,
                            });
                        }
                        Val::Str(_) | Val::Other | Val::EmptyMap | Val::EmptySeq => {}
                    }
                    continue;
                }
                // `- key: value`: a mapping starting at the key's column.
                stack.push(Level {
                    indent: col,
                    kind: Kind::Map,
                    role: Role::Other,
                });
                if stack.len() > MAX_DEPTH {
                    return None;
                }
                (col, item, Role::Other)
            }
            Some(l) => {
                if is_item {
                    return None;
                }
                (indent, rest, l.role)
            }
        };
        // A `key: value` line of a mapping at column `at`.
        let n = key_len(body)?;
        let key = &body[..n];
        body = body[n + 1..].trim_start_matches(' ');
        let child_role = match (role, key) {
            (Role::Top, "metadata") => Role::Metadata,
            (Role::Metadata, "annotations") => Role::Annotations,
            _ => Role::Other,
        };
        // Head scalars: their value must be a one-line string.
        let head_scalar = match (role, key) {
            (Role::Top, "apiVersion") => Some(seen(&mut top_seen[0])?),
            (Role::Top, "kind") => Some(seen(&mut top_seen[1])?),
            (Role::Top, "metadata") => {
                seen(&mut top_seen[2])?;
                None
            }
            (Role::Metadata, "name") => Some(seen(&mut md_seen[0])?),
            (Role::Metadata, "annotations") => {
                seen(&mut md_seen[1])?;
                None
            }
            (Role::Annotations, k) => {
                if ann_seen.contains(&k) {
                    return None;
                }
                ann_seen.push(k);
                Some(())
            }
            _ => None,
        };
        if body.is_empty() || body.starts_with('#') {
            if head_scalar.is_some() {
                return None;
            }
            pending = Some(Pending {
                indent: at,
                role: child_role,
                same_indent_seq: true,
            });
            continue;
        }
        let v = value(body)?;
        if child_role != Role::Other && !matches!(v, Val::EmptyMap) {
            // metadata / annotations must be mappings here.
            return None;
        }
        match v {
            Val::Str(s) => {
                if role == Role::Top && key == "kind" {
                    kind = Some(s.into_owned());
                } else if role == Role::Annotations && key == "helm.sh/hook" {
                    hook = Some(s.into_owned());
                }
            }
            Val::Other | Val::EmptyMap | Val::EmptySeq if head_scalar.is_some() => return None,
            Val::Other | Val::EmptyMap | Val::EmptySeq => {}
            Val::Block => {
                if head_scalar.is_some() {
                    return None;
                }
                block = Some(Block {
                    parent: at,
                    content: None,
                });
            }
        }
    }
    if stack.is_empty() {
        return None;
    }
    Some((kind.unwrap_or_default(), hook))
}

/// Marks a head key as seen; `None` when it was already (a duplicate key).
fn seen(flag: &mut bool) -> Option<()> {
    if *flag {
        return None;
    }
    *flag = true;
    Some(())
}

/// The length of a simple key (`[A-Za-z0-9_][A-Za-z0-9_./-]*`) followed by `:` and a space or the
/// end of the line.
fn key_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if !b
        .first()
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        return None;
    }
    let n = b
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-')))?;
    if b[n] != b':' || !(n + 1 == b.len() || b[n + 1] == b' ') || n > 512 {
        return None;
    }
    if matches!(&s[..n], "null" | "Null" | "NULL") {
        return None;
    }
    Some(n)
}

/// What may follow a closing quote: nothing, or spaces and a comment.
fn trailer_ok(t: &str) -> bool {
    let u = t.trim_start_matches(' ');
    u.is_empty() || (u.len() < t.len() && u.starts_with('#'))
}

/// A one-line value (after `key: ` or `- `, not empty, not a comment).
fn value(v: &str) -> Option<Val<'_>> {
    let b = v.as_bytes();
    match b[0] {
        b'"' => {
            let mut i = 1;
            let mut escaped = false;
            while i < b.len() {
                match b[i] {
                    b'"' => break,
                    b'\\' => {
                        escaped = true;
                        let c = *b.get(i + 1)?;
                        let hex = match c {
                            b'0' | b'a' | b'b' | b't' | b'n' | b'v' | b'f' | b'r' | b'e' | b' '
                            | b'"' | b'/' | b'\\' | b'N' | b'_' | b'L' | b'P' => 0,
                            b'x' => 2,
                            b'u' => 4,
                            b'U' => 8,
                            _ => return None,
                        };
                        let digits = b.get(i + 2..i + 2 + hex)?;
                        if !digits.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 2 + hex;
                        continue;
                    }
                    _ => {}
                }
                i += 1;
            }
            if i >= b.len() || !trailer_ok(&v[i + 1..]) {
                return None;
            }
            Some(if escaped {
                Val::Other
            } else {
                Val::Str(v[1..i].into())
            })
        }
        b'\'' => {
            let mut i = 1;
            let mut doubled = false;
            loop {
                match b.get(i)? {
                    b'\'' if b.get(i + 1) == Some(&b'\'') => {
                        doubled = true;
                        i += 2;
                    }
                    b'\'' => break,
                    _ => i += 1,
                }
            }
            if !trailer_ok(&v[i + 1..]) {
                return None;
            }
            let inner = &v[1..i];
            Some(Val::Str(if doubled {
                inner.replace("''", "'").into()
            } else {
                inner.into()
            }))
        }
        b'{' | b'[' => {
            let mut i = 0;
            flow(b, &mut i, 0)?;
            if !trailer_ok(&v[i..]) {
                return None;
            }
            Some(match &v[..i] {
                "{}" => Val::EmptyMap,
                "[]" => Val::EmptySeq,
                _ => Val::Other,
            })
        }
        b'|' | b'>' => matches!(
            v.trim_end_matches(' '),
            "|" | "|-" | "|+" | ">" | ">-" | ">+"
        )
        .then_some(Val::Block),
        b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b',' | b'?' | b':' | b'}' | b']' | b'#' => None,
        _ => {
            let s = match v.find(" #") {
                Some(i) => &v[..i],
                None => v,
            }
            .trim_end_matches(' ');
            if s == "-"
                || s.starts_with("- ")
                || s.starts_with("---")
                || s.ends_with(':')
                || s.contains(": ")
            {
                return None;
            }
            let first = s.as_bytes()[0];
            // Only these can resolve to something other than a string (null, bool, numbers).
            let maybe_typed = matches!(first, b'.' | b'+' | b'-' | b'0'..=b'9' | b'~')
                || matches!(
                    s.len(),
                    1..=5 if matches!(first, b'n' | b'N' | b'y' | b'Y' | b't' | b'T' | b'f' | b'F' | b'o' | b'O')
                );
            if !maybe_typed {
                return Some(Val::Str(s.into()));
            }
            match resolve(s) {
                Resolved::Float(f) if !f.is_finite() => None,
                Resolved::Str | Resolved::Timestamp | Resolved::Merge => Some(Val::Str(s.into())),
                _ => Some(Val::Other),
            }
        }
    }
}

fn skip_spaces(b: &[u8], i: &mut usize) {
    while b.get(*i) == Some(&b' ') {
        *i += 1;
    }
}

/// A one-line flow collection at `b[*i]` (`{` or `[`) of simple keys, plain words, quoted
/// scalars without escapes and nested flow collections; `*i` ends after its closing bracket.
fn flow(b: &[u8], i: &mut usize, depth: usize) -> Option<()> {
    if depth > 50 {
        return None;
    }
    let close = match b[*i] {
        b'{' => b'}',
        _ => b']',
    };
    *i += 1;
    skip_spaces(b, i);
    if b.get(*i) == Some(&close) {
        *i += 1;
        return Some(());
    }
    loop {
        if close == b'}' {
            // `key: value`
            let s = std::str::from_utf8(&b[*i..]).ok()?;
            let n = key_len(s)?;
            if b.get(*i + n + 1) != Some(&b' ') {
                return None;
            }
            *i += n + 1;
            skip_spaces(b, i);
        }
        flow_node(b, i, depth)?;
        skip_spaces(b, i);
        match b.get(*i)? {
            b',' => {
                *i += 1;
                skip_spaces(b, i);
                // No empty entries, no trailing comma.
                if matches!(b.get(*i)?, b',' | b']' | b'}') {
                    return None;
                }
            }
            c if *c == close => {
                *i += 1;
                return Some(());
            }
            _ => return None,
        }
    }
}

/// A value inside a flow collection.
fn flow_node(b: &[u8], i: &mut usize, depth: usize) -> Option<()> {
    match *b.get(*i)? {
        b'{' | b'[' => flow(b, i, depth + 1),
        q @ (b'"' | b'\'') => {
            let end = *i + 1 + b[*i + 1..].iter().position(|c| *c == q)?;
            if b[*i + 1..end].contains(&b'\\') || b.get(end + 1) == Some(&q) {
                return None;
            }
            *i = end + 1;
            Some(())
        }
        _ => {
            let start = *i;
            while b.get(*i).is_some_and(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-' | b'+')
            }) {
                *i += 1;
            }
            let w = std::str::from_utf8(&b[start..*i]).ok()?;
            if w.is_empty() || w.starts_with('-') && w.len() == 1 {
                return None;
            }
            // Not a key (`[a: b]` is a mapping), and nothing that does not convert to JSON.
            if b.get(*i) == Some(&b':') {
                return None;
            }
            match resolve(w) {
                Resolved::Float(f) if !f.is_finite() => None,
                _ => Some(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_heads() {
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n    \"a\": b\n    helm.sh/hook: pre-install\ndata:\n  a: |\n    x: [\n\n  b: '1'\n";
        // A quoted annotation key: not handled, the full parser decides.
        assert_eq!(fast_head(doc), None);
        let doc = doc.replace("\"a\"", "a");
        assert_eq!(
            fast_head(&doc),
            Some(("ConfigMap".into(), Some("pre-install".into())))
        );
        assert_eq!(
            fast_head("kind: 'Pod'\nspec:\n  containers:\n  - name: a\n    args:\n    - --x=1\n"),
            Some(("Pod".into(), None))
        );
        assert_eq!(fast_head("kind: Pod\n  x: 1\n"), None);
        assert_eq!(fast_head("kind: Pod\nx: .inf\n"), None);
        assert_eq!(fast_head("kind: 5\n"), None);
        assert_eq!(fast_head("- a\n"), None);
        assert_eq!(fast_head("# only\n"), None);
    }

    /// `fast_head`, when it answers, agrees with the full parser.
    fn check(doc: &str) -> bool {
        let Some((kind, hook)) = fast_head(doc) else {
            return false;
        };
        match crate::sorter::parse_head("c/templates/t.yaml", doc, false) {
            Ok((v, k, h)) => {
                assert!(!v.is_nil(), "fast path took a null document: {doc:?}");
                assert_eq!((&kind, &hook), (&k, &h), "{doc:?}");
            }
            Err(e) => panic!("fast path accepted a document the parser rejects ({e}): {doc:?}"),
        }
        true
    }

    #[test]
    fn agrees_with_the_parser_on_the_corpus_outputs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tether/tests/helm_corpus/expected");
        let (mut docs, mut fast) = (0, 0);
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for d in crate::sorter::split_manifests(&text) {
                docs += 1;
                fast += usize::from(check(&d));
            }
        }
        // The fast path must cover the usual shapes, or it is pointless.
        assert!(docs > 1000 && fast * 10 > docs * 9, "{fast} of {docs}");
    }

    #[test]
    fn agrees_with_the_parser_on_random_documents() {
        const BODIES: &[&str] = &[
            "kind: Pod",
            "kind: 'Po''d'",
            "kind: \"Svc\"",
            "kind: 5",
            "kind:",
            "kind: ~",
            "kind: null",
            "kind: Pod # c",
            "kind: \"a\\tb\"",
            "kind: x y",
            "kind: yes",
            "apiVersion: v1",
            "apiVersion: 1.0",
            "metadata:",
            "metadata: {}",
            "metadata: []",
            "metadata: x",
            "name: x",
            "name: \"a#b\"",
            "name: 'x' y",
            "annotations:",
            "annotations: {}",
            "annotations: x",
            "helm.sh/hook: pre-install",
            "helm.sh/hook: \"test\"",
            "helm.sh/hook: 1",
            "helm.sh/hook: |",
            "helm.sh/hook:",
            "a: b",
            "a: .inf",
            "a: -.Inf",
            "a: 1e999",
            "a: 1e9",
            "a: |",
            "a: >-",
            "a: |2",
            "a: [1]",
            "a: {}",
            "a: []",
            "a: {a: 1}",
            "- x",
            "- a: 1",
            "-",
            "- |",
            "- - x",
            "- 'q'",
            "- \"q",
            "x",
            "# c",
            "",
            "  ",
            "a: b #c",
            "a: b: c",
            "a: 'x",
            "a: \"x\\qy\"",
            "a: \"x\\ny\"",
            "a: \"\\u00e9\"",
            "&a b: c",
            "a: *x",
            "a: &x y",
            "a: !!str 1",
            "null: x",
            "~: x",
            "a:b",
            "? a",
            "---",
            "...",
            "b: ~",
            "b: yes",
            "a: - b",
            "a: -1",
            "a: --x",
            "a: ---",
            "a: b:",
            "a: :b",
            "content line",
            "a: 'b' c",
            "a: \"b\" #c",
            "a: \"b\"#c",
            "x: <<",
            "<<: {}",
            "1: a",
            "a.b/c-d: e",
            "-a: b",
            "_a: b",
            "a : b",
            "a:  b",
            "a: b ",
            "a: %x",
            "a: @x",
            "a: `x",
            "a: ,x",
            "a: ?x",
            "a: }",
            "a: x,y",
            "a: [",
            "a: 'it''s'",
            "name: ''",
            "kind: \"\"",
            "a: é",
            "a:\tb",
            "metadata:",
            "annotations:",
            "a: {b: c}",
            "a: [b, c]",
            "a: [{b: 1}]",
            "a: {b: {c: d}}",
            "a: [b, ]",
            "a: [b,, c]",
            "a: {b:c}",
            "a: {b: }",
            "a: [b: c]",
            "a: [.inf]",
            "a: {b: 1e999}",
            "a: ['x', \"y\"]",
            "a: [\"x\\\"\"]",
            "a: ['it''s']",
            "a: [a b]",
            "a: {a: b} x",
            "a: [a] #c",
            "kind: {a: b}",
            "metadata: {name: x}",
            "annotations: {a: b}",
            "- [a]",
            "- {a: b}",
            "a: [-]",
            "a: [- a]",
            "a: [~, null, yes]",
            "a: {null: x}",
            "a: [{]}",
            "a: [[[a]]]",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut fast = 0;
        for _ in 0..40_000 {
            let lines = 1 + next(9);
            let mut doc = String::new();
            for _ in 0..lines {
                doc.push_str(&" ".repeat([0, 0, 0, 1, 2, 2, 2, 3, 4, 4, 6][next(11)]));
                doc.push_str(BODIES[next(BODIES.len())]);
                doc.push('\n');
            }
            for d in crate::sorter::split_manifests(&doc) {
                fast += usize::from(check(&d));
            }
        }
        assert!(fast > 500, "{fast}");
    }
}
