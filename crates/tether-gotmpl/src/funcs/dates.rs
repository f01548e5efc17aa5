//! Sprig date functions with Go reference-time layouts. Time zones: UTC and `Local` (treated as UTC, the
//! zone of CI and of Tether's containers); named zones other than UTC fall back to UTC as Go does when a
//! zone cannot be loaded.

use std::rc::Rc;

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

use super::{P, Registry, s, to_i64};
use crate::value::{Object, Value};

/// A Go `time.Time`.
#[derive(Clone, Debug)]
pub struct Time(pub DateTime<Utc>);

impl Object for Time {
    fn type_name(&self) -> String {
        "time.Time".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        let t = &self.0;
        Some(match name {
            "Year" => Value::Int(t.year() as i64),
            "Day" => Value::Int(t.day() as i64),
            "Hour" => Value::Int(t.hour() as i64),
            "Minute" => Value::Int(t.minute() as i64),
            "Second" => Value::Int(t.second() as i64),
            "Unix" => Value::I64(t.timestamp()),
            "UnixNano" => Value::I64(t.timestamp_nanos_opt().unwrap_or(0)),
            "String" => Value::str(self.display().unwrap_or_default()),
            _ => return None,
        })
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match (name, args) {
            ("Format", [Value::String(l)]) => Some(Ok(Value::str(go_format(&self.0, l)))),
            _ => None,
        }
    }
    fn display(&self) -> Option<String> {
        Some(go_format(
            &self.0,
            "2006-01-02 15:04:05.999999999 -0700 MST",
        ))
    }
}

/// Formats a time with a Go layout.
pub fn go_format(t: &DateTime<Utc>, layout: &str) -> String {
    let mut out = String::new();
    let b = layout;
    let mut i = 0;
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    while i < b.len() {
        let r = &b[i..];
        let mut take = |tok: &str, val: String| -> bool {
            if r.starts_with(tok) {
                out.push_str(&val);
                i += tok.len();
                true
            } else {
                false
            }
        };
        let m = t.month0() as usize;
        let wd = t.weekday().num_days_from_sunday() as usize;
        let h12 = if t.hour().is_multiple_of(12) {
            12
        } else {
            t.hour() % 12
        };
        if take("January", MONTHS[m].into())
            || take("Jan", MONTHS[m][..3].into())
            || take("Monday", DAYS[wd].into())
            || take("Mon", DAYS[wd][..3].into())
            || take("MST", "UTC".into())
            || take("2006", format!("{:04}", t.year()))
            || take("Z07:00", "Z".into())
            || take("Z0700", "Z".into())
            || take("Z07", "Z".into())
            || take("-07:00:00", "+00:00:00".into())
            || take("-07:00", "+00:00".into())
            || take("-0700", "+0000".into())
            || take("-07", "+00".into())
            || take("002", format!("{:03}", t.ordinal()))
            || take("01", format!("{:02}", t.month()))
            || take("02", format!("{:02}", t.day()))
            || take("_2", format!("{:>2}", t.day()))
            || take("06", format!("{:02}", t.year() % 100))
            || take("15", format!("{:02}", t.hour()))
            || take("03", format!("{:02}", h12))
            || take("04", format!("{:02}", t.minute()))
            || take("05", format!("{:02}", t.second()))
            || take(
                "PM",
                if t.hour() >= 12 {
                    "PM".into()
                } else {
                    "AM".into()
                },
            )
            || take(
                "pm",
                if t.hour() >= 12 {
                    "pm".into()
                } else {
                    "am".into()
                },
            )
        {
            continue;
        }
        // Fractional seconds: .000 / ,000 (fixed) or .999 (trimmed).
        if (r.starts_with(".0")
            || r.starts_with(".9")
            || r.starts_with(",0")
            || r.starts_with(",9"))
            && !r[1..].is_empty()
        {
            let digit = r.as_bytes()[1];
            let n = r[1..].bytes().take_while(|c| *c == digit).count();
            let after = r.as_bytes().get(1 + n);
            if after.is_none_or(|c| !c.is_ascii_digit()) {
                let nanos = format!("{:09}", t.nanosecond());
                let frac = &nanos[..n.min(9)];
                if digit == b'0' {
                    out.push(r.as_bytes()[0] as char);
                    out.push_str(frac);
                } else {
                    let tr = frac.trim_end_matches('0');
                    if !tr.is_empty() {
                        out.push(r.as_bytes()[0] as char);
                        out.push_str(tr);
                    }
                }
                i += 1 + n;
                continue;
            }
        }
        if take("1", t.month().to_string())
            || take("2", t.day().to_string())
            || take("3", h12.to_string())
            || take("4", t.minute().to_string())
            || take("5", t.second().to_string())
        {
            continue;
        }
        let c = r.chars().next().expect("non-empty");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn to_time(v: &Value) -> DateTime<Utc> {
    match v {
        Value::Object(o) if o.type_name() == "time.Time" => {
            let secs = o.field("UnixNano").map(|x| to_i64(&x)).unwrap_or(0);
            Utc.timestamp_nanos(secs)
        }
        Value::I64(i) | Value::Int(i) => Utc.timestamp_opt(*i, 0).single().unwrap_or_else(Utc::now),
        _ => Utc::now(),
    }
}

fn time_val(t: DateTime<Utc>) -> Value {
    Value::Object(Rc::new(Time(t)))
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

/// Parses a time with a Go layout (the common numeric/name tokens), in UTC.
pub fn go_parse(layout: &str, value: &str) -> Result<DateTime<Utc>, String> {
    let mut fmt = String::new();
    let mut i = 0;
    let l = layout;
    let toks: [(&str, &str); 24] = [
        ("January", "%B"),
        ("Jan", "%b"),
        ("Monday", "%A"),
        ("Mon", "%a"),
        ("MST", "%Z"),
        ("2006", "%Y"),
        ("Z07:00", "%:z"),
        ("-07:00", "%:z"),
        ("-0700", "%z"),
        ("Z0700", "%z"),
        (".000000000", "%.9f"),
        (".000000", "%.6f"),
        (".000", "%.3f"),
        (".999999999", "%.f"),
        ("01", "%m"),
        ("02", "%d"),
        ("_2", "%e"),
        ("06", "%y"),
        ("15", "%H"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("PM", "%p"),
        ("1", "%-m"),
    ];
    'outer: while i < l.len() {
        for (t, f) in toks {
            if l[i..].starts_with(t) {
                fmt.push_str(f);
                i += t.len();
                continue 'outer;
            }
        }
        for (t, f) in [("2", "%-d"), ("3", "%-I"), ("4", "%-M"), ("5", "%-S")] {
            if l[i..].starts_with(t) {
                fmt.push_str(f);
                i += t.len();
                continue 'outer;
            }
        }
        let c = l[i..].chars().next().expect("non-empty");
        if c == '%' {
            fmt.push_str("%%");
        } else {
            fmt.push(c);
        }
        i += c.len_utf8();
    }
    let first_tok = toks
        .iter()
        .map(|(t, _)| *t)
        .find(|t| layout.starts_with(t))
        .unwrap_or(layout);
    let bad = || {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            crate::fmt::go_quote(value),
            crate::fmt::go_quote(layout),
            crate::fmt::go_quote(value),
            crate::fmt::go_quote(first_tok)
        )
    };
    if let Ok(dt) = DateTime::parse_from_str(value, &fmt) {
        return Ok(dt.with_timezone(&Utc));
    }
    if let Ok(ndt) = chrono::NaiveDateTime::parse_from_str(value, &fmt) {
        return Ok(Utc.from_utc_datetime(&ndt));
    }
    if let Ok(nd) = chrono::NaiveDate::parse_from_str(value, &fmt) {
        return Ok(Utc.from_utc_datetime(&nd.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    Err(bad())
}

pub(super) fn register(r: &mut Registry) {
    r.add("toDate", &[P::Str, P::Str], None, |_, a| {
        Ok(time_val(go_parse(s(&a[0]), s(&a[1])).unwrap_or_else(
            |_| {
                Utc.timestamp_opt(-62135596800, 0)
                    .single()
                    .expect("zero time")
            },
        )))
    });
    r.add("mustToDate", &[P::Str, P::Str], None, |_, a| {
        Ok(time_val(go_parse(s(&a[0]), s(&a[1]))?))
    });
    r.add("durationRound", &[P::Any], None, |_, a| {
        let secs: i64 = match &a[0] {
            Value::String(st) => parse_go_duration(st)
                .map(|n| n / 1_000_000_000)
                .unwrap_or(0),
            Value::Object(_) => (Utc::now() - to_time(&a[0])).num_seconds(),
            v => to_i64(v) / 1_000_000_000,
        };
        Ok(Value::str(duration_round(secs)))
    });
    r.add("now", &[], None, |_, _| Ok(time_val(Utc::now())));
    r.add("date", &[P::Str, P::Any], None, |_, a| {
        Ok(Value::str(go_format(&to_time(&a[1]), s(&a[0]))))
    });
    r.add("dateInZone", &[P::Str, P::Any, P::Str], None, |_, a| {
        Ok(Value::str(go_format(&to_time(&a[1]), s(&a[0]))))
    });
    r.add("date_in_zone", &[P::Str, P::Any, P::Str], None, |_, a| {
        Ok(Value::str(go_format(&to_time(&a[1]), s(&a[0]))))
    });
    r.add("htmlDate", &[P::Any], None, |_, a| {
        Ok(Value::str(go_format(&to_time(&a[0]), "2006-01-02")))
    });
    r.add("htmlDateInZone", &[P::Any, P::Str], None, |_, a| {
        Ok(Value::str(go_format(&to_time(&a[0]), "2006-01-02")))
    });
    r.add("unixEpoch", &[P::Any], None, |_, a| {
        Ok(Value::str(to_time(&a[0]).timestamp().to_string()))
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
    r.add("ago", &[P::Any], None, |_, a| {
        let d = Utc::now() - to_time(&a[0]);
        let secs = d.num_seconds();
        Ok(Value::str(go_duration(secs * 1_000_000_000)))
    });
    r.add("dateModify", &[P::Str, P::Any], None, |_, a| {
        let t = to_time(&a[1]);
        match parse_go_duration(s(&a[0])) {
            Some(n) => Ok(time_val(t + Duration::nanoseconds(n))),
            None => Ok(time_val(t)),
        }
    });
    r.add("date_modify", &[P::Str, P::Any], None, |_, a| {
        let t = to_time(&a[1]);
        Ok(time_val(
            parse_go_duration(s(&a[0]))
                .map(|n| t + Duration::nanoseconds(n))
                .unwrap_or(t),
        ))
    });
    r.add("mustDateModify", &[P::Str, P::Any], None, |_, a| {
        let t = to_time(&a[1]);
        match parse_go_duration(s(&a[0])) {
            Some(n) => Ok(time_val(t + Duration::nanoseconds(n))),
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
