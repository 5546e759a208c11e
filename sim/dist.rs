//! Distributions of durations (latency, session length, MTBF, ...), sampled
//! in integer microseconds.
//!
//! Samples are rounded to the nearest microsecond and never negative: a
//! normal latency that draws below zero is zero.

use rand_distr::{Distribution, Exp, LogNormal, Normal, Pareto};

use crate::rng::{Rng, Stream};

/// A distribution over non-negative durations in microseconds.
#[derive(Debug, Clone)]
pub enum Dist {
    Constant(u64),
    Uniform { min: u64, max: u64 },
    Normal(Normal<f64>),
    LogNormal(LogNormal<f64>),
    Pareto(Pareto<f64>),
    Exponential(Exp<f64>),
}

impl Dist {
    /// Uniform over `[min, max]`; `min <= max` is checked by the caller.
    pub fn uniform(min: u64, max: u64) -> Dist {
        Dist::Uniform { min, max }
    }

    /// Normal with the given mean and standard deviation (µs).
    pub fn normal(mean: u64, sd: u64) -> Dist {
        Dist::Normal(Normal::new(mean as f64, sd as f64).expect("finite, non-negative sd"))
    }

    /// Log-normal with the given median (µs) and shape σ (of the log).
    pub fn log_normal(median: u64, sigma: f64) -> Result<Dist, String> {
        if median == 0 {
            return Err("the median of a log-normal must be positive".into());
        }
        if !(sigma.is_finite() && sigma >= 0.0) {
            return Err(format!("sigma {sigma} must be finite and non-negative"));
        }
        LogNormal::new((median as f64).ln(), sigma)
            .map(Dist::LogNormal)
            .map_err(|_| format!("sigma {sigma} must be finite and non-negative"))
    }

    /// Pareto with scale x_m (µs, the minimum) and shape α.
    pub fn pareto(scale: u64, shape: f64) -> Result<Dist, String> {
        if scale == 0 {
            return Err("the scale of a Pareto must be positive".into());
        }
        Pareto::new(scale as f64, shape)
            .map(Dist::Pareto)
            .map_err(|_| format!("shape {shape} must be finite and positive"))
    }

    /// Exponential with the given mean (µs): the gaps of a Poisson process.
    pub fn exponential(mean: u64) -> Result<Dist, String> {
        if mean == 0 {
            return Err("the mean of an exponential must be positive".into());
        }
        Ok(Dist::Exponential(
            Exp::new(1.0 / mean as f64).expect("positive rate"),
        ))
    }

    /// One sample, in microseconds.
    #[inline]
    pub fn sample(&self, rng: &mut Stream) -> u64 {
        match self {
            Dist::Constant(v) => *v,
            Dist::Uniform { min, max } => rng.random_range(*min..=*max),
            Dist::Normal(d) => to_micros(d.sample(rng)),
            Dist::LogNormal(d) => to_micros(d.sample(rng)),
            Dist::Pareto(d) => to_micros(d.sample(rng)),
            Dist::Exponential(d) => to_micros(d.sample(rng)),
        }
    }
}

/// Rounds to whole microseconds, clamped to `[0, 10^15]` (about 31 years).
fn to_micros(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else {
        x.round().min(1e15) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

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
