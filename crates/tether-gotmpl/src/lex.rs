//! Lexer for Go `text/template`, following the item kinds and error wording of Go's `text/template/parse`.

/// A token. Payloads borrow the source text; the parser copies what it keeps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tok<'a> {
    Text(&'a str),
    Comment,
    LeftDelim,
    RightDelim,
    Space,
    Ident(&'a str),
    Keyword(&'static str),
    Field(&'a str),
    Variable(&'a str),
    Dot,
    Pipe,
    Declare,
    Assign,
    Char(&'a str),
    Number(&'a str),
    Str(&'a str),
    RawStr(&'a str),
    Bool(bool),
    Nil,
    LeftParen,
    RightParen,
    Comma,
    /// A printable ASCII character with no meaning in actions (Go's itemChar).
    Char1(char),
    Eof,
    /// Lexing stopped here; the message is [`Lexed::error`].
    Error,
}

#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub tok: Tok<'a>,
    pub pos: usize,
    pub line: usize,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

/// Placeholder for the template name in lexer errors that mention it.
pub const UNCLOSED_NAME: &str = "\u{0}NAME\u{0}";

pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    start: usize,
    line: usize,
    start_line: usize,
    items: Vec<Item<'a>>,
    error: String,
    paren_depth: usize,
    in_action: bool,
    action_line: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The tokens of one input, ending with `Eof` or `Error`.
pub struct Lexed<'a> {
    pub items: Vec<Item<'a>>,
    /// The message of the final `Error` token (empty when lexing succeeded).
    pub error: String,
}

/// Lexes the whole input.
pub fn lex(src: &str) -> Lexed<'_> {
    let mut l = Lexer {
        src,
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        // About one token per 6 bytes of template text.
        items: Vec::with_capacity(src.len() / 6 + 4),
        error: String::new(),
        paren_depth: 0,
        in_action: false,
        action_line: 1,
    };
    l.run();
    Lexed {
        items: l.items,
        error: l.error,
    }
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }
    fn peek(&self) -> Option<char> {
        match *self.src.as_bytes().get(self.pos)? {
            b if b.is_ascii() => Some(b as char),
            _ => self.rest().chars().next(),
        }
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }
    fn backup(&mut self, c: char) {
        self.pos -= c.len_utf8();
        if c == '\n' {
            self.line -= 1;
        }
    }
    fn emit(&mut self, tok: Tok<'a>) {
        self.items.push(Item {
            tok,
            pos: self.start,
            line: self.start_line,
        });
        self.start = self.pos;
        self.start_line = self.line;
    }
    fn ignore(&mut self) {
        self.line_adjust();
        self.start = self.pos;
        self.start_line = self.line;
    }
    fn line_adjust(&mut self) {}
    fn error(&mut self, msg: String) {
        self.error = msg;
        self.items.push(Item {
            tok: Tok::Error,
            pos: self.start,
            line: self.start_line,
        });
    }
    fn cur(&self) -> &'a str {
        &self.src[self.start..self.pos]
    }

    fn run(&mut self) {
        loop {
            let done = if self.in_action {
                self.lex_inside()
            } else {
                self.lex_text()
            };
            if done {
                return;
            }
        }
    }

    /// Returns true when lexing finished.
    fn lex_text(&mut self) -> bool {
        match self.rest().find("{{") {
            Some(i) => {
                let delim_pos = self.pos + i;
                // Trim marker: "{{- " (dash followed by ASCII space).
                let after = &self.src[delim_pos + 2..];
                let trim = after.starts_with('-') && after[1..].starts_with(is_space);
                let mut text_end = delim_pos;
                if trim {
                    text_end = self.src[self.pos..delim_pos]
                        .trim_end_matches(is_space)
                        .len()
                        + self.pos;
                }
                self.advance_to(text_end);
                if text_end > self.start {
                    let t = self.cur();
                    self.emit(Tok::Text(t));
                }
                self.advance_to(delim_pos);
                self.ignore();
                self.lex_left_delim(trim)
            }
            None => {
                self.advance_to(self.src.len());
                if self.pos > self.start {
                    let t = self.cur();
                    self.emit(Tok::Text(t));
                }
                self.emit(Tok::Eof);
                true
            }
        }
    }

    /// Moves to byte offset `p` (a character boundary at or after the current position).
    fn advance_to(&mut self, p: usize) {
        if p > self.pos {
            self.line += memchr_count(b'\n', &self.src.as_bytes()[self.pos..p]);
            self.pos = p;
        }
    }

    fn lex_left_delim(&mut self, trim: bool) -> bool {
        self.advance_to(self.pos + 2);
        if trim {
            self.advance_to(self.pos + 2);
        }
        // Comment?
        if self.rest().starts_with("/*") {
            self.ignore();
            return self.lex_comment();
        }
        // Emit the delimiter at the position of "{{".
        let start = self.start;
        self.action_line = self.start_line;
        self.items.push(Item {
            tok: Tok::LeftDelim,
            pos: start,
            line: self.start_line,
        });
        self.ignore();
        self.in_action = true;
        self.paren_depth = 0;
        false
    }

    fn lex_comment(&mut self) -> bool {
        let Some(i) = self.rest().find("*/") else {
            self.error("unclosed comment".into());
            return true;
        };
        self.advance_to(self.pos + i + 2);
        // Right delimiter, possibly trimmed.
        let (trim, ok) = self.at_right_delim();
        if !ok {
            self.error("comment ends before closing delimiter".into());
            return true;
        }
        self.emit(Tok::Comment);
        if trim {
            self.advance_to(self.pos + 4);
        } else {
            self.advance_to(self.pos + 2);
        }
        self.ignore();
        if trim {
            self.skip_trailing_space();
        }
        false
    }

    fn skip_trailing_space(&mut self) {
        while let Some(c) = self.peek() {
            if is_space(c) {
                self.next();
            } else {
                break;
            }
        }
        self.ignore();
    }

    /// Whether the input is at a right delimiter: (trim, found).
    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest();
        // " -}}" : space then dash then delim.
        let mut chars = r.char_indices();
        if let Some((_, c)) = chars.next()
            && is_space(c)
            && r[1..].starts_with("-}}")
        {
            return (true, true);
        }
        (false, r.starts_with("}}"))
    }

    fn lex_inside(&mut self) -> bool {
        let (trim, found) = self.at_right_delim();
        if found && self.paren_depth > 0 {
            self.error("unclosed left paren".into());
            return true;
        }
        if found {
            if trim {
                // Emit spaces? Go ignores the space before " -}}".
                self.advance_to(self.pos + 1);
                self.ignore();
                self.advance_to(self.pos + 1);
            }
            self.ignore();
            self.advance_to(self.pos + 2);
            self.emit(Tok::RightDelim);
            self.in_action = false;
            if trim {
                self.skip_trailing_space();
            }
            return false;
        }
        let Some(c) = self.next() else {
            // Go names the action's first line when the input ends on a later one; the parser
            // substitutes the template name for the marker.
            if self.line != self.action_line {
                self.error(format!(
                    "unclosed action started at {UNCLOSED_NAME}:{}",
                    self.action_line
                ));
                return true;
            }
            self.error("unclosed action".into());
            return true;
        };
        match c {
            c if is_space(c) => {
                // Spaces up to a possible trim marker.
                while let Some(c) = self.peek() {
                    if !is_space(c) {
                        break;
                    }
                    if self.rest().len() > 1
                        && self.rest()[1..].starts_with("-}}")
                        && self.paren_depth == 0
                    {
                        break;
                    }
                    self.next();
                }
                self.emit(Tok::Space);
            }
            '=' => self.emit(Tok::Assign),
            ':' => {
                if self.peek() != Some('=') {
                    self.error("expected :=".into());
                    return true;
                }
                self.next();
                self.emit(Tok::Declare);
            }
            '|' => self.emit(Tok::Pipe),
            '"' => return self.lex_quote(),
            '`' => return self.lex_raw_quote(),
            '$' => {
                self.lex_field_tail();
                if !self.at_terminator() {
                    let n = self.peek().unwrap_or(' ');
                    self.error(format!("bad character {}", go_unicode(n)));
                    return true;
                }
                let s = self.cur();
                self.emit(Tok::Variable(s));
            }
            '\'' => return self.lex_char(),
            '.' => {
                if let Some(n) = self.peek() {
                    if n.is_ascii_digit() {
                        self.backup('.');
                        return self.lex_number();
                    }
                    if is_alnum(n) {
                        self.lex_field_tail();
                        if !self.at_terminator() {
                            let n = self.peek().unwrap_or(' ');
                            self.error(format!("bad character {}", go_unicode(n)));
                            return true;
                        }
                        let s = self.cur();
                        self.emit(Tok::Field(s));
                        return false;
                    }
                }
                self.emit(Tok::Dot);
            }
            '+' | '-' | '0'..='9' => {
                self.backup(c);
                return self.lex_number();
            }
            c if is_alnum(c) => {
                while let Some(n) = self.peek() {
                    if is_alnum(n) {
                        self.next();
                    } else {
                        break;
                    }
                }
                let word = self.cur();
                if !self.at_terminator() {
                    let n = self.peek().unwrap_or(' ');
                    self.error(format!("bad character {}", go_unicode(n)));
                    return true;
                }
                let tok = if let Some(k) = KEYWORDS.iter().find(|k| **k == word) {
                    Tok::Keyword(k)
                } else if word == "true" {
                    Tok::Bool(true)
                } else if word == "false" {
                    Tok::Bool(false)
                } else if word == "nil" {
                    Tok::Nil
                } else {
                    Tok::Ident(word)
                };
                self.emit(tok);
            }
            '(' => {
                self.paren_depth += 1;
                self.emit(Tok::LeftParen);
            }
            ')' => {
                if self.paren_depth == 0 {
                    self.error("unexpected right paren".into());
                    return true;
                }
                self.paren_depth -= 1;
                self.emit(Tok::RightParen);
            }
            ',' => self.emit(Tok::Comma),
            c if c.is_ascii() && !c.is_ascii_control() => self.emit(Tok::Char1(c)),
            c => {
                self.error(format!(
                    "unrecognized character in action: {}",
                    go_unicode(c)
                ));
                return true;
            }
        }
        false
    }

    fn at_terminator(&self) -> bool {
        let Some(c) = self.peek() else { return true };
        if is_space(c) {
            return true;
        }
        matches!(c, '.' | ',' | '|' | ':' | ')' | '(') || self.rest().starts_with("}}")
    }

    fn lex_field_tail(&mut self) {
        while let Some(n) = self.peek() {
            if is_alnum(n) {
                self.next();
            } else {
                break;
            }
        }
    }

    fn lex_quote(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => {
                    if let Some(c) = self.next()
                        && c != '\n'
                    {
                        continue;
                    }
                    self.error("unterminated quoted string".into());
                    return true;
                }
                Some('\n') | None => {
                    self.error("unterminated quoted string".into());
                    return true;
                }
                Some('"') => break,
                _ => {}
            }
        }
        let s = self.cur();
        self.emit(Tok::Str(s));
        false
    }

    fn lex_raw_quote(&mut self) -> bool {
        loop {
            match self.next() {
                None => {
                    self.error("unterminated raw quoted string".into());
                    return true;
                }
                Some('`') => break,
                _ => {}
            }
        }
        let s = self.cur();
        self.emit(Tok::RawStr(s));
        false
    }

    fn lex_char(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => {
                    if let Some(c) = self.next()
                        && c != '\n'
                    {
                        continue;
                    }
                    self.error("unterminated character constant".into());
                    return true;
                }
                Some('\n') | None => {
                    self.error("unterminated character constant".into());
                    return true;
                }
                Some('\'') => break,
                _ => {}
            }
        }
        let s = self.cur();
        self.emit(Tok::Char(s));
        false
    }

    fn lex_number(&mut self) -> bool {
        if !self.scan_number() {
            let s = self.cur_until_terminator();
            self.error(format!("bad number syntax: {:?}", s));
            return true;
        }
        if let Some(c) = self.peek()
            && (c == '+' || c == '-')
        {
            // complex
            if !self.scan_number() || self.src.as_bytes()[self.pos - 1] != b'i' {
                let s = self.cur_until_terminator();
                self.error(format!("bad number syntax: {:?}", s));
                return true;
            }
        }
        let s = self.cur();
        self.emit(Tok::Number(s));
        false
    }

    fn cur_until_terminator(&mut self) -> &'a str {
        self.cur()
    }

    fn accept(&mut self, valid: &str) -> bool {
        if let Some(c) = self.peek()
            && valid.contains(c)
        {
            self.next();
            return true;
        }
        false
    }
    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if let Some(c) = self.peek()
            && is_alnum(c)
        {
            self.next();
            return false;
        }
        true
    }
}

fn memchr_count(needle: u8, hay: &[u8]) -> usize {
    hay.iter().filter(|b| **b == needle).count()
}

/// Go's `%#U` formatting of a rune.
pub fn go_unicode(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{}'", c as u32, c)
    }
}
