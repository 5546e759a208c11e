//! The allocator the `presim` binary and the benchmarks run on: mimalloc,
//! told to keep the memory a run frees for the run's later allocations.
//!
//! A run frees and allocates all the time (every stanza copy, every held
//! presence replaced). mimalloc by default returns memory that stayed free
//! for a second to the OS, which hands it back later as fresh pages the
//! kernel must fault in and zero (mostly 2 MiB ones): the population
//! benchmark took 950–1,400 page faults, and takes about 285 when freed
//! memory is kept.
//!
//! [`MiMalloc`] calls mimalloc's plain `mi_malloc` and `mi_realloc` for
//! what needs no more than 8-byte alignment (every block mimalloc hands out
//! is aligned to a word), which is nearly everything a run allocates:
//! strings, vectors, boxes. The `mimalloc` crate's allocator asks for the
//! alignment on every call (`mi_malloc_aligned`), a longer path for the
//! same block.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as ffi;

/// The alignment of every block mimalloc returns: block sizes are whole
/// words and pages start at least 16-byte aligned (mimalloc's
/// `MI_PAGE_MIN_START_BLOCK_ALIGN`).
const WORD_ALIGNED: usize = 8;

/// mimalloc as the global allocator.
pub struct MiMalloc;

// SAFETY: each method forwards to the mimalloc function of the same
// contract; a layout aligned beyond a word goes to the aligned variants,
// and every block, however allocated, is freed by `mi_free`.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { new_block(layout, ffi::mi_malloc, ffi::mi_malloc_aligned) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { new_block(layout, ffi::mi_zalloc, ffi::mi_zalloc_aligned) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: see the impl.
        unsafe { ffi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD_ALIGNED {
                ffi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                ffi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

/// A block of `layout` from `plain` (word alignment) or from `aligned`
/// (the layout's alignment), whichever the layout needs.
///
/// # Safety
///
/// `plain` and `aligned` are mimalloc's allocation functions of those
/// signatures (`mi_malloc` and `mi_malloc_aligned`, or their zeroing
/// variants).
#[inline(always)]
unsafe fn new_block(
    layout: Layout,
    plain: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    // SAFETY: the caller passes mimalloc's functions, which take any size
    // and a power-of-two alignment (a `Layout`'s always is).
    unsafe {
        if layout.align() <= WORD_ALIGNED {
            plain(layout.size()).cast()
        } else {
            aligned(layout.size(), layout.align()).cast()
        }
    }
}

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

    /// Blocks of every small size and of alignments from 1 to 4096 come
    /// back aligned as asked, keep their bytes through a reallocation, and
    /// are zeroed when asked.
    #[test]
    fn blocks_are_aligned_as_asked() {
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in (1..=80).chain([1000, 70_000]) {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a layout of non-zero size; every block is written
                // within its size and freed once.
                unsafe {
                    let zeroed = MiMalloc.alloc_zeroed(layout);
                    assert_eq!(zeroed as usize % align, 0, "{size} {align}");
                    assert!(std::slice::from_raw_parts(zeroed, size)
                        .iter()
                        .all(|b| *b == 0));
                    MiMalloc.dealloc(zeroed, layout);
                    let p = MiMalloc.alloc(layout);
                    assert_eq!(p as usize % align, 0, "{size} {align}");
                    p.write_bytes(0xa5, size);
                    let q = MiMalloc.realloc(p, layout, size * 3);
                    assert_eq!(q as usize % align, 0, "{size} {align}");
                    assert!(std::slice::from_raw_parts(q, size)
                        .iter()
                        .all(|b| *b == 0xa5));
                    MiMalloc.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                }
            }
        }
    }
}
