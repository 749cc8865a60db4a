//! What the `tracing` and `log` bridges share: a stack buffer that encodes
//! field values as they arrive, and the cache that maps a bridged event's
//! shape to one of our call-site ids.
//!
//! # One of our call sites per shape
//!
//! A `tracing` or `log` call site has no static field kinds: the same
//! statement may record a field as `u64` once and as text the next time, or
//! leave it out. Rather than tag every value in the ring, a bridge keys our
//! call sites by the event's *shape* — its own call site, which fields are
//! present and the kind of each, whether the message is the call site's
//! usual one, and the enclosing spans' shapes — and registers one of our
//! call sites (through [`register_dynamic`](crate::register_dynamic)) per
//! shape it meets. So every call site of the snapshot table still has fixed,
//! typed columns, and the snapshot format is the same as for the macros.
//! In practice a statement has one shape, so one call site.
//!
//! # The cache
//!
//! Each thread keeps its own map from shape to id (no lock, no atomic
//! read-modify-write; it allocates only when the thread meets a new shape).
//! A miss takes a process-wide lock, where the shape is registered once for
//! all threads.

#![cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
use crate::ring::{MAX_RECORD_WORDS, RECORD_HEADER_WORDS};
use crate::value::{Kind, WordSink};
use std::hash::{BuildHasherDefault, Hasher};

/// Payload words a bridged event can take: what a record can hold.
pub(crate) const PAYLOAD_WORDS: usize = MAX_RECORD_WORDS - RECORD_HEADER_WORDS;

/// A payload being encoded, in a buffer the thread reuses (so no allocation
/// after its first events, and no 8 KiB of stack to clear per event). The
/// buffer holds what a record can hold; words pushed beyond are counted, not
/// kept, so that an event too large for a record is dropped by the ring and
/// counted as such. A push is one compare and one store.
pub(crate) struct Payload {
    words: Box<[u64; PAYLOAD_WORDS]>,
    /// Words pushed, kept or not.
    len: usize,
    pub(crate) truncated: u32,
    /// Where `Display`/`Debug` values are formatted before they are encoded
    /// (reused too: no allocation once it has grown to the longest text).
    text: String,
}

impl Default for Payload {
    fn default() -> Payload {
        Payload {
            words: Box::new([0; PAYLOAD_WORDS]),
            len: 0,
            truncated: 0,
            text: String::with_capacity(crate::value::MAX_STR_BYTES),
        }
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload").field("len", &self.len).field("truncated", &self.truncated).finish()
    }
}

thread_local! {
    static SCRATCH: std::cell::Cell<Option<Payload>> = const { std::cell::Cell::new(None) };
}

impl Payload {
    /// Takes this thread's buffer (a fresh one if it is in use: a field's
    /// `Debug` that logs while we encode).
    #[inline]
    pub(crate) fn take() -> Payload {
        let mut p = SCRATCH.try_with(std::cell::Cell::take).ok().flatten().unwrap_or_default();
        p.clear();
        p
    }

    /// Gives the buffer back to the thread.
    #[inline]
    pub(crate) fn give_back(self) {
        let _ = SCRATCH.try_with(|s| s.set(Some(self)));
    }

    /// Empties the buffer for the next event (its memory kept).
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.truncated = 0;
    }

    /// Formats `args` and encodes the text as one string value.
    pub(crate) fn put_fmt(&mut self, args: std::fmt::Arguments<'_>) {
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        let _ = std::fmt::Write::write_fmt(&mut text, args);
        crate::value::put_str(&text, self);
        self.text = text;
    }

    /// Words pushed so far (possibly more than were kept).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The words of `start..end`, clipped to what was kept.
    #[inline]
    pub(crate) fn get(&self, start: usize, end: usize) -> &[u64] {
        let end = end.min(self.len).min(PAYLOAD_WORDS);
        &self.words[start.min(end)..end]
    }
}

impl WordSink for Payload {
    #[inline]
    fn push(&mut self, word: u64) {
        if let Some(w) = self.words.get_mut(self.len) {
            *w = word;
        }
        self.len += 1;
    }
    fn note_truncated(&mut self) {
        self.truncated += 1;
    }
}

/// Whether `a` and `b` (of equal length) hold the same bytes: eight at a
/// time, inline. Messages are short; a call to `memcmp` cost more than the
/// comparison.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("8 bytes"));
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    x.by_ref().zip(y.by_ref()).all(|(p, q)| word(p) == word(q))
        && x.remainder().iter().zip(y.remainder()).all(|(p, q)| p == q)
}

/// A vector of words as a [`WordSink`] (span fields, kept on the heap).
impl WordSink for Vec<u64> {
    fn push(&mut self, word: u64) {
        Vec::push(self, word)
    }
    fn note_truncated(&mut self) {}
}

/// The largest number of fields a shape signature covers (`tracing`'s own
/// limit per call site is 32).
pub(crate) const SIG_FIELDS: usize = 32;

/// `{ kind code of field i in bits 4i..4i+4, 0 if absent }` for fields `0..32`.
pub(crate) type KindSig = u128;

/// Adds field `index` of `kind` to `sig`; fields beyond [`SIG_FIELDS`] are
/// not part of signatures (callers do not record them).
#[inline]
pub(crate) fn sig_with(sig: KindSig, index: usize, kind: Kind) -> KindSig {
    debug_assert!(index < SIG_FIELDS);
    let shift = 4 * index as u32;
    (sig & !(0xf << shift)) | ((kind as u128) << shift)
}

/// The indices of the set bits of `mask`, lowest first: the fields present,
/// without scanning all [`SIG_FIELDS`] of a signature.
#[inline]
pub(crate) fn bits(mut mask: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            i
        })
    })
}

/// The kind of field `index` in `sig`.
#[inline]
pub(crate) fn sig_kind(sig: KindSig, index: usize) -> Option<Kind> {
    Kind::from_u8(((sig >> (4 * index as u32)) & 0xf) as u8)
}

/// Entries of the bridges' direct-mapped per-thread tables of call sites.
pub(crate) const DIRECT_SLOTS: usize = 256;

/// The slot of `key` in a table of [`DIRECT_SLOTS`] entries: the top bits of
/// a Fibonacci multiply, so that keys differing only in their middle bits
/// (addresses of statics, lines) spread.
#[inline]
pub(crate) fn direct_slot(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - DIRECT_SLOTS.trailing_zeros())) as usize
}

/// A fast hasher for the shape maps (keys are pointers and small integers
/// already well spread; the Fx multiply-rotate of rustc).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `HashMap` hasher of the shape caches.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_hold_one_kind_per_field() {
        let mut s = 0;
        s = sig_with(s, 0, Kind::U64);
        s = sig_with(s, 31, Kind::Str);
        s = sig_with(s, 0, Kind::F64);
        assert_eq!(sig_kind(s, 0), Some(Kind::F64));
        assert_eq!(sig_kind(s, 31), Some(Kind::Str));
        assert_eq!(sig_kind(s, 5), None);
    }

    #[test]
    fn bytes_compare_eight_at_a_time() {
        let text = b"a longer message with \xc3\xa9 in it";
        for n in 0..text.len() {
            assert!(same_bytes(&text[..n], &text[..n]));
            let mut other = text[..n].to_vec();
            if let Some(last) = other.last_mut() {
                *last ^= 1;
                assert!(!same_bytes(&text[..n], &other), "{n}");
            }
            if n > 0 {
                let mut first = text[..n].to_vec();
                first[0] ^= 0x20;
                assert!(!same_bytes(&text[..n], &first), "{n}");
            }
        }
    }

    #[test]
    fn payload_counts_words_beyond_its_capacity() {
        let mut p = Payload::take();
        for i in 0..PAYLOAD_WORDS + 3 {
            p.push(i as u64);
        }
        assert_eq!(p.len(), PAYLOAD_WORDS + 3);
        assert_eq!(p.get(PAYLOAD_WORDS - 1, PAYLOAD_WORDS + 3), &[PAYLOAD_WORDS as u64 - 1]);
    }
}
