//! Any bytes as the files of a persistent-rings directory (`process.cbor`,
//! `callsites`, ring files; packed by `pack_rings`): recovering them must
//! never panic, hang or allocate without bound, and the snapshot made of
//! the result must hold every recovered event.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ttlog_core::fuzz::recover_packed(data);
});
