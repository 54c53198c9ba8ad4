//! Tiles: the unit of work a drone takes. The image is cut into `T`×`T` squares (the
//! right and bottom edges keep what is left), row-major; a tile's result is its counts,
//! a `Vec<u32>` of `w·h` values, row-major, that travels through the chosen transport as
//! its own bytes.
//!
//! With `--into shared` the counts go into a shared matrix instead ([`super::shared`]).
//!
//! The request is plain old data too: ten `u64` words (see [`TileRequest::to_words`]), the
//! floats as their bit patterns, so the drone computes exactly the master's view.

use anyhow::{bail, ensure, Result};

use super::view::View;

/// Name of the tile task in the task registry.
pub const TASK: &str = "polyshm.fractal.tile";

/// Default tile side: 42 cuts the study's largest image, 627x491, into its 180 tiles.
pub const DEFAULT_TILE: u32 = 42;

/// Environment variable of the fault-injection hook, for tests only: `K:PATH` makes the
/// drone that runs its `K`-th tile (1-based) die mid-tile, without answering, provided
/// it is the first to create the file `PATH` (so exactly one drone dies, however many
/// run or replace it). With results sent back it dies before computing; with
/// `--into shared` once half the tile's rows are written, holding its claim of the
/// tile. It exits with [`ABORT_EXIT_CODE`] rather than aborting, so that no core file
/// is left behind. Unset in normal use; the one-process path never reads it.
pub const ABORT_ENV: &str = "POLYSHM_FRACTAL_ABORT_TILE";

/// Exit code of a drone killed by the [`ABORT_ENV`] hook.
pub const ABORT_EXIT_CODE: i32 = 86;

/// Words in a request, and the version tag in its first word.
const REQUEST_WORDS: usize = 10;
const REQUEST_TAG: u64 = 0x706f_6c79_6672_0001; // "polyfr" + version 1

/// A rectangle of the image: top-left pixel and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// Column of the top-left pixel.
    pub x0: u32,
    /// Row of the top-left pixel.
    pub y0: u32,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
}

impl Tile {
    /// Number of pixels in the tile.
    pub fn pixels(&self) -> usize {
        self.w as usize * self.h as usize
    }
}

/// Cut a `width`×`height` image into `side`×`side` tiles, row-major.
pub fn tiles(width: u32, height: u32, side: u32) -> Vec<Tile> {
    let side = side.max(1);
    let mut out = Vec::new();
    let mut y0 = 0;
    while y0 < height {
        let h = side.min(height - y0);
        let mut x0 = 0;
        while x0 < width {
            let w = side.min(width - x0);
            out.push(Tile { x0, y0, w, h });
            x0 += w;
        }
        y0 += h;
    }
    out
}

/// Copy a tile's counts into the whole image's counts (row-major, `width` wide).
pub fn place(image: &mut [u32], width: u32, tile: &Tile, counts: &[u32]) -> Result<()> {
    ensure!(
        counts.len() == tile.pixels(),
        "tile at ({}, {}) of {}x{} pixels came back with {} counts, expected {}",
        tile.x0,
        tile.y0,
        tile.w,
        tile.h,
        counts.len(),
        tile.pixels()
    );
    let (w, x0) = (tile.w as usize, tile.x0 as usize);
    for (r, row) in counts.chunks_exact(w).enumerate() {
        let start = (tile.y0 as usize + r) * width as usize + x0;
        image[start..start + w].copy_from_slice(row);
    }
    Ok(())
}

/// What a drone needs to compute one tile: the view and the rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileRequest {
    /// The whole image's view.
    pub view: View,
    /// The rectangle to compute.
    pub tile: Tile,
}

impl TileRequest {
    /// The request as ten words: tag, W, H, bits of X, Y, S, N, x0, y0, w | h << 32.
    pub fn to_words(self) -> Vec<u64> {
        let v = &self.view;
        let t = &self.tile;
        vec![
            REQUEST_TAG,
            u64::from(v.width),
            u64::from(v.height),
            v.center_re.to_bits(),
            v.center_im.to_bits(),
            v.scale.to_bits(),
            u64::from(v.max_iter),
            u64::from(t.x0),
            u64::from(t.y0),
            u64::from(t.w) | u64::from(t.h) << 32,
        ]
    }

    /// Read a request back, checking everything: it comes from another process.
    pub fn from_words(words: &[u64]) -> Result<TileRequest> {
        ensure!(
            words.len() == REQUEST_WORDS,
            "a tile request has {REQUEST_WORDS} words, this one has {}",
            words.len()
        );
        ensure!(
            words[0] == REQUEST_TAG,
            "a tile request starts with tag {REQUEST_TAG:#x}, this one with {:#x}: \
             master and drone are different builds",
            words[0]
        );
        let small = |k: usize, what: &str| -> Result<u32> {
            u32::try_from(words[k])
                .map_err(|_| anyhow::anyhow!("tile request {what} = {} is too large", words[k]))
        };
        let view = View {
            width: small(1, "width")?,
            height: small(2, "height")?,
            center_re: f64::from_bits(words[3]),
            center_im: f64::from_bits(words[4]),
            scale: f64::from_bits(words[5]),
            max_iter: small(6, "max_iter")?,
        };
        view.validate()?;
        let tile = Tile {
            x0: small(7, "x0")?,
            y0: small(8, "y0")?,
            w: (words[9] & 0xffff_ffff) as u32,
            h: (words[9] >> 32) as u32,
        };
        let inside = |start: u32, len: u32, total: u32| {
            len > 0 && u64::from(start) + u64::from(len) <= u64::from(total)
        };
        if !inside(tile.x0, tile.w, view.width) || !inside(tile.y0, tile.h, view.height) {
            bail!(
                "tile at ({}, {}) of {}x{} pixels is not inside the {}x{} image",
                tile.x0,
                tile.y0,
                tile.w,
                tile.h,
                view.width,
                view.height
            );
        }
        Ok(TileRequest { view, tile })
    }

    /// Compute the tile's counts in this thread.
    pub fn compute(&self) -> Vec<u32> {
        let t = &self.tile;
        self.view.render_rect(t.x0, t.y0, t.w, t.h)
    }
}

/// The tile task as drones run it: request words in, counts out. A malformed request is
/// a bug in the master (or a different build); the task panics with the reason, which the
/// team reports to the master as the task's failure.
pub fn run_task(words: &[u64]) -> Vec<u32> {
    abort_hook();
    match TileRequest::from_words(words) {
        Ok(request) => request.compute(),
        Err(e) => panic!("{TASK}: {e:#}"),
    }
}

/// The fault-injection hook of [`ABORT_ENV`]: counts this process's tiles (call it once
/// per tile) and dies on the chosen one if this process wins the right to die.
pub fn abort_hook() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static TILES_RUN: AtomicU64 = AtomicU64::new(0);
    let Ok(spec) = std::env::var(ABORT_ENV) else {
        return;
    };
    let run = TILES_RUN.fetch_add(1, Ordering::Relaxed) + 1;
    let Some((k, path)) = spec.split_once(':') else {
        return;
    };
    if k.parse::<u64>().ok() != Some(run) {
        return;
    }
    let first = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .is_ok();
    if first {
        eprintln!(
            "polyshm drone {}: {ABORT_ENV} kills this drone on its tile {run}",
            std::process::id()
        );
        std::process::exit(ABORT_EXIT_CODE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_image_once() {
        for (w, h, t) in [
            (627, 491, 42),
            (191, 186, 42),
            (1, 1, 42),
            (10, 3, 4),
            (8, 8, 8),
        ] {
            let ts = tiles(w, h, t);
            let mut seen = vec![0u8; (w * h) as usize];
            for tile in &ts {
                assert!(tile.w >= 1 && tile.w <= t && tile.h >= 1 && tile.h <= t);
                for j in tile.y0..tile.y0 + tile.h {
                    for i in tile.x0..tile.x0 + tile.w {
                        seen[(j * w + i) as usize] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{w}x{h} tile {t}");
        }
        assert_eq!(tiles(627, 491, DEFAULT_TILE).len(), 180);
    }

    #[test]
    fn request_roundtrip_and_checks() {
        let view = View {
            center_re: -0.743,
            center_im: 0.131_f64.next_up(),
            ..View::new(100, 80)
        };
        let req = TileRequest {
            view,
            tile: Tile {
                x0: 42,
                y0: 42,
                w: 42,
                h: 38,
            },
        };
        let words = req.to_words();
        assert_eq!(TileRequest::from_words(&words).unwrap(), req);
        let mut bad = words.clone();
        bad[9] = 59 | 38 << 32; // 42 + 59 > 100
        assert!(TileRequest::from_words(&bad).is_err());
        let mut bad = words.clone();
        bad[0] ^= 1;
        assert!(TileRequest::from_words(&bad).is_err());
        assert!(TileRequest::from_words(&words[..9]).is_err());
        let mut bad = words;
        bad[5] = f64::NAN.to_bits();
        assert!(TileRequest::from_words(&bad).is_err());
    }

    #[test]
    fn placed_tiles_rebuild_the_image() {
        let view = View::new(50, 31);
        let whole = view.render();
        let mut image = vec![0; view.pixels()];
        for tile in tiles(50, 31, 7) {
            let counts = run_task(&TileRequest { view, tile }.to_words());
            place(&mut image, 50, &tile, &counts).unwrap();
        }
        assert_eq!(image, whole);
        let t = Tile {
            x0: 0,
            y0: 0,
            w: 2,
            h: 2,
        };
        assert!(place(&mut image, 50, &t, &[1, 2, 3]).is_err());
    }
}
