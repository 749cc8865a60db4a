//! Snapshots written by `request_snapshot` read back identically, and damaged
//! copies of them still give every intact chunk with a precise error.

use std::sync::{Mutex, OnceLock};
use ttlog_core::snapshot::{ChunkStats, FormatVersion, Problem, Snapshot, format};
use ttlog_core::{Event, Trace, Value};

struct Fixture {
    trace: Trace,
    dir: tempfile::TempDir,
}

/// One recorder per process: every test shares it and serialises on it.
fn fixture() -> std::sync::MutexGuard<'static, Fixture> {
    static F: OnceLock<Mutex<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let trace = Trace::builder()
            .service("roundtrip")
            .capacity_events(400_000)
            .level(ttlog_core::Level::Trace)
            .storage_path(dir.path().join("snaps"))
            .snapshot_on_signals(false)
            .snapshot_interval(None)
            .install()
            .unwrap();
        Mutex::new(Fixture { trace, dir })
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

fn strip_time(mut e: Event) -> Event {
    e.timestamp_ns = 0;
    e
}

fn log_all_kinds(n: u64) {
    for i in 0..n {
        let long = "x".repeat((i % 40) as usize);
        ttlog_core::info!(
            "all kinds",
            u = i,
            i = -(i as i64),
            f = i as f64 * 0.5,
            f32v = i as f32,
            b = i % 2 == 0,
            c = 'é',
            big = u128::MAX - i as u128,
            neg = i128::MIN + i as i128,
            s = "AAPL",
            long = long.as_str(),
            d = %format_args!("#{i}"),
        );
        ttlog_core::warn!(target: "risk", "limit", used = 0.93, desk = "fx");
        ttlog_core::trace!("bare");
    }
}

#[test]
fn request_snapshot_round_trips_every_kind_across_threads() {
    let f = fixture();
    let threads: Vec<_> = (0..3)
        .map(|t| std::thread::Builder::new().name(format!("worker-{t}")).spawn(move || log_all_kinds(50 + t)).unwrap())
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    log_all_kinds(10);
    let path = f.trace.request_snapshot("round/trip").unwrap();
    let expected: Vec<Event> = f.trace.events();

    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with(&format!("ttlog-roundtrip-{}-", std::process::id())), "{name}");
    assert!(name.ends_with("-round_trip.bin"), "{name}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
    }
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let snap = Snapshot::open(&path).unwrap();
    assert!(snap.is_complete(), "{:?}", snap.problems());
    assert_eq!(snap.version(), FormatVersion::Chunked { major: 1, minor: 2 });
    // Format 1.1: indexed, so opened without reading the chunks.
    assert!(snap.reads_lazily());
    let h = snap.header();
    assert_eq!(h.instance.as_deref(), Some(ttlog_core::snapshot::process_instance().as_str()));
    assert_eq!(h.service, "roundtrip");
    assert_eq!(h.reason, "round/trip");
    assert_eq!(h.pid, std::process::id());
    assert!(h.threads.iter().any(|t| t.name.as_deref() == Some("worker-2")));
    assert_eq!(h.counters.in_snapshot, snap.event_count());
    assert_eq!(
        h.counters.logged,
        h.counters.in_snapshot + h.counters.unreadable + h.counters.overwritten + h.counters.dropped()
    );
    let got: Vec<Event> = snap.events().collect::<Result<_, _>>().unwrap();
    assert_eq!(got.len(), expected.len());
    // Timestamps: the same ticks, converted with calibrations measured a
    // moment apart; everything else is identical.
    for (g, e) in got.iter().zip(&expected) {
        assert!((g.timestamp_ns - e.timestamp_ns).abs() < 5_000_000, "{} vs {}", g.timestamp_ns, e.timestamp_ns);
    }
    let mut got: Vec<Event> = got.into_iter().map(strip_time).collect();
    let mut expected: Vec<Event> = expected.into_iter().map(strip_time).collect();
    let key = |e: &Event| (e.thread_id, e.seq);
    got.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(got, expected);
    let e = got.iter().find(|e| &*e.message == "all kinds" && e.field("u") == Some(&Value::U64(7))).unwrap();
    assert_eq!(e.field("d"), Some(&Value::Str("#7".into())));
    assert_eq!(e.field("long"), Some(&Value::Str("x".repeat(7))));
    assert_eq!(e.field("neg"), Some(&Value::I128(i128::MIN + 7)));

    // The statistics of every chunk are those of its decoded columns.
    for i in 0..snap.chunks().len() {
        let c = snap.decode_chunk(i).unwrap();
        let computed = ChunkStats::of(&c.timestamps, &c.callsites, &c.threads, &c.seqs);
        assert_eq!(snap.chunk_stats(i), Some(&computed), "chunk {i}");
        assert!(snap.verify_chunk(i).is_ok());
    }

    // Columns agree with events.
    let cols = snap.decode_chunk(0).unwrap();
    assert_eq!(cols.len(), snap.chunks()[0].events as usize);
    let row = cols.callsites.iter().position(|&c| &*snap.callsite(c).unwrap().message == "limit").unwrap();
    assert_eq!(cols.value(row, 0), Some(Value::F64(0.93)));
    assert!(cols.timestamps.windows(2).all(|w| w[0] <= w[1]), "time order");
}

#[test]
fn large_snapshots_split_into_chunks_and_damage_stays_local() {
    let f = fixture();
    for i in 0..140_000u64 {
        ttlog_core::debug!("tick", n = i, venue = "XNAS");
    }
    let path = f.trace.request_snapshot("chunks").unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let snap = Snapshot::from_bytes(bytes.clone(), "chunks.bin").unwrap();
    assert!(snap.is_complete());
    assert!(snap.chunks().len() >= 3, "{} chunks", snap.chunks().len());
    let total = snap.event_count();
    let per_chunk: Vec<u64> = snap.chunks().iter().map(|c| u64::from(c.events)).collect();
    let ticks = |s: &Snapshot| s.events().filter_map(Result::ok).filter(|e| &*e.message == "tick").count();
    let all_ticks = ticks(&snap);
    assert!(all_ticks >= 140_000);

    // A flipped byte inside chunk 1's data: chunk 1 fails with its offset,
    // chunks 0 and 2.. decode.
    let c1 = snap.chunks()[1];
    let mut damaged = bytes.clone();
    damaged[c1.offset as usize + format::FRAME_LEN + 10] ^= 0x55;
    let d = Snapshot::from_bytes(damaged, "damaged.bin").unwrap();
    assert_eq!(d.chunks().len(), snap.chunks().len());
    let err = d.decode_chunk(1).unwrap_err();
    assert_eq!(err.offset, c1.offset);
    assert!(matches!(err.problem, Problem::Crc { .. }), "{err}");
    assert!(
        err.to_string().starts_with(&format!("damaged.bin: byte {}: chunk 1 data: CRC mismatch", c1.offset)),
        "{err}"
    );
    assert!(d.decode_chunk(0).is_ok() && d.decode_chunk(2).is_ok());
    let results: Vec<_> = d.events().collect();
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count() as u64, total - per_chunk[1]);

    // A damaged frame header: the reader resynchronises on the next frame.
    let mut damaged = bytes.clone();
    damaged[c1.offset as usize + 5] ^= 0xff;
    let d = Snapshot::from_bytes(damaged.clone(), "frame.bin").unwrap();
    assert_eq!(d.chunks().len(), snap.chunks().len() - 1);
    assert_eq!(d.problems()[0].offset, c1.offset);
    assert!(!d.is_complete());
    // The header's index still says what the lost chunk held.
    let lost: Vec<_> = d.lost_chunks().collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(u64::from(lost[0].events), per_chunk[1]);
    assert_eq!(d.chunk_stats(1), snap.chunk_stats(2), "the intact chunks keep their statistics");
    // Opened from a file, it is read lazily (its length and end marker agree
    // with the index): the same damage is found when chunk 1 is read.
    let dir = tempfile::tempdir().unwrap();
    let on_disk = dir.path().join("frame.bin");
    std::fs::write(&on_disk, &damaged).unwrap();
    let d = Snapshot::open(&on_disk).unwrap();
    assert!(d.reads_lazily());
    assert_eq!(d.chunks().len(), snap.chunks().len());
    let e = d.decode_chunk(1).unwrap_err();
    assert_eq!(e.offset, c1.offset);
    assert!(matches!(e.problem, Problem::Crc { .. }), "{e}");
    assert!(d.verify_chunk(1).is_err() && d.verify_chunk(0).is_ok());
    assert!(d.decode_chunk(0).is_ok() && d.decode_chunk(2).is_ok());
    // A file cut short is read whole and scanned, as before.
    std::fs::write(&on_disk, &bytes[..bytes.len() - 1]).unwrap();
    let d = Snapshot::open(&on_disk).unwrap();
    assert!(!d.reads_lazily());
    assert!(!d.is_complete());
    assert_eq!(d.chunks().len(), snap.chunks().len());

    // Cut in the middle of chunk 2: chunks 0 and 1 intact, a precise error.
    let c2 = snap.chunks()[2];
    let cut = c2.offset as usize + format::FRAME_LEN + c2.compressed_len as usize / 2;
    let d = Snapshot::from_bytes(bytes[..cut].to_vec(), "cut.bin").unwrap();
    assert_eq!(d.chunks().len(), 2);
    let p = &d.problems()[0];
    assert_eq!(p.offset, c2.offset);
    assert!(matches!(p.problem, Problem::Truncated { .. }), "{p}");
    assert_eq!(d.events().filter(Result::is_ok).count() as u64, per_chunk[0] + per_chunk[1]);

    // Cut exactly between chunks: only the end marker is missing.
    let d = Snapshot::from_bytes(bytes[..c2.offset as usize].to_vec(), "between.bin").unwrap();
    assert_eq!(d.chunks().len(), 2);
    assert_eq!(d.problems().len(), 1);
    assert_eq!(d.problems()[0].offset, c2.offset);

    // Header cut or damaged: an error at the header's offset.
    let e = Snapshot::from_bytes(bytes[..30].to_vec(), "head.bin").unwrap_err();
    assert_eq!(e.offset, format::PREAMBLE_LEN as u64);
    let mut damaged = bytes.clone();
    damaged[format::PREAMBLE_LEN + 3] ^= 1;
    let e = Snapshot::from_bytes(damaged, "head.bin").unwrap_err();
    assert!(matches!(e.problem, Problem::Crc { .. }), "{e}");
}

#[test]
fn hostile_lengths_are_refused_without_allocating() {
    let f = fixture();
    ttlog_core::info!("one");
    let path = f.trace.request_snapshot("hostile").unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let snap = Snapshot::from_bytes(bytes.clone(), "x").unwrap();
    let c0 = snap.chunks()[0];
    let at = c0.offset as usize;

    // A frame whose CRC is right but whose sizes are absurd.
    let rewrite = |compressed: u32, raw: u32, events: u32| {
        let mut b = bytes[..at].to_vec();
        let mut frame = [0u8; 24];
        frame[..4].copy_from_slice(b"CHNK");
        frame[4..8].copy_from_slice(&compressed.to_le_bytes());
        frame[8..12].copy_from_slice(&raw.to_le_bytes());
        frame[12..16].copy_from_slice(&events.to_le_bytes());
        let crc = crc32fast_hash(&frame[..20]);
        frame[20..24].copy_from_slice(&crc.to_le_bytes());
        b.extend_from_slice(&frame);
        b.extend_from_slice(&bytes[at + 24..]);
        b
    };
    let d = Snapshot::from_bytes(rewrite(u32::MAX, 100, 1), "huge.bin").unwrap();
    assert!(d.chunks().is_empty());
    assert!(matches!(d.problems()[0].problem, Problem::Truncated { .. }));
    // Impossible sizes: the chunk is refused, the chunks after it (other
    // tests may have logged enough for several) are still found.
    for (raw, events) in [(u32::MAX, 1), (c0.raw_len, u32::MAX), (60 << 20, 1)] {
        let d = Snapshot::from_bytes(rewrite(c0.compressed_len, raw, events), "sizes.bin").unwrap();
        assert!(d.chunks().iter().all(|c| c.offset != c0.offset));
        assert_eq!(d.chunks().len(), snap.chunks().len() - 1);
        assert_eq!(d.problems()[0].offset, c0.offset);
        assert!(matches!(d.problems()[0].problem, Problem::Invalid(_)), "{}", d.problems()[0]);
    }

    // A header length beyond the file.
    let mut b = bytes.clone();
    b[12..16].copy_from_slice(&(u32::MAX).to_le_bytes());
    assert!(Snapshot::from_bytes(b, "h").is_err());
    // Not a snapshot at all.
    let e = Snapshot::from_bytes(b"just some text, not a snapshot".to_vec(), "t.txt").unwrap_err();
    assert!(matches!(e.problem, Problem::NotASnapshot(_)), "{e}");
}

fn crc32fast_hash(b: &[u8]) -> u32 {
    // CRC-32/IEEE, bitwise: the test does not trust the crate's own helper.
    let mut crc = !0u32;
    for &x in b {
        crc ^= u32::from(x);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn random_damage_never_panics() {
    use proptest::prelude::*;
    let f = fixture();
    for i in 0..3000u64 {
        ttlog_core::info!("fuzz", i, s = "abcdefghijkl");
    }
    let path = f.trace.request_snapshot("fuzz").unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 300, ..ProptestConfig::default() });
    runner
        .run(&(proptest::collection::vec((0..len, any::<u8>()), 1..8), 0..=len), |(flips, cut)| {
            let mut b = bytes.clone();
            for (at, x) in flips {
                b[at] ^= x | 1;
            }
            b.truncate(cut.max(1));
            if let Ok(s) = Snapshot::from_bytes(b, "fuzz.bin") {
                for r in s.events() {
                    let _ = r.map(|e| e.fields.len());
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn retention_keeps_the_newest() {
    let f = fixture();
    let dir = f.dir.path().join("retention");
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    for i in 0..6 {
        let name = ttlog_core::snapshot::file_name("svc", 1, i * 1_000_000_000, "manual");
        paths.push(ttlog_core::snapshot::write_file(&dir, &name, &[0u8; 100]).unwrap());
    }
    // Same second, same name: never overwritten.
    let name = ttlog_core::snapshot::file_name("svc", 1, 5_000_000_000, "manual");
    let again = ttlog_core::snapshot::write_file(&dir, &name, &[1u8; 100]).unwrap();
    assert_ne!(again, paths[5]);
    assert!(again.to_str().unwrap().ends_with("-manual-2.bin"));
    std::fs::write(dir.join("ttlog-other-1-19700101T000000.000Z-x.bin"), b"keep").unwrap();
    let keep = again.clone();
    let retention = ttlog_core::snapshot::Retention { max_files: Some(3), max_bytes: None };
    let removed = ttlog_core::snapshot::apply_retention(&dir, "svc", retention, &keep).unwrap();
    assert_eq!(removed.len(), 4);
    assert!(removed.contains(&paths[0]) && !removed.contains(&keep));
    assert!(dir.join("ttlog-other-1-19700101T000000.000Z-x.bin").exists());
    let retention = ttlog_core::snapshot::Retention { max_files: None, max_bytes: Some(150) };
    let removed = ttlog_core::snapshot::apply_retention(&dir, "svc", retention, &keep).unwrap();
    assert_eq!(removed.len(), 2);
    assert!(keep.exists());
}

#[test]
fn uncreatable_directory_is_a_clear_error() {
    let f = fixture();
    // A directory whose parent is a file cannot be created. (A read-only
    // directory is tested in faults.rs.)
    let blocker = f.dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let name = ttlog_core::snapshot::file_name("svc", 1, 0, "x");
    let err = ttlog_core::snapshot::write_file(&blocker.join("sub"), &name, b"data").unwrap_err();
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}
