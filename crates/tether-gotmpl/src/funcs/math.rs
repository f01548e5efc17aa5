//! Sprig math: integer functions with spf13/cast conversions, float functions with shopspring/decimal
//! arithmetic, and sequences.

use rand::Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

use super::{FnResult, P, Registry, i, to_f64, to_i64};
use crate::value::{ListKind, Value};

/// Go's integer division panics on zero.
fn div0() -> super::FnError {
    "runtime error: integer divide by zero".into()
}

/// decimal.NewFromFloat: the shortest decimal that round-trips.
fn dec(f: f64) -> Decimal {
    if !f.is_finite() {
        return Decimal::ZERO;
    }
    let s = format!("{f}");
    s.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_f64(f))
        .unwrap_or(Decimal::ZERO)
}

fn dec_op(
    first: &Value,
    rest: &[Value],
    op: fn(Decimal, Decimal) -> Option<Decimal>,
) -> Result<f64, super::FnError> {
    let mut acc = dec(to_f64(first));
    for x in rest {
        acc = match op(acc, dec(to_f64(x))) {
            Some(v) => v,
            None => return Err("decimal division by 0".into()),
        };
    }
    Ok(acc.to_f64().unwrap_or(0.0))
}

pub(crate) fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, super::FnError> {
    let mut v = Vec::new();
    let count = if stop < start {
        if step >= 0 {
            return Ok(v);
        }
        (start - stop) / (-step)
    } else {
        if step <= 0 {
            return Ok(v);
        }
        (stop - start) / step
    };
    if count > 10_000_000 {
        return Err("sequence too long".into());
    }
    let mut x = start;
    if stop < start {
        while x > stop {
            v.push(x);
            x += step;
        }
    } else {
        while x < stop {
            v.push(x);
            x += step;
        }
    }
    Ok(v)
}

fn int_list(v: Vec<i64>) -> Value {
    Value::List(
        ListKind::Int,
        v.into_iter().map(Value::Int).collect::<Vec<_>>().into(),
    )
}

fn round(val: f64, places: f64, round_on: f64) -> f64 {
    let pow = 10f64.powf(places);
    let digit = pow * val;
    let div = digit.fract();
    let r = if div >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    r / pow
}

pub(super) fn register(r: &mut Registry) {
    r.add("add1", &[P::Any], None, |_, a| {
        Ok(Value::I64(to_i64(&a[0]).wrapping_add(1)))
    });
    r.add("add", &[], Some(P::Any), |_, a| {
        Ok(Value::I64(
            a.iter().map(to_i64).fold(0i64, i64::wrapping_add),
        ))
    });
    r.add("sub", &[P::Any, P::Any], None, |_, a| {
        Ok(Value::I64(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))))
    });
    r.add("div", &[P::Any, P::Any], None, |_, a| {
        let d = to_i64(&a[1]);
        if d == 0 {
            return Err(div0());
        }
        Ok(Value::I64(to_i64(&a[0]).wrapping_div(d)))
    });
    r.add("mod", &[P::Any, P::Any], None, |_, a| {
        let d = to_i64(&a[1]);
        if d == 0 {
            return Err(div0());
        }
        Ok(Value::I64(to_i64(&a[0]).wrapping_rem(d)))
    });
    r.add("mul", &[P::Any], Some(P::Any), |_, a| {
        Ok(Value::I64(
            a.iter().map(to_i64).fold(1i64, i64::wrapping_mul),
        ))
    });
    r.add("randInt", &[P::Int, P::Int], None, |_, a| {
        let (lo, hi) = (i(&a[0]), i(&a[1]));
        if hi - lo <= 0 {
            return Err("invalid argument to Intn".into());
        }
        Ok(Value::Int(rand::thread_rng().gen_range(0..hi - lo) + lo))
    });
    r.add("add1f", &[P::Any], None, |_, a| {
        Ok(Value::Float(dec_op(&a[0], &[Value::Int(1)], |x, y| {
            x.checked_add(y)
        })?))
    });
    r.add("addf", &[], Some(P::Any), |_, a| {
        Ok(Value::Float(dec_op(&Value::Float(0.0), &a, |x, y| {
            x.checked_add(y)
        })?))
    });
    r.add("subf", &[P::Any], Some(P::Any), |_, a| {
        Ok(Value::Float(dec_op(&a[0], &a[1..], |x, y| {
            x.checked_sub(y)
        })?))
    });
    r.add("mulf", &[P::Any], Some(P::Any), |_, a| {
        Ok(Value::Float(dec_op(&a[0], &a[1..], |x, y| {
            x.checked_mul(y)
        })?))
    });
    r.add("divf", &[P::Any], Some(P::Any), |_, a| {
        Ok(Value::Float(dec_op(&a[0], &a[1..], |x, y| {
            if y.is_zero() {
                return None;
            }
            x.checked_div(y).map(|q| q.round_dp(16))
        })?))
    });
    fn max_i(_: &mut crate::exec::Exec<'_>, a: Vec<Value>) -> FnResult {
        Ok(Value::I64(a.iter().map(to_i64).max().unwrap_or(0)))
    }
    r.add("max", &[P::Any], Some(P::Any), max_i);
    r.add("biggest", &[P::Any], Some(P::Any), max_i);
    r.add("min", &[P::Any], Some(P::Any), |_, a| {
        Ok(Value::I64(a.iter().map(to_i64).min().unwrap_or(0)))
    });
    r.add("maxf", &[P::Any], Some(P::Any), |_, a| {
        Ok(Value::Float(
            a.iter().map(to_f64).fold(f64::NEG_INFINITY, f64::max),
        ))
    });
    r.add("minf", &[P::Any], Some(P::Any), |_, a| {
        Ok(Value::Float(
            a.iter().map(to_f64).fold(f64::INFINITY, f64::min),
        ))
    });
    r.add("ceil", &[P::Any], None, |_, a| {
        Ok(Value::Float(to_f64(&a[0]).ceil()))
    });
    r.add("floor", &[P::Any], None, |_, a| {
        Ok(Value::Float(to_f64(&a[0]).floor()))
    });
    r.add("round", &[P::Any, P::Int], Some(P::Float), |_, a| {
        let on = match a.get(2) {
            Some(Value::Float(f)) => *f,
            _ => 0.5,
        };
        Ok(Value::Float(round(to_f64(&a[0]), i(&a[1]) as f64, on)))
    });
    r.add("until", &[P::Int], None, |_, a| {
        let c = i(&a[0]);
        Ok(int_list(until_step(0, c, if c < 0 { -1 } else { 1 })?))
    });
    r.add("untilStep", &[P::Int, P::Int, P::Int], None, |_, a| {
        Ok(int_list(until_step(i(&a[0]), i(&a[1]), i(&a[2]))?))
    });
    r.add("seq", &[], Some(P::Int), |_, a| {
        let p: Vec<i64> = a.iter().map(i).collect();
        let v = match p.len() {
            1 => {
                let (start, end) = (1, p[0]);
                let inc = if end < start { -1 } else { 1 };
                until_step(start, end + inc, inc)?
            }
            2 => {
                let (start, end) = (p[0], p[1]);
                let step = if end < start { -1 } else { 1 };
                until_step(start, end + step, step)?
            }
            3 => {
                let (start, step, end) = (p[0], p[1], p[2]);
                let mut inc = 1;
                if end < start {
                    inc = -1;
                    if step > 0 {
                        return Ok(Value::str(""));
                    }
                }
                until_step(start, end + inc, step)?
            }
            _ => return Ok(Value::str("")),
        };
        Ok(Value::str(
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ))
    });
}
