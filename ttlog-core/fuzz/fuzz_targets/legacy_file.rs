//! The fuzzer's bytes as the CBOR inside a file of the original `ttlog` 0.1
//! crate (LZ4 block with a size prefix), so mutations reach the legacy CBOR
//! decoder.
#![no_main]

// The reader's memory limit (what `ttlog-view --memory-limit` sets), below
// `-malloc_limit_mb=1024` (docs/FUZZING.md): an allocation past it is then a
// finding.
libfuzzer_sys::fuzz_target!(
    init: ttlog_core::memory::set_limit(Some(512 << 20)),
    |data: &[u8]| {
        ttlog_core::fuzz::read_all(ttlog_core::fuzz::frame_legacy(data));
    }
);
