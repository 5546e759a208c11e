//! The allocator the `presim` binary and the benchmarks run on: mimalloc,
//! told to keep the memory a run frees for the run's later allocations.
//!
//! A run frees and allocates all the time (every stanza copy, every held
//! presence replaced). mimalloc by default returns memory that stayed free
//! for a second to the OS, which hands it back later as fresh pages the
//! kernel must fault in and zero (mostly 2 MiB ones): the population
//! benchmark took 950–1,400 page faults, and takes about 285 when freed
//! memory is kept.

pub use mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (mimalloc.h); the
/// sys crate does not name it.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory in the process until it exits. Call it first thing
/// in `main`; nothing a run computes depends on it.
pub fn keep_freed_memory() {
    // SAFETY: sets one of mimalloc's integer options; -1 is a documented
    // value of this one ("no purging at all"). Options are plain integers
    // read on each purge decision, so setting one at any time is sound.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option index names the purge delay: its default is mimalloc's
    /// 1,000 ms (the only option with that default), and setting it sticks.
    #[test]
    fn purge_delay_is_the_option_set() {
        // SAFETY: reads an integer option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(), 1000);
        }
        keep_freed_memory();
        assert_eq!(get(), -1);
    }
}
