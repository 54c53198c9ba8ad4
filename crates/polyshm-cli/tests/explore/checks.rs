//! What the browser tests look at: the view in the page's URL, what `polyshm fractal`
//! writes for it, the page's state (`window.explorer`), its picture pixel by pixel, and
//! the server's end.

use std::path::Path;
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::browser::{artefacts, rgb};
use crate::server::Explore;
use crate::support::{polyshm, read_npy, segments_of};

#[derive(Debug, Clone)]
pub(crate) struct UrlView {
    pub(crate) x: String,
    pub(crate) y: String,
    pub(crate) scale: String,
    pub(crate) iter: u32,
    pub(crate) w: u32,
    pub(crate) h: u32,
}

impl UrlView {
    pub(crate) fn query(&self) -> String {
        format!(
            "x={}&y={}&scale={}&iter={}&w={}&h={}",
            self.x, self.y, self.scale, self.iter, self.w, self.h
        )
    }

    /// The view in the page's URL now.
    pub(crate) async fn of_page(client: &Client) -> UrlView {
        let url = client.current_url().await.expect("the page's URL");
        let get = |k: &str| {
            url.query_pairs()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| panic!("no {k} in {url}"))
        };
        UrlView {
            x: get("x"),
            y: get("y"),
            scale: get("scale"),
            iter: get("iter").parse().expect("iter"),
            w: get("w").parse().expect("w"),
            h: get("h").parse().expect("h"),
        }
    }

    pub(crate) fn num(s: &str) -> f64 {
        s.parse().expect("a number in the URL")
    }
}

/// What `polyshm fractal` writes for a view (one process: no drones involved).
pub(crate) struct Expected {
    pub(crate) counts: Vec<u32>,
    pub(crate) png: Vec<u8>,
    pub(crate) npy: Vec<u8>,
}

pub(crate) fn fractal(dir: &Path, tag: &str, v: &UrlView) -> Expected {
    fractal_in(dir, tag, v, "classic")
}

pub(crate) fn fractal_in(dir: &Path, tag: &str, v: &UrlView, palette: &str) -> Expected {
    let (png, npy) = (
        dir.join(format!("{tag}.png")),
        dir.join(format!("{tag}.npy")),
    );
    let size = format!("{}x{}", v.w, v.h);
    let center = format!("{},{}", v.x, v.y);
    let iter = v.iter.to_string();
    polyshm(
        &[
            "fractal",
            "--size",
            &size,
            "--center",
            &center,
            "--scale",
            &v.scale,
            "--max-iter",
            &iter,
            "--drones",
            "0",
            "--palette",
            palette,
            "--out",
            png.to_str().expect("UTF-8 path"),
            "--counts",
            npy.to_str().expect("UTF-8 path"),
        ],
        &[],
    );
    Expected {
        counts: read_npy(&npy).data,
        png: std::fs::read(&png).expect("fractal's PNG"),
        npy: std::fs::read(&npy).expect("fractal's counts"),
    }
}

pub(crate) async fn explorer(client: &Client) -> Value {
    client
        .execute("return window.explorer;", vec![])
        .await
        .expect("read window.explorer")
}

/// Wait until the page has every tile of a view newer than `after`; its state then.
pub(crate) async fn wait_done(client: &Client, after: u64) -> Value {
    loop {
        let e = explorer(client).await;
        if let Some(err) = e["error"].as_str().filter(|s| !s.is_empty()) {
            panic!("the page shows an error: {err}");
        }
        if e["done"] == Value::Bool(true) && e["generation"].as_u64() > Some(after) {
            assert_eq!(e["received"], e["tiles"], "every tile drawn once: {e}");
            return e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Screenshot the picture, keep it as `target/tmp/explore/<name>.png`, and check every
/// pixel: black where the count is the limit, else the colour of the count in the PNG
/// `polyshm fractal` wrote.
pub(crate) async fn check_picture(client: &Client, name: &str, v: &UrlView, want: &Expected) {
    let canvas = client.find(Locator::Id("view")).await.expect("the canvas");
    let shot = canvas.screenshot().await.expect("a screenshot");
    std::fs::write(artefacts().join(format!("{name}.png")), &shot).expect("keep the shot");
    let (w, h, got) = rgb(&shot);
    assert_eq!((w, h), (v.w, v.h), "{name}: the canvas is the view's size");
    let (_, _, colours) = rgb(&want.png);
    let (mut inside, mut outside) = (0, 0);
    for (k, &count) in want.counts.iter().enumerate() {
        let px = &got[k * 3..k * 3 + 3];
        let (i, j) = (k as u32 % w, k as u32 / w);
        if count == v.iter {
            inside += 1;
            assert_eq!(px, [0, 0, 0], "{name}: pixel ({i}, {j}) is inside: black");
        } else {
            outside += 1;
            let colour = &colours[k * 3..k * 3 + 3];
            assert_eq!(px, colour, "{name}: pixel ({i}, {j}), count {count}");
        }
    }
    assert!(inside > 0 && outside > 0, "{name}: the set and its outside");
}

/// Stop the server from the page and check it ended well and left no segment.
pub(crate) async fn stop(client: &Client, mut server: Explore) {
    client
        .find(Locator::Id("quit"))
        .await
        .expect("stop button")
        .click()
        .await
        .expect("click stop");
    let (status, lines) = server.wait_exit();
    assert!(status.contains("exit status: 0"), "explore ended {status}");
    assert!(lines.iter().any(|l| l.contains("stopped")), "{lines:?}");
    assert_eq!(segments_of(server.pid()), Vec::<String>::new());
}

pub(crate) const FIRST: (u32, u32) = (320, 240);

pub(crate) fn first_view() -> UrlView {
    UrlView {
        x: "-0.5".into(),
        y: "0".into(),
        scale: "3".into(),
        iter: 300,
        w: FIRST.0,
        h: FIRST.1,
    }
}
