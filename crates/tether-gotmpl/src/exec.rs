//! Execution of parsed templates, following Go's `text/template/exec.go`: variable scoping, field chains,
//! argument conversion and its error messages, `missingkey=zero`, range/with/if, and the error context
//! (`template: FILE:LINE:COL: executing "NAME" at <NODE>: MSG`).

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::Error;
use crate::fmt::{go_sprint, print_value};
use crate::funcs::{self, FuncKind, P};
use crate::parse::{Arg, Branch, Command, Node, Pipe, Tree};
use crate::value::{ListKind, Value};
use crate::{ExecOptions, Templates};

/// Flow of control out of a list of nodes.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// An evaluated value plus whether Go would see it as an `interface{}` (read out of a map or slice).
#[derive(Clone)]
pub(crate) struct Val {
    pub v: Value,
    pub boxed: bool,
}

impl Val {
    fn plain(v: Value) -> Val {
        Val { v, boxed: false }
    }
}

/// Per-execution state shared by nested template calls, `include` and `tpl`.
pub struct Exec<'a> {
    pub(crate) set: &'a Templates,
    /// Defines added by `tpl` (visible only inside that `tpl` call), innermost last.
    pub(crate) overlays: Vec<Rc<HashMap<String, Arc<Tree>>>>,
    pub(crate) opts: &'a ExecOptions,
    pub(crate) include_counts: HashMap<String, usize>,
    pub(crate) depth: usize,
    pub(crate) out_budget: usize,
    pub(crate) steps: u64,
}

/// The node Go's `s.at(node)` last recorded: errors report its position and text.
#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Arg(&'t Arg),
    Cmd(&'t Command),
    Pipe(&'t Pipe),
    Node(&'t Node),
}

/// One template invocation's frame.
struct Frame<'t> {
    tree: Arc<Tree>,
    name: String,
    vars: Vec<(String, Val)>,
    at: At<'t>,
}

/// An error raised by execution, carrying Go's full message.
pub(crate) type EResult<T> = Result<T, Error>;

impl<'a> Exec<'a> {
    pub(crate) fn new(set: &'a Templates, opts: &'a ExecOptions) -> Exec<'a> {
        Exec {
            set,
            overlays: Vec::new(),
            opts,
            include_counts: HashMap::new(),
            depth: 0,
            out_budget: opts.limits.max_output,
            steps: 0,
        }
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<Arc<Tree>> {
        for o in self.overlays.iter().rev() {
            if let Some(t) = o.get(name) {
                return Some(t.clone());
            }
        }
        self.set.trees.get(name).cloned()
    }

    /// Executes the template `name` with `dot`, writing to a new string.
    pub(crate) fn exec_named(&mut self, name: &str, dot: Value) -> EResult<String> {
        let Some(tree) = self.lookup(name) else {
            return Err(Error::NoTemplate(name.to_string()));
        };
        self.exec_tree(tree, name, Val::plain(dot))
    }

    fn exec_tree(&mut self, tree: Arc<Tree>, name: &str, dot: Val) -> EResult<String> {
        if self.depth >= self.opts.limits.max_depth {
            return Err(Error::Limit(format!(
                "template: {}: exceeded maximum template depth ({})",
                name, self.opts.limits.max_depth
            )));
        }
        self.depth += 1;
        let t2 = tree.clone();
        let mut frame = Frame {
            tree,
            name: name.to_string(),
            vars: vec![("$".into(), dot.clone())],
            at: At::None,
        };
        let mut out = String::new();
        let r = stacker::maybe_grow(256 * 1024, 4 * 1024 * 1024, || {
            self.walk_list(&mut frame, &dot, &t2.root, &mut out)
        });
        self.depth -= 1;
        r?;
        Ok(out)
    }

    fn err(&self, f: &Frame<'_>, msg: impl std::fmt::Display) -> Error {
        let (pos, ctx) = match f.at {
            At::None => return Error::Exec(format!("template: {}: {msg}", f.name)),
            At::Arg(a) => (a.pos(), a.to_string()),
            At::Cmd(c) => (c.pos, c.to_string()),
            At::Pipe(p) => (p.pos, p.to_string()),
            At::Node(n) => (n.pos(), n.to_string()),
        };
        let loc = f.tree.location(pos);
        Error::Exec(format!(
            "template: {loc}: executing {:?} at <{ctx}>: {msg}",
            f.name
        ))
    }

    fn write(&mut self, out: &mut String, s: &str) -> EResult<()> {
        if s.len() > self.out_budget {
            return Err(Error::Limit(format!(
                "output exceeds {} bytes",
                self.opts.limits.max_output
            )));
        }
        self.out_budget -= s.len();
        out.push_str(s);
        Ok(())
    }

    fn step(&mut self) -> EResult<()> {
        self.steps += 1;
        if self.steps > self.opts.limits.max_steps {
            return Err(Error::Limit(format!(
                "execution exceeds {} steps",
                self.opts.limits.max_steps
            )));
        }
        Ok(())
    }

    fn walk_list<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &Val,
        nodes: &'t [Node],
        out: &mut String,
    ) -> EResult<Flow> {
        for n in nodes {
            match self.walk(f, dot, n, out)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &Val,
        node: &'t Node,
        out: &mut String,
    ) -> EResult<Flow> {
        self.step()?;
        f.at = At::Node(node);
        match node {
            Node::Text(t) => self.write(out, t)?,
            Node::Action { pos, pipe } => {
                let v = self.eval_pipeline(f, dot, pipe)?;
                if pipe.decl.is_empty() {
                    let _ = pos;
                    f.at = At::Node(node);
                    let s = print_value(&v.v).map_err(|e| self.err(f, e))?;
                    self.write(out, &s)?;
                }
            }
            Node::If(b) => return self.walk_if_with(f, dot, b, false, out),
            Node::With(b) => return self.walk_if_with(f, dot, b, true, out),
            Node::Range(b) => return self.walk_range(f, dot, b, out),
            Node::Template { name, pipe, .. } => {
                let Some(tree) = self.lookup(name) else {
                    return Err(self.err(f, format!("template {name:?} not defined")));
                };
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline(f, dot, p)?,
                    None => Val::plain(Value::Nil),
                };
                let s = self.exec_tree(tree, name, new_dot)?;
                self.write_prewritten(out, s);
            }
            Node::Break { .. } => return Ok(Flow::Break),
            Node::Continue { .. } => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    /// Appends output whose size was already charged to the budget.
    fn write_prewritten(&mut self, out: &mut String, s: String) {
        if out.is_empty() {
            *out = s;
        } else {
            out.push_str(&s);
        }
    }

    fn walk_if_with<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &Val,
        b: &'t Branch,
        is_with: bool,
        out: &mut String,
    ) -> EResult<Flow> {
        let nvars = f.vars.len();
        let v = self.eval_pipeline(f, dot, &b.pipe)?;
        let truth = v.v.truthy();
        let r = if truth {
            if is_with {
                self.walk_list(f, &v, &b.list, out)
            } else {
                self.walk_list(f, dot, &b.list, out)
            }
        } else if let Some(el) = &b.else_list {
            self.walk_list(f, dot, el, out)
        } else {
            Ok(Flow::Normal)
        };
        f.vars.truncate(nvars);
        r
    }

    fn walk_range<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &Val,
        b: &'t Branch,
        out: &mut String,
    ) -> EResult<Flow> {
        let nvars = f.vars.len();
        let v = self.eval_pipeline(f, dot, &b.pipe)?;
        // Items: (key, value, key boxed)
        let items: Vec<(Val, Val)> = match &v.v {
            Value::List(_, l) => l
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    (
                        Val::plain(Value::Int(i as i64)),
                        Val {
                            v: e.clone(),
                            boxed: true,
                        },
                    )
                })
                .collect(),
            Value::Bytes(bs) => bs
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    (
                        Val::plain(Value::Int(i as i64)),
                        Val::plain(Value::Int(*e as i64)),
                    )
                })
                .collect(),
            Value::Map(m) => m
                .borrow()
                .iter()
                .map(|(k, e)| {
                    (
                        Val::plain(Value::str(k.as_str())),
                        Val {
                            v: e.clone(),
                            boxed: true,
                        },
                    )
                })
                .collect(),
            Value::Nil => Vec::new(),
            other => {
                let s = go_sprint(std::slice::from_ref(other));
                return Err(self.err(f, format!("range can't iterate over {s}")));
            }
        };
        if items.is_empty() {
            let r = match &b.else_list {
                Some(el) => self.walk_list(f, dot, el, out),
                None => Ok(Flow::Normal),
            };
            f.vars.truncate(nvars);
            return r.map(|_| Flow::Normal);
        }
        for (k, e) in items {
            // Variables declared by the range pipeline sit at the end of the frame before the body runs.
            match b.pipe.decl.len() {
                0 => {}
                1 => {
                    if b.pipe.is_assign {
                        self.set_var(f, &b.pipe.decl[0], e.clone())?;
                    } else {
                        f.vars.truncate(nvars);
                        f.vars.push((b.pipe.decl[0].clone(), e.clone()));
                    }
                }
                _ => {
                    if b.pipe.is_assign {
                        self.set_var(f, &b.pipe.decl[0], k.clone())?;
                        self.set_var(f, &b.pipe.decl[1], e.clone())?;
                    } else {
                        f.vars.truncate(nvars);
                        f.vars.push((b.pipe.decl[0].clone(), k.clone()));
                        f.vars.push((b.pipe.decl[1].clone(), e.clone()));
                    }
                }
            }
            let mark = f.vars.len();
            let r = self.walk_list(f, &e, &b.list, out)?;
            f.vars.truncate(mark);
            if let Flow::Break = r {
                break;
            }
        }
        f.vars.truncate(nvars);
        Ok(Flow::Normal)
    }

    fn set_var(&self, f: &mut Frame<'_>, name: &str, v: Val) -> EResult<()> {
        if let Some(slot) = f.vars.iter_mut().rev().find(|(n, _)| n == name) {
            slot.1 = v;
            return Ok(());
        }
        Err(self.err(f, format!("undefined variable: {name}")))
    }

    fn eval_pipeline<'t>(&mut self, f: &mut Frame<'t>, dot: &Val, pipe: &'t Pipe) -> EResult<Val> {
        f.at = At::Pipe(pipe);
        let mut value: Option<Val> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(f, dot, cmd, value.take())?;
            // Values read from interfaces are unwrapped between pipeline stages.
            value = Some(Val::plain(v.v));
        }
        let v = value.unwrap_or(Val::plain(Value::Nil));
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(f, name, v.clone())?;
            } else {
                f.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn eval_command<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &Val,
        cmd: &'t Command,
        fin: Option<Val>,
    ) -> EResult<Val> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                f.at = At::Arg(first);
                return self.eval_field_chain(f, dot, dot.clone(), idents, Some(cmd), fin);
            }
            Arg::Chain { node, fields, .. } => {
                f.at = At::Arg(first);
                let recv = self.eval_arg_any(f, dot, node)?;
                return self.eval_field_chain(f, dot, recv, fields, Some(cmd), fin);
            }
            Arg::Variable { idents, .. } => {
                f.at = At::Arg(first);
                let v = self.var(f, &idents[0]);
                if idents.len() == 1 {
                    self.not_a_function(f, cmd, fin.as_ref())?;
                    return Ok(v);
                }
                return self.eval_field_chain(f, dot, v, &idents[1..], Some(cmd), fin);
            }
            Arg::Ident { name, .. } => {
                f.at = At::Arg(first);
                return self.eval_function(f, dot, name, cmd, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(f, cmd, fin.as_ref())?;
                return self.eval_pipeline_scoped(f, dot, p);
            }
            _ => {}
        }
        f.at = At::Arg(first);
        self.not_a_function(f, cmd, fin.as_ref())?;
        match first {
            Arg::Bool { val, .. } => Ok(Val::plain(Value::Bool(*val))),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.err(f, "nil is not a command")),
            Arg::Number { num, .. } => Ok(Val::plain(self.ideal_constant(f, num)?)),
            Arg::Str { val, .. } => Ok(Val::plain(Value::String(Rc::from(&**val)))),
            _ => Err(self.err(f, format!("can't evaluate command {first:?}"))),
        }
    }

    /// A parenthesised pipeline: its declarations are scoped to it.
    fn eval_pipeline_scoped<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &Val,
        p: &'t Pipe,
    ) -> EResult<Val> {
        let n = f.vars.len();
        let v = self.eval_pipeline(f, dot, p);
        if !p.decl.is_empty() && !p.is_assign {
            // Go keeps variables declared in parenthesised pipelines until the end of the enclosing scope.
            let _ = n;
        }
        v
    }

    fn not_a_function(&self, f: &Frame<'_>, cmd: &Command, fin: Option<&Val>) -> EResult<()> {
        if cmd.args.len() > 1 || fin.is_some() {
            let a = &cmd.args[0];
            return Err(self.err(f, format!("can't give argument to non-function {a}")));
        }
        Ok(())
    }

    fn var(&self, f: &Frame<'_>, name: &str) -> Val {
        f.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Val::plain(Value::Nil))
    }

    fn ideal_constant(&self, f: &Frame<'_>, num: &crate::parse::Number) -> EResult<Value> {
        let t = &num.text;
        let is_hex = t
            .trim_start_matches(['+', '-'])
            .to_ascii_lowercase()
            .starts_with("0x");
        if num.float.is_some() && !is_hex && !num.is_char && t.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Value::Float(num.float.unwrap_or(0.0)));
        }
        if let Some(i) = num.int {
            return Ok(Value::Int(i));
        }
        if num.uint.is_some() {
            return Err(self.err(f, format!("{t} overflows int")));
        }
        Ok(Value::Float(num.float.unwrap_or(0.0)))
    }

    fn eval_field_chain<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &Val,
        recv: Val,
        idents: &[String],
        cmd: Option<&'t Command>,
        fin: Option<Val>,
    ) -> EResult<Val> {
        let mut recv = recv;
        let n = idents.len();
        for (i, name) in idents.iter().enumerate() {
            let last = i + 1 == n;
            let has_args = last && (cmd.is_some_and(|c| c.args.len() > 1) || fin.is_some());
            let call = if last {
                cmd.map(|c| (c, fin.clone()))
            } else {
                None
            };
            recv = self.eval_field(f, dot, recv, name, call, has_args)?;
        }
        Ok(recv)
    }

    fn eval_field<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &Val,
        recv: Val,
        name: &str,
        call: Option<(&'t Command, Option<Val>)>,
        has_args: bool,
    ) -> EResult<Val> {
        match &recv.v {
            Value::Nil => {
                if recv.boxed {
                    return Err(
                        self.err(f, format!("nil pointer evaluating interface {{}}.{name}"))
                    );
                }
                Ok(Val::plain(Value::Nil))
            }
            Value::Map(m) => {
                if let Some(o) = m.methods() {
                    let mut args = Vec::new();
                    if let Some((cmd, fin)) = call.as_ref().filter(|_| has_args) {
                        let at = f.at;
                        for a in &cmd.args[1..] {
                            args.push(self.eval_arg_any(f, dot, a)?.v);
                        }
                        if let Some(fv) = fin {
                            args.push(fv.v.clone());
                        }
                        f.at = at;
                    }
                    if let Some(r) = o.call(name, &args) {
                        return r
                            .map(Val::plain)
                            .map_err(|e| self.err(f, format!("error calling {name}: {e}")));
                    }
                }
                if has_args {
                    return Err(self.err(f, format!("{name} is not a method but has arguments")));
                }
                let v = m.borrow().get(name).cloned().unwrap_or(Value::Nil);
                Ok(Val { v, boxed: true })
            }
            Value::Object(o) => {
                let o = o.clone();
                if let Some((cmd, fin)) = call
                    && has_args
                {
                    let at = f.at;
                    let mut args = Vec::new();
                    for a in &cmd.args[1..] {
                        args.push(self.eval_arg_any(f, dot, a)?.v);
                    }
                    if let Some(fv) = fin {
                        args.push(fv.v);
                    }
                    f.at = at;
                    return match o.call(name, &args) {
                        Some(Ok(v)) => Ok(Val::plain(v)),
                        Some(Err(e)) => Err(self.err(f, format!("error calling {name}: {e}"))),
                        None => Err(self.err(
                            f,
                            format!("can't evaluate field {name} in type {}", o.type_name()),
                        )),
                    };
                }
                if let Some(v) = o.field(name) {
                    return Ok(Val::plain(v));
                }
                if let Some(r) = o.call(name, &[]) {
                    return r
                        .map(Val::plain)
                        .map_err(|e| self.err(f, format!("error calling {name}: {e}")));
                }
                Err(self.err(
                    f,
                    format!("can't evaluate field {name} in type {}", o.type_name()),
                ))
            }
            Value::List(ListKind::VersionSet, l) if name == "Has" => {
                let l = l.clone();
                let mut args = Vec::new();
                if let Some((cmd, fin)) = call.as_ref().filter(|_| has_args) {
                    let at = f.at;
                    for a in &cmd.args[1..] {
                        args.push(self.eval_arg_any(f, dot, a)?.v);
                    }
                    if let Some(fv) = fin {
                        args.push(fv.v.clone());
                    }
                    f.at = at;
                }
                match args.as_slice() {
                    [Value::String(s)] => Ok(Val::plain(Value::Bool(
                        l.iter().any(|v| v.as_str() == Some(&**s)),
                    ))),
                    [other] => Err(self.err(
                        f,
                        format!(
                            "wrong type for value; expected string; got {}",
                            other.type_name()
                        ),
                    )),
                    _ => Err(self.err(
                        f,
                        format!("wrong number of args for Has: want 1 got {}", args.len()),
                    )),
                }
            }
            other => {
                let ty = if recv.boxed {
                    "interface {}".to_string()
                } else {
                    other.type_name()
                };
                Err(self.err(f, format!("can't evaluate field {name} in type {ty}")))
            }
        }
    }

    /// Evaluates an argument for an `interface{}` parameter (no conversion).
    fn eval_arg_any<'t>(&mut self, f: &mut Frame<'t>, dot: &Val, a: &'t Arg) -> EResult<Val> {
        f.at = At::Arg(a);
        match a {
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.err(f, "nil is not a command")),
            Arg::Field { idents, .. } => {
                self.eval_field_chain(f, dot, dot.clone(), idents, None, None)
            }
            Arg::Variable { idents, .. } => {
                let v = self.var(f, &idents[0]);
                if idents.len() == 1 {
                    return Ok(v);
                }
                self.eval_field_chain(f, dot, v, &idents[1..], None, None)
            }
            Arg::Pipe(p) => self
                .eval_pipeline_scoped(f, dot, p)
                .map(|v| Val::plain(v.v)),
            Arg::Ident { name, .. } => self
                .eval_function_ident(f, dot, name)
                .map(|v| Val::plain(v.v)),
            Arg::Chain { node, fields, .. } => {
                let recv = self.eval_arg_any(f, dot, node)?;
                self.eval_field_chain(f, dot, recv, fields, None, None)
            }
            Arg::Bool { val, .. } => Ok(Val::plain(Value::Bool(*val))),
            Arg::Number { num, .. } => Ok(Val::plain(self.ideal_constant(f, num)?)),
            Arg::Str { val, .. } => Ok(Val::plain(Value::String(Rc::from(&**val)))),
        }
    }

    /// Evaluates an argument for a typed parameter, with Go's conversion errors.
    fn eval_arg<'t>(&mut self, f: &mut Frame<'t>, dot: &Val, a: &'t Arg, p: P) -> EResult<Value> {
        f.at = At::Arg(a);
        if p == P::Any || p == P::Value {
            if let Arg::Nil { .. } = a {
                return Ok(Value::Nil);
            }
            return Ok(self.eval_arg_any(f, dot, a)?.v);
        }
        match a {
            Arg::Dot { .. }
            | Arg::Field { .. }
            | Arg::Variable { .. }
            | Arg::Pipe(_)
            | Arg::Ident { .. }
            | Arg::Chain { .. } => {
                let v = self.eval_arg_any(f, dot, a)?;
                let from_field = matches!(a, Arg::Field { .. } | Arg::Chain { .. })
                    || matches!(a, Arg::Variable { idents, .. } if idents.len() > 1)
                    || (matches!(a, Arg::Dot { .. }) && dot.boxed);
                self.validate(f, v.v, p, from_field && v.boxed)
            }
            Arg::Nil { .. } => {
                if p.can_be_nil() {
                    Ok(Value::Nil)
                } else {
                    Err(self.err(f, format!("cannot assign nil to {}", p.go_type())))
                }
            }
            lit => {
                let found = || format!("{lit}");
                match (p, lit) {
                    (P::Str, Arg::Str { val, .. }) => Ok(Value::String(Rc::from(&**val))),
                    (P::Str, _) => Err(self.err(f, format!("expected string; found {}", found()))),
                    (P::Bool, Arg::Bool { val, .. }) => Ok(Value::Bool(*val)),
                    (P::Bool, _) => Err(self.err(f, format!("expected bool; found {}", found()))),
                    (P::Int | P::I64, Arg::Number { num, .. })
                        if num.int.is_some() && !num.text.contains(['.', 'e', 'E'])
                            || num_is_int(lit) =>
                    {
                        let i = if let Arg::Number { num, .. } = lit {
                            num.int.unwrap_or(0)
                        } else {
                            0
                        };
                        Ok(if p == P::Int {
                            Value::Int(i)
                        } else {
                            Value::I64(i)
                        })
                    }
                    (P::Int | P::I64, _) => {
                        Err(self.err(f, format!("expected integer; found {}", found())))
                    }
                    (P::Float, Arg::Number { num, .. }) if num.float.is_some() => {
                        Ok(Value::Float(num.float.unwrap_or(0.0)))
                    }
                    (P::Float, _) => Err(self.err(f, format!("expected float; found {}", found()))),
                    (_, _) => Err(self.err(
                        f,
                        format!("can't handle {} for arg of type {}", found(), p.go_type()),
                    )),
                }
            }
        }
    }

    fn validate(&self, f: &Frame<'_>, v: Value, p: P, boxed_nil_source: bool) -> EResult<Value> {
        if let Value::Nil = v {
            if boxed_nil_source {
                return Err(self.err(
                    f,
                    format!(
                        "wrong type for value; expected {}; got interface {{}}",
                        p.go_type()
                    ),
                ));
            }
            if p.can_be_nil() {
                return Ok(Value::Nil);
            }
            return Err(self.err(f, format!("invalid value; expected {}", p.go_type())));
        }
        if p.accepts(&v) {
            // A named map type (`chartutil.Values`) becomes a plain `map[string]interface {}`.
            if let (P::Map, Value::Map(m)) = (p, &v)
                && m.type_name().is_some()
            {
                return Ok(Value::Map(m.retyped(None)));
            }
            return Ok(v);
        }
        Err(self.err(
            f,
            format!(
                "wrong type for value; expected {}; got {}",
                p.go_type(),
                v.type_name()
            ),
        ))
    }

    /// A function named as an argument (no arguments of its own).
    fn eval_function_ident<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &Val,
        name: &str,
    ) -> EResult<Val> {
        self.call_function(f, dot, name, &[], None, None)
    }

    fn eval_function<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &Val,
        name: &str,
        cmd: &'t Command,
        fin: Option<Val>,
    ) -> EResult<Val> {
        self.call_function(f, dot, name, &cmd.args[1..], Some(cmd), fin)
    }

    fn call_function<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &Val,
        name: &str,
        args_nodes: &'t [Arg],
        cmd: Option<&'t Command>,
        fin: Option<Val>,
    ) -> EResult<Val> {
        let ident_at = f.at;
        let Some(func) = funcs::lookup(name) else {
            return Err(self.err(f, format!("{name:?} is not a defined function")));
        };
        let argn = args_nodes.len() + usize::from(fin.is_some());
        // and / or: lazy, returning the deciding operand.
        if let FuncKind::And | FuncKind::Or = func.kind {
            if argn == 0 {
                return Err(self.err(
                    f,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let is_and = matches!(func.kind, FuncKind::And);
            let mut last = Value::Nil;
            for a in args_nodes {
                let v = self.eval_arg_any(f, dot, a)?.v;
                if v.truthy() != is_and {
                    return Ok(Val::plain(v));
                }
                last = v;
            }
            if let Some(fv) = fin {
                last = fv.v;
            }
            return Ok(Val::plain(last));
        }
        // Arity.
        let fixed = func.params.len();
        if let Some(_v) = func.variadic {
            if argn < fixed {
                return Err(self.err(
                    f,
                    format!("wrong number of args for {name}: want at least {fixed} got {argn}"),
                ));
            }
        } else if argn != fixed {
            return Err(self.err(
                f,
                format!("wrong number of args for {name}: want {fixed} got {argn}"),
            ));
        }
        let mut args = Vec::with_capacity(argn);
        for (i, a) in args_nodes.iter().enumerate() {
            let p = if i < fixed {
                func.params[i]
            } else {
                func.variadic.unwrap_or(P::Any)
            };
            args.push(self.eval_arg(f, dot, a, p)?);
        }
        if let Some(fv) = fin {
            let i = argn - 1;
            let p = if i < fixed {
                func.params[i]
            } else {
                func.variadic.unwrap_or(P::Any)
            };
            let v = if p == P::Any || p == P::Value {
                fv.v
            } else {
                self.validate(f, fv.v, p, false)?
            };
            args.push(v);
        }
        let r = (func.f)(self, args);
        match r {
            Ok(Value::String(st)) if st.len() > self.opts.limits.max_output => Err(Error::Limit(
                format!("string value exceeds {} bytes", self.opts.limits.max_output),
            )),
            Ok(v) => Ok(Val::plain(v)),
            Err(e) => Err(match e {
                funcs::FnError::Msg(m) => {
                    f.at = match cmd {
                        Some(c) => At::Cmd(c),
                        None => ident_at,
                    };
                    self.err(f, format!("error calling {name}: {m}"))
                }
                funcs::FnError::Fatal(err) => err,
            }),
        }
    }
}

fn num_is_int(a: &Arg) -> bool {
    matches!(a, Arg::Number { num, .. } if num.int.is_some() && (num.is_char || !num.text.contains(['.', 'e', 'E', 'p', 'P']) || num.text.to_ascii_lowercase().starts_with("0x")))
}

impl P {
    pub fn go_type(self) -> &'static str {
        match self {
            P::Any | P::Value => "interface {}",
            P::Str => "string",
            P::Int => "int",
            P::I64 => "int64",
            P::Float => "float64",
            P::Bool => "bool",
            P::List => "[]interface {}",
            P::Map => "map[string]interface {}",
            P::StrList => "[]string",
        }
    }
    pub fn can_be_nil(self) -> bool {
        matches!(self, P::Any | P::Value | P::List | P::Map | P::StrList)
    }
    pub fn accepts(self, v: &Value) -> bool {
        match self {
            P::Any | P::Value => true,
            P::Str => matches!(v, Value::String(_)),
            P::Int => matches!(v, Value::Int(_)),
            P::I64 => matches!(v, Value::I64(_)),
            P::Float => matches!(v, Value::Float(_)),
            P::Bool => matches!(v, Value::Bool(_)),
            P::List => matches!(v, Value::List(ListKind::Any, _)),
            P::Map => matches!(v, Value::Map(_)),
            P::StrList => matches!(v, Value::List(ListKind::String | ListKind::VersionSet, _)),
        }
    }
}
