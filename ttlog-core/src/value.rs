//! Field values: how each Rust type is encoded into ring words on the hot
//! path ([`Encode`]) and what a reader gets back ([`Value`]).
//!
//! Formatting is deferred: numbers are stored raw and turned into text only
//! when somebody reads them. Only `%value` (Display) and `?value` (Debug)
//! format on the hot path, into a stack buffer, never the heap.

use crate::ring::RecordWriter;
use std::fmt;

/// The longest string value kept, in bytes; longer ones are cut at a
/// character boundary and end with [`TRUNCATION_MARKER`].
pub const MAX_STR_BYTES: usize = 512;

/// Appended to a string value that was cut to [`MAX_STR_BYTES`].
pub const TRUNCATION_MARKER: &str = "…";

/// The type of a field value, as recorded in the call-site table and in
/// snapshot files. The numeric codes are part of the file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// `bool`.
    Bool = 1,
    /// `char`.
    Char = 2,
    /// Unsigned integers up to 64 bits (`u8` … `u64`, `usize`).
    U64 = 3,
    /// Signed integers up to 64 bits (`i8` … `i64`, `isize`).
    I64 = 4,
    /// `u128`.
    U128 = 5,
    /// `i128`.
    I128 = 6,
    /// `f32`.
    F32 = 7,
    /// `f64`.
    F64 = 8,
    /// Text: `&str`, `String`, and `%value` / `?value`.
    Str = 9,
}

impl Kind {
    /// The kind with this numeric code, if any.
    pub const fn from_u8(code: u8) -> Option<Kind> {
        Some(match code {
            1 => Kind::Bool,
            2 => Kind::Char,
            3 => Kind::U64,
            4 => Kind::I64,
            5 => Kind::U128,
            6 => Kind::I128,
            7 => Kind::F32,
            8 => Kind::F64,
            9 => Kind::Str,
            _ => return None,
        })
    }

    /// A short lower-case name (`"u64"`, `"str"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Bool => "bool",
            Kind::Char => "char",
            Kind::U64 => "u64",
            Kind::I64 => "i64",
            Kind::U128 => "u128",
            Kind::I128 => "i128",
            Kind::F32 => "f32",
            Kind::F64 => "f64",
            Kind::Str => "str",
        }
    }
}

/// A decoded field value.
///
/// ```
/// use ttlog_core::Value;
/// assert_eq!(Value::U64(42).to_string(), "42");
/// assert_eq!(Value::Str("AAPL".into()).to_string(), "AAPL");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A `bool`.
    Bool(bool),
    /// A `char`.
    Char(char),
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A `u128`.
    U128(u128),
    /// An `i128`.
    I128(i128),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
    /// Text.
    Str(String),
}

/// A field value, borrowed: what [`crate::json::push_value`] writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// A `bool`.
    Bool(bool),
    /// A `char`.
    Char(char),
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A `u128`.
    U128(u128),
    /// An `i128`.
    I128(i128),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
    /// Text.
    Str(&'a str),
}

impl Value {
    /// This value, borrowed.
    pub fn as_value_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Bool(v) => ValueRef::Bool(*v),
            Value::Char(v) => ValueRef::Char(*v),
            Value::U64(v) => ValueRef::U64(*v),
            Value::I64(v) => ValueRef::I64(*v),
            Value::U128(v) => ValueRef::U128(*v),
            Value::I128(v) => ValueRef::I128(*v),
            Value::F32(v) => ValueRef::F32(*v),
            Value::F64(v) => ValueRef::F64(*v),
            Value::Str(v) => ValueRef::Str(v),
        }
    }

    /// The kind of this value.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Bool(_) => Kind::Bool,
            Value::Char(_) => Kind::Char,
            Value::U64(_) => Kind::U64,
            Value::I64(_) => Kind::I64,
            Value::U128(_) => Kind::U128,
            Value::I128(_) => Kind::I128,
            Value::F32(_) => Kind::F32,
            Value::F64(_) => Kind::F64,
            Value::Str(_) => Kind::Str,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_value_ref().fmt(f)
    }
}

impl fmt::Display for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueRef::Bool(v) => v.fmt(f),
            ValueRef::Char(v) => v.fmt(f),
            ValueRef::U64(v) => v.fmt(f),
            ValueRef::I64(v) => v.fmt(f),
            ValueRef::U128(v) => v.fmt(f),
            ValueRef::I128(v) => v.fmt(f),
            ValueRef::F32(v) => v.fmt(f),
            ValueRef::F64(v) => v.fmt(f),
            ValueRef::Str(v) => v.fmt(f),
        }
    }
}

impl ValueRef<'_> {
    /// The owned [`Value`].
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Bool(v) => Value::Bool(v),
            ValueRef::Char(v) => Value::Char(v),
            ValueRef::U64(v) => Value::U64(v),
            ValueRef::I64(v) => Value::I64(v),
            ValueRef::U128(v) => Value::U128(v),
            ValueRef::I128(v) => Value::I128(v),
            ValueRef::F32(v) => Value::F32(v),
            ValueRef::F64(v) => Value::F64(v),
            ValueRef::Str(v) => Value::Str(v.to_owned()),
        }
    }
}

/// A value that can be recorded as a field. Implemented for every integer
/// width, `f32`, `f64`, `bool`, `char` and string types; `%value` and
/// `?value` in the macros record anything `Display` or `Debug`.
pub trait Encode {
    /// The kind every value of this type is recorded as.
    const KIND: Kind;
    /// Number of ring words [`Encode::encode`] writes for this value.
    fn words(&self) -> usize;
    /// Writes exactly [`Encode::words`] words.
    fn encode(&self, w: &mut RecordWriter<'_>);
}

impl<T: Encode + ?Sized> Encode for &T {
    const KIND: Kind = T::KIND;
    #[inline(always)]
    fn words(&self) -> usize {
        (**self).words()
    }
    #[inline(always)]
    fn encode(&self, w: &mut RecordWriter<'_>) {
        (**self).encode(w)
    }
}

macro_rules! encode_word {
    ($($t:ty => $kind:ident, |$v:ident| $to:expr;)*) => {$(
        impl Encode for $t {
            const KIND: Kind = Kind::$kind;
            #[inline(always)]
            fn words(&self) -> usize {
                1
            }
            #[inline(always)]
            fn encode(&self, w: &mut RecordWriter<'_>) {
                let $v = *self;
                w.push($to);
            }
        }
    )*};
}

encode_word! {
    u8 => U64, |v| v as u64;
    u16 => U64, |v| v as u64;
    u32 => U64, |v| v as u64;
    u64 => U64, |v| v;
    usize => U64, |v| v as u64;
    i8 => I64, |v| v as i64 as u64;
    i16 => I64, |v| v as i64 as u64;
    i32 => I64, |v| v as i64 as u64;
    i64 => I64, |v| v as u64;
    isize => I64, |v| v as i64 as u64;
    bool => Bool, |v| v as u64;
    char => Char, |v| v as u64;
    f32 => F32, |v| v.to_bits() as u64;
    f64 => F64, |v| v.to_bits();
}

impl Encode for u128 {
    const KIND: Kind = Kind::U128;
    #[inline(always)]
    fn words(&self) -> usize {
        2
    }
    #[inline(always)]
    fn encode(&self, w: &mut RecordWriter<'_>) {
        w.push(*self as u64);
        w.push((*self >> 64) as u64);
    }
}

impl Encode for i128 {
    const KIND: Kind = Kind::I128;
    #[inline(always)]
    fn words(&self) -> usize {
        2
    }
    #[inline(always)]
    fn encode(&self, w: &mut RecordWriter<'_>) {
        (*self as u128).encode(w)
    }
}

/// Bytes of a string that its first word holds, after the 16-bit length.
const FIRST_WORD_BYTES: usize = 6;

/// Words a string of `len` bytes takes: the first word holds the length
/// (16 bits) and up to [`FIRST_WORD_BYTES`] bytes, each further word 8.
#[inline(always)]
pub(crate) const fn str_words(len: usize) -> usize {
    if len <= FIRST_WORD_BYTES { 1 } else { 1 + (len - FIRST_WORD_BYTES).div_ceil(8) }
}

/// The longest prefix of `s` that ends on a character boundary and is at
/// most `max` bytes long.
fn floor_boundary(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Packs up to 8 bytes little-endian, without a call to `memcpy`: two
/// overlapping 4-byte loads for 4..=8 bytes, three single bytes below.
#[inline(always)]
fn pack(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    debug_assert!(n <= 8);
    if n >= 4 {
        let lo = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as u64;
        let hi = u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]) as u64;
        lo | (hi << ((n - 4) * 8))
    } else if n > 0 {
        let mid = n / 2;
        bytes[0] as u64 | ((bytes[mid] as u64) << (mid * 8)) | ((bytes[n - 1] as u64) << ((n - 1) * 8))
    } else {
        0
    }
}

/// Where encoded words go: the ring ([`RecordWriter`]) on the macros' path,
/// a stack buffer for the bridges, whose values arrive one by one before the
/// record's size is known.
pub(crate) trait WordSink {
    /// Appends one word.
    fn push(&mut self, word: u64);
    /// Notes that a string value was cut to fit.
    fn note_truncated(&mut self);
}

impl WordSink for RecordWriter<'_> {
    #[inline(always)]
    fn push(&mut self, word: u64) {
        RecordWriter::push(self, word)
    }
    #[inline]
    fn note_truncated(&mut self) {
        RecordWriter::note_truncated(self)
    }
}

/// Writes `s` as one string value, cut to [`MAX_STR_BYTES`].
#[inline(always)]
pub(crate) fn put_str<S: WordSink>(s: &str, w: &mut S) {
    if s.len() <= FIRST_WORD_BYTES {
        // The common short value (a symbol, a status): one word.
        w.push(s.len() as u64 | (pack(s.as_bytes()) << 16));
    } else if s.len() <= MAX_STR_BYTES {
        encode_parts(s.as_bytes(), &[], w);
    } else {
        w.note_truncated();
        let body = floor_boundary(s, MAX_STR_BYTES - TRUNCATION_MARKER.len());
        encode_parts(body.as_bytes(), TRUNCATION_MARKER.as_bytes(), w);
    }
}

/// Writes `body` followed by `suffix` as one string value.
#[inline]
fn encode_parts<S: WordSink>(body: &[u8], suffix: &[u8], w: &mut S) {
    let len = body.len() + suffix.len();
    debug_assert!(len <= u16::MAX as usize);
    if suffix.is_empty() {
        let first = &body[..len.min(FIRST_WORD_BYTES)];
        w.push(len as u64 | (pack(first) << 16));
        for chunk in body[first.len()..].chunks(8) {
            w.push(pack(chunk));
        }
        return;
    }
    // A truncated string (rare): stream body and marker through an 8-byte
    // accumulator.
    let mut acc = [0u8; 8];
    acc[0] = len as u8;
    acc[1] = (len >> 8) as u8;
    let mut fill = 2;
    for &b in body.iter().chain(suffix) {
        acc[fill] = b;
        fill += 1;
        if fill == 8 {
            w.push(u64::from_le_bytes(acc));
            acc = [0; 8];
            fill = 0;
        }
    }
    if fill > 0 {
        w.push(u64::from_le_bytes(acc));
    }
}

impl Encode for str {
    const KIND: Kind = Kind::Str;
    #[inline(always)]
    fn words(&self) -> usize {
        if self.len() <= FIRST_WORD_BYTES {
            1
        } else if self.len() <= MAX_STR_BYTES {
            str_words(self.len())
        } else {
            str_words(floor_boundary(self, MAX_STR_BYTES - TRUNCATION_MARKER.len()).len() + TRUNCATION_MARKER.len())
        }
    }
    #[inline(always)]
    fn encode(&self, w: &mut RecordWriter<'_>) {
        put_str(self, w)
    }
}

macro_rules! encode_as_str {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            const KIND: Kind = Kind::Str;
            #[inline(always)]
            fn words(&self) -> usize {
                str::words(self)
            }
            #[inline(always)]
            fn encode(&self, w: &mut RecordWriter<'_>) {
                str::encode(self, w)
            }
        }
    )*};
}

encode_as_str!(String, Box<str>, std::sync::Arc<str>, std::borrow::Cow<'_, str>);

/// A `%value` or `?value` formatted into a stack buffer, so that the hot path
/// never allocates. Built by the macros; not meant to be named.
#[doc(hidden)]
pub struct FmtBuf {
    buf: [u8; MAX_STR_BYTES],
    len: usize,
    truncated: bool,
}

impl fmt::Debug for FmtBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FmtBuf").field("text", &self.as_str()).field("truncated", &self.truncated).finish()
    }
}

impl FmtBuf {
    #[inline]
    fn new() -> FmtBuf {
        FmtBuf { buf: [0; MAX_STR_BYTES], len: 0, truncated: false }
    }

    /// Formats `value` with `Display`.
    #[inline]
    pub fn display<T: fmt::Display + ?Sized>(value: &T) -> FmtBuf {
        let mut b = FmtBuf::new();
        let _ = fmt::write(&mut b, format_args!("{value}"));
        b
    }

    /// Formats `value` with `Debug`.
    #[inline]
    pub fn debug<T: fmt::Debug + ?Sized>(value: &T) -> FmtBuf {
        let mut b = FmtBuf::new();
        let _ = fmt::write(&mut b, format_args!("{value:?}"));
        b
    }

    /// The text kept (without the truncation marker).
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s, cut at character boundaries, are copied in.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for FmtBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.truncated {
            return Ok(());
        }
        let room = MAX_STR_BYTES - self.len;
        if s.len() <= room {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            return Ok(());
        }
        // Keep room for the marker; cut at a character boundary.
        self.truncated = true;
        let keep_total = MAX_STR_BYTES - TRUNCATION_MARKER.len();
        if self.len > keep_total {
            let kept = floor_boundary(self.as_str(), keep_total).len();
            self.len = kept;
        } else {
            let part = floor_boundary(s, keep_total - self.len);
            self.buf[self.len..self.len + part.len()].copy_from_slice(part.as_bytes());
            self.len += part.len();
        }
        Ok(())
    }
}

impl Encode for FmtBuf {
    const KIND: Kind = Kind::Str;
    #[inline]
    fn words(&self) -> usize {
        str_words(self.len + if self.truncated { TRUNCATION_MARKER.len() } else { 0 })
    }
    #[inline]
    fn encode(&self, w: &mut RecordWriter<'_>) {
        self.put(w)
    }
}

impl FmtBuf {
    /// Writes the text as one string value.
    #[inline]
    fn put<S: WordSink>(&self, w: &mut S) {
        if self.truncated {
            w.note_truncated();
            encode_parts(&self.buf[..self.len], TRUNCATION_MARKER.as_bytes(), w);
        } else {
            encode_parts(&self.buf[..self.len], &[], w);
        }
    }
}

/// Writes `v` as [`decode`] reads it back (a string cut to
/// [`MAX_STR_BYTES`], as on the recording path).
pub(crate) fn put_value<S: WordSink>(v: &Value, w: &mut S) {
    match v {
        Value::Bool(b) => w.push(u64::from(*b)),
        Value::Char(c) => w.push(u64::from(*c)),
        Value::U64(n) => w.push(*n),
        Value::I64(n) => w.push(*n as u64),
        Value::U128(n) => {
            w.push(*n as u64);
            w.push((*n >> 64) as u64);
        }
        Value::I128(n) => put_value(&Value::U128(*n as u128), w),
        Value::F32(f) => w.push(u64::from(f.to_bits())),
        Value::F64(f) => w.push(f.to_bits()),
        Value::Str(s) => put_str(s, w),
    }
}

/// Decodes one value of `kind` from `words`, returning it and the number of
/// words it took, or `None` if `words` is too short.
pub(crate) fn decode(kind: Kind, words: &[u64]) -> Option<(Value, usize)> {
    let first = *words.first()?;
    Some(match kind {
        Kind::Bool => (Value::Bool(first != 0), 1),
        Kind::Char => (Value::Char(char::from_u32(first as u32).unwrap_or(char::REPLACEMENT_CHARACTER)), 1),
        Kind::U64 => (Value::U64(first), 1),
        Kind::I64 => (Value::I64(first as i64), 1),
        Kind::U128 => (Value::U128(u128::from(first) | (u128::from(*words.get(1)?) << 64)), 2),
        Kind::I128 => (Value::I128((u128::from(first) | (u128::from(*words.get(1)?) << 64)) as i128), 2),
        Kind::F32 => (Value::F32(f32::from_bits(first as u32)), 1),
        Kind::F64 => (Value::F64(f64::from_bits(first)), 1),
        Kind::Str => {
            let len = (first & 0xffff) as usize;
            let n = str_words(len);
            let src = words.get(..n)?;
            let mut bytes = Vec::with_capacity(len);
            bytes.extend_from_slice(&first.to_le_bytes()[2..2 + len.min(FIRST_WORD_BYTES)]);
            for w in &src[1..] {
                let take = (len - bytes.len()).min(8);
                bytes.extend_from_slice(&w.to_le_bytes()[..take]);
            }
            let text = match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            (Value::Str(text), n)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_matches_a_byte_copy() {
        let bytes: Vec<u8> = (1..=8).collect();
        for n in 0..=8 {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(pack(&bytes[..n]), u64::from_le_bytes(b), "{n} bytes");
        }
    }

    #[test]
    fn str_words_counts() {
        assert_eq!(str_words(0), 1);
        assert_eq!(str_words(6), 1);
        assert_eq!(str_words(7), 2);
        assert_eq!(str_words(14), 2);
        assert_eq!(str_words(15), 3);
    }

    #[test]
    fn floor_boundary_never_splits_a_char() {
        let s = "aé€𝄞";
        for max in 0..=s.len() {
            let p = floor_boundary(s, max);
            assert!(p.len() <= max && s.starts_with(p));
        }
    }

    #[test]
    fn fmtbuf_truncates_at_char_boundary() {
        let long = "é".repeat(MAX_STR_BYTES);
        let b = FmtBuf::display(&long);
        assert!(b.truncated);
        assert!(b.as_str().len() <= MAX_STR_BYTES - TRUNCATION_MARKER.len());
        assert!(b.as_str().chars().all(|c| c == 'é'));
        let short = FmtBuf::debug(&Some(3));
        assert_eq!(short.as_str(), "Some(3)");
        assert!(!short.truncated);
    }
}
