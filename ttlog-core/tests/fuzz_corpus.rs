//! Replays every input of the fuzz targets' corpora (seeds, plus anything
//! the fuzzers found and we fixed, kept under `fuzz/regressions/`) through
//! the same entry points, so a fixed crash stays fixed on every CI run.

use std::path::Path;
use ttlog_core::fuzz::{frame_chunk, frame_legacy, read_all};

fn replay(dir: &str, run: impl Fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for sub in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(sub).join(dir)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&bytes)));
            assert!(r.is_ok(), "{} panicked", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn snapshot_file_corpus() {
    let n = replay("snapshot_file", |b| {
        read_all(b.to_vec());
    });
    assert!(n >= 7, "the seed corpus holds every testdata file; found {n}");
}

fn template() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin")).unwrap()
}

#[test]
fn snapshot_chunk_corpus() {
    let template = template();
    let n = replay("snapshot_chunk", |b| {
        read_all(frame_chunk(&template, b));
    });
    assert!(n > 0);
}

#[test]
fn legacy_file_corpus() {
    let n = replay("legacy_file", |b| {
        read_all(frame_legacy(b));
    });
    assert!(n > 0);
}

#[test]
fn framed_chunk_of_a_real_chunk_decodes() {
    // The harness is meaningful: a real chunk framed by `frame_chunk` behind
    // its own file's header decodes completely.
    let seed = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/snapshot_chunk/normal.bin.0"))
        .expect("seed corpus present");
    let snap = ttlog_core::snapshot::Snapshot::from_bytes(frame_chunk(&template(), &seed), "framed").unwrap();
    assert_eq!(snap.chunks().len(), 1);
    let cols = snap.decode_chunk(0).unwrap();
    let original =
        ttlog_core::snapshot::Snapshot::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin"))
            .unwrap();
    assert_eq!(cols.len() as u64, original.event_count());
    assert_eq!(read_all(frame_chunk(&template(), &seed)), cols.len());
}

#[test]
fn ring_recover_corpus() {
    let n = replay("ring_recover", |b| {
        ttlog_core::fuzz::recover_packed(b);
    });
    assert!(n >= 2);
}

#[test]
fn ring_recover_seed_recovers_both_threads() {
    // The harness is meaningful: the packed seed recovers real events.
    let seed = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ring_recover/two-rings"))
        .expect("seed corpus present");
    let n = ttlog_core::fuzz::recover_packed(&seed);
    assert!(n > 20, "{n} events recovered");
}
