//! `polyshm fractal`: the study's Fractal Explorer (section 9) over drones.
//!
//! The image is cut into tiles ([`tile`]); each tile is a task a free drone takes, and its
//! counts come back as an integer array through the chosen transport, or (`--into
//! shared`) the drone writes them into one shared matrix of counts and only "done" comes
//! back ([`shared`]). The master places the arrays, writes the counts ([`npy`]) and the
//! picture ([`png`], [`palette`]), and logs the study's table 11 for the run.
//! `--compare` times the same image in one process, with 1 drone and with N drones over
//! each transport, results sent back and written in place ([`compare`]).

pub mod compare;
pub mod npy;
pub mod palette;
pub mod png;
pub mod render;
pub mod shared;
pub mod study;
pub mod tile;
pub mod view;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use render::{Rendered, Runner};
use shared::Delivery;
use view::View;

/// Options of `polyshm fractal`.
#[derive(Args, Debug)]
pub struct FractalArgs {
    /// Image width in pixels (with --height; default 627, the study's largest image).
    #[arg(long, requires = "height", conflicts_with = "size")]
    pub width: Option<u32>,
    /// Image height in pixels (with --width; default 491).
    #[arg(long, requires = "width", conflicts_with = "size")]
    pub height: Option<u32>,
    /// Image size as WxH, e.g. 627x491.
    #[arg(long)]
    pub size: Option<String>,
    /// Centre of the picture as X,Y (the complex number X + iY).
    #[arg(long, default_value = "-0.5,0", allow_hyphen_values = true)]
    pub center: String,
    /// Width of the picture in complex units.
    #[arg(long, default_value_t = view::DEFAULT_SCALE)]
    pub scale: f64,
    /// Iteration limit N: a pixel that has not escaped after N iterations counts N.
    #[arg(long, default_value_t = view::DEFAULT_MAX_ITER)]
    pub max_iter: u32,
    /// Tile side T in pixels: the image is cut into T×T tiles, one task each.
    #[arg(long, default_value_t = tile::DEFAULT_TILE)]
    pub tile: u32,
    /// Number of drones; 0 computes in this process alone (default: one per CPU).
    #[arg(long)]
    pub drones: Option<usize>,
    /// How tiles and results travel: socket (TCP), unix, hybrid, hybrid-unprotected, shm.
    /// With --compare: only this transport (default: every one).
    #[arg(long)]
    pub transport: Option<String>,
    /// How the mailbox hand-over is signalled (shm, hybrid): semaphore, or window (the
    /// study's window messages; Windows only).
    #[arg(long, default_value = "semaphore")]
    pub signal: polyshm::team::Signal,
    /// Where the counts go: sent back as result arrays (reply), or written by the drones
    /// straight into one shared matrix, only "done" sent back (shared). With --compare:
    /// only this one (default: both). Default: reply.
    #[arg(long, value_enum)]
    pub into: Option<Delivery>,
    /// Write the picture as PNG to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The picture's colours (--out).
    #[arg(long, value_enum, default_value_t)]
    pub palette: palette::Palette,
    /// Write the raw counts as a NumPy .npy file (uint32, shape (H, W)).
    #[arg(long)]
    pub counts: Option<PathBuf>,
    /// Time one process, 1 drone and N drones over each transport; print the speedups.
    #[arg(long)]
    pub compare: bool,
    /// With --compare: how many times to run each setup (interleaved); medians are quoted.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// The drones are the ranks of the MPI job (`mpirun -n K polyshm fractal --mpi …`;
    /// every rank but 0, --drones and --transport aside). Needs `--features mpi`.
    #[arg(long, conflicts_with = "compare")]
    pub mpi: bool,
}

impl FractalArgs {
    /// The view these options describe, checked.
    pub fn view(&self) -> Result<View> {
        let (width, height) = match (&self.size, self.width, self.height) {
            (Some(s), _, _) => study::parse_size(s)?,
            (None, Some(w), Some(h)) => (w, h),
            _ => (627, 491),
        };
        let (x, y) = self
            .center
            .split_once(',')
            .with_context(|| format!("--center `{}` is not X,Y (e.g. -0.5,0)", self.center))?;
        let view = View {
            center_re: x
                .trim()
                .parse()
                .with_context(|| format!("--center real part `{x}`"))?,
            center_im: y
                .trim()
                .parse()
                .with_context(|| format!("--center imaginary part `{y}`"))?,
            scale: self.scale,
            max_iter: self.max_iter,
            ..View::new(width, height)
        };
        view.validate()?;
        if self.tile == 0 {
            bail!("--tile 0: a tile must be at least 1 pixel wide");
        }
        Ok(view)
    }
}

/// Run `polyshm fractal`.
pub fn run(args: FractalArgs) -> Result<()> {
    let view = args.view()?;
    if args.compare {
        // every run produced these same counts (compare checks it)
        let counts = compare::run(&args, &view)?;
        return save(&args, &view, &counts);
    }
    let into = args.into.unwrap_or(Delivery::Reply);
    let runner = if args.mpi {
        if into == Delivery::Shared {
            bail!("--into shared needs every drone on this host; with --mpi use --into reply");
        }
        Runner::start_mpi()?
    } else {
        let drones = args.drones.unwrap_or_else(polyshm::sys::cpu_count);
        Runner::start_with(drones, args.transport.as_deref(), args.signal)?
    };
    let rendered = runner.render(&view, args.tile, into)?;
    save(&args, &view, &rendered.counts)?;
    let report = Table11::of_run(&view, &runner, &rendered)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print();
    }
    Ok(())
}

/// Write the counts (`--counts`) and the picture (`--out`) if asked.
fn save(args: &FractalArgs, view: &View, counts: &[u32]) -> Result<()> {
    let (w, h) = (view.width, view.height);
    if let Some(path) = &args.counts {
        npy::save_u32(path, h as usize, w as usize, counts)?;
    }
    if let Some(path) = &args.out {
        png::save(path, w, h, counts, view.max_iter, args.palette)?;
    }
    Ok(())
}

/// The study's table 11 for one run: ours, and the study's row for the same image size
/// if it measured one.
#[derive(Debug, serde::Serialize)]
pub struct Table11 {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Centre, real part.
    pub center_re: f64,
    /// Centre, imaginary part.
    pub center_im: f64,
    /// Width in complex units.
    pub scale: f64,
    /// Iteration limit.
    pub max_iter: u32,
    /// Tile side.
    pub tile: u32,
    /// `one-process`, or the transport's name.
    pub setup: String,
    /// Drones used (0: one process).
    pub drones: usize,
    /// Time to compute and assemble the image, seconds (drones already started).
    pub seconds: f64,
    /// Time to start the drones, seconds.
    pub spawn_seconds: f64,
    /// Number of result arrays (tiles).
    pub result_arrays: usize,
    /// Average result array size (integers).
    pub average_size: f64,
    /// Total size of the results (integers).
    pub total_size: usize,
    /// Where the results went: `reply` (sent back) or `shared` (written in place).
    pub into: Delivery,
    /// Integers that travelled back with the replies (0 with `shared`).
    pub sent_back: usize,
    /// Sum of the counts: the iterations the definition asks for (cycle detection
    /// performs fewer inside the set).
    pub iterations: u64,
    /// The study's table 11 row for this image size, if any.
    pub study: Option<study::Table11Row>,
}

impl Table11 {
    fn of_run(view: &View, runner: &Runner, r: &Rendered) -> Result<Table11> {
        let study = study::table11()?
            .into_iter()
            .find(|row| (row.width, row.height) == (view.width, view.height));
        Ok(Table11 {
            width: view.width,
            height: view.height,
            center_re: view.center_re,
            center_im: view.center_im,
            scale: view.scale,
            max_iter: view.max_iter,
            tile: r.tile,
            setup: runner.setup(),
            drones: runner.drones(),
            seconds: r.elapsed.as_secs_f64(),
            spawn_seconds: runner.spawn_time().as_secs_f64(),
            result_arrays: r.result_arrays,
            average_size: r.total_size as f64 / r.result_arrays.max(1) as f64,
            total_size: r.total_size,
            into: r.into,
            sent_back: r.sent_back,
            iterations: r.counts.iter().map(|&c| u64::from(c)).sum(),
            study,
        })
    }

    fn print(&self) {
        println!(
            "Fractal Explorer: {}x{}, centre {},{}, scale {}, max-iter {}, tile {}, {}",
            self.width,
            self.height,
            self.center_re,
            self.center_im,
            self.scale,
            self.max_iter,
            self.tile,
            if self.drones == 0 {
                "one process".to_string()
            } else {
                format!(
                    "{} drone{} over {} (started in {:.3} s)",
                    self.drones,
                    if self.drones == 1 { "" } else { "s" },
                    self.setup,
                    self.spawn_seconds
                )
            }
        );
        println!("Table 11: data transmission requirements");
        let mut table = comfy_table::Table::new();
        table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(vec![
            "",
            "image size",
            "time (s)",
            "result arrays",
            "average size",
            "total size",
        ]);
        table.add_row(vec![
            "ours".to_string(),
            format!("{} @ {}", self.width, self.height),
            format!("{:.3}", self.seconds),
            self.result_arrays.to_string(),
            format!("{:.0}", self.average_size),
            self.total_size.to_string(),
        ]);
        if let Some(s) = &self.study {
            table.add_row(vec![
                "study".to_string(),
                format!("{} @ {}", s.width, s.height),
                format!("{}", s.seconds),
                s.result_arrays.to_string(),
                s.average_size.to_string(),
                s.total_size.to_string(),
            ]);
        }
        println!("{table}");
        println!(
            "sum of the counts {}; sizes are in integers (4-byte counts here)",
            self.iterations
        );
        if self.into == Delivery::Shared {
            println!(
                "--into shared: the result arrays were written in place into one shared \
                 matrix; {} integers travelled back",
                self.sent_back
            );
        }
    }
}
