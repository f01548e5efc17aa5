//! Sprig's date functions on Go's `time.Time` ([`crate::gotime`]): layouts, named zones, and `Local`
//! (from [`crate::ExecOptions::local_zone`], by default the process's `TZ`/`/etc/localtime` as in Go).

use std::any::Any;
use std::rc::Rc;

use super::{P, Registry, s, to_i64};
use crate::exec::Exec;
use crate::gotime::{self, DAYS, Loc, MONTHS};
use crate::value::{Object, Value};

/// A Go `time.Time` as a template value.
#[derive(Clone, Debug)]
pub struct Time(pub gotime::Time);

impl Object for Time {
    fn type_name(&self) -> String {
        "time.Time".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        let t = &self.0;
        let c = t.civil();
        Some(match name {
            "Year" => Value::Int(c.year),
            "Month" => Value::str(MONTHS[c.month as usize - 1]),
            "Day" => Value::Int(c.day as i64),
            "Hour" => Value::Int(c.hour as i64),
            "Minute" => Value::Int(c.min as i64),
            "Second" => Value::Int(c.sec as i64),
            "Nanosecond" => Value::Int(t.nsec as i64),
            "YearDay" => Value::Int(c.yday as i64),
            "Weekday" => Value::str(DAYS[c.weekday as usize]),
            "Unix" => Value::I64(t.unix),
            "UnixMilli" => Value::I64(t.unix_nano() / 1_000_000),
            "UnixNano" => Value::I64(t.unix_nano()),
            "IsZero" => Value::Bool(t.unix == gotime::Time::zero().unix && t.nsec == 0),
            "Location" => Value::str(t.loc.name()),
            "UTC" => time_val(t.in_loc(Loc::Utc)),
            "String" => Value::str(t.string()),
            _ => return None,
        })
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match (name, args) {
            ("Format", [Value::String(l)]) => Some(Ok(Value::str(self.0.format(l)))),
            _ => None,
        }
    }
    fn display(&self) -> Option<String> {
        Some(self.0.string())
    }
    fn marshal(&self) -> Option<Value> {
        Some(Value::str(
            self.0.format("2006-01-02T15:04:05.999999999Z07:00"),
        ))
    }
    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// The `time.Time` inside a value, if it is one.
fn as_time(v: &Value) -> Option<&gotime::Time> {
    match v {
        Value::Object(o) => o.as_any()?.downcast_ref::<Time>().map(|t| &t.0),
        _ => None,
    }
}

/// Go's `Local` for this execution.
fn local(e: &Exec<'_>) -> Loc {
    match &e.opts.local_zone {
        crate::LocalZone::Process => gotime::process_local().clone(),
        crate::LocalZone::Tz(tz) => gotime::local_for_tz(Some(tz)),
    }
}

/// Sprig's date argument: a `time.Time`, or Unix seconds as `int`/`int32`/`int64`; anything else is now.
fn to_time(e: &Exec<'_>, v: &Value) -> gotime::Time {
    if let Some(t) = as_time(v) {
        return t.clone();
    }
    match v {
        Value::I64(i) | Value::Int(i) => gotime::Time::unix(*i, local(e)),
        _ => gotime::Time::now(local(e)),
    }
}

fn time_val(t: gotime::Time) -> Value {
    Value::Object(Rc::new(Time(t)))
}

/// Sprig's `dateInZone`: an unknown zone is UTC.
fn date_in_zone(e: &Exec<'_>, layout: &str, date: &Value, zone: &str) -> Value {
    let local = local(e);
    let loc = gotime::load_location(zone, &local).unwrap_or(Loc::Utc);
    Value::str(to_time(e, date).in_loc(loc).format(layout))
}

/// Seconds from `t` to now (Go's `time.Since`).
fn since_secs(e: &Exec<'_>, t: &gotime::Time) -> i64 {
    let now = gotime::Time::now(local(e));
    let d = now.unix_nano() as i128 - t.unix_nano() as i128;
    // Round to the second, halves away from zero (Duration.Round).
    let r = if d >= 0 {
        (d + 500_000_000) / 1_000_000_000
    } else {
        (d - 500_000_000) / 1_000_000_000
    };
    r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Go's time.Duration.String.
pub fn go_duration(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // sub-second
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        let whole = u / div;
        let frac = u % div;
        out.push_str(&whole.to_string());
        if frac > 0 {
            let width = (div as f64).log10() as usize;
            let f = format!("{:0width$}", frac, width = width);
            out.push('.');
            out.push_str(f.trim_end_matches('0'));
        }
        out.push_str(unit);
    } else {
        let secs = u / 1_000_000_000;
        let nanos = u % 1_000_000_000;
        let h = secs / 3600;
        let m = (secs % 3600) / 60;
        let s = secs % 60;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&s.to_string());
        if nanos > 0 {
            let f = format!("{nanos:09}");
            out.push('.');
            out.push_str(f.trim_end_matches('0'));
        }
        out.push('s');
    }
    if neg { format!("-{out}") } else { out }
}

pub(super) fn register(r: &mut Registry) {
    r.add("toDate", &[P::Str, P::Str], None, |e, a| {
        let loc = local(e);
        Ok(time_val(
            gotime::parse_in_location(s(&a[0]), s(&a[1]), &loc)
                .unwrap_or_else(|_| gotime::Time::zero()),
        ))
    });
    r.add("mustToDate", &[P::Str, P::Str], None, |e, a| {
        let loc = local(e);
        Ok(time_val(gotime::parse_in_location(
            s(&a[0]),
            s(&a[1]),
            &loc,
        )?))
    });
    r.add("durationRound", &[P::Any], None, |e, a| {
        let secs: i64 = match &a[0] {
            Value::String(st) => parse_go_duration(st)
                .map(|n| n / 1_000_000_000)
                .unwrap_or(0),
            v => match as_time(v) {
                Some(t) => since_secs(e, t),
                None => to_i64(v) / 1_000_000_000,
            },
        };
        Ok(Value::str(duration_round(secs)))
    });
    r.add("now", &[], None, |e, _| {
        Ok(time_val(gotime::Time::now(local(e))))
    });
    r.add("date", &[P::Str, P::Any], None, |e, a| {
        Ok(date_in_zone(e, s(&a[0]), &a[1], "Local"))
    });
    r.add("dateInZone", &[P::Str, P::Any, P::Str], None, |e, a| {
        Ok(date_in_zone(e, s(&a[0]), &a[1], s(&a[2])))
    });
    r.add("date_in_zone", &[P::Str, P::Any, P::Str], None, |e, a| {
        Ok(date_in_zone(e, s(&a[0]), &a[1], s(&a[2])))
    });
    r.add("htmlDate", &[P::Any], None, |e, a| {
        Ok(date_in_zone(e, "2006-01-02", &a[0], "Local"))
    });
    r.add("htmlDateInZone", &[P::Any, P::Str], None, |e, a| {
        Ok(date_in_zone(e, "2006-01-02", &a[0], s(&a[1])))
    });
    r.add("unixEpoch", &[P::Any], None, |e, a| {
        Ok(Value::str(to_time(e, &a[0]).unix.to_string()))
    });
    r.add("duration", &[P::Any], None, |_, a| {
        // Sprig accepts only string and int64 here; anything else is 0.
        let secs = match &a[0] {
            Value::String(st) => st.parse::<i64>().unwrap_or(0),
            Value::I64(v) => *v,
            _ => 0,
        };
        Ok(Value::str(go_duration(secs.saturating_mul(1_000_000_000))))
    });
    r.add("ago", &[P::Any], None, |e, a| {
        let t = to_time(e, &a[0]);
        Ok(Value::str(go_duration(
            since_secs(e, &t).saturating_mul(1_000_000_000),
        )))
    });
    r.add("dateModify", &[P::Str, P::Any], None, |e, a| {
        let t = to_time(e, &a[1]);
        Ok(time_val(match parse_go_duration(s(&a[0])) {
            Some(n) => t.add(n),
            None => t,
        }))
    });
    r.add("date_modify", &[P::Str, P::Any], None, |e, a| {
        let t = to_time(e, &a[1]);
        Ok(time_val(match parse_go_duration(s(&a[0])) {
            Some(n) => t.add(n),
            None => t,
        }))
    });
    r.add("mustDateModify", &[P::Str, P::Any], None, |e, a| {
        let t = to_time(e, &a[1]);
        match parse_go_duration(s(&a[0])) {
            Some(n) => Ok(time_val(t.add(n))),
            None => {
                Err(format!("time: invalid duration {}", crate::fmt::go_quote(s(&a[0]))).into())
            }
        }
    });
}

/// time.ParseDuration.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u..];
        total += num * unit;
    }
    Some(if neg { -(total as i64) } else { total as i64 })
}

/// Sprig's durationRound: the largest unit only.
fn duration_round(secs: i64) -> String {
    let u = secs.unsigned_abs();
    let (year, month, day, hour, minute) =
        (31_536_000u64, 2_592_000u64, 86_400u64, 3_600u64, 60u64);
    let s = if u >= year {
        format!("{}y", u / year)
    } else if u >= month {
        format!("{}mo", u / month)
    } else if u >= day {
        format!("{}d", u / day)
    } else if u >= hour {
        format!("{}h", u / hour)
    } else if u >= minute {
        format!("{}m", u / minute)
    } else {
        format!("{u}s")
    };
    if secs < 0 { format!("-{s}") } else { s }
}
