//! Any text as a `--filter` expression (the language of `ttlog-view` and of
//! the TUI's filter box): `ttlog_cli::filter::fuzz_check` must hold.
//!
//! The parser (`src/filter/`, with the escaping of `src/text.rs` it uses
//! for messages) depends on nothing but `std` and `thiserror`; compiling
//! those files here keeps polars, which the rest of `ttlog-cli` needs,
//! out of the fuzzer's build.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/text.rs"]
mod text;

// The re-exports of the syntax tree are unused here.
#[allow(dead_code, unused_imports)]
#[path = "../../src/filter/mod.rs"]
mod filter;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        filter::fuzz_check(text);
    }
});
