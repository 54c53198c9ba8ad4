//! `polyshm explore` timed through its own WebSocket, as the page sees it: the built
//! binary serves; this client starts each team from `/api/team` (1 and 2 drones over
//! every transport), in turns, asks for the same views again and again, and reads each
//! view's time (from asking to its last tile) and one process's estimate (the tiles'
//! compute times added up) from the server's `done` message. Prints, per team and view,
//! the median and p99 of the view's time and of the ratio estimate / time (above 1: the
//! team beat one process).
//!
//! `cargo bench -p polyshm-cli --bench explore [-- --rounds R]` (default 7).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use polyshm::child::Spawn;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The views: the whole set (cheap tiles: the fixed costs show) and a zoom near the
/// seahorse valley's minibrot (most pixels cost thousands of iterations).
const VIEWS: [(&str, [(&str, &str); 5]); 2] = [
    (
        "whole set, 640x480, N=1000",
        [
            ("x", "-0.5"),
            ("y", "0"),
            ("scale", "3"),
            ("iter", "1000"),
            ("w", "640"),
        ],
    ),
    (
        "seahorse, 640x480, N=3000",
        [
            ("x", "-0.743643887037158704752191506114774"),
            ("y", "0.131825904205311970493132056385139"),
            ("scale", "1e-5"),
            ("iter", "3000"),
            ("w", "640"),
        ],
    ),
];

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let k = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[k]
}

async fn post_team(url: &str, drones: usize, transport: &str) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let body = json!({"drones": drones, "transport": transport}).to_string();
    let request = axum::http::Request::post(format!("{url}api/team"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .expect("a request");
    let response = client.request(request).await.expect("the server answers");
    let status = response.status();
    let text = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert!(
        status.is_success(),
        "restart: {}",
        String::from_utf8_lossy(&text)
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(7, |r| r.parse().expect("--rounds R"));
    let mut server = Spawn::program(env!("CARGO_BIN_EXE_polyshm"))
        .args(["explore", "--port", "0", "--drones", "1"])
        .stdout(Stdio::piped())
        .start()
        .expect("start polyshm explore");
    let mut first = String::new();
    let mut out = BufReader::new(server.take_stdout().expect("piped"));
    out.read_line(&mut first).expect("its URL");
    // Read the rest while it runs: it prints again when it stops.
    let drain = std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL")
        .to_string();
    let ws_url = format!("{}api/ws", url.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url)
        .await
        .expect("the WebSocket");
    let transports = ["tcp", "unix", "hybrid", "hybrid-unprotected", "shm"];
    let setups: Vec<(usize, &str)> = [1, 2]
        .into_iter()
        .flat_map(|d| transports.iter().map(move |t| (d, *t)))
        .collect();
    // (setup, view) -> (times ms, ratios)
    let mut results = vec![vec![(Vec::new(), Vec::new()); VIEWS.len()]; setups.len()];
    for _ in 0..rounds {
        for (s, &(drones, transport)) in setups.iter().enumerate() {
            post_team(&url, drones, transport).await;
            for (v, (_, fields)) in VIEWS.iter().enumerate() {
                let mut view: serde_json::Map<String, Value> = fields
                    .iter()
                    .map(|(k, val)| ((*k).to_string(), Value::String((*val).into())))
                    .collect();
                view.insert("h".into(), "480".into());
                let ask = json!({ "view": view }).to_string();
                ws.send(Message::text(ask)).await.expect("send the view");
                let done = loop {
                    let m = tokio::time::timeout(Duration::from_secs(120), ws.next())
                        .await
                        .expect("watchdog: no message for 120 s")
                        .expect("the socket stays open")
                        .expect("a message");
                    if let Message::Text(t) = m {
                        let m: Value = serde_json::from_str(&t).expect("JSON");
                        match m["type"].as_str() {
                            Some("done") => break m,
                            Some("error") => panic!("the server says: {}", m["message"]),
                            _ => {}
                        }
                    }
                };
                let millis = done["millis"].as_f64().expect("millis");
                let estimate = done["one_process_millis"].as_f64().expect("estimate");
                results[s][v].0.push(millis);
                results[s][v].1.push(estimate / millis);
            }
        }
    }
    println!(
        "polyshm explore, {rounds} rounds, teams in turns; view time ms and one process's \
         estimate / view time, median (p99)"
    );
    println!("| team | view | view ms | estimate / view |");
    println!("|---|---|---|---|");
    for (s, &(drones, transport)) in setups.iter().enumerate() {
        for (v, (name, _)) in VIEWS.iter().enumerate() {
            let (times, ratios) = &mut results[s][v];
            println!(
                "| {drones} × {transport} | {name} | {:.1} ({:.1}) | {:.2} ({:.2}) |",
                quantile(times, 0.5),
                quantile(times, 0.99),
                quantile(ratios, 0.5),
                quantile(ratios, 0.99),
            );
        }
    }
    let _ = ws.close(None).await;
    let _ = http_quit(&url).await;
    let ended = server.end_within(Duration::from_secs(10));
    let _ = drain.join();
    println!("polyshm explore ended: {ended}");
}

/// Stop the server (its drones and segments go with it).
async fn http_quit(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let request =
        axum::http::Request::post(format!("{url}api/quit")).body(http_body_util::Empty::new())?;
    client.request(request).await?;
    Ok(())
}
