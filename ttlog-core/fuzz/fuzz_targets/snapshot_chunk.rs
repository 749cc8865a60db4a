//! The fuzzer's bytes as the decompressed CBOR of one chunk, framed with
//! valid lengths and CRCs behind the header of `testdata/normal.bin`, so that mutations reach the
//! column decoder instead of failing the CRC check.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    const TEMPLATE: &[u8] = include_bytes!("../../../testdata/normal.bin");
    ttlog_core::fuzz::read_all(ttlog_core::fuzz::frame_chunk(TEMPLATE, data));
});
