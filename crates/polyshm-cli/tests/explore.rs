//! `polyshm explore` end to end: the built binary serves the page, headless Chromium
//! (over chromedriver, driven by fantoccini) loads it, and every picture the page draws
//! is checked pixel by pixel against what `polyshm fractal` writes for the same view.
//! Screenshots are kept in `target/tmp/explore/`. Every test has a watchdog.

#[path = "explore/browser.rs"]
mod browser;
#[path = "explore/checks.rs"]
mod checks;
mod common;
#[path = "explore/page.rs"]
mod page;
#[path = "explore/server.rs"]
mod server;
// The fractal tests' runner and `.npy` reader; this crate uses part of it.
#[allow(dead_code)]
#[path = "fractal/support.rs"]
mod support;
