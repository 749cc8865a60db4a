//! Any bytes as a snapshot file: opening, decoding every chunk and every
//! event must never panic, hang or allocate without bound.
#![no_main]

// The reader's memory limit (what `ttlog-view --memory-limit` sets), below
// `-malloc_limit_mb=1024` (docs/FUZZING.md): an allocation past it is then a
// finding.
libfuzzer_sys::fuzz_target!(
    init: ttlog_core::memory::set_limit(Some(512 << 20)),
    |data: &[u8]| {
        ttlog_core::fuzz::read_all(data.to_vec());
    }
);
