//! The sandbox helper as a C library, loaded once by the Python fork server
//! (`crates/local/src/fork_server`), whose interpreter then stays in
//! [`e2b_fork_server_serve`]: every process it forks there becomes one
//! pooled sandbox's helper, with the code `e2b-sandbox` runs, and that
//! sandbox's program returns into the interpreter (through `program`),
//! confined, instead of exec'ing a new one.

/// Serves fork requests on `control` until the host closes it; returns once
/// every helper forked has ended. In each sandbox's program it calls
/// `program` instead, which never returns.
#[cfg(target_os = "linux")]
#[no_mangle]
pub extern "C" fn e2b_fork_server_serve(
    control: i32,
    program: e2b_native_local::sandbox::ForkedProgram,
) -> i32 {
    e2b_native_local::sandbox::serve_forks(control, program, region::release)
}

/// The library's allocations (the helper's and init's, in each sandbox)
/// come from a region of their own rather than from the interpreter's heap:
/// a forked process that writes into the heap it shares with the server
/// makes the kernel copy every page it touches (a third of a sandbox's cost
/// was such copies), while fresh pages are only zero-filled. Nothing is
/// given back: a helper lives for one sandbox, the server allocates a few
/// bytes per fork and is retired after `FORKS_PER_SERVER` of them.
#[cfg(target_os = "linux")]
mod region {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Reserved, not committed: counted only in the address space.
    const SIZE: usize = 256 << 20;

    struct Region {
        base: AtomicUsize,
        used: AtomicUsize,
    }

    #[global_allocator]
    static REGION: Region = Region {
        base: AtomicUsize::new(0),
        used: AtomicUsize::new(0),
    };

    impl Region {
        /// The region's start, mapped on first use (reserved, not committed).
        fn base(&self) -> Option<usize> {
            match self.base.load(Ordering::Acquire) {
                0 => {
                    // SAFETY: a fresh private anonymous mapping; pages are
                    // committed only as they are touched.
                    let mapped = unsafe {
                        libc::mmap(
                            std::ptr::null_mut(),
                            SIZE,
                            libc::PROT_READ | libc::PROT_WRITE,
                            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                            -1,
                            0,
                        )
                    };
                    if mapped == libc::MAP_FAILED {
                        return None;
                    }
                    match self.base.compare_exchange(
                        0,
                        mapped as usize,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => Some(mapped as usize),
                        Err(other) => {
                            // SAFETY: the mapping just made, which lost the race.
                            unsafe { libc::munmap(mapped, SIZE) };
                            Some(other)
                        }
                    }
                }
                base => Some(base),
            }
        }

        fn contains(&self, ptr: *mut u8) -> bool {
            let base = self.base.load(Ordering::Acquire);
            base != 0 && (base..base + SIZE).contains(&(ptr as usize))
        }
    }

    /// Unmaps the region: in a sandbox's program, which allocates nothing
    /// more here and whose address space limit (RLIMIT_AS) it would count
    /// against. Every block in it is gone with it.
    pub(super) extern "C" fn release() {
        let base = REGION.base.swap(0, Ordering::AcqRel);
        if base != 0 {
            // SAFETY: the region's mapping; no block of it is used again
            // (the program never returns into the code that allocated).
            unsafe { libc::munmap(base as *mut libc::c_void, SIZE) };
        }
    }

    // SAFETY: every block handed out is aligned as asked, within the
    // region, and never handed out twice; blocks from elsewhere go back to
    // the system allocator.
    unsafe impl GlobalAlloc for Region {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if let Some(base) = self.base() {
                let mut used = self.used.load(Ordering::Relaxed);
                loop {
                    let start = (base + used).next_multiple_of(layout.align()) - base;
                    let end = start + layout.size();
                    if end > SIZE {
                        break;
                    }
                    match self.used.compare_exchange_weak(
                        used,
                        end,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return (base + start) as *mut u8,
                        Err(now) => used = now,
                    }
                }
            }
            // SAFETY: the caller's layout, passed on.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if !self.contains(ptr) {
                // SAFETY: a block the system allocator gave, with its layout.
                unsafe { System.dealloc(ptr, layout) }
            }
        }
    }
}
