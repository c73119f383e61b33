//! A counting global allocator: the flat-memory tests measure the live
//! heap of their whole process while a long stream goes through, which no
//! safe API reports.
//!
//! A test binary installs it with
//! `#[global_allocator] static GLOBAL: CountingAlloc = CountingAlloc;` and
//! reads it through [`PeakWatch`]. The counters are process-wide, so a
//! binary that measures runs its measurements one at a time.
//!
//! This is the only `unsafe` code in sluice-core's tests: implementing
//! `GlobalAlloc` is an `unsafe impl` by definition.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting live bytes and their peak.
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged and returns its result unchanged, so `System` upholds
// the `GlobalAlloc` contract; the only addition is relaxed atomic counting,
// which neither allocates nor touches the returned memory.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Watches the peak live heap from the moment it is started.
#[derive(Debug)]
pub struct PeakWatch {
    base: usize,
}

impl PeakWatch {
    /// Starts watching: the peak is reset to the current live heap.
    ///
    /// Panics when [`CountingAlloc`] is not this binary's global allocator
    /// (nothing was ever counted), so a test that forgot to install it
    /// fails instead of measuring a peak of zero.
    pub fn start() -> Self {
        let base = LIVE.load(Ordering::Relaxed);
        assert!(
            base > 0,
            "CountingAlloc is not the #[global_allocator] of this test binary"
        );
        PEAK.store(base, Ordering::Relaxed);
        Self { base }
    }

    /// The highest live heap since [`PeakWatch::start`], above the live
    /// heap at that moment.
    pub fn peak_growth(&self) -> usize {
        PEAK.load(Ordering::Relaxed) - self.base
    }
}

/// The peak live-heap growth while `f` runs.
pub fn peak_growth(f: impl FnOnce()) -> usize {
    let watch = PeakWatch::start();
    f();
    watch.peak_growth()
}
