//! Any bytes as a snapshot file, end to end: the reader, then the engine
//! (`ttlog_cli::fuzz_snapshot`: every event loaded into a frame, stats, a
//! group-by over time buckets and targets with a p99, and every event
//! streamed as CSV). It must never panic, hang or allocate from a count the
//! file declares.
//!
//! The process-wide memory limit is set at 512 MiB, the figure the
//! engines check their large structures against before building them
//! (`ttlog_cli::memory`): run with `-rss_limit_mb=2048 -malloc_limit_mb=1024`
//! so that anything allocated past it, or one allocation of more than 1 GiB
//! (a reservation from a declared count), is a finding. See
//! docs/FUZZING.md.
#![no_main]

/// The memory limit the engines work within while fuzzed: half of
/// `-malloc_limit_mb`, a quarter of `-rss_limit_mb`.
const MEMORY_LIMIT: u64 = 512 << 20;

libfuzzer_sys::fuzz_target!(
    init: ttlog_core::memory::set_limit(Some(MEMORY_LIMIT)),
    |data: &[u8]| {
        ttlog_cli::fuzz_snapshot(data.to_vec());
    }
);
