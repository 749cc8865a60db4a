//! The engine's only unsafe code: one call into the C library.
//!
//! glibc's allocator keeps memory that a question freed. Decoding chunks
//! in parallel frees many large buffers, and after the first such free
//! glibc raises its mmap threshold, so later buffers come from its arenas
//! and stay there when freed: at fleet scale the viewer grew from 11 to 39
//! bytes per event after a few filters, with nothing live in that memory.
//! [`release_free_memory`] hands the free pages of every arena back to the
//! system once a load or a filter is done, which keeps the hot loops on
//! glibc's fast paths (a process-wide trim threshold, or mimalloc, made the
//! filters 30 % and 150 % slower on the same events).

/// Returns the allocator's free memory to the system (glibc's
/// `malloc_trim`); nothing on other C libraries, which give memory back by
/// themselves or offer no such call.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointer and touches only the
    // allocator's own state, under the allocator's locks; it is safe to
    // call from any thread at any time (glibc documents it MT-Safe). The
    // argument 0 asks it to keep no padding at the top of the heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_freed_before_the_call_is_still_usable_after_it() {
        // The call releases free pages only: live allocations keep their
        // contents, and the allocator keeps serving new ones.
        let live: Vec<u64> = (0..1_000_000).collect();
        drop((0..64).map(|i| vec![i as u8; 1 << 20]).collect::<Vec<_>>());
        super::release_free_memory();
        assert_eq!(live.iter().sum::<u64>(), 999_999 * 1_000_000 / 2);
        let again = vec![7u8; 8 << 20];
        assert!(again.iter().all(|&b| b == 7));
    }
}
