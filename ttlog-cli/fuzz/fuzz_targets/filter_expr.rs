//! Any text as a `--filter` expression (the language of `ttlog-view` and of
//! the TUI's filter box): `ttlog_cli::filter::fuzz_check` must hold.
//!
//! The parser (`src/filter/`) depends on nothing but `std`, `thiserror` and
//! `ttlog_core::text` (the escaping of its messages); compiling its files
//! here keeps polars, which the rest of `ttlog-cli` needs, out of this
//! target's build.
#![no_main]

// The re-exports of the syntax tree are unused here.
#[allow(dead_code, unused_imports)]
#[path = "../../src/filter/mod.rs"]
mod filter;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        filter::fuzz_check(text);
    }
});
