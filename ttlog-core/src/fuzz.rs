//! Entry points shared by the `cargo fuzz` targets (`ttlog-core/fuzz`) and
//! by the test that replays their corpus on every CI run
//! (`tests/fuzz_corpus.rs`). Not part of the API.

use crate::snapshot::Snapshot;
use crate::snapshot::format::{CHUNK_MAGIC, FRAME_LEN, PREAMBLE_LEN};

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

/// A snapshot file with the header of the snapshot file `template` (which
/// has at least one call site and one thread) and one chunk per
/// `(events, raw_len, payload)` of `chunks`: frames and, with `indexed`, a
/// header index that declare those counts and sizes, with valid CRCs and
/// lengths, over `payload` as the compressed data; then a valid end marker.
/// The header's `in_snapshot` counter agrees with the frames.
/// What the frames claim is checked only by the reader's bounds (for the
/// hostile-input tests: claims that no writer makes, payloads that do not
/// hold them).
///
/// # Panics
/// When `template` is not a snapshot of this format.
pub fn claimed_chunks(template: &[u8], chunks: &[(u32, u32, Vec<u8>)], indexed: bool) -> Vec<u8> {
    use crate::snapshot::format::{self, ChunkIndexEntry, ChunkStats, Header, SiteCount, ThreadSeqs};
    let header_len = format::le_u32(template, 12) as usize;
    let mut header: Header =
        serde_cbor::from_slice(&template[PREAMBLE_LEN..PREAMBLE_LEN + header_len]).expect("a snapshot template");
    let mut at = 0u64;
    let mut body = Vec::new();
    let mut index = Vec::new();
    let mut total = 0u64;
    for (events, raw, payload) in chunks {
        let crc = crc32fast::hash(payload);
        let mut frame = Vec::with_capacity(FRAME_LEN);
        frame.extend_from_slice(&CHUNK_MAGIC);
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&raw.to_le_bytes());
        frame.extend_from_slice(&events.to_le_bytes());
        frame.extend_from_slice(&crc.to_le_bytes());
        let frame_crc = crc32fast::hash(&frame);
        frame.extend_from_slice(&frame_crc.to_le_bytes());
        body.extend_from_slice(&frame);
        body.extend_from_slice(payload);
        let t = header.created_at_ns;
        index.push(ChunkIndexEntry {
            at,
            len: payload.len() as u32,
            raw: *raw,
            crc,
            stats: ChunkStats {
                events: *events,
                min_ts: t,
                max_ts: t,
                threads: vec![ThreadSeqs {
                    thread: 0,
                    first_seq: total,
                    last_seq: total + u64::from(*events).saturating_sub(1),
                    events: *events,
                }],
                counts: vec![SiteCount { callsite: 1, thread: 0, events: *events }],
            },
        });
        at += (FRAME_LEN + payload.len()) as u64;
        total += u64::from(*events);
    }
    header.chunks = indexed.then_some(index);
    header.counters.in_snapshot = total;
    crate::snapshot::writer::assemble(&header, &body, chunks.len() as u32, total)
}

/// A valid snapshot of `chunks` chunks that each hold the most events a
/// writer puts in a chunk (65,536), all of one call site without fields, on
/// one thread, at one instant: as many events per byte of file as the
/// format allows (about 1 KiB of file per chunk, some 64 events a byte).
/// The preamble and header are those of `template` with one call site and
/// one thread. For the memory-limit tests: every chunk is intact, so a
/// reader has every reason to decode it.
///
/// # Panics
/// When `template` is not a snapshot of this format.
pub fn compressible(template: &[u8], chunks: usize) -> Vec<u8> {
    use crate::snapshot::format::{self, CallSiteEntry, ChunkWire, MAX_CHUNK_EVENTS, ThreadEntry};
    let n = MAX_CHUNK_EVENTS;
    let total = (n * chunks) as u64;
    let mut t0 = 0;
    let template = edit_header(template, |h| {
        h.callsites = vec![CallSiteEntry {
            id: 1,
            level: 2,
            target: "bomb".into(),
            message: "the same event".into(),
            file: "bomb.rs".into(),
            line: 1,
            module_path: "bomb".into(),
            fields: Vec::new(),
            limit: None,
        }];
        h.threads = vec![ThreadEntry {
            id: 1,
            name: Some("main".into()),
            written: total,
            overwritten: 0,
            dropped_too_large: 0,
            ring: None,
        }];
        h.panic = None;
        h.chunks = None;
        h.counters = format::Counters { logged: total, in_snapshot: total, ..format::Counters::default() };
        t0 = h.created_at_ns;
    });
    let (ts, cs, th) = (vec![0u8; n], vec![1u8; n], vec![0u8; n]);
    let payloads: Vec<(u32, u32, Vec<u8>)> = (0..chunks)
        .map(|k| {
            // A chunk's first sequence number is given whole, the others
            // as +1 (zig-zag 2).
            let mut seq = Vec::with_capacity(n + 8);
            format::put_varint(&mut seq, format::zigzag((k * n) as i64));
            seq.resize(seq.len() + n - 1, 2);
            let wire =
                ChunkWire { n: n as u32, t0, ts: &ts, csw: 1, cs: &cs, thw: 1, th: &th, seq: &seq, cols: Vec::new() };
            let raw = serde_cbor::to_vec(&wire).expect("CBOR of a chunk");
            let compressed = lz4::block::compress(&raw, None, false).expect("LZ4 of a chunk");
            (n as u32, raw.len() as u32, compressed)
        })
        .collect();
    claimed_chunks(&template, &payloads, true)
}

/// The snapshot file `template` with its header changed by `edit` (and
/// its CRC and length made right again); the chunks are kept as they are
/// (the index offsets count from the end of the header, so they stay
/// right). For tests of what a crafted header (names, counters, the
/// call-site table) does to a reader.
///
/// # Panics
/// When `template` is not a snapshot of this format.
pub fn edit_header(template: &[u8], edit: impl FnOnce(&mut crate::snapshot::Header)) -> Vec<u8> {
    use crate::snapshot::format;
    let header_len = format::le_u32(template, 12) as usize;
    let end = PREAMBLE_LEN + header_len;
    let mut header: crate::snapshot::Header =
        serde_cbor::from_slice(&template[PREAMBLE_LEN..end]).expect("a snapshot template");
    edit(&mut header);
    let header_bytes = serde_cbor::to_vec(&header).expect("CBOR encoding of the header");
    let mut out = template[..12].to_vec();
    out.extend_from_slice(&(header_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&header_bytes).to_le_bytes());
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(&template[end..]);
    out
}

/// Every character a terminal or a spreadsheet must not get raw (C0, DEL,
/// C1, the bidirectional controls, the line and paragraph separators)
/// between two letters.
pub const HOSTILE_TEXT: &str =
    "x\x1b[2J\x07\r\n\t\u{7f}\u{85}\u{9b}\u{61c}\u{200e}\u{200f}\u{202a}\u{202e}\u{2066}\u{2069}\u{2028}\u{2029}y";

/// `template` with every name in its header hostile: service, host, thread
/// names, and per call site a target that is a formula, a message and a
/// file that start like one, field names; each with [`HOSTILE_TEXT`].
pub fn hostile_names(template: &[u8]) -> Vec<u8> {
    const EVIL: &str = HOSTILE_TEXT;
    edit_header(template, |h| {
        h.service = format!("svc{EVIL}");
        h.hostname = format!("host{EVIL}");
        for t in &mut h.threads {
            t.name = Some(format!("th{EVIL}"));
        }
        for c in &mut h.callsites {
            c.target = format!("=HYPERLINK(\"http://x\"){EVIL}");
            c.message = format!("+msg{EVIL}");
            c.file = format!("@file{EVIL}");
            for (i, f) in c.fields.iter_mut().enumerate() {
                f.name = format!("-f{i}{EVIL}");
            }
        }
    })
}

/// `template` with counters near 2^64, whose sums wrap when not saturated.
pub fn wrapping_counters(template: &[u8]) -> Vec<u8> {
    edit_header(template, |h| {
        let c = &mut h.counters;
        c.logged = u64::MAX - 1;
        c.overwritten = u64::MAX - 2;
        c.dropped_too_large = u64::MAX - 3;
        c.dropped_reentrant = u64::MAX - 4;
        c.dropped_thread_exit = u64::MAX - 5;
    })
}

/// A file in the original `ttlog` 0.1 layout (LZ4 block with a size prefix)
/// holding `cbor`.
pub fn frame_legacy(cbor: &[u8]) -> Vec<u8> {
    lz4::block::compress(cbor, None, true).unwrap_or_default()
}

/// A `ttlog` 0.1 snapshot of `events` identical small events with one
/// field: the shape of a legacy decompression bomb, whose block is 78
/// bytes per event (and 85 more) and compresses about 250 times: 13,765,919
/// events declare 1,073,741,767 bytes, just under the 1 GiB a reader
/// accepts, in 5.3 MB.
pub fn legacy_events(events: u32) -> Vec<u8> {
    use serde_cbor::Value as V;
    let text = |s: &str| V::Text(s.into());
    let cbor = |v: &V| serde_cbor::to_vec(v).expect("CBOR of a value");
    let kv = V::Map([(text("n"), V::Integer(7))].into_iter().collect());
    let event = V::Map(
        [
            (text("packed_meta"), V::Integer(1_700_000_000_000 << 12 | 2 << 8 | 1)),
            (text("message"), text("tick")),
            (text("target"), text("app")),
            (text("kv"), kv),
            (text("file"), text("main.rs")),
            (text("position"), V::Array(vec![V::Integer(1), V::Integer(1)])),
        ]
        .into_iter()
        .collect(),
    );
    let event = cbor(&event);
    // A map of six entries, the last the array of events.
    let mut out = vec![0xa6];
    for (k, v) in [
        ("service", text("legacy")),
        ("hostname", text("host")),
        ("pid", V::Integer(1)),
        ("created_at", text("20240101000000")),
        ("reason", text("bomb")),
    ] {
        out.extend(cbor(&text(k)));
        out.extend(cbor(&v));
    }
    out.extend(cbor(&text("events")));
    out.push(0x9a);
    out.extend_from_slice(&events.to_be_bytes());
    out.reserve(event.len() * events as usize);
    for _ in 0..events {
        out.extend_from_slice(&event);
    }
    frame_legacy(&out)
}

/// The files of a rings directory in one byte string, for the
/// `ring_recover` fuzz target: each file as `[len: u32 LE][bytes]`, in the
/// order `process.cbor`, `callsites`, then the ring files.
pub fn pack_rings(files: &crate::persist::RingFiles<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let parts = [files.process, files.callsites].into_iter().chain(files.rings.iter().map(|(_, b)| *b));
    for part in parts {
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Unpacks `data` (see [`pack_rings`]; a cut-off last part is taken as it
/// is), recovers it as `ttlog-view recover` would, encodes the result as a
/// snapshot and reads that back. Returns the number of events recovered.
///
/// # Panics
/// When the snapshot does not hold every recovered record (stored or
/// counted as unreadable): a bug the fuzzer is to find.
pub fn recover_packed(data: &[u8]) -> usize {
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let body = &rest[4..];
        let take = len.min(body.len());
        parts.push(&body[..take]);
        rest = &body[take..];
    }
    let (process, callsites) = (parts.first().copied().unwrap_or_default(), parts.get(1).copied().unwrap_or_default());
    let names: Vec<String> = (0..parts.len().saturating_sub(2)).map(|i| format!("ring-{i:05}")).collect();
    let rings: Vec<(&str, &[u8])> = names.iter().map(String::as_str).zip(parts.iter().skip(2).copied()).collect();
    let files = crate::persist::RingFiles { process, callsites, rings: &rings };
    let Ok(rc) = crate::persist::recover_bytes(&files) else { return 0 };
    let events = rc.capture.len();
    let bytes = crate::snapshot::encode(&rc.capture, &rc.meta);
    let snap = Snapshot::from_bytes(bytes.clone(), "recovered").expect("a snapshot we encoded opens");
    let c = snap.header().counters;
    assert_eq!(c.in_snapshot + c.unreadable, events as u64, "every recovered record is stored or counted");
    assert_eq!(read_all(bytes), c.in_snapshot as usize, "what is stored decodes");
    events
}
