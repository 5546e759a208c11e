//! The proptest configuration of the property tests: a fixed seed, so that
//! every run of the suite tries the same cases; PROPTEST_RNG_SEED names
//! another to explore.

use proptest::prelude::ProptestConfig;
use proptest::test_runner::RngSeed;

/// `cases` cases drawn from PROPTEST_RNG_SEED, or from `seed` without it.
pub fn fixed_seed(cases: u32, seed: u64) -> ProptestConfig {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(seed);
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    }
}
