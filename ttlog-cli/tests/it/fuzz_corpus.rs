//! Replays the corpora of the fuzz targets of `fuzz/` (seeds, plus any
//! input the fuzzer found and we fixed, under `fuzz/regressions/`) through
//! the same check, so a fixed crash stays fixed on every CI run
//! (docs/FUZZING.md).

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

#[test]
fn snapshot_engine_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let regressions = root.join("regressions/snapshot_engine");
    let crafted = crate::hostile::crafted();
    if std::env::var_os("TTLOG_FUZZ_REGRESSIONS").is_some() {
        std::fs::create_dir_all(&regressions).unwrap();
        for (name, bytes) in &crafted {
            std::fs::write(regressions.join(format!("{name}.bin")), bytes).unwrap();
        }
    }
    // The hostile files of issue 20 are there, as the helpers write them
    // now (after a format change: TTLOG_FUZZ_REGRESSIONS=1).
    for (name, bytes) in &crafted {
        let kept = std::fs::read(regressions.join(format!("{name}.bin")));
        assert!(kept.is_ok_and(|k| k == *bytes), "regressions/snapshot_engine/{name}.bin is missing or stale");
    }
    let (mut n, mut loaded) = (0, 0);
    for sub in ["corpus", "regressions"] {
        for entry in std::fs::read_dir(root.join(sub).join("snapshot_engine")).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| ttlog_cli::fuzz_snapshot(bytes));
            loaded += r.unwrap_or_else(|_| panic!("{} panicked", path.display()));
            n += 1;
        }
    }
    assert!(n >= 14, "the seeds and the regressions are there; found {n}");
    // The samples, the compressible file and the legacy one load.
    assert!(loaded > 262_144 + 20_000, "{loaded}");
}
