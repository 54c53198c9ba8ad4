//! `polyshm explore`: the study's Fractal Explorer as an interactive page on 127.0.0.1,
//! its tiles computed by the drone team and streamed to the page as each finishes.
//!
//! [`server`] answers HTTP (axum) and the page's WebSocket ([`session`]); [`view`] reads
//! and checks the view the page asks for; [`tiles`] feeds the team one tile per drone and
//! drops the tiles of a view the page has left; [`stats`] keeps the live panel's figures.
//! The page itself is `page.html`, compiled in.

pub mod server;
pub mod session;
pub mod stats;
pub mod tiles;
pub mod view;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

/// Options of `polyshm explore`.
#[derive(Args, Debug)]
pub struct ExploreArgs {
    /// Number of drones; 0 computes in the server alone (default: one per CPU).
    #[arg(long)]
    pub drones: Option<usize>,
    /// How tiles and results travel: socket (TCP), unix, hybrid, hybrid-unprotected, shm.
    #[arg(long, default_value = "shm")]
    pub transport: String,
    /// Port on 127.0.0.1; 0 takes a free one (printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Open the page in the default browser.
    #[arg(long)]
    pub open: bool,
}

/// Run `polyshm explore` until Ctrl-C or the page's "stop server".
pub fn run(args: ExploreArgs) -> Result<()> {
    let drones = args.drones.unwrap_or_else(polyshm::sys::cpu_count);
    if drones > server::MAX_DRONES {
        anyhow::bail!(
            "--drones {drones}: at most {} (0 computes in the server alone)",
            server::MAX_DRONES
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    // The port first: a port in use is found before any drone starts.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!(
                    "port {} on 127.0.0.1 is in use by another program; choose another with \
                 --port, or --port 0 for a free one",
                    args.port
                )
            } else {
                anyhow::anyhow!("cannot listen on {addr}: {e}")
            }
        })?;
    let url = format!("http://{}/", listener.local_addr()?);
    let pool = tiles::Pool::start(drones, &args.transport)?;
    let state = Arc::new(server::AppState::new(pool));
    let team = state.pool().stats().snapshot(state.pool().runner());
    println!(
        "polyshm explore: {url} ({} drones over {}); Ctrl-C or the page's \"stop server\" ends it",
        team.drones, team.transport
    );
    if args.open {
        if let Err(e) = open::that_detached(&url) {
            eprintln!("polyshm explore: cannot open a browser ({e}); open {url} yourself");
        }
    }
    let app = server::router(state.clone());
    let stop = state.clone();
    runtime.block_on(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = stop.quit.notified() => {}
                }
            })
            .await
            .context("the server stopped")
    })?;
    // Open sockets may still hold the pool for a moment: end the runtime first.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    drop(state);
    // Whoever started us may have stopped reading: not a reason to fail now.
    let _ = writeln!(std::io::stdout(), "polyshm explore: stopped");
    Ok(())
}
