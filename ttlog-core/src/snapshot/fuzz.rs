//! Entry points shared by the `cargo fuzz` targets (`ttlog-core/fuzz`) and
//! by the test that replays their corpus on every CI run
//! (`tests/fuzz_corpus.rs`). Not part of the API.

use super::Snapshot;
use super::format::{CHUNK_MAGIC, FRAME_LEN, PREAMBLE_LEN};

/// Opens `data` as a snapshot and decodes everything in it, as a viewer
/// would, through both the columnar and the event interfaces. Returns the
/// number of events decoded from columns.
pub fn read_all(data: Vec<u8>) -> usize {
    let Ok(snap) = Snapshot::from_bytes(data, "fuzz") else { return 0 };
    let _ = snap.header();
    let _ = snap.problems();
    let mut n = 0;
    for i in 0..snap.chunks().len() {
        if let Ok(cols) = snap.decode_chunk(i) {
            for row in 0..cols.len() {
                if snap.event(&cols, row).is_some() {
                    n += 1;
                }
            }
        }
    }
    let _ = snap.events().count();
    n
}

/// A snapshot file with the preamble and header of the snapshot file
/// `template` and one chunk holding `input[2..]` as its decompressed CBOR,
/// with valid lengths and CRCs; `input[..2]` (little-endian) is the frame's
/// event count. (The fuzz target uses `testdata/normal.bin` as template and
/// chunks of it as seeds, so mutations start from columns that decode.)
pub fn frame_chunk(template: &[u8], input: &[u8]) -> Vec<u8> {
    let events = input.get(..2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
    let raw = input.get(2..).unwrap_or_default();
    let compressed = lz4::block::compress(raw, None, false).unwrap_or_default();
    let header_len = template.get(12..16).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let mut file = template.get(..PREAMBLE_LEN + header_len).unwrap_or_default().to_vec();
    let mut frame = Vec::with_capacity(FRAME_LEN);
    frame.extend_from_slice(&CHUNK_MAGIC);
    frame.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
    frame.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    frame.extend_from_slice(&u32::from(events).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&compressed).to_le_bytes());
    let frame_crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&frame_crc.to_le_bytes());
    file.extend_from_slice(&frame);
    file.extend_from_slice(&compressed);
    file
}

/// A file in the original `ttlog` 0.1 layout (LZ4 block with a size prefix)
/// holding `cbor`.
pub fn frame_legacy(cbor: &[u8]) -> Vec<u8> {
    lz4::block::compress(cbor, None, true).unwrap_or_default()
}
