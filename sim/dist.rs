//! Distributions of durations (latency, session length, MTBF, ...), sampled
//! in integer microseconds.
//!
//! Samples are rounded to the nearest microsecond and never negative: a
//! normal latency that draws below zero is zero.
//!
//! The same seed must give the same samples on every machine (DESIGN.md,
//! determinism rules), and the standard library's `ln`, `exp` and `powf`
//! call the platform's C math library, whose last bits differ between
//! systems. So every transcendental function here is the `libm` crate's
//! (a pure-Rust port of musl's), and the samplers are written out: uniform
//! deviates from the top 53 bits of a 64-bit draw, normal deviates by the
//! ziggurat method, exponential and Pareto ones by inversion.
//! Apart from those functions, only IEEE 754 arithmetic and `sqrt`, which
//! is exact on every platform, touch the values.

use crate::rng::{Rng, Stream};

/// A distribution over non-negative durations in microseconds.
#[derive(Debug, Clone)]
pub enum Dist {
    Constant(u64),
    Uniform {
        min: u64,
        max: u64,
    },
    /// Mean and standard deviation.
    Normal {
        mean: f64,
        sd: f64,
    },
    /// The mean and standard deviation of the logarithm.
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    /// Scale (the minimum) and −1/shape, the exponent applied to a uniform
    /// deviate in (0, 1].
    Pareto {
        scale: f64,
        exponent: f64,
    },
    Exponential {
        mean: f64,
    },
}

impl Dist {
    /// Whether every draw is 0 µs. Such a distribution cannot space events
    /// that repeat: they would repeat forever at one instant.
    pub fn always_zero(&self) -> bool {
        match *self {
            Dist::Constant(v) => v == 0,
            Dist::Uniform { max, .. } => max == 0,
            Dist::Normal { mean, sd } => mean <= 0.0 && sd == 0.0,
            Dist::LogNormal { .. } | Dist::Pareto { .. } | Dist::Exponential { .. } => false,
        }
    }

    /// Uniform over `[min, max]`; `min <= max` is checked by the caller.
    pub fn uniform(min: u64, max: u64) -> Dist {
        Dist::Uniform { min, max }
    }

    /// Normal with the given mean and standard deviation (µs).
    pub fn normal(mean: u64, sd: u64) -> Dist {
        Dist::Normal {
            mean: mean as f64,
            sd: sd as f64,
        }
    }

    /// Log-normal with the given median (µs) and shape σ (of the log).
    pub fn log_normal(median: u64, sigma: f64) -> Result<Dist, String> {
        if median == 0 {
            return Err("the median of a log-normal must be positive".into());
        }
        if !(sigma.is_finite() && sigma >= 0.0) {
            return Err(format!("sigma {sigma} must be finite and non-negative"));
        }
        Ok(Dist::LogNormal {
            mu: libm::log(median as f64),
            sigma,
        })
    }

    /// Pareto with scale x_m (µs, the minimum) and shape α.
    pub fn pareto(scale: u64, shape: f64) -> Result<Dist, String> {
        if scale == 0 {
            return Err("the scale of a Pareto must be positive".into());
        }
        if !(shape.is_finite() && shape > 0.0) {
            return Err(format!("shape {shape} must be finite and positive"));
        }
        Ok(Dist::Pareto {
            scale: scale as f64,
            exponent: -1.0 / shape,
        })
    }

    /// Exponential with the given mean (µs): the gaps of a Poisson process.
    pub fn exponential(mean: u64) -> Result<Dist, String> {
        if mean == 0 {
            return Err("the mean of an exponential must be positive".into());
        }
        Ok(Dist::Exponential { mean: mean as f64 })
    }

    /// One sample, in microseconds.
    #[inline]
    pub fn sample(&self, rng: &mut Stream) -> u64 {
        match *self {
            Dist::Constant(v) => v,
            Dist::Uniform { min, max } => rng.random_range(min..=max),
            Dist::Normal { mean, sd } => to_micros(mean + sd * standard_normal(rng)),
            Dist::LogNormal { mu, sigma } => {
                to_micros(libm::exp(mu + sigma * standard_normal(rng)))
            }
            Dist::Pareto { scale, exponent } => {
                to_micros(scale * libm::pow(unit_open_closed(rng), exponent))
            }
            Dist::Exponential { mean } => to_micros(-mean * libm::log(unit_open_closed(rng))),
        }
    }
}

/// A uniform deviate in [0, 1): the top 53 bits of a draw, scaled exactly.
#[inline]
fn unit(rng: &mut Stream) -> f64 {
    (rng.random::<u64>() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform deviate in (0, 1], whose logarithm is finite.
#[inline]
fn unit_open_closed(rng: &mut Stream) -> f64 {
    1.0 - unit(rng)
}

/// A standard normal deviate by the ziggurat method of Marsaglia and Tsang
/// (2000), 256 layers: one 64-bit draw almost always (the low 8 bits pick
/// a layer, the top 53 a position in it); the rare draws outside a layer's
/// core are settled with the density, and the ones in the tail beyond R
/// by Marsaglia's tail algorithm.
#[inline]
fn standard_normal(rng: &mut Stream) -> f64 {
    let z = ziggurat();
    loop {
        let bits: u64 = rng.random();
        let i = (bits & 0xff) as usize;
        let u = 2.0 * ((bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) - 1.0;
        let x = u * z.x[i];
        if x.abs() < z.x[i + 1] {
            return x;
        }
        if i == 0 {
            return normal_tail(rng, u < 0.0);
        }
        if z.f[i + 1] + (z.f[i] - z.f[i + 1]) * unit(rng) < density(x) {
            return x;
        }
    }
}

/// Where the base layer's tail starts, and the area of each layer
/// (Marsaglia and Tsang's constants for 256 layers).
const ZIGGURAT_R: f64 = 3.654_152_885_361_009;
const ZIGGURAT_V: f64 = 0.004_928_673_233_99;

/// The layers: `x[i]` the right edge of layer i (`x[0]` the base's
/// equivalent width, `x[256] = 0`), `f[i]` the density there.
struct Ziggurat {
    x: [f64; 257],
    f: [f64; 257],
}

/// The layers, computed once with `libm`, the same on every machine.
fn ziggurat() -> &'static Ziggurat {
    static LAYERS: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    LAYERS.get_or_init(|| {
        let mut x = [0.0; 257];
        x[0] = ZIGGURAT_V / density(ZIGGURAT_R);
        x[1] = ZIGGURAT_R;
        for i in 2..256 {
            x[i] = (-2.0 * libm::log(ZIGGURAT_V / x[i - 1] + density(x[i - 1]))).sqrt();
        }
        Ziggurat {
            x,
            f: x.map(density),
        }
    })
}

/// The unnormalised standard normal density, e^(−x²/2).
#[inline]
fn density(x: f64) -> f64 {
    libm::exp(-x * x / 2.0)
}

/// A deviate beyond ±R (Marsaglia 1964).
fn normal_tail(rng: &mut Stream, negative: bool) -> f64 {
    loop {
        let x = libm::log(unit_open_closed(rng)) / ZIGGURAT_R;
        let y = libm::log(unit_open_closed(rng));
        if -2.0 * y >= x * x {
            return if negative {
                x - ZIGGURAT_R
            } else {
                ZIGGURAT_R - x
            };
        }
    }
}

/// Rounds to whole microseconds, clamped to `[0, 10^15]` (about 31 years).
fn to_micros(x: f64) -> u64 {
    const MAX: u64 = 1_000_000_000_000_000;
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= MAX as f64 {
        MAX
    } else {
        // What `x.round()` gives (halves away from zero), without the call
        // to the C library's `round` that it compiles to: below 2^52 the
        // whole part converts exactly, and `x` less it is exact.
        let whole = x as u64;
        whole + u64::from(x - whole as f64 >= 0.5)
    }
}

#[cfg(test)]
mod tests {

    /// Only a distribution that cannot draw above 0 µs is always zero.
    #[test]
    fn always_zero_is_only_a_distribution_with_nothing_above_zero() {
        for (dist, zero) in [
            (Dist::Constant(0), true),
            (Dist::Constant(1), false),
            (Dist::uniform(0, 0), true),
            (Dist::uniform(0, 1), false),
            (Dist::normal(0, 0), true),
            (Dist::normal(0, 1), false),
            (Dist::normal(1, 0), false),
            (Dist::exponential(1).unwrap(), false),
            (Dist::log_normal(1, 0.0).unwrap(), false),
            (Dist::pareto(1, 2.0).unwrap(), false),
        ] {
            assert_eq!(dist.always_zero(), zero, "{dist:?}");
        }
    }
    use super::*;

    /// Rounding to microseconds answers as `round` then the clamp did,
    /// at every half, just below and above each, and at the ends.
    #[test]
    fn micros_round_halves_away_from_zero() {
        let reference = |x: f64| {
            if x.is_nan() || x <= 0.0 {
                0
            } else {
                x.round().min(1e15) as u64
            }
        };
        let mut values = vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.5,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            0.49999999999999994,
            0.5,
            1e15 - 0.5,
            1e15 - 0.25,
            1e15,
            1e15 + 1.0,
            4503599627370495.5,
            4503599627370496.0,
            1e300,
        ];
        for n in [
            0u64,
            1,
            2,
            7,
            19_999,
            20_000,
            123_456_789,
            999_999_999_999_998,
        ] {
            let half = n as f64 + 0.5;
            values.extend([
                half,
                f64::from_bits(half.to_bits() - 1),
                f64::from_bits(half.to_bits() + 1),
            ]);
        }
        let mut x = 0.001;
        while x < 2e15 {
            values.push(x);
            x *= 1.37;
        }
        for x in values {
            assert_eq!(to_micros(x), reference(x), "{x:e}");
        }
    }
    use crate::rng::stream;

    const GOLDEN_NORMAL: [u64; 4] = [33246, 25889, 36771, 43945];
    const GOLDEN_LOG_NORMAL: [u64; 4] = [10179, 4878, 14482, 29673];
    const GOLDEN_PARETO: [u64; 4] = [1006, 1105, 1371, 7545];
    const GOLDEN_NORMAL_BITS: [u64; 3] = [
        13832134416398832007,
        13836909386119855931,
        13827363231577109384,
    ];
    const GOLDEN_UNIT_BITS: [u64; 4] = [
        4587114834205933520,
        13837380322850602237,
        4607405060086805993,
        4620180742550922460,
    ];
    const GOLDEN_EXPONENTIAL: [u64; 4] = [515660, 8992221, 28429912, 181877638];

    fn mean_of(d: &Dist, n: usize) -> f64 {
        let mut rng = stream(1, "test");
        (0..n).map(|_| d.sample(&mut rng) as f64).sum::<f64>() / n as f64
    }

    #[test]
    fn constant_and_uniform() {
        let mut rng = stream(1, "t");
        assert_eq!(Dist::Constant(42).sample(&mut rng), 42);
        let u = Dist::uniform(10, 20);
        for _ in 0..1000 {
            let x = u.sample(&mut rng);
            assert!((10..=20).contains(&x));
        }
    }

    #[test]
    fn means_are_right() {
        let m = mean_of(&Dist::normal(40_000, 5_000), 20_000);
        assert!((m - 40_000.0).abs() < 200.0, "{m}");
        let m = mean_of(&Dist::exponential(1_000_000).unwrap(), 20_000);
        assert!((m - 1_000_000.0).abs() < 30_000.0, "{m}");
        // Log-normal mean = median * exp(σ²/2).
        let m = mean_of(&Dist::log_normal(40_000, 0.5).unwrap(), 50_000);
        let expected = 40_000.0 * (0.125f64).exp();
        assert!((m - expected).abs() / expected < 0.02, "{m} vs {expected}");
        // Pareto mean = α x_m / (α − 1).
        let m = mean_of(&Dist::pareto(10_000, 3.0).unwrap(), 50_000);
        assert!((m - 15_000.0).abs() / 15_000.0 < 0.03, "{m}");
    }

    /// The shape, not only the mean: the share of normal samples within
    /// one and two standard deviations, the log-normal's median, the
    /// Pareto's minimum and its tail, the exponential's median (ln 2 × the
    /// mean).
    #[test]
    fn shapes_are_right() {
        let n = 100_000;
        let mut rng = stream(5, "shape");
        let d = Dist::normal(1_000_000, 100_000);
        let xs: Vec<u64> = (0..n).map(|_| d.sample(&mut rng)).collect();
        let within = |k: u64| {
            let lo = 1_000_000 - k * 100_000;
            let hi = 1_000_000 + k * 100_000;
            xs.iter().filter(|&&x| (lo..=hi).contains(&x)).count() as f64 / n as f64
        };
        assert!((within(1) - 0.6827).abs() < 0.006, "{}", within(1));
        assert!((within(2) - 0.9545).abs() < 0.003, "{}", within(2));

        let median = |d: &Dist, rng: &mut Stream| {
            let mut xs: Vec<u64> = (0..n).map(|_| d.sample(rng)).collect();
            xs.sort_unstable();
            xs[n / 2] as f64
        };
        let m = median(&Dist::log_normal(40_000, 1.0).unwrap(), &mut rng);
        assert!((m - 40_000.0).abs() / 40_000.0 < 0.02, "{m}");
        let m = median(&Dist::exponential(1_000_000).unwrap(), &mut rng);
        let expected = 1_000_000.0 * std::f64::consts::LN_2;
        assert!((m - expected).abs() / expected < 0.02, "{m} vs {expected}");

        // P(X > 2 x_m) = 2^−α.
        let p = Dist::pareto(10_000, 2.0).unwrap();
        let xs: Vec<u64> = (0..n).map(|_| p.sample(&mut rng)).collect();
        assert!(xs.iter().all(|&x| x >= 10_000));
        let tail = xs.iter().filter(|&&x| x > 20_000).count() as f64 / n as f64;
        assert!((tail - 0.25).abs() < 0.006, "{tail}");
    }

    /// The first samples of each distribution under a fixed stream, exact:
    /// a run's digest depends on them, on every machine (see the module's
    /// documentation). A change here changes every digest.
    #[test]
    fn fixed_samples_on_every_machine() {
        let draw = |d: &Dist| {
            let mut rng = stream(1, "fixed");
            (0..4).map(|_| d.sample(&mut rng)).collect::<Vec<u64>>()
        };
        assert_eq!(draw(&Dist::normal(40_000, 5_000)), GOLDEN_NORMAL);
        assert_eq!(
            draw(&Dist::log_normal(20_000, 0.5).unwrap()),
            GOLDEN_LOG_NORMAL
        );
        assert_eq!(draw(&Dist::pareto(1_000, 1.5).unwrap()), GOLDEN_PARETO);
        assert_eq!(
            draw(&Dist::exponential(60_000_000).unwrap()),
            GOLDEN_EXPONENTIAL
        );
    }

    /// The standard normal itself, tails included: its moments, and the
    /// share beyond the ziggurat's base layer (|z| > R, 2.58 × 10⁻⁴),
    /// which only the tail algorithm produces, and beyond 3.
    #[test]
    fn standard_normal_moments_and_tails() {
        let n = 2_000_000;
        let mut rng = stream(9, "normal");
        let zs: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = zs.iter().sum::<f64>() / n as f64;
        let var = zs.iter().map(|z| (z - mean) * (z - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.003, "{mean}");
        assert!((var - 1.0).abs() < 0.004, "{var}");
        let beyond = |t: f64| zs.iter().filter(|z| z.abs() > t).count() as f64 / n as f64;
        assert!((beyond(3.0) - 0.002_70).abs() < 0.000_15, "{}", beyond(3.0));
        assert!(
            (beyond(ZIGGURAT_R) - 0.000_258).abs() < 0.000_05,
            "{}",
            beyond(ZIGGURAT_R)
        );
        let positive = zs.iter().filter(|&&z| z > ZIGGURAT_R).count();
        let negative = zs.iter().filter(|&&z| z < -ZIGGURAT_R).count();
        assert!(positive.abs_diff(negative) < 100, "{positive} {negative}");
    }

    /// Below the rounding to microseconds: the bits of the first deviates
    /// and of the math functions on them, exact.
    #[test]
    fn fixed_deviate_bits_on_every_machine() {
        let mut rng = stream(1, "fixed");
        let z: Vec<u64> = (0..3)
            .map(|_| standard_normal(&mut rng).to_bits())
            .collect();
        assert_eq!(z, GOLDEN_NORMAL_BITS);
        let u = unit_open_closed(&mut rng);
        let bits = [u, libm::log(u), libm::exp(u), libm::pow(u, -1.0 / 1.5)].map(f64::to_bits);
        assert_eq!(bits, GOLDEN_UNIT_BITS);
    }

    #[test]
    fn never_negative() {
        let d = Dist::normal(10, 1_000);
        let mut rng = stream(3, "t");
        assert!((0..1000).any(|_| d.sample(&mut rng) == 0));
    }

    #[test]
    fn invalid_parameters() {
        assert!(Dist::log_normal(0, 1.0).is_err());
        assert!(Dist::log_normal(10, -1.0).is_err());
        assert!(Dist::pareto(10, 0.0).is_err());
        assert!(Dist::exponential(0).is_err());
    }
}
