//! Any bytes as a snapshot file: opening, decoding every chunk and every
//! event must never panic, hang or allocate without bound.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ttlog_core::fuzz::read_all(data.to_vec());
});
