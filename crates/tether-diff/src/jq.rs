//! `ignoreDifferences.jqPathExpressions`, evaluated with jaq under a time limit.
//!
//! Argo CD compiles `del(<expression>)` with gojq and runs it with a deadline (1 s by default). jaq has
//! no cancellation, so evaluation happens on a worker thread owned by the calling thread; the caller
//! waits at most the time limit. A runaway expression gives [`DiffError::JqTimeout`]: its worker is
//! abandoned (it ends when the expression does, or with the process), a fresh worker serves later
//! calls, and the expression is remembered so it fails at once instead of burning another worker.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data};
use jaq_json::Val;
use serde_json::Value;

use crate::DiffError;

/// Argo CD's default time limit per jq expression (`DefaultJQExecutionTimeout`).
pub const DEFAULT_JQ_TIMEOUT: Duration = Duration::from_secs(1);

/// Stack of a worker thread: deep but finite recursion in an expression stays inside it.
const WORKER_STACK: usize = 64 << 20;

/// Parses and compiles a jq program, giving the compiler's message on failure.
fn compile(program: &str) -> Result<jaq_core::Filter<data::JustLut<Val>>, String> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(
            &arena,
            File {
                code: program,
                path: (),
            },
        )
        .map_err(|errs| {
            errs.into_iter()
                .map(|(_, e)| format!("{e:?}"))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            errs.into_iter()
                .map(|(_, e)| format!("{e:?}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
}

/// Checks that `expression` is a valid jq path expression (as `del(<expression>)` compiles).
pub fn check(expression: &str) -> Result<(), DiffError> {
    compile(&format!("del({expression})"))
        .map(drop)
        .map_err(|message| DiffError::JqCompile {
            expression: expression.to_string(),
            message,
        })
}

/// What one evaluation gave: all outputs, or the jq runtime error.
type Outcome = Result<Vec<Value>, String>;

struct Job {
    program: Arc<str>,
    input: Value,
    reply: mpsc::Sender<Outcome>,
}

fn spawn_worker() -> Option<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("tether-diff-jq".into())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let mut cache: HashMap<Arc<str>, _> = HashMap::new();
            for job in rx {
                let filter = cache
                    .entry(job.program.clone())
                    .or_insert_with(|| compile(&job.program));
                let outcome = match filter {
                    Err(e) => Err(e.clone()),
                    Ok(filter) => run(filter, job.input),
                };
                // The caller may have given up waiting; that is fine.
                let _ = job.reply.send(outcome);
            }
        })
        .ok()?;
    Some(tx)
}

fn run(filter: &jaq_core::Filter<data::JustLut<Val>>, input: Value) -> Outcome {
    use serde::Deserialize;
    let input = Val::deserialize(input).map_err(|e| e.to_string())?;
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    let mut out = Vec::new();
    for v in filter.id.run((ctx, input)).map(jaq_core::unwrap_valr) {
        let v = v.map_err(|e| e.to_string())?;
        let json: Value = serde_json::from_str(&v.to_string()).map_err(|e| e.to_string())?;
        out.push(json);
    }
    Ok(out)
}

thread_local! {
    static WORKER: RefCell<Option<mpsc::Sender<Job>>> = const { RefCell::new(None) };
}

/// Expressions that ran out of time once: they fail at once from then on.
static RUNAWAY: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn is_runaway(program: &str) -> bool {
    RUNAWAY
        .lock()
        .map(|set| set.as_ref().is_some_and(|s| s.contains(program)))
        .unwrap_or(false)
}

fn mark_runaway(program: &str) {
    if let Ok(mut set) = RUNAWAY.lock() {
        set.get_or_insert_with(HashSet::new)
            .insert(program.to_string());
    }
}

/// Runs `program` on `input` within `timeout`. `Ok(Err(_))` is a jq runtime error.
fn evaluate(
    expression: &str,
    program: &str,
    input: &Value,
    timeout: Duration,
) -> Result<Outcome, DiffError> {
    let timed_out = || DiffError::JqTimeout {
        expression: expression.to_string(),
        limit: timeout,
    };
    if is_runaway(program) {
        return Err(timed_out());
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    let job = Job {
        program: program.into(),
        input: input.clone(),
        reply: reply_tx,
    };
    let sent = WORKER.with(|w| {
        let mut w = w.borrow_mut();
        if w.is_none() {
            *w = spawn_worker();
        }
        match w.as_ref() {
            Some(tx) => match tx.send(job) {
                Ok(()) => true,
                Err(_) => {
                    *w = None;
                    false
                }
            },
            None => false,
        }
    });
    if !sent {
        return Err(DiffError::JqWorker {
            expression: expression.to_string(),
        });
    }
    match reply_rx.recv_timeout(timeout) {
        Ok(outcome) => Ok(outcome),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            WORKER.with(|w| *w.borrow_mut() = None);
            mark_runaway(program);
            Err(timed_out())
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The worker died (a panic or stack overflow inside jaq).
            WORKER.with(|w| *w.borrow_mut() = None);
            Err(DiffError::JqWorker {
                expression: expression.to_string(),
            })
        }
    }
}

/// `del(<expression>)` applied to `obj`, as Argo CD's jq normaliser. `Ok(None)` when jq reports a
/// runtime error or does not give exactly one output: Argo CD then leaves the object as it is.
pub fn delete(
    expression: &str,
    obj: &Value,
    timeout: Duration,
) -> Result<Option<Value>, DiffError> {
    let program = format!("del({expression})");
    match evaluate(expression, &program, obj, timeout)? {
        Ok(mut outs) if outs.len() == 1 => Ok(outs.pop()),
        _ => Ok(None),
    }
}

/// One step of a path in a JSON document: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// The concrete paths `expression` selects in `obj` (jq's `path(...)`); empty on a runtime error.
pub fn paths(
    expression: &str,
    obj: &Value,
    timeout: Duration,
) -> Result<Vec<Vec<Step>>, DiffError> {
    let program = format!("[path({expression})]");
    let outs = match evaluate(expression, &program, obj, timeout)? {
        Ok(outs) => outs,
        Err(_) => return Ok(Vec::new()),
    };
    let mut result = Vec::new();
    for out in outs {
        for path in out.as_array().into_iter().flatten() {
            let steps = path
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| match s {
                    Value::String(k) => Some(Step::Key(k.clone())),
                    Value::Number(n) => n
                        .as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .map(Step::Index),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>();
            if let Some(steps) = steps {
                result.push(steps);
            }
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deletes_selected_paths() {
        let obj = json!({"spec": {"containers": [{"name": "web", "image": "a"}, {"name": "istio", "image": "b"}]}});
        let out = delete(
            r#".spec.containers[] | select(.name == "istio")"#,
            &obj,
            DEFAULT_JQ_TIMEOUT,
        )
        .expect("in time")
        .expect("one output");
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "web", "image": "a"}]}})
        );
        // A runtime error (iterating null) leaves the object alone, as Argo CD does.
        assert_eq!(
            delete(".spec.initContainers[]", &obj, DEFAULT_JQ_TIMEOUT).expect("in time"),
            None
        );
    }

    #[test]
    fn paths_are_concrete() {
        let obj = json!({"a": [{"n": 1}, {"n": 2}]});
        let p = paths(".a[] | select(.n == 2) | .n", &obj, DEFAULT_JQ_TIMEOUT).expect("in time");
        assert_eq!(
            p,
            vec![vec![
                Step::Key("a".into()),
                Step::Index(1),
                Step::Key("n".into())
            ]]
        );
    }

    #[test]
    fn syntax_errors_are_reported_at_check() {
        let err = check(".spec[").unwrap_err();
        assert!(err.to_string().contains(".spec["), "{err}");
    }

    #[test]
    fn a_runaway_expression_times_out_and_later_ones_still_work() {
        let obj = json!({"a": 1});
        let limit = Duration::from_millis(200);
        let expr = "(until(false; .) | .a)";
        let err = delete(expr, &obj, limit).unwrap_err();
        assert!(
            matches!(err, DiffError::JqTimeout { .. })
                && err.to_string().contains("until(false; .)"),
            "{err}"
        );
        // Remembered: fails at once the second time.
        assert!(matches!(
            delete(expr, &obj, limit),
            Err(DiffError::JqTimeout { .. })
        ));
        // A fresh worker serves the next expression.
        assert_eq!(
            delete(".a", &obj, DEFAULT_JQ_TIMEOUT).expect("in time"),
            Some(json!({}))
        );
    }
}
