//! Go `fmt` printing: `%v` of every value kind, `fmt.Sprint`/`Sprintln`, and the `printf` verbs used in
//! charts, including Go's `%!verb(type=value)` forms for mismatched arguments.

use crate::value::Value;

/// What a template action prints for a value (`{{ .x }}`): nil prints `<no value>`.
pub fn print_value(v: &Value) -> Result<String, String> {
    match v {
        Value::Nil => Ok("<no value>".into()),
        Value::Object(o) => Ok(o.print_action().unwrap_or_else(|| sprint_v(v))),
        v => Ok(sprint_v(v)),
    }
}

/// Go's strconv.FormatFloat(f, 'g', -1, 64) as `%v` prints it.
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Shortest representation digits and exponent.
    let s = format!("{:e}", f); // e.g. "1.2345e6", shortest round-trip
    let (mant, exp) = s.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    // Go (strconv 'g', shortest): %e is used when exp < -4 || exp >= 6, so 123456789.0 prints as
    // 1.23456789e+08 and 1e6 as 1e+06.
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
        return out;
    }
    // Fixed notation.
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in 0..(int_len - digits.len()) {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// `%v` formatting.
pub fn sprint_v(v: &Value) -> String {
    let mut s = String::new();
    write_v(&mut s, v, true);
    s
}

fn write_v(out: &mut String, v: &Value, top: bool) {
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::I64(i) => out.push_str(&i.to_string()),
        Value::U64(u) => out.push_str(&u.to_string()),
        Value::Float(f) => out.push_str(&format_float_g(*f)),
        Value::String(s) => out.push_str(s),
        Value::Bytes(b) => {
            out.push('[');
            for (i, x) in b.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&x.to_string());
            }
            out.push(']');
        }
        Value::List(_, l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, x, false);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, x)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, x, false);
            }
            out.push(']');
        }
        Value::Object(o) => {
            let _ = top;
            match o.display() {
                Some(d) => out.push_str(&d),
                None => out.push_str(&format!("{{{}}}", o.type_name())),
            }
        }
    }
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub fn go_sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::String(_)) && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        write_v(&mut out, a, true);
    }
    out
}

/// `fmt.Sprintln`: always spaces, plus a newline.
pub fn go_sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(&mut out, a, true);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf`.
pub fn go_sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let bytes = format.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c != b'%' {
            let next = format[i..].find('%').map(|p| p + i).unwrap_or(bytes.len());
            out.push_str(&format[i..next]);
            i = next;
            continue;
        }
        i += 1;
        let mut sp = Spec::default();
        while i < bytes.len() {
            match bytes[i] {
                b'-' => sp.minus = true,
                b'+' => sp.plus = true,
                b'#' => sp.sharp = true,
                b' ' => sp.space = true,
                b'0' => sp.zero = !sp.minus,
                _ => break,
            }
            i += 1;
        }
        // width
        if i < bytes.len() && bytes[i] == b'*' {
            i += 1;
            if let Some(Value::Int(w)) = args.get(argi) {
                sp.width = Some(w.unsigned_abs() as usize);
                if *w < 0 {
                    sp.minus = true;
                }
            } else {
                out.push_str("%!(BADWIDTH)");
            }
            argi += 1;
        } else {
            let st = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i > st {
                // Go's fmt refuses widths above 1e6.
                sp.width = format[st..i].parse().ok().filter(|w| *w <= 1_000_000);
            }
        }
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            if i < bytes.len() && bytes[i] == b'*' {
                i += 1;
                if let Some(Value::Int(p)) = args.get(argi) {
                    sp.prec = Some((*p).max(0) as usize);
                } else {
                    out.push_str("%!(BADPREC)");
                }
                argi += 1;
            } else {
                let st = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                sp.prec = Some(format[st..i].parse().unwrap_or(0).min(1_000_000));
            }
        }
        if i >= bytes.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().expect("i < len");
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        fmt_arg(&mut out, arg, verb, sp);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[argi..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if let Value::Nil = a {
                out.push_str("<nil>");
            } else {
                out.push_str(&a.type_name());
                out.push('=');
                write_v(&mut out, a, true);
            }
        }
        out.push(')');
    }
    out
}

fn pad(out: &mut String, s: &str, sp: Spec) {
    let n = s.chars().count();
    let w = sp.width.unwrap_or(0);
    if n >= w {
        out.push_str(s);
        return;
    }
    let fill = w - n;
    if sp.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if sp.zero {
        // Zero padding goes after a sign.
        let (sign, rest) = if s.starts_with(['-', '+']) {
            s.split_at(1)
        } else {
            ("", s)
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, arg: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if let Value::Nil = arg {
        out.push_str("<nil>");
    } else {
        out.push_str(&arg.type_name());
        out.push('=');
        write_v(out, arg, true);
    }
    out.push(')');
}

fn fmt_int(i: i128, verb: char, sp: Spec) -> Option<String> {
    let neg = i < 0;
    let a = i.unsigned_abs();
    let mut digits = match verb {
        'd' | 'v' => a.to_string(),
        'x' => format!("{a:x}"),
        'X' => format!("{a:X}"),
        'o' => format!("{a:o}"),
        'O' => format!("0o{a:o}"),
        'b' => format!("{a:b}"),
        'c' => return char::from_u32(i as u32).map(|c| c.to_string()),
        'q' => return char::from_u32(i as u32).map(|c| format!("'{c}'")),
        'U' => return Some(format!("U+{:04X}", i)),
        _ => return None,
    };
    if let Some(p) = sp.prec {
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    if sp.sharp {
        match verb {
            'x' => digits.insert_str(0, "0x"),
            'X' => digits.insert_str(0, "0X"),
            'o' => digits.insert(0, '0'),
            _ => {}
        }
    }
    if neg {
        digits.insert(0, '-');
    } else if sp.plus {
        digits.insert(0, '+');
    } else if sp.space {
        digits.insert(0, ' ');
    }
    Some(digits)
}

fn fmt_float(f: f64, verb: char, sp: Spec) -> Option<String> {
    let mut s = match verb {
        'v' | 'g' | 'G' => match sp.prec {
            None => format_float_g(f),
            Some(p) => format_g_prec(f, p.max(1)),
        },
        'f' | 'F' => format!("{:.*}", sp.prec.unwrap_or(6), f),
        'e' | 'E' => {
            let s = format!("{:.*e}", sp.prec.unwrap_or(6), f);
            let (m, e) = s.split_once('e').expect("exponent");
            let e: i32 = e.parse().expect("int");
            let s = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
            if verb == 'E' { s.to_uppercase() } else { s }
        }
        _ => return None,
    };
    if f.is_infinite() || f.is_nan() {
        s = format_float_g(f);
    }
    if sp.plus && !s.starts_with('-') && !s.starts_with('+') {
        s.insert(0, '+');
    } else if sp.space && !s.starts_with('-') {
        s.insert(0, ' ');
    }
    Some(s)
}

fn format_g_prec(f: f64, p: usize) -> String {
    let s = format!("{:.*e}", p - 1, f);
    let (m, e) = s.split_once('e').expect("exponent");
    let exp: i32 = e.parse().expect("int");
    if exp < -4 || exp >= p as i32 {
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        let dec = (p as i32 - 1 - exp).max(0) as usize;
        let s = format!("{:.*}", dec, f);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// strconv.FormatFloat(f, 'x', -1, 64).
fn hex_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0x0p+00".into()
        } else {
            "0x0p+00".into()
        };
    }
    if !f.is_finite() {
        return format_float_g(f);
    }
    let bits = f.to_bits();
    let neg = bits >> 63 == 1;
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        // subnormal: normalise
        while mant & (1u64 << 52) == 0 {
            mant <<= 1;
            exp -= 1;
        }
        mant &= (1u64 << 52) - 1;
        exp += 1;
    }
    let e = exp - 1023;
    let frac = format!("{mant:013x}");
    let frac = frac.trim_end_matches('0');
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push_str("0x1");
    if !frac.is_empty() {
        s.push('.');
        s.push_str(frac);
    }
    s.push_str(&format!("p{}{:02}", if e < 0 { '-' } else { '+' }, e.abs()));
    s
}

/// Go's strconv.Quote.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            '\u{fffd}' => out.push('\u{fffd}'),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn is_go_printable(c: char) -> bool {
    !(c.is_control()
        || matches!(c as u32, 0x80..=0x9f | 0xad | 0x2028 | 0x2029 | 0xfeff)
        || (c.is_whitespace() && c != ' '))
}

fn fmt_arg(out: &mut String, arg: &Value, verb: char, sp: Spec) {
    if verb == 'T' {
        pad(out, &arg.type_name(), sp);
        return;
    }
    match arg {
        Value::Nil => match verb {
            'v' => pad(out, "<nil>", sp),
            _ => bad_verb(out, arg, verb),
        },
        Value::Bool(b) => match verb {
            'v' | 't' => pad(out, if *b { "true" } else { "false" }, sp),
            _ => bad_verb(out, arg, verb),
        },
        Value::Int(i) | Value::I64(i) => match fmt_int(*i as i128, verb, sp) {
            Some(s) => pad(out, &s, sp),
            None => bad_verb(out, arg, verb),
        },
        Value::U64(u) => match fmt_int(*u as i128, verb, sp) {
            Some(s) => pad(out, &s, sp),
            None => bad_verb(out, arg, verb),
        },
        Value::Float(f) => match verb {
            'x' | 'X' => {
                let s = hex_float(*f);
                pad(out, &if verb == 'X' { s.to_uppercase() } else { s }, sp)
            }
            _ => match fmt_float(*f, verb, sp) {
                Some(s) => pad(out, &s, sp),
                None => bad_verb(out, arg, verb),
            },
        },
        Value::String(s) => fmt_str(out, s.as_bytes(), s, verb, sp, arg),
        Value::Bytes(b) => match verb {
            's' | 'q' | 'x' | 'X' => {
                let s = String::from_utf8_lossy(b);
                fmt_str(out, b, &s, verb, sp, arg)
            }
            _ => {
                let mut s = String::new();
                write_v(&mut s, arg, true);
                pad(out, &s, sp)
            }
        },
        Value::List(_, l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_arg(out, x, verb, sp);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, x)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_arg(out, &Value::str(k.as_str()), verb, sp);
                out.push(':');
                fmt_arg(out, x, verb, sp);
            }
            out.push(']');
        }
        Value::Object(_) => {
            let mut s = String::new();
            write_v(&mut s, arg, true);
            pad(out, &s, sp)
        }
    }
}

fn fmt_str(out: &mut String, bytes: &[u8], s: &str, verb: char, sp: Spec, arg: &Value) {
    match verb {
        'v' | 's' => {
            let s: String = match sp.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            pad(out, &s, sp)
        }
        'q' => {
            let s = if sp.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                go_quote(s)
            };
            pad(out, &s, sp)
        }
        'x' => pad(out, &hex::encode(bytes), sp),
        'X' => pad(out, &hex::encode_upper(bytes), sp),
        _ => bad_verb(out, arg, verb),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats() {
        assert_eq!(format_float_g(1e6), "1e+06");
        assert_eq!(format_float_g(123456789.0), "1.23456789e+08");
        assert_eq!(format_float_g(100000.0), "100000");
        assert_eq!(format_float_g(2.25), "2.25");
        assert_eq!(format_float_g(0.0001), "0.0001");
        assert_eq!(format_float_g(0.00001), "1e-05");
        assert_eq!(format_float_g(1.5), "1.5");
        assert_eq!(format_float_g(-2.0), "-2");
        assert_eq!(format_float_g(1e21), "1e+21");
    }
}
