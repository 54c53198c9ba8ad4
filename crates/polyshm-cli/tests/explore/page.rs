//! The page in headless Chromium: every tile drawn as `polyshm fractal` computes it,
//! zoom at the click, the saved files, bad input, a drone killed mid-render, a left
//! view's tiles cancelled, the team restarted from the page.

use std::time::Duration;

use fantoccini::actions::{
    InputSource, MouseActions, PointerAction, WheelAction, WheelActions, MOUSE_BUTTON_LEFT,
    MOUSE_BUTTON_RIGHT,
};
use fantoccini::Locator;
use serde_json::Value;

use crate::browser::{self, artefacts, http};
use crate::checks::{
    check_picture, explorer, first_view, fractal, fractal_in, stop, wait_done, UrlView,
};
use crate::server::Explore;

#[test]
fn every_tile_is_drawn_as_fractal_computes_it_and_a_click_zooms_there() {
    let _one = browser::one_at_a_time();
    browser::run("the page test", async {
        let Some(b) = browser::start().await else {
            return;
        };
        let c = &b.client;
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Explore::start(&["--drones", "2", "--transport", "shm"], &[]);
        let v = first_view();
        c.goto(&format!("{}?{}", server.url, v.query()))
            .await
            .expect("load");
        let e = wait_done(c, 0).await;
        assert_eq!(e["tiles"], 48, "320x240 in 42-pixel tiles");
        let want = fractal(dir.path(), "first", &v);
        check_picture(c, "first", &v, &want).await;
        // The page's save links give the very files `polyshm fractal` wrote.
        for (id, file) in [("save-png", &want.png), ("save-npy", &want.npy)] {
            let link = c.find(Locator::Id(id)).await.expect(id);
            let href = link.prop("href").await.expect("href").expect("a link");
            let (status, body) = http("GET", &href).await;
            assert_eq!(status, 200, "{href}");
            assert!(body == *file, "{id}: {href} differs from fractal's file");
        }
        // The panel: both drones, over shm, all tiles counted.
        let stats = &explorer(c).await["stats"];
        assert_eq!(stats["transport"], "shm");
        let per = stats["per_drone"].as_array().expect("per drone");
        assert_eq!(per.len(), 2, "{stats}");
        let tiles: u64 = per.iter().map(|d| d["tiles"].as_u64().unwrap()).sum();
        assert!(tiles >= 48, "{stats}");
        assert!(per.iter().all(|d| d["bytes_out"].as_u64() > Some(0)));

        // A click zooms in twice at the pointer: the point under it stays put.
        let canvas = c.find(Locator::Id("view")).await.expect("canvas");
        let (left, top, _, _) = canvas.rectangle().await.expect("where");
        let (px, py) = (240.0, 60.0);
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo {
                duration: None,
                x: (left + px).round(),
                y: (top + py).round(),
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        c.perform_actions(mouse).await.expect("click");
        let generation = e["generation"].as_u64().unwrap();
        let e2 = wait_done(c, generation).await;
        let z = UrlView::of_page(c).await;
        assert_eq!(UrlView::num(&z.scale), 1.5, "zoomed in twice: {z:?}");
        let unit = 3.0 / f64::from(v.w);
        let (dx, dy) = (px - f64::from(v.w) / 2.0, py - f64::from(v.h) / 2.0);
        // the point under the pointer, before and after (to a pixel: the pointer's
        // position is rounded to whole CSS pixels)
        let (cx, cy) = (-0.5 + dx * unit, -dy * unit);
        let (zx, zy) = (UrlView::num(&z.x), UrlView::num(&z.y));
        assert!((zx + dx * unit / 2.0 - cx).abs() <= unit, "{z:?}");
        assert!((zy - dy * unit / 2.0 - cy).abs() <= unit, "{z:?}");
        assert_eq!(e2["tiles"], 48);
        let want = fractal(dir.path(), "zoomed", &z);
        check_picture(c, "zoomed", &z, &want).await;
        // The whole page, panel included, as a user sees it (the README shows one).
        let page = c.screenshot().await.expect("a screenshot of the page");
        std::fs::write(artefacts().join("page.png"), page).expect("keep the shot");

        // A drag pans: the picture follows the pointer, 40 pixels right and 20 down.
        let generation = e2["generation"].as_u64().unwrap();
        let drag = MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo {
                duration: None,
                x: (left + 100.0).round(),
                y: (top + 100.0).round(),
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::MoveBy {
                duration: Some(Duration::from_millis(100)),
                x: 40.0,
                y: 20.0,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        c.perform_actions(drag).await.expect("drag");
        let e3 = wait_done(c, generation).await;
        let p = UrlView::of_page(c).await;
        let unit = 1.5 / f64::from(v.w);
        assert_eq!(p.scale, z.scale, "a pan keeps the scale");
        assert_eq!(UrlView::num(&p.x), zx - 40.0 * unit, "{p:?}");
        assert_eq!(UrlView::num(&p.y), zy + 20.0 * unit, "{p:?}");
        // The button zooms out, about the centre.
        c.find(Locator::Id("zoom-out"))
            .await
            .expect("zoom out")
            .click()
            .await
            .expect("click zoom out");
        wait_done(c, e3["generation"].as_u64().unwrap()).await;
        let o = UrlView::of_page(c).await;
        assert_eq!((UrlView::num(&o.scale), &o.x, &o.y), (3.0, &p.x, &p.y));
        // The wheel zooms in (by 1.5) and a right-click zooms out (by 2) at the pointer.
        let (cx, cy) = ((left + 160.0).round(), (top + 120.0).round());
        let generation = explorer(c).await["generation"].as_u64().unwrap();
        let mut wheel = WheelActions::new("wheel".into());
        wheel.push(WheelAction::Scroll {
            duration: None,
            x: cx as i64,
            y: cy as i64,
            delta_x: 0,
            delta_y: -100,
        });
        c.perform_actions(wheel).await.expect("wheel");
        let e4 = wait_done(c, generation).await;
        let w = UrlView::of_page(c).await;
        assert_eq!(UrlView::num(&w.scale), 2.0, "{w:?}");
        let right = MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo {
                duration: None,
                x: cx,
                y: cy,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_RIGHT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_RIGHT,
            });
        c.perform_actions(right).await.expect("right-click");
        wait_done(c, e4["generation"].as_u64().unwrap()).await;
        let r = UrlView::of_page(c).await;
        assert_eq!(UrlView::num(&r.scale), 4.0, "{r:?}");
        // the pointer is within a pixel of the centre: the centre moves by less than two
        let pixel = 4.0 / f64::from(v.w);
        assert!(
            (UrlView::num(&r.x) - UrlView::num(&o.x)).abs() < 2.0 * pixel,
            "{r:?}"
        );
        assert!(
            (UrlView::num(&r.y) - UrlView::num(&o.y)).abs() < 2.0 * pixel,
            "{r:?}"
        );

        // Bad input: a message on the page, no tiles.
        c.goto(&format!("{}?x=-0.5&y=0&scale=0&iter=300", server.url))
            .await
            .expect("load a bad view");
        let message = loop {
            let e = explorer(c).await;
            if let Some(m) = e["error"].as_str().filter(|m| !m.is_empty()) {
                break m.to_string();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(message.contains("scale=0"), "{message}");
        let shown = c.find(Locator::Id("error")).await.expect("#error");
        assert_eq!(shown.text().await.expect("text"), message);
        c.goto(&format!("{}?iter=100001", server.url))
            .await
            .expect("load");
        let e = loop {
            let e = explorer(c).await;
            if e["error"].as_str().is_some_and(|m| !m.is_empty()) {
                break e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(e["error"]
            .as_str()
            .unwrap()
            .contains("between 1 and 100000"));
        stop(c, server).await;
    });
}

#[test]
fn a_drone_killed_mid_render_is_replaced_and_the_view_completes() {
    let _one = browser::one_at_a_time();
    browser::run("the drone kill test", async {
        let Some(b) = browser::start().await else {
            return;
        };
        let c = &b.client;
        let dir = tempfile::tempdir().expect("temp dir");
        let marker = dir.path().join("died");
        // The fractal tile task's fault hook: the drone that runs its 5th tile dies
        // without answering (exactly one drone, however many there are).
        let hook = format!("5:{}", marker.display());
        let server = Explore::start(
            &["--drones", "2", "--transport", "shm"],
            &[("POLYSHM_FRACTAL_ABORT_TILE", &hook)],
        );
        let v = first_view();
        c.goto(&format!("{}?{}", server.url, v.query()))
            .await
            .expect("load");
        wait_done(c, 0).await;
        assert!(marker.exists(), "a drone died under a tile");
        let want = fractal(dir.path(), "killed", &v);
        check_picture(c, "after-a-drone-died", &v, &want).await;
        // The panel: one death, the dead drone listed as such, two drones serving.
        let stats = loop {
            let s = explorer(c).await["stats"].clone();
            if s["deaths"] == 1 && s["per_drone"].as_array().is_some_and(|p| p.len() == 3) {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let per = stats["per_drone"].as_array().unwrap();
        let serving = per.iter().filter(|d| d["slot"].is_u64()).count();
        assert_eq!(serving, 2, "{stats}");
        let rows = c
            .find(Locator::Id("drone-rows"))
            .await
            .expect("rows")
            .text()
            .await
            .expect("text");
        assert!(rows.contains("died"), "{rows}");
        stop(c, server).await;
    });
}

#[test]
fn leaving_a_view_drops_its_tiles_and_the_page_restarts_the_team() {
    let _one = browser::one_at_a_time();
    browser::run("the cancel and restart test", async {
        let Some(b) = browser::start().await else {
            return;
        };
        let c = &b.client;
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Explore::start(&["--drones", "1", "--transport", "shm"], &[]);
        let v = first_view();
        c.goto(&format!("{}?{}", server.url, v.query()))
            .await
            .expect("load");
        let e = wait_done(c, 0).await;
        let generation = e["generation"].as_u64().unwrap();
        // Two views back to back: 4800 tiles of 4x4, then the first view again; the
        // second arrives while nearly all of the first's tiles still wait.
        c.execute(
            "setView({...view, tile: '4', iter: '1000'}, true); setView({...view, tile: '42', iter: '300'}, true);",
            vec![],
        )
        .await
        .expect("two views");
        let e = wait_done(c, generation + 1).await;
        assert_eq!(e["tiles"], 48, "{e}");
        // The panel's figures come four times a second: wait for the ones after the drop.
        let dropped = |s: &Value| s["skipped"].as_u64().unwrap() + s["discarded"].as_u64().unwrap();
        let mut stats = explorer(c).await["stats"].clone();
        for _ in 0..40 {
            if dropped(&stats) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            stats = explorer(c).await["stats"].clone();
        }
        assert!(
            dropped(&stats) > 0,
            "the left view's tiles were dropped: {stats}"
        );
        let want = fractal(dir.path(), "again", &v);
        check_picture(c, "after-a-left-view", &v, &want).await;

        // Three drones over unix sockets, asked from the page.
        let drones = c.find(Locator::Id("drones")).await.expect("drones");
        drones.clear().await.expect("clear");
        drones.send_keys("3").await.expect("type");
        c.find(Locator::Id("transport"))
            .await
            .expect("transport")
            .select_by_value("unix")
            .await
            .expect("choose unix");
        let generation = explorer(c).await["generation"].as_u64().unwrap();
        c.find(Locator::Id("restart"))
            .await
            .expect("restart")
            .click()
            .await
            .expect("click restart");
        wait_done(c, generation).await;
        let stats = loop {
            let s = explorer(c).await["stats"].clone();
            if s["transport"] == "unix" && s["drones"] == 3 {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(stats["per_drone"].as_array().unwrap().len(), 3, "{stats}");
        check_picture(c, "after-a-restart", &v, &want).await;

        // Another palette: the same counts recoloured, as `fractal --palette fire` colours them.
        c.find(Locator::Id("palette"))
            .await
            .expect("palette menu")
            .select_by_value("fire")
            .await
            .expect("choose fire");
        while explorer(c).await["palette"] != "fire" {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let fire = fractal_in(dir.path(), "fire", &v, "fire");
        check_picture(c, "fire", &v, &fire).await;
        let href = c
            .find(Locator::Id("save-png"))
            .await
            .expect("save-png")
            .prop("href")
            .await
            .expect("href")
            .expect("a link");
        assert!(href.contains("palette=fire"), "{href}");
        assert!(
            http("GET", &href).await.1 == fire.png,
            "{href}: fractal's fire PNG"
        );
        stop(c, server).await;
    });
}

#[test]
fn a_port_in_use_is_refused_with_a_clear_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("its address").port().to_string();
    let out = crate::support::polyshm_status(&["explore", "--port", &port, "--drones", "0"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("port {port} on 127.0.0.1 is in use")) && err.contains("--port 0"),
        "{err}"
    );
}
