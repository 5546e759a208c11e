//! Software prefetch: asking memory for a cache line before it is read.
//!
//! A hint only: it reads nothing the program sees, cannot fault, and
//! changes no result. On targets without a prefetch instruction it does
//! nothing.

/// Asks for the cache line holding `*p`.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is part of SSE, which every x86_64 CPU has; it
    // is a hint that never faults and never reads into the program, for
    // any address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks for the first `lines` 64-byte cache lines from `*p`.
#[inline(always)]
pub fn prefetch_lines<T>(p: *const T, lines: usize) {
    let p = p.cast::<u8>();
    for line in 0..lines {
        prefetch(p.wrapping_add(line * 64));
    }
}

/// Asks for every cache line of the `bytes` bytes from `*p`, wherever
/// they start within a line.
#[inline(always)]
pub fn prefetch_bytes<T>(p: *const T, bytes: usize) {
    let p = p.cast::<u8>();
    for offset in (0..bytes).step_by(64) {
        prefetch(p.wrapping_add(offset));
    }
    if bytes > 0 {
        prefetch(p.wrapping_add(bytes - 1));
    }
}
