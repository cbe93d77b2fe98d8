//! Gives the memory of stopped tenant actors back to the operating system. glibc keeps freed
//! pages in its arenas for reuse, so after thousands of idle actors (and their limiter and
//! key-cache entries) are dropped the process would stay at its high-water mark.
//! `malloc_trim` returns the free pages of every arena (glibc ≥ 2.8).

/// Releases free heap pages to the operating system (a no-op off glibc).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns pages that the allocator holds as free; it takes the
    // allocator's own locks and has no preconditions on the caller.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes the allocator has handed out and not yet had back, over all its arenas and its
/// directly mapped blocks (`None` off glibc). Unlike the resident set, this does not depend
/// on which freed pages were reused or given back.
pub fn heap_in_use_bytes() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 (glibc ≥ 2.33) only reads the allocator's statistics under its
        // own locks and has no preconditions on the caller.
        let info = unsafe { libc::mallinfo2() };
        Some((info.uordblks + info.hblkhd) as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
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

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_heap_in_use_counts_a_live_allocation() {
        // Other tests allocate and free meanwhile: only the live block is certain.
        let block = vec![1u8; 1 << 20];
        let during = heap_in_use_bytes().expect("glibc");
        assert!(during >= 1 << 20, "{during}");
        drop(std::hint::black_box(block));
    }
}
