//! Writes the seed corpus of the fuzz targets from the committed testdata:
//! `cargo run --manifest-path ttlog-core/fuzz/Cargo.toml --bin seeds`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let testdata = root.join("../../testdata");
    let corpus = root.join("corpus");
    for t in ["snapshot_file", "snapshot_chunk", "legacy_file", "ring_recover"] {
        std::fs::create_dir_all(corpus.join(t))?;
    }
    for entry in std::fs::read_dir(&testdata)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path)?;
        std::fs::write(corpus.join("snapshot_file").join(&name), &bytes)?;
        if name == "normal.bin" {
            // Each chunk's decompressed CBOR, with the event count in front as
            // `frame_chunk` expects (normal.bin's header is the template).
            let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
            let mut off = 20 + header_len;
            let mut i = 0;
            while off + 24 <= bytes.len() && &bytes[off..off + 4] == b"CHNK" {
                let u = |o: usize| u32::from_le_bytes(bytes[off + o..off + o + 4].try_into().unwrap()) as usize;
                let (clen, rlen, events) = (u(4), u(8), u(12));
                let Some(data) = bytes.get(off + 24..off + 24 + clen) else { break };
                if let Ok(raw) = lz4::block::decompress(data, Some(rlen as i32)) {
                    let mut seed = (events as u16).to_le_bytes().to_vec();
                    seed.extend_from_slice(&raw);
                    std::fs::write(corpus.join("snapshot_chunk").join(format!("{name}.{i}")), seed)?;
                }
                off += 24 + clen;
                i += 1;
            }
        } else if let Ok(raw) = lz4::block::decompress(&bytes, None) {
            std::fs::write(corpus.join("legacy_file").join(&name), raw)?;
        }
    }
    ring_seeds(&corpus.join("ring_recover"))
}

/// The files of a real persistent-rings directory: two threads, rings that
/// wrapped, every kind of value.
fn ring_seeds(out: &Path) -> std::io::Result<()> {
    let root = std::env::temp_dir().join(format!("ttlog-seeds-{}", std::process::id()));
    let trace = ttlog_core::Trace::builder()
        .service("seeds")
        .persist_dir(&root)
        .capacity_events(64)
        .snapshot_on_panic(false)
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .install()
        .expect("install with persistent rings");
    for i in 0..400u64 {
        ttlog_core::info!("seed event", i, even = i % 2 == 0, ratio = i as f64 / 3.0, name = "x", c = 'z');
    }
    std::thread::Builder::new()
        .name("second".into())
        .spawn(|| {
            for i in 0..20i64 {
                ttlog_core::error!(target: "seeds::other", "second thread", delta = -i, big = u128::MAX - 7, text = "é\u{1b}[31m");
            }
        })?
        .join()
        .expect("second thread");
    let dir = trace.metrics().persist_dir.expect("persistent rings");
    let read = |n: &str| std::fs::read(dir.join(n));
    let (process, callsites) = (read("process.cbor")?, read("callsites")?);
    let rings = [read("ring-00000")?, read("ring-00001")?];
    let named: Vec<(&str, &[u8])> = vec![("ring-00000", &rings[0]), ("ring-00001", &rings[1])];
    for (name, n) in [("two-rings", 2), ("one-ring", 1)] {
        let files = ttlog_core::persist::RingFiles { process: &process, callsites: &callsites, rings: &named[..n] };
        std::fs::write(out.join(name), ttlog_core::fuzz::pack_rings(&files))?;
    }
    drop(trace);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
