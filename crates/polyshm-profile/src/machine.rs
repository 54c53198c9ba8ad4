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
        }
    }

    /// Whether the load average says other work shared the CPUs: a 1-minute load
    /// above half the CPU count before or after the run (the run itself adds up to
    /// about 1).
    pub fn was_busy(&self) -> bool {
        let limit = self.cpus as f64 * 0.5 + 1.0;
        [self.load_before, self.load_after]
            .iter()
            .flatten()
            .any(|l| *l > limit)
    }
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
    fn busy_means_load_above_half_the_cpus_plus_the_run() {
        let mut m = Machine::probe();
        m.cpus = 2;
        m.load_before = Some(1.5);
        m.load_after = Some(0.3);
        assert!(!m.was_busy());
        m.load_after = Some(2.5);
        assert!(m.was_busy());
    }
}
