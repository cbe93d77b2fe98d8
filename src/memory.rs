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
}
