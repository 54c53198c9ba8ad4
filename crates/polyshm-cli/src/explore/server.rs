//! The HTTP side (axum): the page, its WebSocket, the palette tables, saving a view,
//! restarting the team, stopping the server.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page ([`PAGE`]) |
//! | `GET /api/ws` | the page's WebSocket ([`super::session`]) |
//! | `GET /api/palette?palette=P&iter=N` | `3·(N+1)` bytes: the RGB colour of every count 0…N |
//! | `GET /api/save.png?<view>`, `/api/save.npy?<view>` | the files `polyshm fractal --out/--counts` writes for the view |
//! | `GET /api/team`, `POST /api/team {"drones", "transport"}` | the team; start it again |
//! | `POST /api/quit` | stop the server (the drones and their segments go with it) |

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Notify;

use super::tiles::Pool;
use super::view::{ViewQuery, MAX_ITER};
use crate::fractal::palette::Palette;
use crate::fractal::render;
use crate::fractal::shared::Delivery;
use crate::fractal::{npy, png};

/// The page: HTML, CSS and script in one file.
pub const PAGE: &str = include_str!("page.html");

/// Most drones the page may ask for.
pub const MAX_DRONES: usize = 64;

/// What every request sees: the team now serving, and the stop signal.
pub struct AppState {
    pool: Mutex<Arc<Pool>>,
    /// Rung by `POST /api/quit`.
    pub quit: Notify,
}

impl AppState {
    /// State around a started pool.
    pub fn new(pool: Pool) -> AppState {
        AppState {
            pool: Mutex::new(Arc::new(pool)),
            quit: Notify::new(),
        }
    }

    /// The pool now serving.
    pub fn pool(&self) -> Arc<Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn replace(&self, pool: Pool) -> Arc<Pool> {
        let mut g = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *g, Arc::new(pool))
    }
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/ws", get(ws))
        .route("/api/palette", get(palette_table))
        .route("/api/save.png", get(|s, q| save(s, q, Format::Png)))
        .route("/api/save.npy", get(|s, q| save(s, q, Format::Npy)))
        .route("/api/team", get(team).post(restart))
        .route("/api/quit", post(quit))
        .with_state(state)
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

async fn ws(upgrade: WebSocketUpgrade, State(state): State<Arc<AppState>>) -> Response {
    upgrade.on_upgrade(move |socket| super::session::serve(socket, state))
}

#[derive(Deserialize)]
struct PaletteQuery {
    palette: Option<String>,
    iter: Option<String>,
}

async fn palette_table(Query(q): Query<PaletteQuery>) -> Response {
    let checked = ViewQuery {
        palette: q.palette,
        iter: q.iter,
        ..ViewQuery::default()
    }
    .parse();
    let page = match checked {
        Ok(p) => p,
        Err(e) => return bad_request(format!("{e:#}")),
    };
    let n = page.view.max_iter;
    let bytes: Vec<u8> = (0..=n).flat_map(|c| page.palette.colour(c, n)).collect();
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

#[derive(Clone, Copy)]
enum Format {
    Png,
    Npy,
}

/// Compute the view through the team and answer the file `polyshm fractal` writes.
async fn save(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ViewQuery>,
    format: Format,
) -> Response {
    let page = match q.parse() {
        Ok(p) => p,
        Err(e) => return bad_request(format!("{e:#}")),
    };
    let pool = state.pool();
    let file = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
        let v = page.view;
        let counts = pool.runner().render(&v, page.tile, Delivery::Reply)?.counts;
        let mut out = Vec::new();
        match format {
            Format::Png => png::write(
                &mut out,
                v.width,
                v.height,
                &counts,
                v.max_iter,
                page.palette,
            )?,
            Format::Npy => npy::write_u32(&mut out, v.height as usize, v.width as usize, &counts)?,
        }
        Ok(out)
    })
    .await;
    let (kind, name) = match format {
        Format::Png => ("image/png", "mandelbrot.png"),
        Format::Npy => ("application/octet-stream", "counts.npy"),
    };
    match file {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, kind.to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn team(State(state): State<Arc<AppState>>) -> Response {
    let pool = state.pool();
    let runner = pool.runner();
    Json(json!({
        "drones": runner.drones(),
        "transport": pool.stats().snapshot(runner).transport,
        "transports": render::transports(),
        "max_drones": MAX_DRONES,
        "max_iter": MAX_ITER,
        "palettes": <Palette as clap::ValueEnum>::value_variants()
            .iter()
            .filter_map(|p| clap::ValueEnum::to_possible_value(p).map(|v| v.get_name().to_string()))
            .collect::<Vec<_>>(),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct TeamRequest {
    drones: usize,
    transport: String,
}

/// Start a new team as asked; the old one ends once its workers are back.
async fn restart(State(state): State<Arc<AppState>>, Json(r): Json<TeamRequest>) -> Response {
    if r.drones > MAX_DRONES {
        return bad_request(format!(
            "{} drones asked; at most {MAX_DRONES} (0 computes in the server alone)",
            r.drones
        ));
    }
    let started = tokio::task::spawn_blocking(move || Pool::start(r.drones, &r.transport)).await;
    match started {
        Ok(Ok(pool)) => {
            let old = state.replace(pool);
            // Joining the old workers blocks: not on the server's threads.
            tokio::task::spawn_blocking(move || drop(old));
            team(State(state)).await
        }
        Ok(Err(e)) => bad_request(format!("{e:#}")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn quit(State(state): State<Arc<AppState>>) -> Response {
    state.quit.notify_one();
    Json(json!({"stopping": true})).into_response()
}
