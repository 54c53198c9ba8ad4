//! The colour palette: a smooth, cyclic gradient over the escape counts, black inside
//! the set (count = `N`).
//!
//! A count `n` is placed on the gradient at `frac(√n / PERIOD)`: the square root keeps
//! the bands near the set (where counts grow quickly) from becoming noise, and the
//! gradient's stops are joined by linear interpolation, last back to first, so that
//! neighbouring counts get neighbouring colours.
//!
//! Three gradients ([`Palette`]): `classic` (the default, what `polyshm fractal` has
//! always written), `fire` and `grey`; the same placement rule for each.

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Colour of the points that did not escape.
pub const INSIDE: Rgb = [0, 0, 0];

/// How many units of `√n` one trip round the gradient takes.
const PERIOD: f64 = 6.0;

/// A gradient: its stops, each a position in [0, 1) and a colour, in increasing order.
type Stops = [(f64, Rgb)];

/// The gradient's stops: position in [0, 1) and colour (deep blue, sky, white, gold,
/// near black), the classic escape-time look.
const STOPS: [(f64, Rgb); 5] = [
    (0.0, [0, 7, 100]),
    (0.16, [32, 107, 203]),
    (0.42, [237, 255, 255]),
    (0.6425, [255, 170, 0]),
    (0.8575, [0, 2, 0]),
];

/// Dark red, orange, pale yellow, back through red.
const FIRE: [(f64, Rgb); 4] = [
    (0.0, [40, 0, 0]),
    (0.3, [220, 60, 0]),
    (0.55, [255, 230, 120]),
    (0.8, [160, 20, 0]),
];

/// Dark grey to white and back.
const GREY: [(f64, Rgb); 2] = [(0.0, [30, 30, 30]), (0.5, [240, 240, 240])];

/// A choice of gradient (`--palette`; the explorer's palette menu).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Palette {
    /// Deep blue, sky, white, gold, near black.
    #[default]
    Classic,
    /// Dark red, orange, pale yellow.
    Fire,
    /// Dark grey to white.
    Grey,
}

impl Palette {
    /// The colour of a pixel whose count is `count` under iteration limit `max_iter`.
    pub fn colour(self, count: u32, max_iter: u32) -> Rgb {
        if count >= max_iter {
            return INSIDE;
        }
        let t = (f64::from(count).sqrt() / PERIOD).fract();
        gradient(self.stops(), t)
    }

    fn stops(self) -> &'static Stops {
        match self {
            Palette::Classic => &STOPS,
            Palette::Fire => &FIRE,
            Palette::Grey => &GREY,
        }
    }
}

/// The gradient of `stops` at `t` in [0, 1).
fn gradient(stops: &Stops, t: f64) -> Rgb {
    let t = t.clamp(0.0, 1.0);
    for k in 0..stops.len() {
        let (p0, c0) = stops[k];
        let (p1, c1) = if k + 1 < stops.len() {
            stops[k + 1]
        } else {
            (1.0, stops[0].1)
        };
        if t >= p0 && t <= p1 {
            let f = if p1 > p0 { (t - p0) / (p1 - p0) } else { 0.0 };
            let mix =
                |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
            return [mix(c0[0], c1[0]), mix(c0[1], c1[1]), mix(c0[2], c1[2])];
        }
    }
    stops[0].1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_is_black_and_outside_is_not() {
        assert_eq!(Palette::Classic.colour(1000, 1000), INSIDE);
        assert_ne!(Palette::Classic.colour(1, 1000), INSIDE);
        assert_eq!(gradient(&STOPS, 0.0), STOPS[0].1);
        assert_eq!(gradient(&STOPS, 0.42), STOPS[2].1);
        for p in [Palette::Fire, Palette::Grey] {
            assert_eq!(p.colour(7, 7), INSIDE);
            assert_ne!(p.colour(1, 7), INSIDE);
            assert_ne!(p.colour(5, 100), Palette::Classic.colour(5, 100));
        }
    }

    #[test]
    fn neighbouring_counts_get_neighbouring_colours() {
        for (p, n) in [Palette::Classic, Palette::Fire, Palette::Grey]
            .into_iter()
            .flat_map(|p| (1..5000u32).map(move |n| (p, n)))
        {
            let (a, b) = (p.colour(n, 10_000), p.colour(n + 1, 10_000));
            let step = (0..3)
                .map(|k| (i32::from(a[k]) - i32::from(b[k])).abs())
                .max()
                .unwrap();
            assert!(step <= 80, "counts {n} and {} jump by {step}", n + 1);
        }
    }
}
