//! The process's allocator, jemalloc, and what the server asks of it: the bytes it has handed
//! out (the heap gauge on `/metrics`) and giving free pages back to the operating system
//! after thousands of idle actors (and their limiter and key-cache entries) are dropped,
//! which would otherwise keep the process at its high-water mark until jemalloc's own decay
//! returned them. jemalloc rather than the C library's allocator: the hot reads allocate per
//! row, and it costs them 6–8 % less CPU (docs/PERFORMANCE.md, "jemalloc, and list
//! statements written once per shape").

#[cfg(unix)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Gives the free pages of every arena back to the operating system.
pub fn release_free_memory() {
    #[cfg(unix)]
    // SAFETY: `arena.<MALLCTL_ARENAS_ALL>.purge` reads and writes nothing (null old and new
    // values, as jemalloc requires of it) and only returns pages jemalloc holds as free.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// Bytes the allocator has handed out and not yet had back (jemalloc's `stats.allocated`,
/// refreshed by advancing its statistics epoch; `None` where jemalloc is not the allocator).
/// Unlike the resident set, this does not depend on which freed pages were reused or given
/// back.
pub fn heap_in_use_bytes() -> Option<u64> {
    #[cfg(unix)]
    {
        tikv_jemalloc_ctl::epoch::advance().ok()?;
        tikv_jemalloc_ctl::stats::allocated::read()
            .ok()
            .map(|bytes| bytes as u64)
    }
    #[cfg(not(unix))]
    None
}

/// Decides when trimming is worth it: when fewer actors are live than at the last look.
#[derive(Debug, Default)]
pub struct TrimAfterShrink {
    last_live: usize,
}

impl TrimAfterShrink {
    /// Records the live actor count; true when it went down since the last call.
    pub fn shrank(&mut self, live: usize) -> bool {
        let shrank = live < self.last_live;
        self.last_live = live;
        shrank
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_after_actors_went_away() {
        let mut trim = TrimAfterShrink::default();
        assert!(!trim.shrank(0));
        assert!(!trim.shrank(1_000), "growing");
        assert!(!trim.shrank(1_000), "steady");
        assert!(trim.shrank(10), "actors stopped");
        assert!(!trim.shrank(10));
        release_free_memory();
    }

    #[cfg(unix)]
    #[test]
    fn the_heap_in_use_counts_a_live_allocation() {
        // Other tests allocate and free meanwhile: only the live block is certain.
        let block = vec![1u8; 1 << 20];
        let during = heap_in_use_bytes().expect("jemalloc");
        assert!(during >= 1 << 20, "{during}");
        drop(std::hint::black_box(block));
    }
}
