//! `polyshm explore` started from the built binary on a free port, read until it prints
//! its URL; stopped through its own "stop server" route on drop (so that its team
//! removes its segments), killed if that does not end it.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use polyshm::child::ChildProcess;

/// How long the server may take to print its URL, and to stop when asked.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running `polyshm explore`.
pub(crate) struct Explore {
    /// Its page, `http://127.0.0.1:PORT/`.
    pub(crate) url: String,
    child: ChildProcess,
    output: mpsc::Receiver<String>,
}

impl Explore {
    /// Start `polyshm explore --port 0` with `args` and extra environment.
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Explore {
        let mut all = vec!["explore", "--port", "0"];
        all.extend_from_slice(args);
        let mut child = crate::common::polyshm(&all)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .start()
            .expect("start polyshm explore");
        let (tx, output) = mpsc::channel();
        let out = BufReader::new(child.take_stdout().expect("piped"));
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = tx2.send(line);
            }
        });
        let mut err = child.take_stderr().expect("piped");
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            // The drones' messages and any failure: shown with the test's output.
            eprint!("{s}");
        });
        let first = output
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("polyshm explore printed no URL within {PATIENCE:?}"));
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no URL in `{first}`"))
            .to_string();
        drop(tx);
        Explore { url, child, output }
    }

    /// The server's pid (its segments carry it as owner).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for it to exit (after the page's "stop server"): its exit status and the
    /// rest of what it printed.
    pub(crate) fn wait_exit(&mut self) -> (String, Vec<String>) {
        let status = self
            .child
            .wait_timeout(PATIENCE)
            .expect("wait for polyshm explore")
            .unwrap_or_else(|| panic!("polyshm explore still ran {PATIENCE:?} after stop"));
        // Its last lines reach us once the reader thread sees the end of the pipe.
        let mut lines = Vec::new();
        while let Ok(line) = self.output.recv_timeout(PATIENCE) {
            lines.push(line);
        }
        (status.to_string(), lines)
    }
}

impl Drop for Explore {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Asked to stop, it drops its team (whose segments go with it); killed, it
            // could not. From a thread of its own: a drop may run inside a runtime.
            let url = format!("{}api/quit", self.url);
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async {
                        let _ = tokio::time::timeout(
                            Duration::from_secs(5),
                            crate::browser::http("POST", &url),
                        )
                        .await;
                    });
                }
            })
            .join();
            self.child.end_within(PATIENCE);
        }
    }
}
