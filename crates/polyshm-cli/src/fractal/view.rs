//! The view: which complex number each pixel samples, and the escape-time count there.
//!
//! The definition is exact, so that anyone can recompute a picture bit for bit:
//!
//! - the picture is `S` complex units wide, centred on `X + iY`;
//! - pixel column `i` (0 … W-1, left to right) and row `j` (0 … H-1, top to bottom)
//!   sample `c = (X + (i + 0.5 - W/2)·S/W) + i·(Y - (j + 0.5 - H/2)·S/W)`, evaluated in
//!   IEEE double precision left to right (`(d·S)/W`; `d = i + 0.5 - W/2` is exact);
//! - the count of a pixel is the number of iterations `z ← z² + c` from `z = 0` until
//!   `|z|² > 4`, or `N` if it never escapes within `N`. One iteration is
//!   `re ← re·re − im·im + cr`, `im ← (2·re)·im + ci` (old `re`), and `|z|²` is
//!   `re·re + im·im`, all in double precision without fused multiply-add.
//!
//! The kernel adds one shortcut that cannot change a count: if the orbit comes back
//! bit for bit to a value it had before (Brent's cycle detection), the double-precision
//! sequence is periodic from then on and never escapes, so the count is `N` at once.

use anyhow::{bail, Result};

/// Default width of the picture in complex units.
pub const DEFAULT_SCALE: f64 = 3.0;
/// Default centre, real part.
pub const DEFAULT_CENTER_RE: f64 = -0.5;
/// Default centre, imaginary part.
pub const DEFAULT_CENTER_IM: f64 = 0.0;
/// Default iteration limit `N`.
pub const DEFAULT_MAX_ITER: u32 = 1000;
/// Largest number of pixels in one image (a `u32` count each: 1 GiB of counts).
pub const MAX_PIXELS: u64 = 1 << 28;

/// A Mandelbrot view: image size, centre, width in complex units, iteration limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Image width `W` in pixels.
    pub width: u32,
    /// Image height `H` in pixels.
    pub height: u32,
    /// Centre, real part `X`.
    pub center_re: f64,
    /// Centre, imaginary part `Y`.
    pub center_im: f64,
    /// Width of the picture in complex units `S`.
    pub scale: f64,
    /// Iteration limit `N`.
    pub max_iter: u32,
}

impl View {
    /// A view of `width`×`height` pixels with the default centre, scale and limit.
    pub fn new(width: u32, height: u32) -> View {
        View {
            width,
            height,
            center_re: DEFAULT_CENTER_RE,
            center_im: DEFAULT_CENTER_IM,
            scale: DEFAULT_SCALE,
            max_iter: DEFAULT_MAX_ITER,
        }
    }

    /// Check that the view describes a picture that can be computed.
    pub fn validate(&self) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            bail!(
                "the image is {}x{} pixels; both sides must be at least 1",
                self.width,
                self.height
            );
        }
        let pixels = u64::from(self.width) * u64::from(self.height);
        if pixels > MAX_PIXELS {
            bail!(
                "the image is {}x{} = {pixels} pixels, more than the {MAX_PIXELS} allowed; \
                 ask for a smaller size",
                self.width,
                self.height
            );
        }
        if !(self.scale.is_finite() && self.scale > 0.0) {
            bail!(
                "the scale is {}; it must be a finite number of complex units > 0",
                self.scale
            );
        }
        if !(self.center_re.is_finite() && self.center_im.is_finite()) {
            bail!(
                "the centre is {},{}; both parts must be finite",
                self.center_re,
                self.center_im
            );
        }
        if self.max_iter == 0 {
            bail!("the iteration limit is 0; it must be at least 1");
        }
        Ok(())
    }

    /// Number of pixels, `W·H`.
    pub fn pixels(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Real part of `c` for pixel column `i`: `X + (i + 0.5 - W/2)·S/W`.
    #[inline]
    pub fn re(&self, i: u32) -> f64 {
        let w = f64::from(self.width);
        self.center_re + (f64::from(i) + 0.5 - w / 2.0) * self.scale / w
    }

    /// Imaginary part of `c` for pixel row `j`: `Y - (j + 0.5 - H/2)·S/W`.
    #[inline]
    pub fn im(&self, j: u32) -> f64 {
        let w = f64::from(self.width);
        let h = f64::from(self.height);
        self.center_im - (f64::from(j) + 0.5 - h / 2.0) * self.scale / w
    }

    /// The counts of the rectangle of `w`×`h` pixels whose top-left pixel is (`x0`, `y0`),
    /// row-major. The rectangle must lie inside the image.
    pub fn render_rect(&self, x0: u32, y0: u32, w: u32, h: u32) -> Vec<u32> {
        let mut out = Vec::with_capacity(w as usize * h as usize);
        let res: Vec<f64> = (x0..x0 + w).map(|i| self.re(i)).collect();
        for j in y0..y0 + h {
            let ci = self.im(j);
            let mut chunks = res.chunks_exact(LANES);
            for chunk in &mut chunks {
                let cr: [f64; LANES] = chunk.try_into().expect("chunks of LANES");
                out.extend(escape_counts(cr, ci, self.max_iter));
            }
            out.extend(
                chunks
                    .remainder()
                    .iter()
                    .map(|&cr| escape_count(cr, ci, self.max_iter)),
            );
        }
        out
    }

    /// The counts of the whole image, row-major, computed in this thread.
    #[cfg(test)]
    pub fn render(&self) -> Vec<u32> {
        self.render_rect(0, 0, self.width, self.height)
    }
}

/// The escape-time count of `c = cr + i·ci` with limit `max_iter` (see the module docs).
#[inline]
pub fn escape_count(cr: f64, ci: f64, max_iter: u32) -> u32 {
    let (mut re, mut im) = (0.0f64, 0.0f64);
    let (mut re2, mut im2) = (0.0f64, 0.0f64);
    // Brent: the orbit value saved at the last power of two, and how far we are from it.
    let (mut saved_re, mut saved_im) = (0.0f64, 0.0f64);
    let (mut power, mut steps) = (1u32, 0u32);
    let mut n = 0u32;
    while n < max_iter {
        im = (2.0 * re) * im + ci;
        re = re2 - im2 + cr;
        n += 1;
        re2 = re * re;
        im2 = im * im;
        if re2 + im2 > 4.0 {
            return n;
        }
        if re == saved_re && im == saved_im {
            return max_iter;
        }
        steps += 1;
        if steps == power {
            saved_re = re;
            saved_im = im;
            power = power.saturating_mul(2);
            steps = 0;
        }
    }
    max_iter
}

/// How many pixels [`escape_counts`] iterates side by side.
pub const LANES: usize = 4;

/// The counts of [`LANES`] points on one row (`cr[k] + i·ci`), iterated side by side so
/// that the processor overlaps their independent multiply chains. Each lane performs
/// exactly the operations of [`escape_count`], so the counts are the same.
#[inline]
pub fn escape_counts(cr: [f64; LANES], ci: f64, max_iter: u32) -> [u32; LANES] {
    let mut re = [0.0f64; LANES];
    let mut im = [0.0f64; LANES];
    let mut re2 = [0.0f64; LANES];
    let mut im2 = [0.0f64; LANES];
    let mut saved_re = [0.0f64; LANES];
    let mut saved_im = [0.0f64; LANES];
    let mut count = [max_iter; LANES];
    let mut done = [false; LANES];
    let mut live = LANES;
    let (mut power, mut steps) = (1u32, 0u32);
    let mut n = 0u32;
    while n < max_iter && live > 0 {
        n += 1;
        for k in 0..LANES {
            im[k] = (2.0 * re[k]) * im[k] + ci;
            re[k] = re2[k] - im2[k] + cr[k];
            re2[k] = re[k] * re[k];
            im2[k] = im[k] * im[k];
        }
        for k in 0..LANES {
            if done[k] {
                continue;
            }
            if re2[k] + im2[k] > 4.0 {
                count[k] = n;
                done[k] = true;
                live -= 1;
            } else if re[k] == saved_re[k] && im[k] == saved_im[k] {
                // count[k] stays max_iter: the orbit is periodic and never escapes.
                done[k] = true;
                live -= 1;
            }
        }
        steps += 1;
        if steps == power {
            saved_re = re;
            saved_im = im;
            power = power.saturating_mul(2);
            steps = 0;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, written the plainest way: no cycle detection, no lanes.
    fn plain(cr: f64, ci: f64, max_iter: u32) -> u32 {
        let (mut re, mut im) = (0.0f64, 0.0f64);
        for n in 1..=max_iter {
            let new_re = re * re - im * im + cr;
            let new_im = (2.0 * re) * im + ci;
            re = new_re;
            im = new_im;
            if re * re + im * im > 4.0 {
                return n;
            }
        }
        max_iter
    }

    #[test]
    fn pixel_centres_follow_the_definition() {
        let v = View::new(4, 2);
        // S/W = 0.75; columns at -0.5 + (-1.5, -0.5, 0.5, 1.5)·0.75
        assert_eq!(v.re(0), -0.5 - 1.125);
        assert_eq!(v.re(3), -0.5 + 1.125);
        // rows: 0 - (0.5 - 1)·0.75 = 0.375 (top), then -0.375
        assert_eq!(v.im(0), 0.375);
        assert_eq!(v.im(1), -0.375);
    }

    #[test]
    fn known_counts() {
        assert_eq!(escape_count(0.0, 0.0, 1000), 1000); // inside
        assert_eq!(escape_count(-1.0, 0.0, 1000), 1000); // period-2 bulb centre
        assert_eq!(escape_count(3.0, 0.0, 1000), 1); // |z1|² = 9
        assert_eq!(escape_count(1.0, 0.0, 1000), 3); // 0, 1, 2, 5
        assert_eq!(escape_count(0.3, 0.0, 1000), plain(0.3, 0.0, 1000));
        assert_eq!(escape_count(1.0, 0.0, 2), 2); // limited
    }

    #[test]
    fn cycle_detection_and_lanes_match_the_plain_loop() {
        let v = View {
            width: 61,
            height: 47,
            center_re: -0.75,
            center_im: 0.1,
            scale: 2.6,
            max_iter: 500,
        };
        let fast = v.render();
        let mut slow = Vec::new();
        for j in 0..v.height {
            for i in 0..v.width {
                slow.push(plain(v.re(i), v.im(j), v.max_iter));
                assert_eq!(
                    escape_count(v.re(i), v.im(j), v.max_iter),
                    *slow.last().unwrap()
                );
            }
        }
        assert_eq!(fast, slow);
        assert!(slow.contains(&500) && slow.iter().any(|&c| c < 10));
    }

    #[test]
    fn rect_is_a_window_of_the_whole() {
        let v = View::new(23, 17);
        let whole = v.render();
        let rect = v.render_rect(5, 3, 9, 7);
        for (k, &c) in rect.iter().enumerate() {
            let (i, j) = (5 + k % 9, 3 + k / 9);
            assert_eq!(c, whole[j * 23 + i]);
        }
    }

    #[test]
    fn invalid_views_are_refused() {
        assert!(View::new(0, 5).validate().is_err());
        assert!(View {
            scale: -1.0,
            ..View::new(5, 5)
        }
        .validate()
        .is_err());
        assert!(View {
            max_iter: 0,
            ..View::new(5, 5)
        }
        .validate()
        .is_err());
        assert!(View {
            center_re: f64::NAN,
            ..View::new(5, 5)
        }
        .validate()
        .is_err());
        assert!(View::new(5, 5).validate().is_ok());
    }
}
