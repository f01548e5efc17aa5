//! A criterion measurement of the CPU time the process spends (user + system, all its threads,
//! from `/proc/self/stat`), so "on one core" targets are measured as the work done rather than
//! as wall time, which other processes on a shared machine inflate. On an idle machine the two
//! agree for single-threaded work. Resolution: one clock tick (Linux's USER_HZ, 10 ms), so use
//! it for iterations of a second or so.

use criterion::Throughput;
use criterion::measurement::{Measurement, ValueFormatter};

/// Process CPU time, in nanoseconds.
pub struct ProcessCpuTime;

/// Linux reports `/proc` times in USER_HZ ticks, 100 per second on every architecture's ABI.
const NS_PER_TICK: u64 = 10_000_000;

fn now_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which is in parentheses and may hold spaces): state is
    // field 3, utime field 14, stime field 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields[i - 3].parse::<u64>().expect("tick count");
    (ticks(14) + ticks(15)) * NS_PER_TICK
}

impl Measurement for ProcessCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        now_ns()
    }
    fn end(&self, start: u64) -> u64 {
        now_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = if typical >= 1e9 {
            (1e9, "s (CPU)")
        } else if typical >= 1e6 {
            (1e6, "ms (CPU)")
        } else if typical >= 1e3 {
            (1e3, "µs (CPU)")
        } else {
            (1.0, "ns (CPU)")
        };
        values.iter_mut().for_each(|v| *v /= div);
        unit
    }
    fn scale_throughputs(&self, _: f64, _: &Throughput, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v = 1e9 / *v);
        "iterations/CPU s"
    }
    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns (CPU)"
    }
}
