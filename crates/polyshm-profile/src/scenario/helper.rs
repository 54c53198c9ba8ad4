//! Helper processes: the other side of the relay and UDP scenarios (tables 1 and 2).
//!
//! The profile starts its own executable with [`HELPER_ENV`] set; that program's
//! `main` calls [`crate::helper_main`] first, which sees the variable, pins itself to
//! the CPU in [`CPU_ENV`], serves, and exits. The master side holds a [`Helper`],
//! which kills and reaps the process if the scenario ends early.

use crate::error::ProfileError;
use crate::probe;
use polyshm::child::{tie_to_parent, ChildProcess, Spawn};
use polyshm::relay::{self, Relay, UdpRelay};
use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

/// Environment variable naming the helper's role: `relay-connect:N`, `relay-serve`,
/// `udp-serve`.
pub const HELPER_ENV: &str = "POLYSHM_PROFILE_HELPER";
/// Environment variable: the CPU the helper pins itself to.
pub const CPU_ENV: &str = "POLYSHM_PROFILE_CPU";

/// How long any single wait of a helper or of the master on a helper may last.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Serve as a helper if [`HELPER_ENV`] says so, then exit; return at once otherwise.
pub(crate) fn helper_main() {
    let Ok(role) = std::env::var(HELPER_ENV) else {
        return;
    };
    let code = match serve(&role) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("polyshm profile helper `{role}`: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn serve(role: &str) -> Result<(), String> {
    if !tie_to_parent().map_err(|e| e.to_string())? {
        return Err("the master is already gone".into());
    }
    if let Some(cpu) = std::env::var(CPU_ENV).ok().and_then(|c| c.parse().ok()) {
        // Unpinned is still a measurement; the master notes the placement it asked.
        let _ = polyshm::sys::pin_current_thread(cpu);
    }
    match role.split_once(':') {
        Some(("relay-connect", n)) => {
            let n: usize = n.parse().map_err(|_| format!("bad count `{n}`"))?;
            let name = std::env::var(relay::RELAY_ENV)
                .map_err(|_| format!("{} is not set", relay::RELAY_ENV))?;
            let times = probe::connect_times(&name, n, TIMEOUT).map_err(|e| e.to_string())?;
            let lines: Vec<String> = times.iter().map(|t| t.as_nanos().to_string()).collect();
            println!("{}", lines.join("\n"));
            Ok(())
        }
        Some((r @ ("window-connect" | "window-pong"), rest)) => super::window::serve(r, rest),
        None if role == "relay-serve" => {
            let link = Relay::connect_from_env(TIMEOUT).map_err(|e| e.to_string())?;
            probe::serve(&link, TIMEOUT)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        None if role == "udp-serve" => {
            let link = UdpRelay::connect_from_env(TIMEOUT).map_err(|e| e.to_string())?;
            probe::serve(&link, TIMEOUT)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        _ => Err(format!("unknown helper role `{role}`")),
    }
}

/// A running helper process; killed and reaped on drop.
#[derive(Debug)]
pub struct Helper {
    child: ChildProcess,
    scenario: &'static str,
}

impl Helper {
    /// Start `program` as helper `role` pinned to `cpu`, with extra environment.
    pub fn spawn(
        scenario: &'static str,
        program: &std::path::Path,
        role: &str,
        cpu: usize,
        env: &[(&str, &str)],
    ) -> Result<Helper, ProfileError> {
        let child = Spawn::program(program)
            .env(HELPER_ENV, role)
            .env(CPU_ENV, cpu.to_string())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .start()
            .map_err(|e| ProfileError::Helper {
                scenario,
                detail: format!(
                    "could not start `{}` as helper `{role}`: {e}",
                    program.display()
                ),
            })?;
        Ok(Helper { child, scenario })
    }

    /// Wait (at most [`TIMEOUT`]) for the helper to exit successfully; answers what it
    /// printed.
    pub fn finish(mut self) -> Result<String, ProfileError> {
        // Read its output on a thread: a hung helper must not hang the master.
        let reader = self.child.take_stdout().map(|mut stdout| {
            std::thread::spawn(move || {
                let mut out = String::new();
                let _ = stdout.read_to_string(&mut out);
                out
            })
        });
        let status = match self.child.wait_timeout(TIMEOUT) {
            Ok(Some(status)) => status,
            // The guard kills and reaps it when `self` drops.
            Ok(None) => {
                return Err(ProfileError::Helper {
                    scenario: self.scenario,
                    detail: format!("did not exit within {TIMEOUT:?}; killed"),
                })
            }
            Err(e) => {
                return Err(ProfileError::Helper {
                    scenario: self.scenario,
                    detail: format!("waiting for it: {e}"),
                })
            }
        };
        // The helper has exited, so its end of the pipe is closed: the read ends.
        let out = reader
            .map(|r| r.join().unwrap_or_default())
            .unwrap_or_default();
        if !status.success() {
            return Err(ProfileError::Helper {
                scenario: self.scenario,
                detail: format!("exited with {status} (its stderr says why)"),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_role_is_an_error() {
        assert!(serve("dance").unwrap_err().contains("dance"));
    }
}
