//! Replays the corpus of the `filter_expr` fuzz target (seeds, plus any
//! input the fuzzer found and we fixed, under `fuzz/regressions/`) through
//! the same check, so a fixed crash stays fixed on every CI run.

use std::path::Path;

#[test]
fn filter_expr_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for sub in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(sub).join("filter_expr")) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let r = std::panic::catch_unwind(|| ttlog_cli::filter::fuzz_check(text));
                assert!(r.is_ok(), "{} failed the check", path.display());
                n += 1;
            }
        }
    }
    assert!(n >= 10, "the seed corpus is there; found {n}");
}
