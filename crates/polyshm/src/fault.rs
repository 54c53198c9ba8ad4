//! Named fault points: places in the protocols where a test makes a process stop, pause
//! or die on purpose, to prove that the other side survives it.
//!
//! A fault point is written `fault_point!("mailbox.drone.before_signal")` in the code.
//! Without the `failpoints` feature it compiles to nothing (release builds pay nothing).
//! With it, the points are configured per process by the environment variable
//! `POLYSHM_FAULTS`, read once when the first point is reached:
//!
//! ```text
//! POLYSHM_FAULTS="mailbox.drone.before_signal=kill;relay.client.claimed=sleep(200)"
//! ```
//!
//! Actions: `kill` (the process kills itself at once, as `kill -9` would: no unwinding,
//! no destructors, no exit handlers), `exit` (exits with code 86), `wait_file(path)`
//! (waits until a file `path` exists, at most a minute: another process says when this
//! one may go on), and every action of
//! the [`fail`](https://docs.rs/fail) crate (`sleep(ms)`, `pause`, `panic(msg)`,
//! `print(msg)`, `off`, with counts and probabilities such as `2*sleep(100)`). A test
//! sets the variable on the child it spawns, so one process of a pair fails while the
//! other runs normally.
//!
//! In-process tests may also call `configure` (feature `failpoints`) directly.

/// The environment variable that configures fault points (see the module docs).
pub const FAULTS_ENV: &str = "POLYSHM_FAULTS";

/// Exit code of a process stopped by the `exit` action.
pub const FAULT_EXIT_CODE: i32 = 86;

/// Reach fault point `$name` (a string literal, `layer.side.moment`).
///
/// Compiles to nothing without the `failpoints` feature.
#[macro_export]
#[doc(hidden)]
macro_rules! fault_point {
    ($name:literal) => {{
        #[cfg(feature = "failpoints")]
        $crate::fault::reach($name);
    }};
}

/// Whether fault point `$name` is configured with `return` in this process: for points
/// that make the code misbehave instead of stopping it (a drone that answers with a
/// wrong sequence number). Always `false` without the `failpoints` feature.
#[macro_export]
#[doc(hidden)]
macro_rules! fault_returns {
    ($name:literal) => {{
        #[cfg(feature = "failpoints")]
        let on = $crate::fault::returns($name);
        #[cfg(not(feature = "failpoints"))]
        let on = false;
        on
    }};
}

/// Configure fault point `name` with `action` in this process (the syntax of one entry of
/// [`FAULTS_ENV`]). Answers an error naming the action it could not parse.
#[cfg(feature = "failpoints")]
pub fn configure(name: &str, action: &str) -> Result<(), String> {
    init();
    apply(name, action)
}

#[cfg(feature = "failpoints")]
fn apply(name: &str, action: &str) -> Result<(), String> {
    match action.trim() {
        "kill" => fail::cfg_callback(name, || {
            let me = polyshm_sys::current_process();
            let _ = polyshm_sys::kill_process(me);
            // kill_process only fails if this process were not alive.
            std::process::abort();
        }),
        "exit" => fail::cfg_callback(name, || std::process::exit(FAULT_EXIT_CODE)),
        a if a.starts_with("wait_file(") && a.ends_with(')') => {
            let path = std::path::PathBuf::from(&a["wait_file(".len()..a.len() - 1]);
            fail::cfg_callback(name, move || {
                let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
                while !path.exists() && std::time::Instant::now() < end {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            })
        }
        other => fail::cfg(name, other),
    }
}

#[cfg(feature = "failpoints")]
fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let Ok(spec) = std::env::var(FAULTS_ENV) else {
            return;
        };
        for entry in spec.split(';').filter(|e| !e.trim().is_empty()) {
            let Some((name, action)) = entry.split_once('=') else {
                eprintln!("polyshm: ignoring {FAULTS_ENV} entry `{entry}`: expected name=action");
                continue;
            };
            if let Err(e) = apply(name.trim(), action) {
                eprintln!("polyshm: ignoring {FAULTS_ENV} entry `{entry}`: {e}");
            }
        }
    });
}

/// Reach fault point `name`: runs its configured action, if any.
#[cfg(feature = "failpoints")]
#[doc(hidden)]
pub fn reach(name: &str) {
    init();
    fail::eval(name, |_| ());
}

/// Whether fault point `name` is configured with `return` (see the `fault_returns!` macro).
#[cfg(feature = "failpoints")]
#[doc(hidden)]
pub fn returns(name: &str) -> bool {
    init();
    fail::eval(name, |_| ()).is_some()
}

#[cfg(all(test, feature = "failpoints"))]
mod tests {
    use super::*;

    #[test]
    fn a_configured_point_runs_its_action() {
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let h = hits.clone();
        fail::cfg_callback("fault.test.callback", move || {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap();
        crate::fault_point!("fault.test.callback");
        crate::fault_point!("fault.test.unconfigured");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(configure("fault.test.bad", "no-such-action(").is_err());
        // `wait_file` goes on once the file exists.
        let dir = std::env::temp_dir().join(crate::shm::unique_name("wait-file"));
        configure("fault.test.wait", &format!("wait_file({})", dir.display())).unwrap();
        std::fs::write(&dir, b"go").unwrap();
        crate::fault_point!("fault.test.wait");
        let _ = std::fs::remove_file(&dir);
    }
}
