//! Headless Chromium driven over WebDriver (fantoccini → chromedriver), one test at a
//! time, each under a watchdog; and the small HTTP client the tests use beside it.
//!
//! Chromium and chromedriver come from Debian (`apt-get install chromium chromium-driver`;
//! `scripts/browser-tests.sh` installs them). Without them a test prints why (past the
//! harness's capture) and passes untested, so that the README's test command holds on a
//! machine with only Rust; with `POLYSHM_BROWSER_TESTS=required` (what CI sets) it fails.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use http_body_util::BodyExt;
use polyshm::child::{ChildProcess, Spawn};
use serde_json::{json, Value};

/// Longest a browser test may take before it fails.
pub(crate) const WATCHDOG: Duration = Duration::from_secs(150);

/// The variable that makes the browser tests required (`required`): without Chromium
/// they then fail instead of passing untested.
pub(crate) const OPTIONAL_ENV: &str = "POLYSHM_BROWSER_TESTS";

/// Where the tests keep their screenshots: `target/tmp/explore/`.
pub(crate) fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore");
    std::fs::create_dir_all(&dir).expect("create the screenshot folder");
    dir
}

/// One browser test at a time: two Chromiums at once would only slow each other.
pub(crate) fn one_at_a_time() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Run a test's body on a runtime of its own, failing it if it outlives [`WATCHDOG`].
pub(crate) fn run<F: std::future::Future<Output = ()>>(name: &str, body: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime");
    rt.block_on(async {
        if tokio::time::timeout(WATCHDOG, body).await.is_err() {
            panic!("watchdog: {name} still ran after {WATCHDOG:?}");
        }
    });
}

/// The program `name` on PATH (`name.exe` on Windows, where Debian's are absent).
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(&path)
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
}

/// A Chromium session and what it needs: killed (and its profile removed) on drop.
pub(crate) struct Browser {
    pub(crate) client: Client,
    _driver: ChildProcess,
    _profile: tempfile::TempDir,
}

/// Start chromedriver and a headless Chromium; `None` if they are absent and the
/// tests are not required (the reason printed).
pub(crate) async fn start() -> Option<Browser> {
    let (Some(chromium), Some(driver)) = (on_path("chromium"), on_path("chromedriver")) else {
        let why = "chromium or chromedriver is not on PATH (apt-get install chromium chromium-driver, or scripts/browser-tests.sh)";
        if std::env::var(OPTIONAL_ENV).as_deref() == Ok("required") {
            panic!("{why}; {OPTIONAL_ENV}=required");
        }
        // Straight to stderr, past the test harness's capture: a skip must be seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED browser test (passes untested): {why}; set {OPTIONAL_ENV}=required to make this a failure"
        );
        return None;
    };
    let port = free_port();
    let driver = Spawn::program(driver)
        .args([format!("--port={port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .start()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let profile = tempfile::tempdir().expect("a profile folder");
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--force-device-scale-factor=1",
        "--window-size=1300,520",
        &format!("--user-data-dir={}", profile.path().display()),
    ];
    let caps = json!({"goog:chromeOptions": {"binary": chromium, "args": args}});
    let Value::Object(caps) = caps else {
        unreachable!("a JSON object")
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a Chromium session through chromedriver");
    Some(Browser {
        client,
        _driver: driver,
        _profile: profile,
    })
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// `GET` (or `POST` with an empty body) `url`: status and body.
pub(crate) async fn http(method: &str, url: &str) -> (u16, Vec<u8>) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let request = axum::http::Request::builder()
        .method(method)
        .uri(url)
        .body(http_body_util::Empty::new())
        .expect("a request");
    let response = client.request(request).await.expect("an answer");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes()
        .to_vec();
    (status, body)
}

/// Decode a PNG into RGB bytes and its size.
pub(crate) fn rgb(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("its size")];
    let info = reader.next_frame(&mut buf).expect("its pixels");
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "8-bit PNG");
    let rgb = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, rgb)
}
