//! One page's WebSocket: views in, tiles out as each finishes, live figures every
//! quarter second.
//!
//! From the page (text): `{"view": {"x": "-0.5", "y": "0", "scale": "3", …}}` (the URL's
//! fields, see [`ViewQuery`]). To the page: text `{"type": "view", …}` when a view is
//! accepted, `{"type": "error", "message"}` when it is not (or a tile failed for good),
//! `{"type": "done", …}` with the view's total time beside one process's estimate,
//! `{"type": "stats", …}` (a [`Snapshot`](super::stats::Snapshot)); and binary, one
//! message per tile: five little-endian `u32` (generation, x0, y0, w, h), then the
//! tile's counts as little-endian `u32`, row-major.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::server::AppState;
use super::tiles::{Done, Pool, Ticket};
use super::view::ViewQuery;

/// How often the page gets the live figures.
const STATS_EVERY: Duration = Duration::from_millis(250);

#[derive(Deserialize)]
struct FromPage {
    view: ViewQuery,
}

/// The view the page is drawing now.
struct Current {
    generation: u64,
    tiles: usize,
    received: usize,
    started: Instant,
    compute_micros: u64,
    finished: bool,
}

/// Serve one page until it closes its socket.
pub async fn serve(mut socket: WebSocket, state: Arc<AppState>) {
    let ticket = Arc::new(Ticket::default());
    let (tx, mut rx) = mpsc::unbounded_channel::<Done>();
    let mut current: Option<Current> = None;
    let mut pool: Arc<Pool> = state.pool();
    let mut tick = tokio::time::interval(STATS_EVERY);
    loop {
        let outgoing = tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    pool = state.pool();
                    match accept(&text, &ticket, &pool, &tx) {
                        Ok((message, view)) => {
                            current = Some(view);
                            vec![message]
                        }
                        Err(e) => {
                            // A refused view stops the old one too: the page shows the error.
                            ticket.next();
                            current = None;
                            vec![error(&format!("{e:#}"))]
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            Some(done) = rx.recv() => match current.as_mut() {
                Some(view) => deliver(view, done),
                None => continue,
            },
            _ = tick.tick() => {
                // The team now serving: after a restart, before the page's next view.
                let now = state.pool();
                let snapshot = now.stats().snapshot(now.runner());
                vec![Message::Text(json!({"type": "stats", "stats": snapshot}).to_string().into())]
            }
        };
        for m in outgoing {
            if socket.send(m).await.is_err() {
                pool.forget(&ticket);
                return;
            }
        }
    }
    ticket.next();
    pool.forget(&ticket);
}

fn error(message: &str) -> Message {
    Message::Text(
        json!({"type": "error", "message": message})
            .to_string()
            .into(),
    )
}

/// A view from the page: checked, then its tiles queued under a new generation.
fn accept(
    text: &str,
    ticket: &Arc<Ticket>,
    pool: &Pool,
    tx: &mpsc::UnboundedSender<Done>,
) -> anyhow::Result<(Message, Current)> {
    let from: FromPage = serde_json::from_str(text)
        .map_err(|e| anyhow::anyhow!("the page sent a message that is not a view: {e}"))?;
    let page = from.view.parse()?;
    let generation = ticket.next();
    let tiles = pool.render(ticket, generation, page.view, page.tile, tx);
    let v = page.view;
    let message = json!({
        "type": "view",
        "generation": generation as u32,
        "width": v.width,
        "height": v.height,
        "x": v.center_re,
        "y": v.center_im,
        "scale": v.scale,
        "iter": v.max_iter,
        "tiles": tiles,
    });
    Ok((
        Message::Text(message.to_string().into()),
        Current {
            generation,
            tiles,
            received: 0,
            started: Instant::now(),
            compute_micros: 0,
            finished: false,
        },
    ))
}

/// A finished tile (of the current view: others are dropped) as messages to the page.
fn deliver(view: &mut Current, done: Done) -> Vec<Message> {
    match done {
        Done::Tile {
            generation,
            tile,
            counts,
            compute_micros,
        } if generation == view.generation && !view.finished => {
            let mut bytes = Vec::with_capacity(20 + counts.len() * 4);
            for word in [generation as u32, tile.x0, tile.y0, tile.w, tile.h]
                .into_iter()
                .chain(counts)
            {
                bytes.extend_from_slice(&word.to_le_bytes());
            }
            view.received += 1;
            view.compute_micros += compute_micros;
            let mut out = vec![Message::Binary(bytes.into())];
            if view.received == view.tiles {
                view.finished = true;
                out.push(Message::Text(
                    json!({
                        "type": "done",
                        "generation": generation as u32,
                        "tiles": view.tiles,
                        "millis": view.started.elapsed().as_secs_f64() * 1e3,
                        "one_process_millis": view.compute_micros as f64 / 1e3,
                    })
                    .to_string()
                    .into(),
                ));
            }
            out
        }
        Done::Failed {
            generation,
            message,
        } if generation == view.generation => vec![error(&message)],
        _ => Vec::new(),
    }
}
