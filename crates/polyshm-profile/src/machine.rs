//! What a report records about where it was measured: machine, CPUs, kernel,
//! compiler, commit, and how busy the machine was.

use std::process::Command;

/// The machine and build a run measured on.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    /// Host name.
    pub host: String,
    /// CPU model, as the OS names it.
    pub cpu_model: String,
    /// CPUs this process may use.
    pub cpus: usize,
    /// Operating system and kernel release.
    pub kernel: String,
    /// The compiler that built this binary (`rustc --version` at build time).
    pub rustc: String,
    /// `git rev-parse HEAD` of the working directory, `+dirty` when it has changes;
    /// `unknown` outside a checkout.
    pub commit: String,
    /// UTC time the run started (RFC 3339).
    pub started: String,
    /// 1-minute load average when the run started, where the OS tells it.
    pub load_before: Option<f64>,
    /// 1-minute load average when the run ended.
    pub load_after: Option<f64>,
    /// Share of all CPUs' time that other processes used while the run measured
    /// (0 to 1), where the OS tells it: the run's own CPU time, its drones' and
    /// helpers' included, is left out.
    pub others_cpu: Option<f64>,
}

impl Machine {
    /// Look at the machine now.
    pub fn probe() -> Machine {
        Machine {
            host: read_trimmed("/proc/sys/kernel/hostname")
                .or_else(|| command(&["hostname"]))
                .unwrap_or_else(|| "unknown".into()),
            cpu_model: cpu_model().unwrap_or_else(|| std::env::consts::ARCH.into()),
            cpus: polyshm::sys::cpu_count(),
            kernel: kernel(),
            rustc: env!("POLYSHM_RUSTC_VERSION").to_string(),
            commit: commit().unwrap_or_else(|| "unknown".into()),
            started: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            load_before: load_average(),
            load_after: None,
            others_cpu: None,
        }
    }

    /// Whether other work shared the CPUs: other processes used more than 10 % of
    /// the machine during the run or, where that is unknown, the 1-minute load before
    /// the run exceeded half the CPU count.
    pub fn was_busy(&self) -> bool {
        match self.others_cpu {
            Some(share) => share > 0.10,
            None => self.load_before.is_some_and(|l| l > self.cpus as f64 * 0.5),
        }
    }
}

/// CPU time counters at one moment, in clock ticks: the whole machine's busy and
/// total time, and this process's own (its waited-for children included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    busy: u64,
    total: u64,
    ours: u64,
}

impl CpuTimes {
    /// Read the counters now; `None` where the OS does not show them (`/proc`).
    pub fn now() -> Option<CpuTimes> {
        let (busy, total) = parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let ours = parse_self_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        Some(CpuTimes { busy, total, ours })
    }

    /// Share of the machine's CPU time between `self` and `later` that other
    /// processes used (0 to 1).
    pub fn others_share(&self, later: &CpuTimes) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        if total == 0 {
            return None;
        }
        let busy = later.busy.saturating_sub(self.busy);
        let ours = later.ours.saturating_sub(self.ours);
        Some((busy.saturating_sub(ours) as f64 / total as f64).clamp(0.0, 1.0))
    }
}

/// (busy, total) ticks from the `cpu` line of `/proc/stat`.
fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice: inside user]
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let idle = get(3) + get(4);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    Some((busy, busy + idle))
}

/// utime + stime + cutime + cstime from `/proc/self/stat`.
fn parse_self_stat(text: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14.
    (11..=14).map(|i| f.get(i)?.parse::<u64>().ok()).sum()
}

fn read_trimmed(path: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn command(argv: &[&str]) -> Option<String> {
    let out = Command::new(argv[0]).args(&argv[1..]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .or_else(|| command(&["sysctl", "-n", "machdep.cpu.brand_string"]))
}

fn kernel() -> String {
    match read_trimmed("/proc/sys/kernel/osrelease") {
        Some(r) => format!("{} {r}", std::env::consts::OS),
        None => command(&["uname", "-sr"]).unwrap_or_else(|| std::env::consts::OS.into()),
    }
}

fn commit() -> Option<String> {
    let head = command(&["git", "rev-parse", "--short=12", "HEAD"])?;
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| o.status.success() && !o.stdout.is_empty());
    Some(if dirty { format!("{head}+dirty") } else { head })
}

fn load_average() -> Option<f64> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_fills_every_field() {
        let m = Machine::probe();
        assert!(m.cpus >= 1);
        assert!(m.rustc.starts_with("rustc "), "{}", m.rustc);
        for f in [&m.host, &m.cpu_model, &m.kernel, &m.commit, &m.started] {
            assert!(!f.is_empty());
        }
    }

    #[test]
    fn loadavg_parses_the_first_field() {
        assert_eq!(parse_loadavg("1.52 0.80 0.40 2/300 1234\n"), Some(1.52));
        assert_eq!(parse_loadavg(""), None);
    }

    #[test]
    fn busy_means_others_used_the_cpus() {
        let mut m = Machine::probe();
        m.cpus = 2;
        m.others_cpu = None;
        m.load_before = Some(0.4);
        assert!(!m.was_busy());
        m.load_before = Some(1.5);
        assert!(m.was_busy());
        m.others_cpu = Some(0.02);
        assert!(!m.was_busy(), "the measured share wins over the load");
        m.others_cpu = Some(0.3);
        assert!(m.was_busy());
    }

    #[test]
    fn proc_counters_parse() {
        let stat = "cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(parse_proc_stat(stat), Some((170, 990)));
        let me = "4242 (poly shm) S 1 2 3 4 5 6 7 8 9 10 11 22 33 44 20 0 1 0 5";
        assert_eq!(parse_self_stat(me), Some(11 + 22 + 33 + 44));
        assert_eq!(parse_self_stat("garbage"), None);
    }

    #[test]
    fn others_share_leaves_our_own_time_out() {
        let a = CpuTimes {
            busy: 100,
            total: 1000,
            ours: 40,
        };
        let b = CpuTimes {
            busy: 400,
            total: 2000,
            ours: 240,
        };
        // 300 busy ticks, 200 of them ours: others used 100 of 1000.
        assert_eq!(a.others_share(&b), Some(0.1));
        assert_eq!(a.others_share(&a), None);
    }
}
