//! What a bench run reports: the machine, the settings, the saturation
//! phase and the fixed-rate latency phase, serialised as JSON, plus a short
//! human summary. Also the process CPU-time probe used for CPU per message.

use crate::telemetry::latency::LatencySummary;
use serde::Serialize;

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub logical_cpus: usize,
    pub os: String,
}

impl Machine {
    pub fn here() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpu_model,
            logical_cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            os: std::env::consts::OS.to_string(),
        }
    }
}

/// Throughput at saturation: frames pushed as fast as the pipeline takes them.
#[derive(Debug, Clone, Serialize)]
pub struct Saturation {
    pub frames: u64,
    pub bytes: u64,
    /// From the first frame in until every stage went quiet.
    pub seconds: f64,
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
    /// Process CPU time (user + system, all threads) per frame.
    pub cpu_ns_per_msg: f64,
    /// Events each stage processed (book counts depth chunks too).
    pub stage_processed: Vec<(String, u64)>,
    pub orders: u64,
}

/// Latency at a fixed offered rate.
#[derive(Debug, Clone, Serialize)]
pub struct Paced {
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub frames: u64,
    pub seconds: f64,
    pub cpu_ns_per_msg: f64,
    pub orders: u64,
    /// `feed` (parse + sync + hand-off, timed by the bench around each
    /// frame), `book`, `score`, `risk`, `exec` (each: previous hand-off to
    /// own hand-off; `book` from frame receipt), `tick_to_order` (frame
    /// receipt to order ready in the exec stage), in ns.
    pub stages: Vec<LatencySummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub venue: String,
    pub mode: String,
    pub wait: String,
    /// The hot path's layout that ran: `threads` or `fused` (`single` for
    /// `--mode single`).
    pub layout: String,
    pub pin: Option<Vec<usize>>,
    pub frames_source: String,
    pub saturation: Option<Saturation>,
    pub paced: Option<Paced>,
}

impl Report {
    /// A few lines for a terminal.
    pub fn human(&self) -> String {
        let mut s = format!(
            "bench: {} {} mode, {} layout, wait {}, frames: {}\nmachine: {} ({} logical CPUs)\n",
            self.venue,
            self.mode,
            self.layout,
            self.wait,
            self.frames_source,
            self.machine.cpu_model,
            self.machine.logical_cpus
        );
        if let Some(x) = &self.saturation {
            s += &format!(
                "saturation: {:.0} msgs/s ({:.1} MB/s), {} frames in {:.2}s, cpu {:.0} ns/msg, orders {}\n",
                x.msgs_per_s, x.mb_per_s, x.frames, x.seconds, x.cpu_ns_per_msg, x.orders
            );
        }
        if let Some(p) = &self.paced {
            s += &format!(
                "paced: {:.0} msgs/s offered, {:.0} achieved, {} frames, cpu {:.0} ns/msg, orders {}\n",
                p.target_rate, p.achieved_rate, p.frames, p.cpu_ns_per_msg, p.orders
            );
            s += &format!(
                "  {:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}\n",
                "stage (ns)", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max"
            );
            for l in &p.stages {
                s += &format!(
                    "  {:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}\n",
                    l.name, l.count, l.p50_ns, l.p90_ns, l.p99_ns, l.p999_ns, l.p9999_ns, l.max_ns
                );
            }
        }
        s
    }
}

/// CPU time (user + system) of the whole process so far, in ns.
pub fn process_cpu_ns() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return 0;
    }
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
