//! `--into shared`: the counts go straight into one shared matrix instead of travelling
//! back as result arrays (the study's §10, "a shared matrix with simple data cells").
//!
//! The master creates a [`SharedMatrix<u32>`] of the image, cut into the same tiles as
//! [`tile::tiles`] (tile `i` of the one is part `i` of the other). Each task carries the
//! matrix's handle, the part and the tile's request words; the drone opens the matrix once
//! ([`SharedMatrix::open_cached`]), claims its part (it is the tile's one writer),
//! computes the tile row by row and writes each row in place. Only "done" travels back
//! (`()`). The master then copies the whole matrix out once: the same counts, cell for
//! cell, as the result arrays placed one by one.
//!
//! A drone that dies mid-tile leaves its part claimed and half-written; the team gives
//! the task to another drone, which takes the claim over from the dead one (the claim
//! table judges the claimant dead) and writes the whole tile again.

use anyhow::{ensure, Context, Result};
use polyshm::objects::{self, MatrixHandle, SharedMatrix, Tiling};
use serde::{Deserialize, Serialize};

use super::tile::{self, Tile, TileRequest};
use super::view::View;

/// Name of the task in the task registry.
pub const TASK: &str = "polyshm.fractal.tile-into-shared";

/// Where the counts of the tiles go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Each tile's counts come back through the transport as an integer array, and the
    /// master places them in the image.
    Reply,
    /// Each drone writes its tile into one shared matrix of counts; only "done" comes
    /// back.
    Shared,
}

impl Delivery {
    /// Both, results sent back first.
    pub const ALL: [Delivery; 2] = [Delivery::Reply, Delivery::Shared];

    /// `reply` or `shared`, as `--into` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Delivery::Reply => "reply",
            Delivery::Shared => "shared",
        }
    }
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The task's argument: which matrix, which part of it, and the tile's request (the
/// words of [`TileRequest::to_words`], checked again by the drone).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IntoShared {
    /// The image's matrix of counts.
    pub counts: MatrixHandle<u32>,
    /// The part of the matrix this tile is.
    pub part: usize,
    /// The tile's request words.
    pub request: Vec<u64>,
}

/// The image's matrix of counts, `H` rows of `W` cells, cut into the tiles of
/// [`tile::tiles`]`(W, H, side)`, in segment `name`.
pub fn create(name: &str, view: &View, side: u32) -> Result<SharedMatrix<u32>> {
    let side = side.max(1) as usize;
    let (rows, cols) = (view.height as usize, view.width as usize);
    SharedMatrix::create(name, rows, cols, Tiling::tiles(side, side))
        .with_context(|| format!("cannot create the shared matrix of {cols}x{rows} counts"))
}

/// Whether part `p` of a matrix is the image's rectangle `t`.
fn same(p: &objects::Tile, t: &Tile) -> bool {
    (p.col, p.row, p.cols, p.rows) == (t.x0 as usize, t.y0 as usize, t.w as usize, t.h as usize)
}

/// The tasks of `view` cut in `side`×`side` tiles over `matrix` (made by [`create`]
/// with the same view and side), in tile order.
pub fn requests(matrix: &SharedMatrix<u32>, view: &View, side: u32) -> Result<Vec<IntoShared>> {
    let tiles = tile::tiles(view.width, view.height, side);
    ensure!(
        matrix.parts() == tiles.len(),
        "the shared matrix has {} parts, the image {} tiles",
        matrix.parts(),
        tiles.len()
    );
    let handle = matrix.handle();
    tiles
        .into_iter()
        .zip(matrix.tiles())
        .map(|(t, p)| {
            ensure!(same(&p, &t), "part {} ({p}) is not the tile {t:?}", p.index);
            Ok(IntoShared {
                counts: handle.clone(),
                part: p.index,
                request: TileRequest {
                    view: *view,
                    tile: t,
                }
                .to_words(),
            })
        })
        .collect()
}

/// Compute the tile of `task` and write it into its part of `matrix`, claimed for the
/// time of the writing. `hook` runs once, when half the tile's rows are written (the
/// fault-injection hook in drones).
pub fn write_tile(
    matrix: &SharedMatrix<u32>,
    task: &IntoShared,
    hook: impl FnOnce(),
) -> Result<()> {
    let request = TileRequest::from_words(&task.request)?;
    let view = request.view;
    let t = request.tile;
    ensure!(
        (matrix.cols(), matrix.rows()) == (view.width as usize, view.height as usize),
        "shared matrix `{}` holds {}x{} counts, the image is {}x{}",
        matrix.name(),
        matrix.cols(),
        matrix.rows(),
        view.width,
        view.height
    );
    let part = matrix.tile(task.part).with_context(|| {
        format!(
            "shared matrix `{}` has no part {}",
            matrix.name(),
            task.part
        )
    })?;
    ensure!(
        same(&part, &t),
        "part {} of shared matrix `{}` is {part}, the request's tile {t:?}",
        task.part,
        matrix.name()
    );
    let mut claimed = matrix.claim(part.index)?;
    if let Some(dead) = claimed.taken_from() {
        eprintln!(
            "polyshm drone {}: tile {} taken over from dead process {}; writing it again",
            std::process::id(),
            part.index,
            dead.pid
        );
    }
    let mut hook = Some(hook);
    for (k, row) in part.row_range().enumerate() {
        if k == part.rows / 2 {
            if let Some(h) = hook.take() {
                h();
            }
        }
        claimed.write_row(row, &view.render_rect(t.x0, row as u32, t.w, 1))?;
    }
    Ok(())
}

/// The task as drones run it: open the matrix (once per drone), write the tile, answer
/// "done". A task that cannot write its tile panics with the reason, which the team
/// reports to the master as the task's failure.
pub fn run_task(task: IntoShared) {
    let written = SharedMatrix::open_cached(&task.counts)
        .map_err(anyhow::Error::from)
        .and_then(|m| write_tile(&m, &task, tile::abort_hook));
    if let Err(e) = written {
        panic!("{TASK}: {e:#}");
    }
}

/// The counts of a matrix whose every tile has been written: a copy of its cells.
/// A cell still 0 (a count is at least 1) means a tile was never written.
pub fn counts(matrix: &SharedMatrix<u32>) -> Result<Vec<u32>> {
    let counts = matrix.to_vec()?;
    if let Some(k) = counts.iter().position(|&c| c == 0) {
        let (row, col) = (k / matrix.cols(), k % matrix.cols());
        let tile = matrix
            .tiles()
            .find(|p| p.contains(row, col))
            .map_or(String::new(), |p| format!(" (tile {})", p.index));
        anyhow::bail!(
            "pixel ({col}, {row}) of shared matrix `{}` was never written{tile}: \
             a task answered done without writing its tile",
            matrix.name()
        );
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_written_in_place_rebuild_the_image() {
        let view = View::new(50, 31);
        let whole = view.render();
        let name = polyshm::shm::unique_name("t-fractal");
        let m = create(&name, &view, 7).unwrap();
        let tasks = requests(&m, &view, 7).unwrap();
        assert_eq!(tasks.len(), tile::tiles(50, 31, 7).len());
        let mut hooks = 0;
        for task in &tasks {
            write_tile(&m, task, || hooks += 1).unwrap();
        }
        assert_eq!(hooks, tasks.len(), "the hook runs once per tile");
        assert_eq!(counts(&m).unwrap(), whole);
        for p in m.tiles() {
            assert_eq!(
                m.claimant(p.index).unwrap(),
                None,
                "claim {} dropped",
                p.index
            );
        }
    }

    #[test]
    fn mismatched_tasks_are_refused_and_unwritten_tiles_found() {
        let view = View::new(20, 10);
        let name = polyshm::shm::unique_name("t-fractal");
        let m = create(&name, &view, 8).unwrap();
        let tasks = requests(&m, &view, 8).unwrap();
        // a part that is not the request's tile
        let wrong = IntoShared {
            part: 1,
            ..tasks[0].clone()
        };
        let e = write_tile(&m, &wrong, || {}).unwrap_err().to_string();
        assert!(e.contains("part 1"), "{e}");
        // a request for another image size
        let other = IntoShared {
            request: TileRequest {
                view: View::new(21, 10),
                tile: Tile {
                    x0: 0,
                    y0: 0,
                    w: 8,
                    h: 8,
                },
            }
            .to_words(),
            ..tasks[0].clone()
        };
        let e = write_tile(&m, &other, || {}).unwrap_err().to_string();
        assert!(e.contains("20x10 counts, the image is 21x10"), "{e}");
        // a matrix cut otherwise than the image
        assert!(requests(&m, &view, 5).is_err());
        // every tile but the last written: the copy-out names the unwritten one
        for task in &tasks[..tasks.len() - 1] {
            write_tile(&m, task, || {}).unwrap();
        }
        let e = counts(&m).unwrap_err().to_string();
        assert!(
            e.contains(&format!("never written (tile {})", tasks.len() - 1)),
            "{e}"
        );
    }
}
