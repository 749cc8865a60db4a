//! The per-thread flight-recorder ring.
//!
//! # Shape
//!
//! One ring per producing thread (the NanoLog / Quill / LTTng shape): a
//! power-of-two array of 64-bit words written by exactly one producer and read
//! by any number of readers, without locks and without atomic
//! read-modify-write operations. Records are variable-length, whole words:
//!
//! ```text
//! word 0   header  { seq_lo: 32 | len_words: 10 | callsite: 22 }   (high bits first)
//! word 1   timestamp in clock ticks (see `clock`)
//! word 2.. payload: the field values, laid out as the call site's kinds say
//! ```
//!
//! Positions are *logical* word positions that only grow (`u64`, never wraps
//! in practice: 2^64 words); the physical index of position `p` is
//! `p & mask`.
//!
//! # Overwrite-oldest
//!
//! The producer keeps the newest records. When a record crosses a chunk
//! boundary (chunks of 256 words), the producer makes room for everything
//! up to the next boundary `b`: if `b - tail > capacity`, it advances `tail`
//! to the first record that starts at or after `b - capacity` (itself a
//! boundary). It knows that record without reading the ring: it noted the
//! start and sequence number of the first record of every chunk as it wrote
//! them (a checkpoint), so making room costs a few instructions, once per
//! chunk. The records it steps
//! over are *overwritten*; because every record carries its sequence
//! number, a reader knows exactly how many were overwritten (the sequence
//! number of the first record it can still read).
//!
//! # Synchronisation (the seqlock argument of Boehm, "Can seqlocks get along
//! with programming language memory models?", 2012, applied to a byte ring)
//!
//! Producer, for each record `[start, end)`:
//!
//! 1. advance `tail` if needed and `tail.store(t, Relaxed)`;
//! 2. `fence(Release)`;
//! 3. store the record's words with `Relaxed` stores;
//! 4. `head.store(end, Release)`.
//!
//! Reader:
//!
//! 1. `t1 = tail.load(Acquire)`, `h1 = head.load(Acquire)`;
//! 2. copy the words `[t1, h1)` with `Relaxed` loads;
//! 3. `fence(Acquire)`;
//! 4. `t2 = tail.load(Relaxed)`; keep the records in `[max(t1, t2), h1)`.
//!
//! **Invariant R (records are whole).** Every word the reader copied at a
//! position `p` with `t2 <= p < h1` holds the value written for position `p`.
//! *Why:* the write of `p` happens-before the reader's copy (release store of
//! `head >= h1`, acquire load of `h1`), so the copy sees that write or a later
//! one. A later write to the same physical word is for position `p + k·cap`,
//! `k >= 1`, and belongs to a record ending after `p + cap`; before its data
//! stores the producer stored a `tail > p` and then issued the release fence.
//! If the copy observed that later write, the fences synchronise, so the
//! reader's `t2` load sees that `tail > p`, contradicting `p >= t2`.
//!
//! **Invariant B (boundaries).** `tail` and `head` only ever hold record
//! boundaries, and `tail <= head` at every instant, so walking by the
//! `len_words` of each header from `t2` reaches `h1` exactly.
//!
//! The ring contains no `unsafe`: every word is an `AtomicU64`, which is also
//! what makes the racy copy defined behaviour. `tests/loom_ring.rs` checks the
//! argument above with loom over all interleavings of a small ring.

use crate::sync::{AtomicU64, Ordering, fence};
use crate::sys::Words;

/// Number of words of the record header plus timestamp.
pub(crate) const RECORD_HEADER_WORDS: usize = 2;
/// Largest record, in words (the `len_words` field has 10 bits).
pub(crate) const MAX_RECORD_WORDS: usize = (1 << 10) - 1;
/// Largest call-site id that fits a header (22 bits); 0 is never used.
pub(crate) const MAX_CALLSITE_ID: u32 = (1 << 22) - 1;
/// The producer notes where records start once per chunk of
/// `1 << chunk_shift` words (see `Producer::make_room`): 256 words, at most
/// an eighth of the ring. Its checkpoints take 2 × 24 bytes per chunk (2.3 %
/// of the ring); eviction frees at most one chunk (plus one record) more
/// than needed (0.8 % of a default ring of 256 KiB), where freeing a
/// sixteenth at a time kept 3 % fewer old events on average.
#[inline]
pub(crate) fn chunk_shift(capacity_words: usize) -> u32 {
    (capacity_words.trailing_zeros().saturating_sub(3)).min(8)
}

/// Smallest ring, in words: room for two records of the largest size.
#[cfg(not(loom))]
pub(crate) const MIN_RING_WORDS: usize = 2048;
/// Under loom, rings of a few words keep the state space small.
#[cfg(loom)]
pub(crate) const MIN_RING_WORDS: usize = 8;

/// Packs a record header.
#[inline]
pub(crate) fn pack_header(seq: u64, len_words: usize, callsite: u32) -> u64 {
    debug_assert!((RECORD_HEADER_WORDS..=MAX_RECORD_WORDS).contains(&len_words));
    debug_assert!(callsite <= MAX_CALLSITE_ID);
    // { seq_lo: 32 | len_words: 10 | callsite: 22 }
    (seq << 32) | ((len_words as u64) << 22) | u64::from(callsite)
}

/// The fields of a record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) seq_lo: u32,
    pub(crate) len_words: usize,
    pub(crate) callsite: u32,
}

#[inline]
pub(crate) fn unpack_header(word: u64) -> Header {
    Header {
        seq_lo: (word >> 32) as u32,
        len_words: ((word >> 22) & 0x3ff) as usize,
        callsite: (word & u64::from(MAX_CALLSITE_ID)) as u32,
    }
}

/// The largest `i <= max` that is a char boundary of `s`.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

/// Rebuilds a full sequence number from its low 32 bits and a full sequence
/// number known to be at most 2^31 away from it.
#[inline]
pub(crate) fn widen_seq(lo: u32, near: u64) -> u64 {
    let candidate = (near & !0xffff_ffff) | u64::from(lo);
    if candidate > near.wrapping_add(1 << 31) && candidate >= 1 << 32 {
        candidate - (1 << 32)
    } else if candidate.wrapping_add(1 << 31) < near {
        candidate + (1 << 32)
    } else {
        candidate
    }
}

/// Words of a ring before its data: who owns it and the cursors. The same
/// layout in memory and in a persistent ring file (`docs/FORMAT.md`, "Ring
/// files"), so a ring file is the ring itself.
#[cfg(not(loom))]
pub(crate) const RING_HEADER_WORDS: usize = 64;
/// Under loom, no room for a thread name keeps the model small.
#[cfg(loom)]
pub(crate) const RING_HEADER_WORDS: usize = 16;

/// Index of the magic number `RING_MAGIC` in the header (persistent rings).
pub(crate) const W_MAGIC: usize = 0;
/// `{ ring file format version }`.
pub(crate) const W_VERSION: usize = 1;
/// `{ data words (a power of two) }`.
pub(crate) const W_CAPACITY: usize = 2;
/// `{ id of the thread that owns the ring now }` (`ThreadInfo::id`).
pub(crate) const W_THREAD_ID: usize = 3;
/// `{ length in bytes of the owner's name at W_NAME, or u64::MAX: no name }`.
pub(crate) const W_NAME_LEN: usize = 4;
/// Cursors, on their own cache line (words 8..16), away from the data:
/// `{ logical word position one past the newest whole record }`.
pub(crate) const W_HEAD: usize = 8;
/// `{ logical word position of the oldest record not overwritten }`.
pub(crate) const W_TAIL: usize = 9;
/// `{ sequence number the next record will get }` = records ever written.
pub(crate) const W_NEXT_SEQ: usize = 10;
/// `{ records stepped over by tail }` = records overwritten.
pub(crate) const W_OVERWRITTEN: usize = 11;
/// Events this ring's producer dropped because they could never fit.
pub(crate) const W_DROPPED_TOO_LARGE: usize = 12;
/// String values this ring's producer truncated.
pub(crate) const W_TRUNCATED: usize = 13;
/// First word of the owner's name (UTF-8, little-endian bytes).
pub(crate) const W_NAME: usize = 16;
/// Longest thread name kept in the header, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = (RING_HEADER_WORDS - W_NAME) * 8;
/// `b"TTLGRING"` as a little-endian word.
pub(crate) const RING_MAGIC: u64 = u64::from_le_bytes(*b"TTLGRING");
/// Version of the ring-file layout.
pub(crate) const RING_VERSION: u64 = 1;

/// The cursor words of a ring's header.
struct Cursors<'a> {
    head: &'a AtomicU64,
    tail: &'a AtomicU64,
    next_seq: &'a AtomicU64,
    overwritten: &'a AtomicU64,
    dropped_too_large: &'a AtomicU64,
    truncated: &'a AtomicU64,
}

/// A single-producer, multi-reader overwrite ring of whole-word records.
///
/// Its memory is one array of words: [`RING_HEADER_WORDS`] of header (owner
/// and cursors), then the data, a power of two of words. On the heap, or in
/// a mapped file ([`Ring::mapped`]) for persistent rings.
#[derive(Debug)]
pub(crate) struct Ring {
    words: Words,
    mask: u64,
}

/// What a reader got from one ring.
#[derive(Debug, Clone, Default)]
pub(crate) struct RingRead {
    /// The copied words of the whole records, oldest first, contiguous.
    pub(crate) words: Vec<u64>,
    /// Offset of each record in `words`, oldest first. Their sequence
    /// numbers are consecutive, from `overwritten` to `written - 1`.
    pub(crate) starts: Vec<u32>,
    /// Records written to this ring before the first one returned and no
    /// longer readable.
    pub(crate) overwritten: u64,
    /// Records ever written to this ring as of this read (= `overwritten` +
    /// `starts.len()`).
    pub(crate) written: u64,
    /// Logical word position just past the last record returned (the `head`
    /// this read saw): where an incremental read ([`Ring::read_from`]) goes
    /// on.
    pub(crate) end_pos: u64,
}

impl Ring {
    /// A ring of `words` words, rounded up to a power of two and to at least
    /// [`MIN_RING_WORDS`].
    pub(crate) fn new(words: usize) -> Ring {
        let words = words.max(MIN_RING_WORDS).next_power_of_two();
        Ring::with_words(Words::heap(words))
    }

    /// As [`Ring::new`], its data in transparent huge pages where the system
    /// has them (see [`Words::huge_pages`]): the recorder's rings.
    pub(crate) fn in_huge_pages(words: usize) -> Ring {
        let words = words.max(MIN_RING_WORDS).next_power_of_two();
        Ring::with_words(Words::huge_pages(words).unwrap_or_else(|| Words::heap(words)))
    }

    #[cfg_attr(loom, allow(dead_code))]
    /// The number of words of memory (header included) a ring of `words`
    /// data words takes, after the rounding [`Ring::new`] applies.
    pub(crate) fn memory_words(words: usize) -> usize {
        RING_HEADER_WORDS + words.max(MIN_RING_WORDS).next_power_of_two()
    }

    /// A ring in memory that the caller zeroed and sized with
    /// [`Ring::memory_words`] (a fresh file mapping, for persistent rings).
    /// `None` if the size is not such a size.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn mapped(words: Words) -> Option<Ring> {
        let data = words.data_len();
        (data >= MIN_RING_WORDS && data.is_power_of_two()).then(|| Ring::with_words(words))
    }

    fn with_words(words: Words) -> Ring {
        let data = words.data_len();
        assert!(data.is_power_of_two(), "ring data of {data} words");
        let ring = Ring { words, mask: data as u64 - 1 };
        let h = ring.header();
        h[W_MAGIC].store(RING_MAGIC, Ordering::Relaxed);
        h[W_VERSION].store(RING_VERSION, Ordering::Relaxed);
        h[W_CAPACITY].store(data as u64, Ordering::Relaxed);
        h[W_NAME_LEN].store(u64::MAX, Ordering::Relaxed);
        ring
    }

    /// The ring's memory.
    pub(crate) fn words(&self) -> &Words {
        &self.words
    }

    /// The header words.
    #[inline(always)]
    fn header(&self) -> &[AtomicU64; RING_HEADER_WORDS] {
        self.split().0
    }

    /// The data words.
    #[inline(always)]
    fn data(&self) -> &[AtomicU64] {
        self.split().1
    }

    #[inline(always)]
    fn split(&self) -> (&[AtomicU64; RING_HEADER_WORDS], &[AtomicU64]) {
        self.words.split_header()
    }

    #[inline(always)]
    fn cursors(&self) -> Cursors<'_> {
        let h = self.header();
        Cursors {
            head: &h[W_HEAD],
            tail: &h[W_TAIL],
            next_seq: &h[W_NEXT_SEQ],
            overwritten: &h[W_OVERWRITTEN],
            dropped_too_large: &h[W_DROPPED_TOO_LARGE],
            truncated: &h[W_TRUNCATED],
        }
    }

    /// The ring's memory as the bytes of a ring file (tests of recovery).
    #[cfg(test)]
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let (header, data) = self.split();
        header.iter().chain(data).flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes()).collect()
    }

    /// Whether the ring lives in a mapped file.
    pub(crate) fn is_mapped(&self) -> bool {
        self.words.is_mapped()
    }

    /// Whether the ring's data lives in huge pages.
    pub(crate) fn in_huge_page_memory(&self) -> bool {
        self.words.in_huge_pages()
    }

    /// Records who owns the ring now in its header (read by crash recovery).
    /// Called by the recorder, under its table lock, before the new owner's
    /// first record.
    pub(crate) fn set_owner(&self, thread_id: u64, name: Option<&str>) {
        let h = self.header();
        h[W_THREAD_ID].store(thread_id, Ordering::Relaxed);
        let bytes = name.map(|n| &n.as_bytes()[..floor_char_boundary(n, MAX_NAME_BYTES)]);
        if let Some(bytes) = bytes {
            for (i, chunk) in bytes.chunks(8).enumerate() {
                let mut w = [0u8; 8];
                w[..chunk.len()].copy_from_slice(chunk);
                h[W_NAME + i].store(u64::from_le_bytes(w), Ordering::Relaxed);
            }
        }
        h[W_NAME_LEN].store(bytes.map_or(u64::MAX, |b| b.len() as u64), Ordering::Release);
    }

    /// Capacity in words.
    pub(crate) fn capacity_words(&self) -> usize {
        self.data().len()
    }

    /// Bytes of memory this ring holds.
    pub(crate) fn bytes(&self) -> usize {
        (RING_HEADER_WORDS + self.words.data_len()) * 8 + std::mem::size_of::<Ring>()
    }

    /// Records ever written (relaxed: exact once producers are quiet).
    pub(crate) fn written(&self) -> u64 {
        self.cursors().next_seq.load(Ordering::Relaxed)
    }

    /// Records overwritten (relaxed: exact once producers are quiet).
    pub(crate) fn overwritten(&self) -> u64 {
        self.cursors().overwritten.load(Ordering::Relaxed)
    }

    pub(crate) fn dropped_too_large(&self) -> u64 {
        self.cursors().dropped_too_large.load(Ordering::Relaxed)
    }

    pub(crate) fn truncated(&self) -> u64 {
        self.cursors().truncated.load(Ordering::Relaxed)
    }

    /// Words between `tail` and `head` (relaxed: a gauge).
    pub(crate) fn used_words(&self) -> u64 {
        let tail = self.cursors().tail.load(Ordering::Relaxed);
        let head = self.cursors().head.load(Ordering::Relaxed);
        head.saturating_sub(tail).min(self.data().len() as u64)
    }

    /// Takes the producer side. The caller guarantees there is at most one
    /// producer at a time (the recorder hands a ring to one thread and takes it
    /// back only after that thread's producer is gone).
    pub(crate) fn producer(self: &std::sync::Arc<Ring>) -> Producer {
        let c = self.cursors();
        let head = c.head.load(Ordering::Acquire);
        let capacity = self.data().len();
        let chunk_shift = chunk_shift(capacity);
        Producer {
            ring: crate::sys::CachedRing::new(std::sync::Arc::clone(self)),
            head,
            tail: c.tail.load(Ordering::Acquire),
            next_seq: c.next_seq.load(Ordering::Acquire),
            overwritten: c.overwritten.load(Ordering::Acquire),
            dropped_too_large: c.dropped_too_large.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
            max_len: MAX_RECORD_WORDS.min(capacity / 2),
            chunk_shift,
            // Chunks before `head` (a ring reused, or taken back) are not
            // known: `make_room` walks over them.
            next_chunk: head.div_ceil(1 << chunk_shift),
            fast_until: 0,
            checkpoints: vec![Checkpoint { chunk: u64::MAX, ..Checkpoint::default() }; 2 * (capacity >> chunk_shift)]
                .into_boxed_slice(),
            #[cfg(loom)]
            lens: std::collections::VecDeque::new(),
        }
    }

    /// Discards every readable record (they count as overwritten). Only
    /// while no producer owns the ring.
    pub(crate) fn discard_all(&self) {
        let c = self.cursors();
        let head = c.head.load(Ordering::Acquire);
        let mut tail = c.tail.load(Ordering::Acquire);
        let mut discarded = 0;
        while tail < head {
            let header = unpack_header(crate::sys::ring_word(self.data(), tail, self.mask).load(Ordering::Relaxed));
            tail += header.len_words.max(RECORD_HEADER_WORDS) as u64;
            discarded += 1;
        }
        c.overwritten.store(c.overwritten.load(Ordering::Relaxed) + discarded, Ordering::Relaxed);
        // { tail = head }: the ring holds no record.
        c.tail.store(head, Ordering::Release);
    }

    /// Copies every whole record out of the ring, concurrently with its
    /// producer. Never blocks the producer; records the producer overwrites
    /// during the copy are left out and counted as overwritten.
    pub(crate) fn read(&self) -> RingRead {
        self.read_from(0)
    }

    /// Like [`Ring::read`], but copies only the records that start at or
    /// after logical position `from`, which must be a record boundary no
    /// greater than `head` (0, or the `end_pos` of an earlier read of this
    /// ring). This is the same protocol with the reader's first position
    /// raised to `max(tail, from)`: `from` is a boundary, so Invariants R and
    /// B hold unchanged. Live listeners read this way, behind the producer,
    /// copying only what is new. Records overwritten before they could be
    /// read show as a gap between the caller's next expected sequence number
    /// and `overwritten` (the first sequence number returned).
    ///
    /// Only a read that returns records gives exact sequence numbers: an
    /// empty one reports the producer's `next_seq`, which may already count
    /// records after `end_pos`. Incremental readers therefore take
    /// `overwritten`/`written` from non-empty reads only (and still move to
    /// `end_pos`).
    pub(crate) fn read_from(&self, from: u64) -> RingRead {
        let c = self.cursors();
        let mut out = RingRead::default();
        // A producer lapping the whole ring between our cursor loads is
        // possible only for small rings under a racing producer; retry then.
        for _ in 0..64 {
            let t1 = c.tail.load(Ordering::Acquire).max(from);
            let h1 = c.head.load(Ordering::Acquire);
            // `next_seq` is stored after `head`, so this is at least the
            // sequence number following the record that ends at `h1`.
            let next_seq = c.next_seq.load(Ordering::Acquire);
            if h1 < t1 || h1 - t1 > self.data().len() as u64 {
                continue;
            }
            out.words.clear();
            out.words.reserve((h1 - t1) as usize);
            for p in t1..h1 {
                out.words.push(crate::sys::ring_word(self.data(), p, self.mask).load(Ordering::Relaxed));
            }
            fence(Ordering::Acquire);
            let t2 = c.tail.load(Ordering::Relaxed);
            if t2 > h1 {
                // Everything we copied was overwritten while we copied.
                continue;
            }
            out.end_pos = h1;
            let start = t2.max(t1);
            let skip = (start - t1) as usize;
            out.words.drain(..skip);
            out.starts.clear();
            let mut off = 0usize;
            let mut torn = false;
            while off < out.words.len() {
                let header = unpack_header(out.words[off]);
                if header.len_words < RECORD_HEADER_WORDS || off + header.len_words > out.words.len() {
                    // Cannot happen by Invariants R and B; refuse the read
                    // rather than return a torn record.
                    torn = true;
                    break;
                }
                out.starts.push(off as u32);
                off += header.len_words;
            }
            if torn {
                debug_assert!(false, "ring walk lost a record boundary");
                continue;
            }
            match out.starts.last() {
                Some(&last) => {
                    // Records in a ring are consecutive in sequence number.
                    let last_seq = widen_seq(unpack_header(out.words[last as usize]).seq_lo, next_seq);
                    out.written = last_seq + 1;
                    out.overwritten = out.written - out.starts.len() as u64;
                    debug_assert!(out.starts.iter().enumerate().all(|(i, &s)| {
                        unpack_header(out.words[s as usize]).seq_lo == (out.overwritten + i as u64) as u32
                    }));
                }
                None => {
                    // Empty: every record written before `h1` is gone. Records
                    // are counted up to `h1` only; `next_seq` may already be
                    // newer, so count what `h1` covers when the ring is empty
                    // because it was discarded (the only way to be empty with
                    // records written).
                    out.overwritten = next_seq;
                    out.written = next_seq;
                }
            }
            return out;
        }
        // The producer kept lapping us: report nothing readable.
        let written = c.next_seq.load(Ordering::Acquire);
        let end_pos = c.head.load(Ordering::Acquire).max(from);
        RingRead { overwritten: written, written, end_pos, ..RingRead::default() }
    }
}

/// The producer side of a [`Ring`]: owned by one thread, never shared.
///
/// Aligned to 128 bytes (two cache lines, the unit the adjacent-line
/// prefetcher pulls in): its fields are written on every event, so no other
/// thread's hot data may share its lines, wherever the allocator puts it.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Producer {
    /// The ring, its words' addresses (and so its mask) cached beside it.
    ring: crate::sys::CachedRing,
    head: u64,
    tail: u64,
    next_seq: u64,
    overwritten: u64,
    dropped_too_large: u64,
    truncated: u64,
    /// Largest record this ring takes, in words: `min(MAX_RECORD_WORDS,
    /// capacity / 2)`.
    max_len: usize,
    /// Chunks of the ring are `1 << chunk_shift` words.
    chunk_shift: u32,
    /// `{ chunks c < next_chunk have their checkpoint noted }`: the next
    /// chunk whose first record start is not known yet.
    next_chunk: u64,
    /// `next_chunk << chunk_shift`, with room made up to it (`tail +
    /// capacity >= fast_until`): a record ending at or before it needs
    /// neither room made nor a checkpoint noted, so the hot path makes one
    /// comparison (see [`Producer::prepare`]). 0 until the first write sets
    /// it.
    fast_until: u64,
    /// Slot `c % len` holds the first record that starts at or after
    /// position `c << chunk_shift` (twice as many slots as chunks in the
    /// ring, so the chunks between `tail` and `head` never share one; a
    /// power of two, so `c % len` is `c & (len - 1)`).
    checkpoints: Box<[Checkpoint]>,
    /// Under loom, the lengths of the records in the ring, oldest first: see
    /// `make_room`.
    #[cfg(loom)]
    lens: std::collections::VecDeque<usize>,
}

/// Where the first record at or after a chunk boundary starts.
#[derive(Debug, Clone, Copy, Default)]
struct Checkpoint {
    /// The chunk it is for (`u64::MAX`: none yet).
    chunk: u64,
    /// The record's start position.
    pos: u64,
    /// The record's sequence number.
    seq: u64,
}

/// Writes one record's payload words into a thread's ring; handed to
/// [`Encode::encode`](crate::Encode::encode) by the recorder.
#[derive(Debug)]
pub struct RecordWriter<'a> {
    data: &'a [AtomicU64],
    mask: u64,
    pos: u64,
    end: u64,
    truncated: u64,
}

impl RecordWriter<'_> {
    /// Appends one payload word.
    #[inline(always)]
    pub fn push(&mut self, word: u64) {
        debug_assert!(self.pos < self.end, "encoder wrote more words than it sized");
        crate::sys::ring_word(self.data, self.pos, self.mask).store(word, Ordering::Relaxed);
        self.pos += 1;
    }

    /// Notes that a string value was cut to fit.
    #[cold]
    pub fn note_truncated(&mut self) {
        self.truncated += 1;
    }
}

impl Producer {
    /// Writes one record of `payload_words` words: header, `timestamp`, then
    /// whatever `encode` pushes (exactly `payload_words` words). Returns
    /// `false` and counts a drop when the record can never fit.
    #[inline(always)]
    pub(crate) fn write(
        &mut self,
        callsite: u32,
        timestamp: u64,
        payload_words: usize,
        encode: impl FnOnce(&mut RecordWriter<'_>),
    ) -> bool {
        let len = RECORD_HEADER_WORDS + payload_words;
        if len > self.max_len {
            self.drop_too_large();
            return false;
        }
        let start = self.head;
        let end = start + len as u64;
        if end > self.fast_until {
            self.prepare(start, end);
        }
        // Split once: the memory's address is then not reloaded after each
        // store below.
        let (header, data) = self.ring.split();
        // Data stores must not become visible before the tail store above.
        fence(Ordering::Release);
        let mut w = RecordWriter { data, mask: self.ring.mask(), pos: start, end, truncated: 0 };
        w.push(pack_header(self.next_seq, len, callsite));
        w.push(timestamp);
        encode(&mut w);
        debug_assert_eq!(w.pos, end, "encoder wrote fewer words than it sized");
        let truncated = w.truncated;
        #[cfg(loom)]
        self.lens.push_back(len);
        self.head = end;
        self.next_seq += 1;
        // { head = end of the record just written }: publishes its words.
        header[W_HEAD].store(end, Ordering::Release);
        header[W_NEXT_SEQ].store(self.next_seq, Ordering::Relaxed);
        if truncated != 0 {
            self.add_truncated(truncated);
        }
        true
    }

    /// Notes the checkpoints of the chunk boundaries up to `end` and makes
    /// room for every record up to the next boundary, then sets
    /// `fast_until` to that boundary: once per chunk crossed (about every 50
    /// events of the benchmark's size), always both steps, so the path and
    /// its branches are the same every time.
    ///
    /// Room is made when the record that crosses a boundary is written, not
    /// when the first record that needs it is: at most one record's length
    /// earlier, and the ring still keeps all but at most one chunk (plus
    /// that record) of what fits. (Making room lazily took a second call per
    /// chunk, at a point unrelated to the boundary, and the alternation
    /// between the two kinds of call cost branch mispredictions.)
    #[inline(never)]
    fn prepare(&mut self, start: u64, end: u64) {
        let cap = self.ring.mask() + 1;
        if end >= self.next_chunk << self.chunk_shift {
            self.note_checkpoints(start, end);
        }
        // { until = the first chunk boundary after end }
        let until = self.next_chunk << self.chunk_shift;
        // `until - cap < start`: a record is at most half the ring and a
        // chunk at most an eighth, so this never evicts the record being
        // written.
        if until - self.tail > cap {
            self.make_room(until - cap);
        }
        // { tail + cap >= until > end }: records ending at or before `until`
        // need neither room nor a checkpoint.
        self.fast_until = until;
    }

    /// Notes the first record at or after every chunk boundary in
    /// `(previous record's end, end]`: the record about to be written at
    /// `[start, end)` for a boundary at or before `start`, the one after it
    /// (at `end`, with the next sequence number) for a boundary it straddles
    /// or ends on. Noting the straddled boundary now, rather than at the
    /// next record, spares that record a call of `prepare`.
    #[inline]
    fn note_checkpoints(&mut self, start: u64, end: u64) {
        let slot_mask = self.checkpoints.len() as u64 - 1;
        while self.next_chunk << self.chunk_shift <= end {
            let c = self.next_chunk;
            let (pos, seq) =
                if c << self.chunk_shift <= start { (start, self.next_seq) } else { (end, self.next_seq + 1) };
            self.checkpoints[(c & slot_mask) as usize] = Checkpoint { chunk: c, pos, seq };
            self.next_chunk += 1;
        }
    }

    /// Moves `tail` to the first record that starts at or after the first
    /// chunk boundary at or past `min_tail`: one checkpoint lookup, so the
    /// event that needs room pays a few instructions, never a walk over
    /// thousands of old records (which showed as the p99.9 of the hot path
    /// when eviction went in large batches). It frees at most one chunk
    /// more than needed.
    #[inline]
    fn make_room(&mut self, min_tail: u64) {
        let chunk = min_tail.div_ceil(1 << self.chunk_shift);
        let ck = self.checkpoints[(chunk & (self.checkpoints.len() as u64 - 1)) as usize];
        if ck.chunk == chunk && chunk < self.next_chunk {
            debug_assert!(ck.pos >= min_tail && ck.pos <= self.head && ck.seq >= self.overwritten);
            #[cfg(loom)]
            for _ in self.overwritten..ck.seq {
                self.lens.pop_front();
            }
            self.tail = ck.pos;
            self.overwritten = ck.seq;
        } else {
            self.walk_tail(chunk << self.chunk_shift);
        }
        let header = self.ring.header();
        // { tail = first record that survives the write to come }.
        header[W_TAIL].store(self.tail, Ordering::Relaxed);
        header[W_OVERWRITTEN].store(self.overwritten, Ordering::Relaxed);
    }

    /// Moves `tail` over whole records until it is at or past `min_tail`,
    /// reading their headers: for the chunks written before this producer
    /// took the ring, which have no checkpoint.
    #[cold]
    #[inline(never)]
    fn walk_tail(&mut self, min_tail: u64) {
        #[cfg(not(loom))]
        let (_, data) = self.ring.split();
        while self.tail < min_tail {
            // Only this producer writes headers, so reading our own earlier
            // header is race-free. (Under loom the lengths come from a local
            // queue instead: loom 0.7 stops exploring interleavings when a
            // thread loads and then stores the same atomic, which would hide
            // exactly the races the model is for. Both give the same lengths.)
            #[cfg(not(loom))]
            let len_words =
                unpack_header(crate::sys::ring_word(data, self.tail, self.ring.mask()).load(Ordering::Relaxed))
                    .len_words;
            #[cfg(loom)]
            let len_words = self.lens.pop_front().expect("a record to step over");
            debug_assert!(len_words >= RECORD_HEADER_WORDS, "a header the producer wrote itself");
            self.tail += len_words as u64;
            self.overwritten += 1;
        }
    }

    #[cold]
    #[inline(never)]
    fn drop_too_large(&mut self) {
        self.dropped_too_large += 1;
        self.ring.cursors().dropped_too_large.store(self.dropped_too_large, Ordering::Relaxed);
    }

    #[cold]
    #[inline(never)]
    fn add_truncated(&mut self, n: u64) {
        self.truncated += n;
        self.ring.cursors().truncated.store(self.truncated, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn write_n(p: &mut Producer, seq_payload: u64, words: usize) {
        assert!(p.write(7, seq_payload, words, |w| {
            for i in 0..words {
                w.push(seq_payload ^ i as u64);
            }
        }));
    }

    #[test]
    fn header_round_trip() {
        let h = pack_header(0x1_2345_6789, 17, 0x3f_ffff);
        assert_eq!(unpack_header(h), Header { seq_lo: 0x2345_6789, len_words: 17, callsite: 0x3f_ffff });
    }

    #[test]
    fn widen_seq_handles_wrap() {
        assert_eq!(widen_seq(5, 5), 5);
        assert_eq!(widen_seq(0xffff_fff0, 0x1_0000_0010), 0xffff_fff0);
        assert_eq!(widen_seq(0x10, 0xffff_fff0), 0x1_0000_0010);
        assert_eq!(widen_seq(3, 0x5_0000_0004), 0x5_0000_0003);
    }

    #[test]
    fn empty_ring_reads_empty() {
        let ring = Arc::new(Ring::new(0));
        let r = ring.read();
        assert!(r.starts.is_empty());
        assert_eq!((r.overwritten, r.written), (0, 0));
    }

    #[test]
    fn keeps_newest_and_counts_overwritten() {
        let ring = Arc::new(Ring::new(MIN_RING_WORDS));
        let mut p = ring.producer();
        // 5-word records: 2048 / 5 = 409 fit; eviction frees up to the next
        // chunk boundary (256 words for this ring), so between
        // (2048 - 256) / 5 = 358 and 409 are kept.
        for i in 0..1000 {
            write_n(&mut p, i, 3);
        }
        let r = ring.read();
        assert_eq!(r.written, 1000);
        assert_eq!(r.overwritten + r.starts.len() as u64, 1000);
        assert!((358..=409).contains(&r.starts.len()), "{} kept", r.starts.len());
        for (k, &s) in r.starts.iter().enumerate() {
            let s = s as usize;
            let seq = r.overwritten + k as u64;
            assert_eq!(r.words[s + 1], seq, "record {k}");
            for i in 0..3 {
                assert_eq!(r.words[s + 2 + i], seq ^ i as u64);
            }
        }
    }

    /// Rings in huge-page blocks behave as heap rings; a block given back is
    /// handed out again zeroed; blocks of rings alive at once are distinct.
    #[test]
    #[cfg(target_os = "linux")]
    fn huge_page_rings_are_distinct_zeroed_and_reused() {
        let words = 1 << 15; // 256 KiB: eight to a 2 MiB page
        let fill = |ring: &Arc<Ring>, base: u64| {
            let mut p = ring.producer();
            for i in 0..20_000 {
                write_n(&mut p, base + i, 3);
            }
        };
        let a = Arc::new(Ring::in_huge_pages(words));
        let b = Arc::new(Ring::in_huge_pages(words));
        assert!(a.in_huge_page_memory() && b.in_huge_page_memory());
        assert_eq!(a.capacity_words(), words);
        fill(&a, 0);
        fill(&b, 1 << 40);
        for (ring, base) in [(&a, 0), (&b, 1u64 << 40)] {
            let r = ring.read();
            assert_eq!(r.written, 20_000);
            let last = *r.starts.last().unwrap() as usize;
            assert_eq!(r.words[last + 2], base + 19_999, "each ring holds its own records (payload word 0 is seq ^ 0)");
        }
        drop(a);
        let c = Arc::new(Ring::in_huge_pages(words));
        let fresh = Arc::new(Ring::new(words));
        assert_eq!(c.to_bytes(), fresh.to_bytes(), "a reused block is zeroed, its header fresh");
        assert!(c.read().starts.is_empty());
        assert_eq!(b.read().written, 20_000, "b untouched by a's block going back and out again");
    }

    #[test]
    fn too_large_is_dropped_and_counted() {
        let ring = Arc::new(Ring::new(MIN_RING_WORDS));
        let mut p = ring.producer();
        assert!(!p.write(1, 0, MAX_RECORD_WORDS, |_| unreachable!()));
        assert_eq!(ring.dropped_too_large(), 1);
        assert_eq!(ring.read().written, 0);
    }

    #[test]
    fn incremental_reads_return_only_new_records_and_show_gaps() {
        let ring = Arc::new(Ring::new(MIN_RING_WORDS));
        let mut p = ring.producer();
        for i in 0..10 {
            write_n(&mut p, i, 2);
        }
        let r = ring.read_from(0);
        assert_eq!((r.starts.len(), r.overwritten, r.written), (10, 0, 10));
        for i in 10..13 {
            write_n(&mut p, i, 2);
        }
        let r2 = ring.read_from(r.end_pos);
        assert_eq!((r2.starts.len(), r2.overwritten, r2.written), (3, 10, 13));
        assert_eq!(r2.words[1], 10, "first new record");
        let r3 = ring.read_from(r2.end_pos);
        assert!(r3.starts.is_empty());
        assert_eq!((r3.overwritten, r3.end_pos), (13, r2.end_pos));
        // Lap the ring: the reader's next record is gone; the first one it
        // gets tells how many it missed.
        for i in 13..2000 {
            write_n(&mut p, i, 2);
        }
        let r4 = ring.read_from(r3.end_pos);
        assert_eq!(r4.written, 2000);
        assert!(r4.overwritten > 13);
        assert_eq!(r4.overwritten + r4.starts.len() as u64, 2000);
        assert_eq!(r4.words[r4.starts[0] as usize + 1], r4.overwritten);
    }

    #[test]
    fn discard_all_counts_as_overwritten() {
        let ring = Arc::new(Ring::new(0));
        let mut p = ring.producer();
        for i in 0..10 {
            write_n(&mut p, i, 1);
        }
        drop(p);
        ring.discard_all();
        let r = ring.read();
        assert!(r.starts.is_empty());
        assert_eq!((r.overwritten, r.written), (10, 10));
        let mut p = ring.producer();
        write_n(&mut p, 10, 1);
        let r = ring.read();
        assert_eq!(r.starts.len(), 1);
        assert_eq!(r.overwritten, 10);
        assert_eq!(r.words[1], 10);
    }
}

#[cfg(all(test, not(loom)))]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// Payload word `i` of the record with sequence number `seq`.
    fn word(seq: u64, i: usize) -> u64 {
        seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64
    }

    fn write(p: &mut Producer, seq: u64, payload: usize) {
        assert!(p.write(3, seq, payload, |w| (0..payload).for_each(|i| w.push(word(seq, i)))));
    }

    /// Checks that every record is whole and the counters add up.
    fn check_whole(r: &RingRead) {
        assert_eq!(r.overwritten + r.starts.len() as u64, r.written);
        for (k, &s) in r.starts.iter().enumerate() {
            let s = s as usize;
            let seq = r.overwritten + k as u64;
            let h = unpack_header(r.words[s]);
            assert_eq!(h.seq_lo, seq as u32);
            assert_eq!(r.words[s + 1], seq, "timestamp word of record {seq}");
            for i in 0..h.len_words - RECORD_HEADER_WORDS {
                assert_eq!(r.words[s + 2 + i], word(seq, i), "payload word {i} of record {seq}");
            }
        }
    }

    /// Starts a producer that writes records of `sizes` (cycling) until it
    /// has lapped the ring about `laps` times; it sets the flag when done and
    /// returns how many records it wrote.
    fn spawn_lapping_writer(
        ring: &Arc<Ring>,
        sizes: &[usize],
        laps: u64,
    ) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let ring = Arc::clone(ring);
            let done = Arc::clone(&done);
            let sizes = sizes.to_vec();
            std::thread::spawn(move || {
                let mut p = ring.producer();
                let total: usize = sizes.iter().map(|s| s + RECORD_HEADER_WORDS).sum();
                let n = laps as usize * (ring.capacity_words() / total + 1) * sizes.len();
                for seq in 0..n as u64 {
                    write(&mut p, seq, sizes[seq as usize % sizes.len()]);
                }
                done.store(true, std::sync::atomic::Ordering::Release);
                n as u64
            })
        };
        (done, writer)
    }

    proptest! {
        /// Wrap-around: after any sequence of record sizes the ring holds
        /// exactly the newest records that fit (evicting, when a record
        /// crosses a chunk boundary, up to the first record at or after the
        /// boundary one ring behind the next one), whole, and counts the rest;
        /// also when the producer is given back and taken again part way
        /// (a ring reused by another thread: its old records have no
        /// checkpoints, and eviction walks over them instead).
        #[test]
        fn keeps_exactly_the_newest_that_fit(
            sizes in prop::collection::vec(0usize..200, 1..3000),
            retake_at in prop::option::of(0usize..3000),
        ) {
            let ring = Arc::new(Ring::new(MIN_RING_WORDS));
            let cap = ring.capacity_words() as u64;
            let chunk = 1u64 << chunk_shift(cap as usize);
            let mut p = ring.producer();
            // (seq, start, len) of each record the ring should hold.
            let mut model: VecDeque<(u64, u64, u64)> = VecDeque::new();
            let mut head = 0u64;
            // The first chunk boundary after the last record that crossed one
            // (0: none yet, or the producer was just taken again).
            let mut until = 0u64;
            for (seq, &payload) in sizes.iter().enumerate() {
                if retake_at == Some(seq) {
                    drop(p);
                    p = ring.producer();
                    until = 0;
                }
                write(&mut p, seq as u64, payload);
                let len = (payload + RECORD_HEADER_WORDS) as u64;
                let end = head + len;
                if end > until {
                    until = (end / chunk + 1) * chunk;
                    let tail = model.front().map_or(head, |m| m.1);
                    if until - tail > cap {
                        let boundary = until - cap;
                        while model.front().is_some_and(|m| m.1 < boundary) {
                            model.pop_front();
                        }
                    }
                }
                model.push_back((seq as u64, head, len));
                head = end;
            }
            let r = ring.read();
            check_whole(&r);
            prop_assert_eq!(r.written, sizes.len() as u64);
            prop_assert_eq!(r.starts.len(), model.len());
            prop_assert_eq!(r.overwritten, model.front().map_or(sizes.len() as u64, |m| m.0));
            prop_assert_eq!(ring.overwritten(), r.overwritten);
            // And never more than fits (the model keeps all but at most one
            // chunk, plus one record, of what fits).
            let used: u64 = model.iter().map(|m| m.2).sum();
            prop_assert!(used <= cap);
        }

        /// Concurrent read-while-overwrite: a reader racing a producer that
        /// laps the ring many times only ever sees whole records.
        #[test]
        fn concurrent_reads_see_only_whole_records(sizes in prop::collection::vec(0usize..64, 8..64), laps in 20u64..60) {
            let ring = Arc::new(Ring::new(MIN_RING_WORDS));
            let (done, writer) = spawn_lapping_writer(&ring, &sizes, laps);
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) || reads == 0 {
                check_whole(&ring.read());
                reads += 1;
            }
            let n = writer.join().unwrap();
            let r = ring.read();
            check_whole(&r);
            prop_assert_eq!(r.written, n);
        }

        /// Incremental reads racing a producer (as a live listener does):
        /// each record is delivered at most once, whole and in order, and
        /// delivered + missed adds up to what was written.
        #[test]
        fn incremental_reads_deliver_each_record_once_or_count_it_missed(sizes in prop::collection::vec(0usize..64, 8..64), laps in 5u64..30) {
            let ring = Arc::new(Ring::new(MIN_RING_WORDS));
            let (done, writer) = spawn_lapping_writer(&ring, &sizes, laps);
            let (mut pos, mut next, mut delivered, mut missed) = (0u64, 0u64, 0u64, 0u64);
            let mut finished = false;
            loop {
                // One more pass after the producer is done picks up the rest.
                let last = finished;
                finished = done.load(std::sync::atomic::Ordering::Acquire);
                let r = ring.read_from(pos);
                check_whole(&r);
                pos = r.end_pos;
                // Only a read that returned records tells exact sequence
                // numbers (see `read_from`).
                if !r.starts.is_empty() {
                    prop_assert!(r.overwritten >= next, "a record delivered twice");
                    missed += r.overwritten - next;
                    delivered += r.starts.len() as u64;
                    next = r.written;
                }
                if last {
                    break;
                }
            }
            let n = writer.join().unwrap();
            prop_assert_eq!(next, n);
            prop_assert_eq!(delivered + missed, n);
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Loom explores every interleaving (within its preemption bound) of a
    //! producer lapping an 8-word ring while a reader copies it, and checks
    //! Invariants R and B: the reader returns only whole records, with
    //! consecutive sequence numbers and counts that add up.
    use super::*;
    use std::sync::Arc;

    fn payload(seq: u64) -> u64 {
        0xabcd_0000 + seq
    }

    #[test]
    fn loom_reader_sees_only_whole_records() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = None;
        static SEEN: std::sync::Mutex<std::collections::BTreeSet<(usize, u64, u64, Option<u64>)>> =
            std::sync::Mutex::new(std::collections::BTreeSet::new());
        static ITERATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        builder.check(|| {
            ITERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let ring = Arc::new(Ring::new(8));
            // Taken here so that the producer thread only stores (see
            // `make_room`).
            let mut p = ring.producer();
            // 3-word records in an 8-word ring: two fit. Two are written
            // before the reader starts, so that every execution has the reader
            // copying words the producer is about to overwrite; the next two
            // overwrite the first two while the reader copies.
            for seq in 0..2 {
                assert!(p.write(1, seq, 1, |w| w.push(payload(seq))));
            }
            let t = loom::thread::spawn(move || {
                for seq in 2..4 {
                    assert!(p.write(1, seq, 1, |w| w.push(payload(seq))));
                }
            });
            let r = ring.read();
            SEEN.lock().unwrap().insert((r.starts.len(), r.overwritten, r.written, r.words.first().copied()));
            assert_eq!(r.overwritten + r.starts.len() as u64, r.written);
            for (k, &s) in r.starts.iter().enumerate() {
                let seq = r.overwritten + k as u64;
                let s = s as usize;
                assert_eq!(unpack_header(r.words[s]).seq_lo as u64, seq);
                assert_eq!(r.words[s + 1], seq);
                assert_eq!(r.words[s + 2], payload(seq));
            }
            t.join().unwrap();
            let last = ring.read();
            assert_eq!(last.written, 4);
            assert_eq!(last.starts.len(), 2);
            assert_eq!(last.overwritten, 2);
        });
        let n = ITERATIONS.load(std::sync::atomic::Ordering::Relaxed);
        println!("loom explored {n} interleavings; reads seen: {:?}", SEEN.lock().unwrap());
        assert!(n > 100, "loom explored only {n} interleavings");
    }
}
