//! Writes the hostile snapshot files of issue 20, at the sizes the issue
//! measured, into a directory, for `scripts/hostile-figures.sh` to run
//! `ttlog-view` on (exit code, lines on stderr, peak memory):
//!
//! ```sh
//! cargo run --release -p ttlog-core --example hostile_files -- target/hostile
//! ```
//!
//! The tests write the same classes, smaller (`ttlog-cli/tests/it/hostile.rs`,
//! `memory.rs`); these are the sizes that made `ttlog-view` abort or take
//! gigabytes before.

use std::path::{Path, PathBuf};
use ttlog_core::fuzz;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    println!("{name}: {} bytes", bytes.len());
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/hostile".into()));
    std::fs::create_dir_all(&dir).expect("create the directory");
    let normal_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
    let normal = std::fs::read(&normal_path).expect("testdata/normal.bin");

    // 255 frames that each claim 16.7 M events in 64 MiB over 263 KB of
    // junk, CRCs valid, indexed in the header (67 MB): aborted with a 34 GB
    // allocation before.
    let claims: Vec<_> = (0..255).map(|i| (1u32 << 24, 64u32 << 20, vec![i as u8; 263_200])).collect();
    write(&dir, "claims-255.bin", &fuzz::claimed_chunks(&normal, &claims, true));
    // 8 frames whose data would decompress into 32 MiB each (1 MB).
    let bombs: Vec<_> = (0..8).map(|_| (65_536u32, 32u32 << 20, vec![0; 131_600])).collect();
    write(&dir, "bombs-8.bin", &fuzz::claimed_chunks(&normal, &bombs, false));
    // Valid chunks of identical events: 65.5 M events in 1.2 MB.
    write(&dir, "compressible-1k.bin", &fuzz::compressible(&normal, 1_000));
    // A ttlog 0.1 file whose block declares just under 1 GiB (4 MB).
    write(&dir, "legacy-1gib.bin", &fuzz::legacy_events(13_765_919));
    // Control characters, bidirectional controls and formulas in every name.
    write(&dir, "names.bin", &fuzz::hostile_names(&normal));
    // Counters near 2^64 whose sums would wrap.
    write(&dir, "counters.bin", &fuzz::wrapping_counters(&normal));
    // 5,000 empty files.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("create empty/");
    for i in 0..5_000 {
        std::fs::write(empty.join(format!("e{i:04}.bin")), b"").expect("write an empty file");
    }
    println!("empty/: 5000 empty files");
}
