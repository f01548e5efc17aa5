//! Go's `time` package as Sprig uses it: `time.Time` with a location, `Format` and `ParseInLocation`
//! with reference-time layouts (a port of Go's `nextStdChunk`, `Time.AppendFormat` and `parse`), and
//! locations: UTC, fixed zones, IANA zones (`LoadLocation`), and `Local` resolved the way Go's
//! `initLocal` does (the `TZ` variable, else `/etc/localtime`). Zone data comes from the system zoneinfo
//! when present, else from the tz database bundled into the binary (jiff).
//!
//! Known difference: a zone abbreviation in the input (`MST` in the layout) is matched against the local
//! zone's abbreviations in effect around the parsed time (now and ±6 months), where Go scans every zone
//! the location ever had.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A Go `*time.Location`.
#[derive(Clone, Debug)]
pub enum Loc {
    /// `time.UTC` (also `Local` when it falls back to UTC).
    Utc,
    /// A zone from the tz database (or `/etc/localtime`), with the name Go gives it.
    Tz { name: String, tz: TimeZone },
    /// `time.FixedZone(name, offset)`.
    Fixed { name: String, offset: i32 },
}

impl Loc {
    /// `Location.String()`.
    pub fn name(&self) -> &str {
        match self {
            Loc::Utc => "UTC",
            Loc::Tz { name, .. } | Loc::Fixed { name, .. } => name,
        }
    }

    /// The zone abbreviation and offset (seconds east of UTC) in effect at `unix`.
    pub fn lookup(&self, unix: i64) -> (String, i32) {
        match self {
            Loc::Utc => ("UTC".into(), 0),
            Loc::Fixed { name, offset } => (name.clone(), *offset),
            Loc::Tz { tz, .. } => {
                let ts = Timestamp::from_second(unix.clamp(MIN_JIFF, MAX_JIFF))
                    .unwrap_or(Timestamp::UNIX_EPOCH);
                let info = tz.to_offset_info(ts);
                (info.abbreviation().to_string(), info.offset().seconds())
            }
        }
    }
}

const MIN_JIFF: i64 = -377_705_116_800;
const MAX_JIFF: i64 = 253_402_207_200;

/// Go's `time.LoadLocation`: `""`/`UTC`, `Local`, or an IANA name (case-sensitive, as on Linux).
pub fn load_location(name: &str, local: &Loc) -> Result<Loc, String> {
    match name {
        "" | "UTC" => return Ok(Loc::Utc),
        "Local" => return Ok(local.clone()),
        _ => {}
    }
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return Err("time: invalid location name".into());
    }
    match jiff::tz::db().get(name) {
        Ok(tz) if tz.iana_name() == Some(name) => Ok(Loc::Tz {
            name: name.to_string(),
            tz,
        }),
        _ => Err(format!("unknown time zone {name}")),
    }
}

/// Go's `Local` for a given value of the `TZ` variable (`None`: unset, so `/etc/localtime`).
pub fn local_for_tz(tz: Option<&str>) -> Loc {
    match tz {
        None => {
            if let Ok(data) = std::fs::read("/etc/localtime")
                && let Ok(tz) = TimeZone::tzif("Local", &data)
            {
                return Loc::Tz {
                    name: "Local".into(),
                    tz,
                };
            }
        }
        Some(v) if !v.is_empty() => {
            let v = v.strip_prefix(':').unwrap_or(v);
            if v.starts_with('/') {
                if let Ok(data) = std::fs::read(v)
                    && let Ok(tz) = TimeZone::tzif(v, &data)
                {
                    let name = if v == "/etc/localtime" { "Local" } else { v };
                    return Loc::Tz {
                        name: name.into(),
                        tz,
                    };
                }
            } else if !v.is_empty()
                && v != "UTC"
                && let Ok(loc) = load_location(v, &Loc::Utc)
            {
                return loc;
            }
        }
        Some(_) => {}
    }
    Loc::Utc
}

/// The process's `Local`, resolved once from its environment as Go does at start-up.
pub fn process_local() -> &'static Loc {
    static LOCAL: OnceLock<Loc> = OnceLock::new();
    LOCAL.get_or_init(|| local_for_tz(std::env::var("TZ").ok().as_deref()))
}

fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// A Go `time.Time`: an instant, its location, and (for `time.Now()`) a monotonic reading that `String()`
/// prints as `m=+0.000000000`.
#[derive(Clone, Debug)]
pub struct Time {
    pub unix: i64,
    pub nsec: u32,
    pub loc: Loc,
    /// Nanoseconds since the process start (Go prints it; `In`/`UTC` drop it).
    pub mono: Option<i64>,
}

/// Civil fields of a time in its zone.
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub yday: u32,
    /// 0 = Sunday.
    pub weekday: u32,
    pub abbr: String,
    pub offset: i32,
}

pub const MONTHS: [&str; 12] = [
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
pub const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Time {
    /// `time.Now()` in `loc`.
    pub fn now(loc: Loc) -> Time {
        let start = process_start();
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Time {
            unix: d.as_secs() as i64,
            nsec: d.subsec_nanos(),
            loc,
            mono: Some(start.elapsed().as_nanos() as i64 + 1),
        }
    }

    /// `time.Unix(sec, 0)` in `loc`.
    pub fn unix(sec: i64, loc: Loc) -> Time {
        Time {
            unix: sec,
            nsec: 0,
            loc,
            mono: None,
        }
    }

    /// Go's zero `time.Time{}`: 0001-01-01 00:00:00 UTC.
    pub fn zero() -> Time {
        Time::unix(-62_135_596_800, Loc::Utc)
    }

    /// `t.In(loc)`.
    pub fn in_loc(&self, loc: Loc) -> Time {
        Time {
            unix: self.unix,
            nsec: self.nsec,
            loc,
            mono: None,
        }
    }

    /// `t.Add(d)` for a duration in nanoseconds.
    pub fn add(&self, d: i64) -> Time {
        let total = self.nsec as i64 + d.rem_euclid(1_000_000_000);
        Time {
            unix: self.unix + d.div_euclid(1_000_000_000) + total / 1_000_000_000,
            nsec: (total % 1_000_000_000) as u32,
            loc: self.loc.clone(),
            mono: self.mono.map(|m| m + d),
        }
    }

    /// Nanoseconds since the Unix epoch (saturating, like Go's overflowing `UnixNano` is not).
    pub fn unix_nano(&self) -> i64 {
        self.unix
            .saturating_mul(1_000_000_000)
            .saturating_add(self.nsec as i64)
    }

    pub fn civil(&self) -> Civil {
        let (abbr, offset) = self.loc.lookup(self.unix);
        let local = self.unix + offset as i64;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let yday = (days - days_from_civil(year, 1, 1) + 1) as u32;
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            min: secs / 60 % 60,
            sec: secs % 60,
            yday,
            weekday: (days + 4).rem_euclid(7) as u32,
            abbr,
            offset,
        }
    }

    /// `time.Date(...)` in `loc`, with Go's choice of offset in gaps and overlaps.
    #[allow(clippy::too_many_arguments)] // Go's signature
    pub fn date(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        min: u32,
        sec: u32,
        nsec: u32,
        loc: Loc,
    ) -> Time {
        let wall = days_from_civil(year, month, day) * 86_400
            + (hour as i64) * 3600
            + (min as i64) * 60
            + sec as i64;
        let (_, off) = loc.lookup(wall);
        let mut unix = wall;
        if off != 0 {
            let (_, off2) = loc.lookup(wall - off as i64);
            unix -= off2 as i64;
        }
        Time {
            unix,
            nsec,
            loc,
            mono: None,
        }
    }

    /// `t.String()`: `2006-01-02 15:04:05.999999999 -0700 MST` plus the monotonic reading.
    pub fn string(&self) -> String {
        let mut s = self.format("2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.mono {
            let sign = if m < 0 { '-' } else { '+' };
            let m = m.unsigned_abs();
            s.push_str(&format!(
                " m={sign}{}.{:09}",
                m / 1_000_000_000,
                m % 1_000_000_000
            ));
        }
        s
    }

    /// `t.Format(layout)`.
    pub fn format(&self, layout: &str) -> String {
        let c = self.civil();
        let mut b = String::new();
        let mut layout = layout;
        while !layout.is_empty() {
            let (prefix, std, suffix) = next_std_chunk(layout);
            b.push_str(prefix);
            let Some(std) = std else { break };
            layout = suffix;
            let hr12 = match c.hour % 12 {
                0 => 12,
                h => h,
            };
            match std {
                Std::Year => append_int(&mut b, c.year.abs() % 100, 2),
                Std::LongYear => append_int(&mut b, c.year, 4),
                Std::Month => b.push_str(&MONTHS[c.month as usize - 1][..3]),
                Std::LongMonth => b.push_str(MONTHS[c.month as usize - 1]),
                Std::NumMonth => append_int(&mut b, c.month as i64, 0),
                Std::ZeroMonth => append_int(&mut b, c.month as i64, 2),
                Std::WeekDay => b.push_str(&DAYS[c.weekday as usize][..3]),
                Std::LongWeekDay => b.push_str(DAYS[c.weekday as usize]),
                Std::Day => append_int(&mut b, c.day as i64, 0),
                Std::UnderDay => {
                    if c.day < 10 {
                        b.push(' ');
                    }
                    append_int(&mut b, c.day as i64, 0)
                }
                Std::ZeroDay => append_int(&mut b, c.day as i64, 2),
                Std::UnderYearDay => {
                    if c.yday < 100 {
                        b.push(' ');
                        if c.yday < 10 {
                            b.push(' ');
                        }
                    }
                    append_int(&mut b, c.yday as i64, 0)
                }
                Std::ZeroYearDay => append_int(&mut b, c.yday as i64, 3),
                Std::Hour => append_int(&mut b, c.hour as i64, 2),
                Std::Hour12 => append_int(&mut b, hr12 as i64, 0),
                Std::ZeroHour12 => append_int(&mut b, hr12 as i64, 2),
                Std::Minute => append_int(&mut b, c.min as i64, 0),
                Std::ZeroMinute => append_int(&mut b, c.min as i64, 2),
                Std::Second => append_int(&mut b, c.sec as i64, 0),
                Std::ZeroSecond => append_int(&mut b, c.sec as i64, 2),
                Std::PM => b.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
                Std::Pm => b.push_str(if c.hour >= 12 { "pm" } else { "am" }),
                Std::Tz(z) => {
                    if c.offset == 0 && z.iso {
                        b.push('Z');
                        continue;
                    }
                    let mut zone = c.offset / 60;
                    let mut abs = c.offset;
                    if zone < 0 {
                        b.push('-');
                        zone = -zone;
                        abs = -abs;
                    } else {
                        b.push('+');
                    }
                    append_int(&mut b, (zone / 60) as i64, 2);
                    if z.colon {
                        b.push(':');
                    }
                    if z.parts >= 2 {
                        append_int(&mut b, (zone % 60) as i64, 2);
                    }
                    if z.parts == 3 {
                        if z.colon {
                            b.push(':');
                        }
                        append_int(&mut b, (abs % 60) as i64, 2);
                    }
                }
                Std::TzName => {
                    if !c.abbr.is_empty() {
                        b.push_str(&c.abbr);
                        continue;
                    }
                    let mut zone = c.offset / 60;
                    if zone < 0 {
                        b.push('-');
                        zone = -zone;
                    } else {
                        b.push('+');
                    }
                    append_int(&mut b, (zone / 60) as i64, 2);
                    append_int(&mut b, (zone % 60) as i64, 2);
                }
                Std::Frac { sep, digits, trim } => {
                    let nanos = format!("{:09}", self.nsec);
                    let frac = &nanos[..(digits as usize).min(9)];
                    if trim {
                        let t = frac.trim_end_matches('0');
                        if !t.is_empty() {
                            b.push(sep as char);
                            b.push_str(t);
                        }
                    } else {
                        b.push(sep as char);
                        b.push_str(frac);
                    }
                }
            }
        }
        b
    }
}

/// Go's `appendInt`: zero-padded to `width`, sign first.
fn append_int(b: &mut String, v: i64, width: usize) {
    if v < 0 {
        b.push('-');
    }
    b.push_str(&format!("{:0width$}", v.unsigned_abs(), width = width));
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct TzStd {
    /// The `Z...` forms (`Z` for UTC).
    iso: bool,
    colon: bool,
    /// 1: hours, 2: hours and minutes, 3: with seconds.
    parts: u8,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz(TzStd),
    TzName,
    Frac { sep: u8, digits: u8, trim: bool },
}

fn starts_lower(s: &str) -> bool {
    s.as_bytes().first().is_some_and(|c| c.is_ascii_lowercase())
}

/// Go's `nextStdChunk`: the text before the first layout element, the element, and the rest.
fn next_std_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let l = layout.as_bytes();
    let has = |i: usize, s: &str| layout.get(i..i + s.len()) == Some(s);
    let tz = |iso, colon, parts| Std::Tz(TzStd { iso, colon, parts });
    for i in 0..l.len() {
        let hit = |n: usize, std: Std| Some((&layout[..i], Some(std), &layout[i + n..]));
        let found = match l[i] {
            b'J' if has(i, "Jan") => {
                if has(i, "January") {
                    hit(7, Std::LongMonth)
                } else if !starts_lower(&layout[i + 3..]) {
                    hit(3, Std::Month)
                } else {
                    None
                }
            }
            b'M' if has(i, "Mon") => {
                if has(i, "Monday") {
                    hit(6, Std::LongWeekDay)
                } else if !starts_lower(&layout[i + 3..]) {
                    hit(3, Std::WeekDay)
                } else {
                    None
                }
            }
            b'M' if has(i, "MST") => hit(3, Std::TzName),
            b'0' if l.get(i + 1).is_some_and(|c| (b'1'..=b'6').contains(c)) => hit(
                2,
                [
                    Std::ZeroMonth,
                    Std::ZeroDay,
                    Std::ZeroHour12,
                    Std::ZeroMinute,
                    Std::ZeroSecond,
                    Std::Year,
                ][(l[i + 1] - b'1') as usize],
            ),
            b'0' if has(i, "002") => hit(3, Std::ZeroYearDay),
            b'1' if has(i, "15") => hit(2, Std::Hour),
            b'1' => hit(1, Std::NumMonth),
            b'2' if has(i, "2006") => hit(4, Std::LongYear),
            b'2' => hit(1, Std::Day),
            b'_' if has(i, "_2") => {
                if has(i + 1, "2006") {
                    Some((&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]))
                } else {
                    hit(2, Std::UnderDay)
                }
            }
            b'_' if has(i, "__2") => hit(3, Std::UnderYearDay),
            b'3' => hit(1, Std::Hour12),
            b'4' => hit(1, Std::Minute),
            b'5' => hit(1, Std::Second),
            b'P' if has(i, "PM") => hit(2, Std::PM),
            b'p' if has(i, "pm") => hit(2, Std::Pm),
            b'-' if has(i, "-070000") => hit(7, tz(false, false, 3)),
            b'-' if has(i, "-07:00:00") => hit(9, tz(false, true, 3)),
            b'-' if has(i, "-0700") => hit(5, tz(false, false, 2)),
            b'-' if has(i, "-07:00") => hit(6, tz(false, true, 2)),
            b'-' if has(i, "-07") => hit(3, tz(false, false, 1)),
            b'Z' if has(i, "Z070000") => hit(7, tz(true, false, 3)),
            b'Z' if has(i, "Z07:00:00") => hit(9, tz(true, true, 3)),
            b'Z' if has(i, "Z0700") => hit(5, tz(true, false, 2)),
            b'Z' if has(i, "Z07:00") => hit(6, tz(true, true, 2)),
            b'Z' if has(i, "Z07") => hit(3, tz(true, false, 1)),
            c @ (b'.' | b',') if matches!(l.get(i + 1), Some(b'0' | b'9')) => {
                let ch = l[i + 1];
                let mut j = i + 1;
                while j < l.len() && l[j] == ch {
                    j += 1;
                }
                if l.get(j).is_some_and(u8::is_ascii_digit) {
                    None
                } else {
                    Some((
                        &layout[..i],
                        Some(Std::Frac {
                            sep: c,
                            digits: (j - i - 1).min(255) as u8,
                            trim: ch == b'9',
                        }),
                        &layout[j..],
                    ))
                }
            }
            _ => None,
        };
        if let Some(f) = found {
            return f;
        }
    }
    (layout, None, "")
}

fn is_digit(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

/// Go's `getnum`: one or two digits (exactly two when `fixed`).
fn getnum(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if !is_digit(b, 0) {
        return None;
    }
    if !is_digit(b, 1) {
        if fixed {
            return None;
        }
        return Some(((b[0] - b'0') as i64, &s[1..]));
    }
    Some((((b[0] - b'0') * 10 + (b[1] - b'0')) as i64, &s[2..]))
}

fn getnum3(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    let mut n = 0i64;
    let mut i = 0;
    while i < 3 && is_digit(b, i) {
        n = n * 10 + (b[i] - b'0') as i64;
        i += 1;
    }
    if i == 0 || (fixed && i != 3) {
        return None;
    }
    Some((n, &s[i..]))
}

fn cutspace(s: &str) -> &str {
    s.trim_start_matches(' ')
}

/// Go's `skip`: the literal prefix, with runs of spaces matching runs of spaces.
fn skip<'a>(mut value: &'a str, mut prefix: &str) -> Result<&'a str, &'a str> {
    while !prefix.is_empty() {
        if prefix.starts_with(' ') {
            if value.as_bytes().first().is_some_and(|c| *c != b' ') {
                return Err(value);
            }
            prefix = cutspace(prefix);
            value = cutspace(value);
            continue;
        }
        let c = prefix.chars().next().expect("non-empty");
        if !value.starts_with(c) {
            return Err(value);
        }
        prefix = &prefix[c.len_utf8()..];
        value = &value[c.len_utf8()..];
    }
    Ok(value)
}

/// Go's `lookup`: a case-insensitive (ASCII) prefix match against a table.
fn lookup_name<'a>(tab: &[&str], val: &'a str) -> Option<(usize, &'a str)> {
    for (i, v) in tab.iter().enumerate() {
        if val.len() >= v.len() && val.as_bytes()[..v.len()].eq_ignore_ascii_case(v.as_bytes()) {
            return Some((i, &val[v.len()..]));
        }
    }
    None
}

fn leading_int(s: &str) -> Option<(i64, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    let mut x: i64 = 0;
    for c in s[..n].bytes() {
        x = x.checked_mul(10)?.checked_add((c - b'0') as i64)?;
    }
    Some((x, &s[n..]))
}

fn parse_signed_offset(value: &str) -> usize {
    let Some(sign) = value.bytes().next() else {
        return 0;
    };
    if sign != b'-' && sign != b'+' {
        return 0;
    }
    match leading_int(&value[1..]) {
        Some((x, rem)) if rem.len() != value.len() - 1 && x <= 24 => value.len() - rem.len(),
        _ => 0,
    }
}

/// Go's `parseTimeZone`: the length of a zone abbreviation at the start of `value`.
fn parse_time_zone(value: &str) -> Option<usize> {
    let b = value.as_bytes();
    if b.len() < 3 {
        return None;
    }
    if value.starts_with("ChST") || value.starts_with("MeST") {
        return Some(4);
    }
    if let Some(rest) = value.strip_prefix("GMT") {
        return Some(if rest.is_empty() {
            3
        } else {
            3 + parse_signed_offset(rest)
        });
    }
    if b[0] == b'+' || b[0] == b'-' {
        let n = parse_signed_offset(value);
        return (n > 0).then_some(n);
    }
    let upper = b
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match upper {
        3 => Some(3),
        4 if b[3] == b'T' || value.starts_with("WITA") => Some(4),
        5 if b[4] == b'T' => Some(5),
        _ => None,
    }
}

/// Go's `parseNanoseconds`: `value[0]` is the separator, `nbytes` counts it.
fn parse_nanoseconds(value: &str, nbytes: usize) -> Result<u32, ()> {
    let b = value.as_bytes();
    if !matches!(b.first(), Some(b'.' | b',')) {
        return Err(());
    }
    let nbytes = nbytes.min(10);
    let digits = value.get(1..nbytes).ok_or(())?;
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(());
    }
    let mut ns: u32 = digits.parse().map_err(|_| ())?;
    for _ in 0..(10 - nbytes) {
        ns *= 10;
    }
    Ok(ns)
}

/// Go's `time.ParseInLocation(layout, value, local)`, with Go's error messages.
pub fn parse_in_location(layout: &str, value: &str, local: &Loc) -> Result<Time, String> {
    let (alayout, avalue) = (layout, value);
    let q = crate::fmt::go_quote;
    let err_elem = |lelem: &str, velem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            q(avalue),
            q(alayout),
            q(velem),
            q(lelem)
        )
    };
    let err_msg = |msg: &str| format!("parsing time {}{msg}", q(avalue));
    let (mut layout, mut value) = (layout, value);
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0u32);
    let (mut am, mut pm) = (false, false);
    let mut z_utc = false;
    let mut zone_offset: Option<i32> = None;
    let mut zone_name = String::new();
    loop {
        let (prefix, std, suffix) = next_std_chunk(layout);
        let stdstr = &layout[prefix.len()..layout.len() - suffix.len()];
        value = skip(value, prefix).map_err(|v| err_elem(prefix, v))?;
        let Some(std) = std else {
            if !value.is_empty() {
                return Err(err_msg(&format!(": extra text: {}", q(value))));
            }
            break;
        };
        layout = suffix;
        let hold = value;
        let mut range_err = "";
        let ok: Option<()> = (|| {
            match std {
                Std::Year => {
                    let p = value.get(..2)?;
                    let y: i64 = p
                        .parse()
                        .ok()
                        .filter(|_| p.bytes().all(|c| c.is_ascii_digit()))?;
                    value = &value[2..];
                    year = if y >= 69 { y + 1900 } else { y + 2000 };
                }
                Std::LongYear => {
                    if value.len() < 4 || !is_digit(value.as_bytes(), 0) {
                        return None;
                    }
                    let p = value.get(..4)?;
                    year = p.parse().ok()?;
                    value = &value[4..];
                }
                Std::Month | Std::LongMonth => {
                    let tab: Vec<&str> = if std == Std::Month {
                        MONTHS.iter().map(|m| &m[..3]).collect()
                    } else {
                        MONTHS.to_vec()
                    };
                    let (m, rest) = lookup_name(&tab, value)?;
                    month = m as i64 + 1;
                    value = rest;
                }
                Std::NumMonth | Std::ZeroMonth => {
                    let (m, rest) = getnum(value, std == Std::ZeroMonth)?;
                    month = m;
                    value = rest;
                    if !(1..=12).contains(&m) {
                        range_err = "month";
                    }
                }
                Std::WeekDay | Std::LongWeekDay => {
                    let tab: Vec<&str> = if std == Std::WeekDay {
                        DAYS.iter().map(|m| &m[..3]).collect()
                    } else {
                        DAYS.to_vec()
                    };
                    value = lookup_name(&tab, value)?.1;
                }
                Std::Day | Std::UnderDay | Std::ZeroDay => {
                    if std == Std::UnderDay && value.starts_with(' ') {
                        value = &value[1..];
                    }
                    let (d, rest) = getnum(value, std == Std::ZeroDay)?;
                    day = d;
                    value = rest;
                }
                Std::UnderYearDay | Std::ZeroYearDay => {
                    for _ in 0..2 {
                        if std == Std::UnderYearDay && value.starts_with(' ') {
                            value = &value[1..];
                        }
                    }
                    let (d, rest) = getnum3(value, std == Std::ZeroYearDay)?;
                    yday = d;
                    value = rest;
                }
                Std::Hour => {
                    let (h, rest) = getnum(value, false)?;
                    hour = h;
                    value = rest;
                    if !(0..24).contains(&h) {
                        range_err = "hour";
                    }
                }
                Std::Hour12 | Std::ZeroHour12 => {
                    let (h, rest) = getnum(value, std == Std::ZeroHour12)?;
                    hour = h;
                    value = rest;
                    if !(0..=12).contains(&h) {
                        range_err = "hour";
                    }
                }
                Std::Minute | Std::ZeroMinute => {
                    let (m, rest) = getnum(value, std == Std::ZeroMinute)?;
                    min = m;
                    value = rest;
                    if !(0..60).contains(&m) {
                        range_err = "minute";
                    }
                }
                Std::Second | Std::ZeroSecond => {
                    let (s, rest) = getnum(value, std == Std::ZeroSecond)?;
                    sec = s;
                    value = rest;
                    if !(0..60).contains(&s) {
                        range_err = "second";
                        return Some(());
                    }
                    let b = value.as_bytes();
                    if b.len() >= 2 && matches!(b[0], b'.' | b',') && is_digit(b, 1) {
                        if let (_, Some(Std::Frac { .. }), _) = next_std_chunk(layout) {
                            return Some(());
                        }
                        let mut n = 2;
                        while is_digit(b, n) {
                            n += 1;
                        }
                        nsec = parse_nanoseconds(value, n).ok()?;
                        value = &value[n..];
                    }
                }
                Std::PM | Std::Pm => {
                    let p = value.get(..2)?;
                    let (up, lo) = if std == Std::PM {
                        ("PM", "AM")
                    } else {
                        ("pm", "am")
                    };
                    if p == up {
                        pm = true;
                    } else if p == lo {
                        am = true;
                    } else {
                        return None;
                    }
                    value = &value[2..];
                }
                Std::Tz(z) => {
                    if z.iso && value.starts_with('Z') {
                        value = &value[1..];
                        z_utc = true;
                        return Some(());
                    }
                    let b = value.as_bytes();
                    let (sign, hh, mm, ss, rest) = if z.colon && z.parts == 2 {
                        if b.len() < 6 || b[3] != b':' {
                            return None;
                        }
                        (&value[..1], &value[1..3], &value[4..6], "00", &value[6..])
                    } else if z.parts == 1 {
                        if b.len() < 3 {
                            return None;
                        }
                        (&value[..1], value.get(1..3)?, "00", "00", &value[3..])
                    } else if z.colon && z.parts == 3 {
                        if b.len() < 9 || b[3] != b':' || b[6] != b':' {
                            return None;
                        }
                        (
                            &value[..1],
                            &value[1..3],
                            &value[4..6],
                            &value[7..9],
                            &value[9..],
                        )
                    } else if z.parts == 3 {
                        if b.len() < 7 {
                            return None;
                        }
                        (
                            &value[..1],
                            value.get(1..3)?,
                            value.get(3..5)?,
                            value.get(5..7)?,
                            &value[7..],
                        )
                    } else {
                        if b.len() < 5 {
                            return None;
                        }
                        (
                            &value[..1],
                            value.get(1..3)?,
                            value.get(3..5)?,
                            "00",
                            &value[5..],
                        )
                    };
                    value = rest;
                    // Go checks the ranges of what it read even when a later part failed.
                    let hr = getnum(hh, true).map(|x| x.0);
                    let mi = hr.and_then(|_| getnum(mm, true).map(|x| x.0));
                    let se = mi.and_then(|_| getnum(ss, true).map(|x| x.0));
                    let ok = se.is_some();
                    let (hr, mi, se) = (hr.unwrap_or(0), mi.unwrap_or(0), se.unwrap_or(0));
                    if hr > 24 {
                        range_err = "time zone offset hour";
                    }
                    if mi > 60 {
                        range_err = "time zone offset minute";
                    }
                    if se > 60 {
                        range_err = "time zone offset second";
                    }
                    if !ok {
                        return None;
                    }
                    let off = ((hr * 60 + mi) * 60 + se) as i32;
                    zone_offset = Some(match sign {
                        "+" => off,
                        "-" => -off,
                        _ => return None,
                    });
                }
                Std::TzName => {
                    if value.starts_with("UTC") {
                        z_utc = true;
                        value = &value[3..];
                        return Some(());
                    }
                    let n = parse_time_zone(value)?;
                    zone_name = value[..n].to_string();
                    value = &value[n..];
                }
                Std::Frac { digits, trim, .. } => {
                    if !trim {
                        let nd = 1 + digits as usize;
                        if value.len() < nd {
                            return None;
                        }
                        nsec = parse_nanoseconds(value, nd).ok()?;
                        value = &value[nd..];
                    } else {
                        let b = value.as_bytes();
                        if b.len() < 2 || !matches!(b[0], b'.' | b',') || !b[1].is_ascii_digit() {
                            return Some(());
                        }
                        let mut i = 0;
                        while is_digit(b, i + 1) {
                            i += 1;
                        }
                        nsec = parse_nanoseconds(value, 1 + i).ok()?;
                        value = &value[1 + i..];
                    }
                }
            }
            Some(())
        })();
        if !range_err.is_empty() {
            return Err(err_msg(&format!(": {range_err} out of range")));
        }
        if ok.is_none() {
            return Err(err_elem(stdstr, hold));
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let (mut m, mut d) = (0i64, 0i64);
        if is_leap(year) {
            if yday == 31 + 29 {
                m = 2;
                d = 29;
            } else if yday > 31 + 29 {
                yday -= 1;
            }
        }
        if !(1..=365).contains(&yday) {
            return Err(err_msg(": day-of-year out of range"));
        }
        if m == 0 {
            const BEFORE: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
            m = (yday - 1) / 31 + 1;
            if BEFORE[m as usize] < yday {
                m += 1;
            }
            d = yday - BEFORE[m as usize - 1];
        }
        if month >= 0 && month != m {
            return Err(err_msg(": day-of-year does not match month"));
        }
        month = m;
        if day >= 0 && day != d {
            return Err(err_msg(": day-of-year does not match day"));
        }
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in(month as u32, year) as i64 {
        return Err(err_msg(": day out of range"));
    }
    let (mo, d, h, mi, s) = (
        month as u32,
        day as u32,
        hour as u32,
        min as u32,
        sec as u32,
    );
    if z_utc {
        return Ok(Time::date(year, mo, d, h, mi, s, nsec, Loc::Utc));
    }
    if let Some(off) = zone_offset {
        let mut t = Time::date(year, mo, d, h, mi, s, nsec, Loc::Utc);
        t.unix -= off as i64;
        let (name, loff) = local.lookup(t.unix);
        if loff == off && (zone_name.is_empty() || name == zone_name) {
            t.loc = local.clone();
        } else {
            t.loc = Loc::Fixed {
                name: zone_name,
                offset: off,
            };
        }
        return Ok(t);
    }
    if !zone_name.is_empty() {
        let mut t = Time::date(year, mo, d, h, mi, s, nsec, Loc::Utc);
        if let Some(off) = lookup_zone_name(local, &zone_name, t.unix) {
            t.unix -= off as i64;
            t.loc = local.clone();
            return Ok(t);
        }
        let mut off = 0;
        if zone_name.len() > 3 && zone_name.starts_with("GMT") {
            off = zone_name[3..].parse::<i32>().unwrap_or(0) * 3600;
        }
        t.loc = Loc::Fixed {
            name: zone_name,
            offset: off,
        };
        return Ok(t);
    }
    Ok(Time::date(year, mo, d, h, mi, s, nsec, local.clone()))
}

/// Go's `Location.lookupName`, approximated: the local zone's abbreviations around `unix`.
fn lookup_zone_name(loc: &Loc, name: &str, unix: i64) -> Option<i32> {
    let half_year = 182 * 86_400;
    for probe in [unix, unix - half_year, unix + half_year] {
        let (abbr, off) = loc.lookup(probe);
        if abbr == name {
            // A zone with that name in effect at the given wall time wins.
            let (abbr2, off2) = loc.lookup(unix - off as i64);
            if abbr2 == name {
                return Some(off2);
            }
            return Some(off);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ny() -> Loc {
        load_location("America/New_York", &Loc::Utc).unwrap()
    }

    #[test]
    fn formats_in_zones() {
        let t = Time::unix(1_700_000_000, ny());
        assert_eq!(t.string(), "2023-11-14 17:13:20 -0500 EST");
        let t = Time::unix(1_690_000_000, ny());
        assert_eq!(t.format("Z07:00 MST"), "-04:00 EDT");
        assert_eq!(Time::zero().string(), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn unknown_zone_and_case() {
        assert!(load_location("Nope/Zone", &Loc::Utc).is_err());
        assert!(load_location("america/new_york", &Loc::Utc).is_err());
        assert!(matches!(local_for_tz(Some("")), Loc::Utc));
        assert_eq!(local_for_tz(Some(":Asia/Kolkata")).name(), "Asia/Kolkata");
    }

    #[test]
    fn parses_with_go_errors() {
        let t = parse_in_location("2006-01-02 15:04", "2024-03-10 02:30", &ny()).unwrap();
        assert_eq!(t.string(), "2024-03-10 01:30:00 -0500 EST");
        assert_eq!(
            parse_in_location("2006-01-02", "2024-13-01", &Loc::Utc).unwrap_err(),
            "parsing time \"2024-13-01\": month out of range"
        );
        assert_eq!(
            parse_in_location("2006-01-02", "2024-1x", &Loc::Utc).unwrap_err(),
            "parsing time \"2024-1x\" as \"2006-01-02\": cannot parse \"1x\" as \"01\""
        );
    }
}
