//! Writes the seed corpus of the fuzz targets from the committed testdata:
//! `cargo run --manifest-path ttlog-core/fuzz/Cargo.toml --bin seeds`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let testdata = root.join("../../testdata");
    let corpus = root.join("corpus");
    for t in ["snapshot_file", "snapshot_chunk", "legacy_file"] {
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
    Ok(())
}
