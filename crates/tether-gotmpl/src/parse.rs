//! Parser for Go `text/template`: builds the node tree, checks functions and variables, and reports errors
//! with Go's wording (`template: NAME:LINE: MSG`).

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use crate::lex::{Item, Tok, lex};

/// A number literal, with the interpretations Go's parser records.
#[derive(Clone, Debug)]
pub struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub uint: Option<u64>,
    pub float: Option<f64>,
    pub is_char: bool,
}

#[derive(Clone, Debug)]
pub enum Arg {
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    Variable {
        pos: usize,
        idents: Vec<String>,
    },
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    Ident {
        pos: usize,
        name: String,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    Bool {
        pos: usize,
        val: bool,
    },
    Number {
        pos: usize,
        num: Box<Number>,
    },
    Str {
        pos: usize,
        quoted: String,
        val: Arc<str>,
    },
    Pipe(Box<Pipe>),
}

#[derive(Clone, Debug)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Clone, Debug)]
pub struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Clone, Debug)]
pub enum Node {
    Text(Arc<str>),
    Action {
        pos: usize,
        pipe: Pipe,
    },
    If(Branch),
    With(Branch),
    Range(Branch),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break {
        pos: usize,
    },
    Continue {
        pos: usize,
    },
}

#[derive(Clone, Debug)]
pub struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// One parsed template: a file or a `define`.
#[derive(Debug)]
pub struct Tree {
    pub name: String,
    /// The file the template text came from (used in error locations).
    pub parse_name: String,
    pub source: Arc<str>,
    /// Shared by the trees of files with the same text (a library chart in several subcharts).
    pub root: Arc<[Node]>,
}

impl Tree {
    /// This tree as parsed from a file named `file` with the same text.
    pub fn renamed(&self, name: &str, file: &str) -> Tree {
        Tree {
            name: name.to_string(),
            parse_name: file.to_string(),
            source: self.source.clone(),
            root: self.root.clone(),
        }
    }

    /// `NAME:LINE:COL` for a byte offset, as Go's `ErrorContext` computes it.
    pub fn location(&self, pos: usize) -> String {
        let pos = pos.min(self.source.len());
        let text = &self.source[..pos];
        let line = 1 + text.matches('\n').count();
        let col = match text.rfind('\n') {
            None => pos,
            Some(i) => pos - (i + 1),
        };
        format!("{}:{}:{}", self.parse_name, line, col)
    }
}

pub type ParseError = String;

/// Parses one source file. Returns the file's tree and its `define`d trees.
pub fn parse_file(
    name: &str,
    src: &str,
    is_func: &dyn Fn(&str) -> bool,
) -> Result<(Tree, Vec<Tree>), ParseError> {
    let source: Arc<str> = Arc::from(src);
    let lexed = lex(src);
    let mut p = Parser {
        items: lexed.items,
        lex_error: lexed.error,
        i: 0,
        name: name.to_string(),
        vars: vec!["$"],
        is_func,
        defines: Vec::new(),
        source: source.clone(),
        range_depth: 0,
    };
    let root = p.parse_top()?;
    let tree = Tree {
        name: name.to_string(),
        parse_name: name.to_string(),
        source,
        root: root.into(),
    };
    Ok((tree, p.defines))
}

struct Parser<'a, 'f> {
    items: Vec<Item<'a>>,
    /// The message of a `Tok::Error` token.
    lex_error: String,
    i: usize,
    name: String,
    vars: Vec<&'a str>,
    is_func: &'f dyn Fn(&str) -> bool,
    defines: Vec<Tree>,
    source: Arc<str>,
    range_depth: usize,
}

enum ListEnd {
    End,
    Else,
}

impl<'a> Parser<'a, '_> {
    fn next(&mut self) -> Item<'a> {
        let it = self.items.get(self.i).copied().unwrap_or(Item {
            tok: Tok::Eof,
            pos: 0,
            line: 0,
        });
        if self.i < self.items.len() {
            self.i += 1;
        }
        it
    }
    fn backup(&mut self) {
        self.i -= 1;
    }
    fn peek(&self) -> Item<'a> {
        self.items.get(self.i).copied().unwrap_or(Item {
            tok: Tok::Eof,
            pos: 0,
            line: 0,
        })
    }
    fn next_non_space(&mut self) -> Item<'a> {
        loop {
            let it = self.next();
            if it.tok != Tok::Space {
                return it;
            }
        }
    }
    fn peek_non_space(&mut self) -> Item<'a> {
        let it = self.next_non_space();
        self.backup();
        it
    }
    fn err<T>(&self, line: usize, msg: impl fmt::Display) -> Result<T, ParseError> {
        let msg = msg
            .to_string()
            .replace(crate::lex::UNCLOSED_NAME, &self.name);
        Err(format!("template: {}:{}: {}", self.name, line, msg))
    }
    fn unexpected<T>(&self, it: &Item<'a>, context: &str) -> Result<T, ParseError> {
        if let Tok::Error = it.tok {
            return self.err(it.line, &self.lex_error);
        }
        self.err(
            it.line,
            format!("unexpected {} in {}", item_str(&it.tok), context),
        )
    }

    fn parse_top(&mut self) -> Result<Vec<Node>, ParseError> {
        let mut nodes = Vec::new();
        loop {
            let it = self.peek();
            if it.tok == Tok::Eof {
                break;
            }
            if it.tok == Tok::LeftDelim {
                let save = self.i;
                self.next();
                let d = self.next_non_space();
                if d.tok == Tok::Keyword("define") {
                    self.parse_define(d.line)?;
                    continue;
                }
                self.i = save;
            }
            if let Some(n) = self.text_or_action()? {
                nodes.push(n);
            }
        }
        Ok(nodes)
    }

    fn parse_define(&mut self, line: usize) -> Result<(), ParseError> {
        let ctx = "define clause";
        let name_it = self.next_non_space();
        let name = match &name_it.tok {
            Tok::Str(s) | Tok::RawStr(s) => unquote(s)
                .map_err(|e| format!("template: {}:{}: {}", self.name, name_it.line, e))?,
            _ => return self.unexpected(&name_it, ctx),
        };
        let close = self.next_non_space();
        if close.tok != Tok::RightDelim {
            return self.unexpected(&close, ctx);
        }
        let saved = std::mem::replace(&mut self.vars, vec!["$"]);
        let (list, end) = self.item_list(true)?;
        self.vars = saved;
        if let ListEnd::Else = end {
            return self.err(line, "unexpected {{else}}");
        }
        self.defines.push(Tree {
            name,
            parse_name: self.name.clone(),
            source: self.source.clone(),
            root: list.into(),
        });
        Ok(())
    }

    /// Parses nodes until `{{end}}` or `{{else}}` (when in_block) or EOF.
    fn item_list(&mut self, in_define: bool) -> Result<(Vec<Node>, ListEnd), ParseError> {
        let _ = in_define;
        let mut nodes = Vec::new();
        loop {
            let it = self.peek_non_space();
            if it.tok == Tok::Eof {
                let it = self.next();
                return self.err(it.line, "unexpected EOF");
            }
            if it.tok == Tok::LeftDelim {
                let save = self.i;
                self.next_non_space();
                let k = self.next_non_space();
                match k.tok {
                    Tok::Keyword("end") => {
                        let c = self.next_non_space();
                        if c.tok != Tok::RightDelim {
                            return self.unexpected(&c, "end");
                        }
                        return Ok((nodes, ListEnd::End));
                    }
                    Tok::Keyword("else") => {
                        return Ok((nodes, ListEnd::Else));
                    }
                    Tok::Keyword("define") => {
                        return self.err(k.line, "unexpected <define> in command");
                    }
                    _ => self.i = save,
                }
            }
            if let Some(n) = self.text_or_action()? {
                nodes.push(n);
            }
        }
    }

    fn text_or_action(&mut self) -> Result<Option<Node>, ParseError> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Text(t) => Ok(Some(Node::Text(Arc::from(t)))),
            Tok::Comment => Ok(None),
            Tok::LeftDelim => {
                let n = self.action()?;
                Ok(Some(n))
            }
            Tok::Error => self.err(it.line, &self.lex_error),
            _ => self.unexpected(&it, "input"),
        }
    }

    fn action(&mut self) -> Result<Node, ParseError> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Keyword("block") => return self.block_control(it.line),
            Tok::Keyword("break") => return self.break_continue(it, "break"),
            Tok::Keyword("continue") => return self.break_continue(it, "continue"),
            Tok::Keyword("else") => return self.err(it.line, "unexpected {{else}}"),
            Tok::Keyword("end") => return self.err(it.line, "unexpected {{end}}"),
            Tok::Keyword("if") => return Ok(Node::If(self.branch("if", it.pos, it.line, true)?)),
            Tok::Keyword("range") => {
                self.range_depth += 1;
                let b = self.branch("range", it.pos, it.line, false);
                self.range_depth -= 1;
                return Ok(Node::Range(b?));
            }
            Tok::Keyword("template") => return self.template_control(it.line, it.pos),
            Tok::Keyword("with") => {
                return Ok(Node::With(self.branch("with", it.pos, it.line, true)?));
            }
            _ => {}
        }
        self.backup();
        let it = self.peek();
        let pipe = self.pipeline("command", it.line, true)?;
        Ok(Node::Action { pos: it.pos, pipe })
    }

    fn break_continue(&mut self, it: Item<'a>, kw: &str) -> Result<Node, ParseError> {
        let c = self.next_non_space();
        if c.tok != Tok::RightDelim {
            return self.unexpected(&c, &format!("{{{{{kw}}}}}"));
        }
        if self.range_depth == 0 {
            return self.err(it.line, format!("{{{{{kw}}}}} outside {{{{range}}}}"));
        }
        Ok(if kw == "break" {
            Node::Break { pos: it.pos }
        } else {
            Node::Continue { pos: it.pos }
        })
    }

    fn branch(
        &mut self,
        ctx: &str,
        pos: usize,
        line: usize,
        allow_else_if: bool,
    ) -> Result<Branch, ParseError> {
        let nvars = self.vars.len();
        let pipe = self.pipeline(ctx, line, true)?;
        if pipe.cmds.is_empty() {
            return self.err(line, format!("missing value for {ctx}"));
        }
        let (list, end) = self.item_list(false)?;
        let mut else_list = None;
        if let ListEnd::Else = end {
            // "else if" / "else with" chains.
            let next = self.peek_non_space();
            if allow_else_if
                && ((ctx == "if" && next.tok == Tok::Keyword("if"))
                    || (ctx == "with" && next.tok == Tok::Keyword("with")))
            {
                let kw = self.next_non_space();
                let inner = self.branch(ctx, kw.pos, kw.line, true)?;
                let node = if ctx == "if" {
                    Node::If(inner)
                } else {
                    Node::With(inner)
                };
                else_list = Some(vec![node]);
            } else {
                let c = self.next_non_space();
                if c.tok != Tok::RightDelim {
                    return self.unexpected(&c, "else");
                }
                let (el, end2) = self.item_list(false)?;
                if let ListEnd::Else = end2 {
                    return self.err(line, "expected end; found {{else}}");
                }
                else_list = Some(el);
            }
        }
        self.vars.truncate(nvars);
        let _ = pos;
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn block_control(&mut self, line: usize) -> Result<Node, ParseError> {
        let ctx = "block clause";
        let tok = self.next_non_space();
        let name = match &tok.tok {
            Tok::Str(s) | Tok::RawStr(s) => {
                unquote(s).map_err(|e| format!("template: {}:{}: {}", self.name, tok.line, e))?
            }
            _ => return self.unexpected(&tok, ctx),
        };
        let pipe = self.pipeline(ctx, line, true)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$"]);
        let (list, end) = self.item_list(true)?;
        self.vars = saved;
        if let ListEnd::Else = end {
            return self.err(line, "unexpected {{else}}");
        }
        self.defines.push(Tree {
            name: name.clone(),
            parse_name: self.name.clone(),
            source: self.source.clone(),
            root: list.into(),
        });
        Ok(Node::Template {
            pos: tok.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn template_control(&mut self, line: usize, _pos: usize) -> Result<Node, ParseError> {
        let ctx = "template clause";
        let tok = self.next_non_space();
        let name = match &tok.tok {
            Tok::Str(s) | Tok::RawStr(s) => {
                unquote(s).map_err(|e| format!("template: {}:{}: {}", self.name, tok.line, e))?
            }
            _ => return self.unexpected(&tok, ctx),
        };
        let mut pipe = None;
        if self.next_non_space().tok != Tok::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(ctx, line, true)?);
        }
        Ok(Node::Template {
            pos: tok.pos,
            name,
            pipe,
        })
    }

    fn pipeline(&mut self, ctx: &str, line: usize, end_delim: bool) -> Result<Pipe, ParseError> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations.
        let v = self.peek_non_space();
        if let Tok::Variable(name) = &v.tok {
            let save = self.i;
            self.next_non_space();
            let next = self.peek();
            let tok_after_space = self.peek_non_space();
            match tok_after_space.tok {
                Tok::Assign | Tok::Declare => {
                    self.next_non_space();
                    pipe.is_assign = tok_after_space.tok == Tok::Assign;
                    pipe.decl.push(name.to_string());
                    if !pipe.is_assign {
                        self.vars.push(name);
                    }
                }
                Tok::Comma if ctx == "range" => {
                    self.next_non_space();
                    let v2 = self.next_non_space();
                    let Tok::Variable(n2) = &v2.tok else {
                        return self.err(v2.line, "range can only initialize variables");
                    };
                    let d = self.next_non_space();
                    match d.tok {
                        Tok::Comma => return self.err(d.line, "too many declarations in range"),
                        Tok::Declare | Tok::Assign => {
                            pipe.is_assign = d.tok == Tok::Assign;
                        }
                        _ => return self.err(d.line, "range can only initialize variables"),
                    }
                    pipe.decl.push(name.to_string());
                    pipe.decl.push(n2.to_string());
                    if !pipe.is_assign {
                        self.vars.push(name);
                        self.vars.push(n2);
                    }
                }
                Tok::Comma => {
                    return self.err(v.line, format!("too many declarations in {ctx}"));
                }
                _ => {
                    let _ = next;
                    self.i = save;
                }
            }
        }
        loop {
            let it = self.next_non_space();
            match &it.tok {
                Tok::RightDelim if end_delim => {
                    self.check_pipeline(&pipe, ctx, line)?;
                    return Ok(pipe);
                }
                Tok::RightParen if !end_delim => {
                    self.check_pipeline(&pipe, ctx, line)?;
                    return Ok(pipe);
                }
                Tok::Bool(_)
                | Tok::Char(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::RawStr(_)
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.backup();
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return self.unexpected(&it, ctx),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, ctx: &str, line: usize) -> Result<(), ParseError> {
        if pipe.cmds.is_empty() {
            return self.err(line, format!("missing value for {ctx}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            match &c.args[0] {
                Arg::Bool { .. }
                | Arg::Dot { .. }
                | Arg::Nil { .. }
                | Arg::Number { .. }
                | Arg::Str { .. } => {
                    let _ = i;
                    return self.err(
                        line,
                        format!("non executable command in pipeline stage {}", i + 1),
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let start = self.peek_non_space();
        let mut cmd = Command {
            pos: start.pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            let operand = self.operand()?;
            if let Some(o) = operand {
                cmd.args.push(o);
            }
            let it = self.next();
            match &it.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(),
                Tok::Pipe => {}
                Tok::Error => return self.err(it.line, &self.lex_error),
                _ => {
                    return self.err(
                        it.line,
                        format!("unexpected {} in operand", item_str(&it.tok)),
                    );
                }
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.err(start.line, "empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> Result<Option<Arg>, ParseError> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if let Tok::Field(_) = self.peek().tok {
            let chain_pos = self.peek().pos;
            let mut fields = Vec::new();
            while let Tok::Field(f) = self.peek().tok {
                self.next();
                fields.push(f[1..].to_string());
            }
            let pos = chain_pos;
            let line_it = self.peek();
            return Ok(Some(match node {
                Arg::Field { mut idents, .. } => {
                    idents.extend(fields);
                    Arg::Field { pos, idents }
                }
                Arg::Variable { mut idents, .. } => {
                    idents.extend(fields);
                    Arg::Variable { pos, idents }
                }
                Arg::Bool { .. }
                | Arg::Str { .. }
                | Arg::Number { .. }
                | Arg::Nil { .. }
                | Arg::Dot { .. } => {
                    return self.err(
                        line_it.line,
                        format!("unexpected . after term {:?}", node.to_string()),
                    );
                }
                other => Arg::Chain {
                    pos,
                    node: Box::new(other),
                    fields,
                },
            }));
        }
        Ok(Some(node))
    }

    fn term(&mut self) -> Result<Option<Arg>, ParseError> {
        let it = self.next_non_space();
        Ok(Some(match it.tok {
            Tok::Ident(name) => {
                if !(self.is_func)(name) {
                    return self.err(it.line, format!("function {name:?} not defined"));
                }
                Arg::Ident {
                    pos: it.pos,
                    name: name.to_string(),
                }
            }
            Tok::Dot => Arg::Dot { pos: it.pos },
            Tok::Nil => Arg::Nil { pos: it.pos },
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return self.err(it.line, format!("undefined variable {name:?}"));
                }
                Arg::Variable {
                    pos: it.pos,
                    idents: vec![name.to_string()],
                }
            }
            Tok::Field(f) => Arg::Field {
                pos: it.pos,
                idents: vec![f[1..].to_string()],
            },
            Tok::Bool(b) => Arg::Bool {
                pos: it.pos,
                val: b,
            },
            Tok::Char(s) | Tok::Number(s) => {
                let is_char = s.starts_with('\'');
                let num = parse_number(s, is_char)
                    .map_err(|e| format!("template: {}:{}: {}", self.name, it.line, e))?;
                Arg::Number {
                    pos: it.pos,
                    num: Box::new(num),
                }
            }
            Tok::LeftParen => {
                let pipe = self.pipeline("parenthesized pipeline", it.line, false)?;
                Arg::Pipe(Box::new(pipe))
            }
            Tok::Str(s) | Tok::RawStr(s) => {
                let val = unquote(s)
                    .map_err(|e| format!("template: {}:{}: {}", self.name, it.line, e))?;
                Arg::Str {
                    pos: it.pos,
                    quoted: s.to_string(),
                    val: Arc::from(val),
                }
            }
            Tok::Error => return self.err(it.line, &self.lex_error),
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

fn arg_pos(a: &Arg) -> usize {
    match a {
        Arg::Field { pos, .. }
        | Arg::Variable { pos, .. }
        | Arg::Chain { pos, .. }
        | Arg::Ident { pos, .. }
        | Arg::Dot { pos }
        | Arg::Nil { pos }
        | Arg::Bool { pos, .. }
        | Arg::Number { pos, .. }
        | Arg::Str { pos, .. } => *pos,
        Arg::Pipe(p) => p.pos,
    }
}

impl Arg {
    pub fn pos(&self) -> usize {
        arg_pos(self)
    }
}

fn item_str(t: &Tok) -> String {
    match t {
        Tok::Eof => "EOF".into(),
        Tok::Error => "<error>".into(),
        Tok::Text(s) => format!("{s:?}"),
        Tok::Comment => "<comment>".into(),
        Tok::LeftDelim => "\"{{\"".into(),
        Tok::RightDelim => "\"}}\"".into(),
        Tok::Space => "\" \"".into(),
        Tok::Ident(s) | Tok::Field(s) | Tok::Variable(s) | Tok::Number(s) | Tok::Char(s) => {
            format!("{s:?}")
        }
        Tok::Keyword(k) => format!("<{k}>"),
        Tok::Dot => "<.>".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Str(s) | Tok::RawStr(s) => format!("{s:?}"),
        Tok::Bool(b) => format!("\"{b}\""),
        Tok::Nil => "<nil>".into(),
        Tok::LeftParen => "\"(\"".into(),
        Tok::RightParen => "\")\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Char1(c) => format!("{:?}", c.to_string()),
    }
}

/// Go's `strconv.Unquote` for double-quoted, raw and char literals.
pub fn unquote(s: &str) -> Result<String, String> {
    if s.starts_with('`') {
        return Ok(s[1..s.len() - 1].replace('\r', ""));
    }
    let quote = s.chars().next().unwrap_or('"');
    let inner = &s[1..s.len().saturating_sub(1).max(1)];
    if quote == '"' && !inner.contains('\\') {
        return Ok(inner.to_string());
    }
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    let bad = || "invalid syntax".to_string();
    let mut bytes_pending: Vec<u8> = Vec::new();
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush_bytes(&mut bytes_pending, &mut out);
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or_else(bad)?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '\'' if quote == '\'' => out.push('\''),
            '"' if quote == '"' => out.push('"'),
            'x' => {
                let h: String = (0..2).filter_map(|_| chars.next()).collect();
                let b = u8::from_str_radix(&h, 16).map_err(|_| bad())?;
                bytes_pending.push(b);
                continue;
            }
            '0'..='7' => {
                let mut o = String::from(e);
                for _ in 0..2 {
                    o.push(chars.next().ok_or_else(bad)?);
                }
                let b = u32::from_str_radix(&o, 8).map_err(|_| bad())?;
                if b > 255 {
                    return Err(bad());
                }
                bytes_pending.push(b as u8);
                continue;
            }
            'u' | 'U' => {
                let n = if e == 'u' { 4 } else { 8 };
                let h: String = (0..n).filter_map(|_| chars.next()).collect();
                let v = u32::from_str_radix(&h, 16).map_err(|_| bad())?;
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
        flush_bytes(&mut bytes_pending, &mut out);
    }
    flush_bytes(&mut bytes_pending, &mut out);
    Ok(out)
}

fn flush_bytes(b: &mut Vec<u8>, out: &mut String) {
    if !b.is_empty() {
        out.push_str(&String::from_utf8_lossy(b));
        b.clear();
    }
}

fn parse_number(text: &str, is_char: bool) -> Result<Number, String> {
    let mut n = Number {
        text: text.to_string(),
        int: None,
        uint: None,
        float: None,
        is_char,
    };
    if is_char {
        let s = unquote(text).map_err(|_| format!("malformed character constant: {text}"))?;
        let mut cs = s.chars();
        let c = cs
            .next()
            .ok_or_else(|| format!("malformed character constant: {text}"))?;
        if cs.next().is_some() {
            return Err(format!("malformed character constant: {text}"));
        }
        n.int = Some(c as i64);
        n.uint = Some(c as u64);
        n.float = Some(c as u32 as f64);
        return Ok(n);
    }
    if text.ends_with('i') {
        return Err(format!("complex numbers are not supported: {text}"));
    }
    let clean = text.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let parsed_u: Option<u64> = if let Some(h) = lower.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit())
    {
        u64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<u64>().ok()
    };
    if let Some(u) = parsed_u {
        if neg {
            if u <= i64::MAX as u64 + 1 {
                n.int = Some((-(u as i128)) as i64);
            }
        } else {
            n.uint = Some(u);
            if u <= i64::MAX as u64 {
                n.int = Some(u as i64);
            }
        }
    }
    let is_hex = lower.starts_with("0x");
    if let Some(i) = n.int {
        n.float = Some(i as f64);
    } else if let Some(u) = n.uint {
        n.float = Some(u as f64);
    } else if !is_hex && !clean.contains(['.', 'e', 'E', 'p', 'P']) {
        return Err(format!("integer overflow: {text:?}"));
    } else if !is_hex {
        match clean.parse::<f64>() {
            Ok(f) if f.is_finite() => {
                n.float = Some(f);
                // Go: a float with an integral value is also an int (e.g. 1.0, 1e3).
                if f == f.trunc() && f.abs() < 9.2e18 {
                    n.int = Some(f as i64);
                    if f >= 0.0 {
                        n.uint = Some(f as u64);
                    }
                }
            }
            _ => {}
        }
    }
    if n.int.is_none() && n.uint.is_none() && n.float.is_none() {
        return Err(format!("illegal number syntax: {text:?}"));
    }
    Ok(n)
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { idents, .. } => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Variable { idents, .. } => write!(f, "{}", idents.join(".")),
            Arg::Chain { node, fields, .. } => {
                if let Arg::Pipe(_) = **node {
                    write!(f, "({node})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Ident { name, .. } => f.write_str(name),
            Arg::Dot { .. } => f.write_str("."),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Bool { val, .. } => write!(f, "{val}"),
            Arg::Number { num, .. } => f.write_str(&num.text),
            Arg::Str { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            if let Arg::Pipe(_) = a {
                write!(f, "({a})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(f, "{}", self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl Node {
    /// Position of the node, as Go records it.
    pub fn pos(&self) -> usize {
        match self {
            Node::Text(_) => 0,
            Node::Action { pos, .. }
            | Node::Template { pos, .. }
            | Node::Break { pos }
            | Node::Continue { pos } => *pos,
            Node::If(b) | Node::With(b) | Node::Range(b) => b.pos,
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, nodes: &[Node]) -> fmt::Result {
    for n in nodes {
        write!(f, "{n}")?;
    }
    Ok(())
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let branch = |f: &mut fmt::Formatter<'_>, kw: &str, b: &Branch| -> fmt::Result {
            write!(f, "{{{{{kw} {}}}}}", b.pipe)?;
            write_list(f, &b.list)?;
            if let Some(e) = &b.else_list {
                f.write_str("{{else}}")?;
                write_list(f, e)?;
            }
            f.write_str("{{end}}")
        };
        match self {
            Node::Text(t) => f.write_str(t),
            Node::Action { pipe, .. } => write!(f, "{{{{{pipe}}}}}"),
            Node::If(b) => branch(f, "if", b),
            Node::With(b) => branch(f, "with", b),
            Node::Range(b) => branch(f, "range", b),
            Node::Template {
                name,
                pipe: Some(p),
                ..
            } => write!(f, "{{{{template {name:?} {p}}}}}"),
            Node::Template {
                name, pipe: None, ..
            } => write!(f, "{{{{template {name:?}}}}}"),
            Node::Break { .. } => f.write_str("{{break}}"),
            Node::Continue { .. } => f.write_str("{{continue}}"),
        }
    }
}

/// A name -> tree table, used by callers that need all definitions.
pub type TreeMap = HashMap<String, Arc<Tree>>;
