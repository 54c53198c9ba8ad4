//! The page's view: what the URL (and the page's messages) say, parsed and checked into
//! a fractal [`View`], a tile side and a [`Palette`]. Every field is text first, so that
//! a bad value gets a message naming the field, the value and what to do.

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::fractal::palette::Palette;
use crate::fractal::tile::DEFAULT_TILE;
use crate::fractal::view::{self, View};

/// Largest iteration limit the explorer accepts: past it one tile may take seconds, and
/// the page would look stuck (`polyshm fractal` has no such limit).
pub const MAX_ITER: u32 = 100_000;

/// Largest image side in pixels.
pub const MAX_SIDE: u32 = 4096;

/// Most tiles one view may be cut into (each is a queued task).
pub const MAX_TILES: u64 = 65_536;

/// Default image size of the page.
pub const DEFAULT_SIZE: (u32, u32) = (640, 480);

/// The view as the URL carries it: `?x=-0.5&y=0&scale=3&iter=1000&w=640&h=480&palette=classic`.
/// Missing fields take the defaults of `polyshm fractal`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ViewQuery {
    /// Centre, real part.
    pub x: Option<String>,
    /// Centre, imaginary part.
    pub y: Option<String>,
    /// Width of the picture in complex units.
    pub scale: Option<String>,
    /// Iteration limit.
    pub iter: Option<String>,
    /// Image width in pixels.
    pub w: Option<String>,
    /// Image height in pixels.
    pub h: Option<String>,
    /// Palette name.
    pub palette: Option<String>,
    /// Tile side in pixels.
    pub tile: Option<String>,
}

/// A checked view of the page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageView {
    /// What to compute.
    pub view: View,
    /// Tile side.
    pub tile: u32,
    /// Colours.
    pub palette: Palette,
}

fn number<T: std::str::FromStr>(field: &str, value: Option<&String>, default: T) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .with_context(|| format!("{field}=`{v}` is not a number")),
    }
}

fn finite(field: &str, value: Option<&String>, default: f64) -> Result<f64> {
    let v = number(field, value, default)?;
    if !v.is_finite() {
        bail!("{field}={v} is not a finite number; give a number such as {default}");
    }
    Ok(v)
}

impl ViewQuery {
    /// Parse and check every field.
    pub fn parse(&self) -> Result<PageView> {
        let scale = finite("scale", self.scale.as_ref(), view::DEFAULT_SCALE)?;
        if scale <= 0.0 {
            bail!(
                "scale={scale}: the picture's width in complex units must be above 0 (the \
                 whole set is about 3 wide)"
            );
        }
        let max_iter = number("iter", self.iter.as_ref(), view::DEFAULT_MAX_ITER)?;
        if max_iter == 0 || max_iter > MAX_ITER {
            bail!("iter={max_iter}: the iteration limit must be between 1 and {MAX_ITER}");
        }
        let width = number("w", self.w.as_ref(), DEFAULT_SIZE.0)?;
        let height = number("h", self.h.as_ref(), DEFAULT_SIZE.1)?;
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            bail!("the image is {width}x{height}; each side must be between 1 and {MAX_SIDE}");
        }
        let tile = number("tile", self.tile.as_ref(), DEFAULT_TILE)?;
        if !(1..=MAX_SIDE).contains(&tile) {
            bail!("tile={tile}: a tile side must be between 1 and {MAX_SIDE} pixels");
        }
        let tiles = u64::from(width.div_ceil(tile)) * u64::from(height.div_ceil(tile));
        if tiles > MAX_TILES {
            bail!(
                "tile={tile} cuts the {width}x{height} image into {tiles} tiles, more than \
                 {MAX_TILES}; choose a larger tile"
            );
        }
        let palette = match self.palette.as_deref() {
            None => Palette::default(),
            Some(name) => <Palette as clap::ValueEnum>::from_str(name, true).map_err(|_| {
                anyhow::anyhow!("palette=`{name}` is not one of classic, fire, grey")
            })?,
        };
        let view = View {
            width,
            height,
            center_re: finite("x", self.x.as_ref(), view::DEFAULT_CENTER_RE)?,
            center_im: finite("y", self.y.as_ref(), view::DEFAULT_CENTER_IM)?,
            scale,
            max_iter,
        };
        view.validate()?;
        Ok(PageView {
            view,
            tile,
            palette,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> ViewQuery {
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        serde_json::from_value(serde_json::Value::Object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), serde_json::Value::String((*v).into())))
                .collect(),
        ))
        .unwrap_or_else(|e| panic!("{}: {e}", text.join("&")))
    }

    #[test]
    fn defaults_are_the_fractal_commands() {
        let p = ViewQuery::default().parse().unwrap();
        assert_eq!(p.view, View::new(640, 480));
        assert_eq!((p.tile, p.palette), (DEFAULT_TILE, Palette::Classic));
        let p = query(&[("x", "-0.7"), ("scale", "0.5"), ("palette", "fire")])
            .parse()
            .unwrap();
        assert_eq!((p.view.center_re, p.view.scale), (-0.7, 0.5));
        assert_eq!(p.palette, Palette::Fire);
    }

    #[test]
    fn bad_input_is_named() {
        for (pairs, says) in [
            (&[("scale", "0")][..], "scale=0"),
            (&[("scale", "-2")][..], "above 0"),
            (&[("x", "NaN")][..], "x=NaN is not a finite number"),
            (&[("y", "inf")][..], "y=inf"),
            (&[("x", "abc")][..], "x=`abc` is not a number"),
            (&[("iter", "100001")][..], "between 1 and 100000"),
            (&[("iter", "0")][..], "iter=0"),
            (&[("w", "5000")][..], "between 1 and 4096"),
            (&[("palette", "pink")][..], "palette=`pink`"),
            (&[("tile", "0")][..], "tile=0"),
            (&[("tile", "1"), ("w", "4096")][..], "into 1966080 tiles"),
        ] {
            let e = format!("{:#}", query(pairs).parse().unwrap_err());
            assert!(e.contains(says), "{pairs:?}: {e}");
        }
    }
}
