//! The three regular expressions go-yaml v2 resolves plain scalars with, as hand-written matchers.
//!
//! Compiling them with the `regex` crate costs more than a small chart's whole render in a short
//! `tether render helm` process (each is built lazily, once per process, but that once is most of
//! the start-up). Each function below accepts exactly the strings its pattern accepts; the tests
//! check that against the `regex` crate over every string of a small alphabet and over mutations
//! of real timestamps.

/// A cursor over the bytes of a scalar.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor {
            s: s.as_bytes(),
            i: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Consumes one byte when `f` accepts it.
    fn eat(&mut self, f: impl Fn(u8) -> bool) -> bool {
        match self.peek() {
            Some(b) if f(b) => {
                self.i += 1;
                true
            }
            _ => false,
        }
    }

    /// Consumes as many bytes as `f` accepts, up to `max`; true when at least `min` were taken.
    fn eat_run(&mut self, f: impl Fn(u8) -> bool, min: usize, max: usize) -> bool {
        let mut n = 0;
        while n < max && self.eat(&f) {
            n += 1;
        }
        n >= min
    }

    fn done(&self) -> bool {
        self.i == self.s.len()
    }
}

fn digit(b: u8) -> bool {
    b.is_ascii_digit()
}

fn sign(b: u8) -> bool {
    b == b'+' || b == b'-'
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
pub(crate) fn is_float(s: &str) -> bool {
    let mut c = Cursor::new(s);
    c.eat(sign);
    if c.eat(|b| b == b'.') {
        if !c.eat_run(digit, 1, usize::MAX) {
            return false;
        }
    } else {
        if !c.eat_run(digit, 1, usize::MAX) {
            return false;
        }
        if c.eat(|b| b == b'.') {
            c.eat_run(digit, 0, usize::MAX);
        }
    }
    if c.eat(|b| b == b'e' || b == b'E') {
        c.eat(sign);
        if !c.eat_run(digit, 1, usize::MAX) {
            return false;
        }
    }
    c.done()
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
pub(crate) fn is_base60(s: &str) -> bool {
    let digit_ = |b: u8| b.is_ascii_digit() || b == b'_';
    let mut c = Cursor::new(s);
    c.eat(sign);
    if !c.eat(digit) {
        return false;
    }
    c.eat_run(digit_, 0, usize::MAX);
    let mut groups = 0;
    while c.eat(|b| b == b':') {
        // `[0-5]?[0-9]`: two digits when the first is 0-5 and a digit follows. Taking one digit
        // instead would leave a digit where only `:`, `.` or the end may follow, so this choice is
        // the only one that can match.
        match (c.peek(), c.s.get(c.i + 1).copied()) {
            (Some(b'0'..=b'5'), Some(b'0'..=b'9')) => c.i += 2,
            (Some(b'0'..=b'9'), _) => c.i += 1,
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if c.eat(|b| b == b'.') {
        c.eat_run(digit_, 0, usize::MAX);
    }
    c.done()
}

/// `^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}(?::[0-9]{2})?))|(?: [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?))?$`
pub(crate) fn is_timestamp(s: &str) -> bool {
    let mut c = Cursor::new(s);
    let colon = |b: u8| b == b':';
    if !(c.eat_run(digit, 4, 4)
        && c.eat(|b| b == b'-')
        && c.eat_run(digit, 1, 2)
        && c.eat(|b| b == b'-')
        && c.eat_run(digit, 1, 2))
    {
        return false;
    }
    if c.done() {
        return true;
    }
    let with_zone = match c.peek() {
        Some(b'T' | b't') => true,
        Some(b' ') => false,
        _ => return false,
    };
    c.i += 1;
    if !(c.eat_run(digit, 1, 2)
        && c.eat(colon)
        && c.eat_run(digit, 1, 2)
        && c.eat(colon)
        && c.eat_run(digit, 1, 2))
    {
        return false;
    }
    if c.eat(|b| b == b'.') && !c.eat_run(digit, 1, usize::MAX) {
        return false;
    }
    if with_zone && !c.eat(|b| b == b'Z') {
        if !(c.eat(sign) && c.eat_run(digit, 2, 2)) {
            return false;
        }
        if c.eat(colon) && !c.eat_run(digit, 2, 2) {
            return false;
        }
    }
    c.done()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOAT: &str = r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$";
    const BASE60: &str = r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$";
    const TIMESTAMP: &str = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}(?::[0-9]{2})?))|(?: [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?))?$";

    fn all_strings(alphabet: &[char], max_len: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..max_len {
            let mut next = Vec::new();
            for s in &frontier {
                for &c in alphabet {
                    let mut t = s.clone();
                    t.push(c);
                    next.push(t);
                }
            }
            out.extend(next.iter().cloned());
            frontier = next;
        }
        out
    }

    #[test]
    fn float_and_base60_match_their_patterns_on_every_short_string() {
        let (float, base60) = (
            regex::Regex::new(FLOAT).unwrap(),
            regex::Regex::new(BASE60).unwrap(),
        );
        for s in all_strings(&['0', '6', '.', 'e', '+', '-', '_', ':', 'x'], 6) {
            assert_eq!(is_float(&s), float.is_match(&s), "float {s:?}");
            assert_eq!(is_base60(&s), base60.is_match(&s), "base60 {s:?}");
        }
        // Longer digit runs around the `[0-5]?[0-9]` choice.
        for s in all_strings(&['1', '5', '7', ':', '.'], 8) {
            assert_eq!(is_base60(&s), base60.is_match(&s), "base60 {s:?}");
        }
    }

    #[test]
    fn timestamp_matches_its_pattern_on_mutations_of_timestamps() {
        let re = regex::Regex::new(TIMESTAMP).unwrap();
        let seeds = [
            "2001-12-14",
            "2001-1-4",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14T21:59:43Z",
            "2001-12-14T1:5:3+05",
            "2001-12-14 21:59:43.10",
            "2002-12-14 1:2:3",
        ];
        let alphabet = ['0', '9', '-', '+', ':', '.', 'T', 't', 'Z', ' ', 'x'];
        for seed in seeds {
            let chars: Vec<char> = seed.chars().collect();
            let mut cases = vec![seed.to_string()];
            for i in 0..=chars.len() {
                for &a in &alphabet {
                    // insert, replace
                    let mut t = chars.clone();
                    t.insert(i, a);
                    cases.push(t.iter().collect());
                    if i < chars.len() {
                        let mut t = chars.clone();
                        t[i] = a;
                        cases.push(t.iter().collect());
                    }
                }
                if i < chars.len() {
                    let mut t = chars.clone();
                    t.remove(i);
                    cases.push(t.iter().collect());
                    cases.push(chars[..i].iter().collect());
                }
            }
            for s in cases {
                assert_eq!(is_timestamp(&s), re.is_match(&s), "timestamp {s:?}");
            }
        }
    }
}
