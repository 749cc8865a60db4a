//! The fuzzer's bytes as the CBOR inside a file of the original `ttlog` 0.1
//! crate (LZ4 block with a size prefix), so mutations reach the legacy CBOR
//! decoder.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ttlog_core::fuzz::read_all(ttlog_core::fuzz::frame_legacy(data));
});
