//! A counting global allocator for the benchmarks: live heap bytes and
//! their peak, over mimalloc (the allocator of the `presim` binary; the
//! benchmarks also call `presim::allocator::keep_freed_memory` as it does).
//!
//! The counts are the calling thread's: a run is single-threaded, and
//! counting in thread-local cells costs an addition and a comparison per
//! call, where shared atomic counters would put two locked instructions
//! (each a full memory barrier) on every allocation and free of the runs
//! being timed.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

use presim::allocator::MiMalloc;

pub struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Heap bytes this thread allocated and has not yet freed.
pub fn live() -> isize {
    LIVE.with(Cell::get)
}

/// The peak of [`live`] since the last [`reset_peak`].
pub fn peak() -> isize {
    PEAK.with(Cell::get)
}

/// Starts a new peak from the current live bytes.
pub fn reset_peak() {
    PEAK.with(|peak| peak.set(live()));
}

fn grow(delta: isize) {
    let now = live() + delta;
    LIVE.with(|live| live.set(now));
    PEAK.with(|peak| peak.set(peak.get().max(now)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size() as isize);
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|live| live.set(live.get() - layout.size() as isize));
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(new_size as isize - layout.size() as isize);
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}
