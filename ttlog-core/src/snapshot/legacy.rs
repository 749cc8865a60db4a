//! Snapshots of the original `ttlog` 0.1 crate: one LZ4 block (its
//! uncompressed size first, as a little-endian `u32`) holding the CBOR of
//!
//! ```text
//! SnapShot { service, hostname, pid, created_at: "YYYYmmddHHMMSS",
//!            reason, events: [ResolvedEvent { packed_meta, message, target,
//!                                              kv, file, position: (line, column) }] }
//! ```
//!
//! where `packed_meta` is `millis << 12 | level << 8 | thread_id` (level 0
//! trace … 4 error, 5 fatal) and `kv` is a JSON-like map of field values.
//! They are converted to the same header and columns as this crate's files:
//! each distinct (level, target, message, file, line, field names and kinds)
//! becomes a call site; each thread id a thread; fatal becomes error.

use super::format::{self, CallSiteEntry, ClockEntry, Counters, FieldEntry, Header, ThreadEntry};
use super::reader::{ChunkColumns, FieldColumn, Problem, StrColumn, Values};
use crate::value::{Kind, Value};
use serde::Deserialize;
use serde_cbor::Value as Cbor;
use std::collections::HashMap;

/// The largest uncompressed legacy snapshot accepted.
pub const MAX_LEGACY_RAW_LEN: usize = 1 << 30;

/// The snapshot's own fields; its events are converted one by one as they
/// are read ([`Rows`]), never held as a list of [`LegacyEvent`]s.
#[derive(Debug, Default)]
struct LegacySnapshot {
    service: String,
    hostname: String,
    pid: u32,
    created_at: String,
    reason: String,
}

#[derive(Debug, Deserialize)]
struct LegacyEvent {
    packed_meta: u64,
    message: String,
    target: String,
    kv: Cbor,
    file: String,
    position: (u32, u32),
}

/// Renders a CBOR value as JSON-like text (for values that have no column
/// type: arrays, maps, null, bytes).
fn render(v: &Cbor, out: &mut String) {
    use std::fmt::Write;
    match v {
        Cbor::Null => out.push_str("null"),
        Cbor::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Cbor::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Cbor::Float(f) => {
            let _ = write!(out, "{f}");
        }
        Cbor::Text(s) => {
            let _ = write!(out, "{s:?}");
        }
        Cbor::Bytes(b) => {
            out.push_str("0x");
            for x in b {
                let _ = write!(out, "{x:02x}");
            }
        }
        Cbor::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(x, out);
            }
            out.push(']');
        }
        Cbor::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(k, out);
                out.push(':');
                render(x, out);
            }
            out.push('}');
        }
        Cbor::Tag(_, x) => render(x, out),
        _ => out.push('?'),
    }
}

/// A legacy field value as one of our values.
fn to_value(v: &Cbor) -> Value {
    match v {
        Cbor::Bool(b) => Value::Bool(*b),
        Cbor::Integer(i) if *i >= 0 && *i <= u64::MAX as i128 => Value::U64(*i as u64),
        Cbor::Integer(i) if *i < 0 && *i >= i64::MIN as i128 => Value::I64(*i as i64),
        Cbor::Float(f) => Value::F64(*f),
        Cbor::Text(s) => Value::Str(s.clone()),
        Cbor::Tag(_, x) => to_value(x),
        other => {
            let mut s = String::new();
            render(other, &mut s);
            Value::Str(s)
        }
    }
}

fn key_text(k: &Cbor) -> String {
    match k {
        Cbor::Text(s) => s.clone(),
        other => {
            let mut s = String::new();
            render(other, &mut s);
            s
        }
    }
}

/// Parses `created_at` (`YYYYmmddHHMMSS`, UTC).
fn parse_created_at(s: &str) -> Option<i64> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize, b: usize| s[a..b].parse::<u32>().ok();
    let (mo, d, h, mi, se) = (n(4, 6)?, n(6, 8)?, n(8, 10)?, n(10, 12)?, n(12, 14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(crate::time::ns_from_civil(i64::from(n(0, 4)?), mo, d, h, mi, se))
}

fn push_value(values: &mut Values, v: Value) {
    match (values, v) {
        (Values::Bool(c), Value::Bool(x)) => c.push(x),
        (Values::U64(c), Value::U64(x)) => c.push(x),
        (Values::I64(c), Value::I64(x)) => c.push(x),
        (Values::F64(c), Value::F64(x)) => c.push(x),
        (Values::Str(c), Value::Str(x)) => c.push(&x),
        // The call-site key includes each field's kind, so kinds always match.
        _ => unreachable!("legacy column kind matches its call site"),
    }
}

fn empty_values(kind: Kind) -> Values {
    match kind {
        Kind::Bool => Values::Bool(Vec::new()),
        Kind::U64 => Values::U64(Vec::new()),
        Kind::I64 => Values::I64(Vec::new()),
        Kind::F64 => Values::F64(Vec::new()),
        _ => Values::Str(StrColumn::default()),
    }
}

type SiteKey = (u8, String, String, String, u32, Vec<(String, Kind)>);

/// One event of a legacy snapshot, converted: its time, thread, call site
/// and field values (the sequence number is given once all are read).
struct Row {
    ts: i64,
    thread: u32,
    seq: u64,
    cs: u32,
    values: Vec<Value>,
}

/// The events of a legacy snapshot, converted as they are read, with an
/// estimate of the memory they take, checked against `limit`.
#[derive(Default)]
struct Rows {
    limit: Option<u64>,
    /// Bytes held besides the rows (the decompressed block).
    base: u64,
    /// Bytes the rows' own allocations take (values, strings).
    held: u64,
    sites: HashMap<SiteKey, u32>,
    site_list: Vec<CallSiteEntry>,
    thread_index: HashMap<u8, u32>,
    threads: Vec<ThreadEntry>,
    rows: Vec<Row>,
    /// Set when the limit was passed: the events read, and the limit.
    over: Option<(usize, u64)>,
}

/// What one allocation costs besides its bytes (the allocator's header and
/// rounding).
const ALLOCATION: u64 = 16;

impl Rows {
    /// The memory the decoding takes at its peak: the block, the rows, and
    /// the columns built from the rows (about as large again).
    fn need(&self) -> u64 {
        let rows = (self.rows.capacity() * std::mem::size_of::<Row>()) as u64 + self.held;
        self.base.saturating_add(rows.saturating_mul(2))
    }

    /// Converts one event; `Err` when the memory limit is passed.
    fn push(&mut self, e: LegacyEvent) -> Result<(), String> {
        let millis = e.packed_meta >> 12;
        let level = (((e.packed_meta >> 8) & 0xf) as u8).min(4);
        let tid = (e.packed_meta & 0xff) as u8;
        let mut fields: Vec<(String, Value)> = match &e.kv {
            Cbor::Map(m) => m.iter().map(|(k, v)| (key_text(k), to_value(v))).collect(),
            Cbor::Null => Vec::new(),
            other => vec![("kv".to_owned(), to_value(other))],
        };
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let kinds: Vec<(String, Kind)> = fields.iter().map(|(n, v)| (n.clone(), v.kind())).collect();
        let key: SiteKey = (level, e.target, e.message, e.file, e.position.0, kinds);
        let next = self.site_list.len() as u32 + 1;
        let site_list = &mut self.site_list;
        let cs = *self.sites.entry(key.clone()).or_insert_with(|| {
            site_list.push(CallSiteEntry {
                id: next,
                level: key.0,
                target: key.1.clone(),
                message: key.2.clone(),
                file: key.3.clone(),
                line: key.4,
                module_path: key.1.clone(),
                fields: key.5.iter().map(|(n, k)| FieldEntry { name: n.clone(), kind: *k as u8 }).collect(),
                limit: None,
            });
            next
        });
        let threads = &mut self.threads;
        let thread = *self.thread_index.entry(tid).or_insert_with(|| {
            threads.push(ThreadEntry {
                id: u64::from(tid),
                name: None,
                written: 0,
                overwritten: 0,
                dropped_too_large: 0,
                ring: None,
            });
            threads.len() as u32 - 1
        });
        let ts = (millis.min(i64::MAX as u64 / 1_000_000) as i64) * 1_000_000;
        let values: Vec<Value> = fields.into_iter().map(|(_, v)| v).collect();
        if !values.is_empty() {
            self.held += ALLOCATION + (values.capacity() * std::mem::size_of::<Value>()) as u64;
            for v in &values {
                if let Value::Str(s) = v {
                    self.held += ALLOCATION + s.capacity() as u64;
                }
            }
        }
        self.rows.push(Row { ts, thread, seq: 0, cs, values });
        if let Err(over) = crate::memory::check_against(self.need(), self.limit) {
            self.over = Some((self.rows.len(), over.limit));
            return Err("over the memory limit".to_owned());
        }
        Ok(())
    }
}

/// The top-level map of a legacy snapshot, its events converted into
/// [`Rows`] as they are read.
struct SnapshotSeed<'a>(&'a mut Rows);

impl<'de> serde::de::DeserializeSeed<'de> for SnapshotSeed<'_> {
    type Value = LegacySnapshot;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<LegacySnapshot, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for SnapshotSeed<'_> {
    type Value = LegacySnapshot;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a ttlog 0.1 snapshot")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<LegacySnapshot, A::Error> {
        use serde::de::Error;
        let mut snap = LegacySnapshot::default();
        let mut seen = [false; 6];
        while let Some(key) = map.next_key::<String>()? {
            let i = match key.as_str() {
                "service" => {
                    snap.service = map.next_value()?;
                    0
                }
                "hostname" => {
                    snap.hostname = map.next_value()?;
                    1
                }
                "pid" => {
                    snap.pid = map.next_value()?;
                    2
                }
                "created_at" => {
                    snap.created_at = map.next_value()?;
                    3
                }
                "reason" => {
                    snap.reason = map.next_value()?;
                    4
                }
                "events" => {
                    map.next_value_seed(EventsSeed(&mut *self.0))?;
                    5
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    continue;
                }
            };
            seen[i] = true;
        }
        let names = ["service", "hostname", "pid", "created_at", "reason", "events"];
        match seen.iter().position(|s| !s) {
            Some(i) => Err(A::Error::missing_field(names[i])),
            None => Ok(snap),
        }
    }
}

/// The array of events of a legacy snapshot, each converted as it is read.
struct EventsSeed<'a>(&'a mut Rows);

impl<'de> serde::de::DeserializeSeed<'de> for EventsSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for EventsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(e) = seq.next_element::<LegacyEvent>()? {
            self.0.push(e).map_err(<A::Error as serde::de::Error>::custom)?;
        }
        Ok(())
    }
}

/// Parses a legacy snapshot into a header and one chunk of columns, or the
/// offset and nature of the problem.
pub(crate) fn parse(data: &[u8]) -> Result<(Header, ChunkColumns), (u64, Problem)> {
    if data.len() < 5 {
        return Err((0, Problem::NotASnapshot(format!("{} bytes: too short", data.len()))));
    }
    let size = format::le_u32(data, 0) as usize;
    let body = &data[4..];
    let cap = MAX_LEGACY_RAW_LEN.min(body.len().saturating_mul(format::LZ4_MAX_RATIO) + 16);
    if size == 0 || size > cap {
        return Err((
            0,
            Problem::NotASnapshot(format!(
                "no TTLOGSNP magic, and not a ttlog 0.1 snapshot: a {size}-byte LZ4 block cannot come from {} bytes",
                body.len()
            )),
        ));
    }
    // The block is decompressed whole, then its events are converted one
    // by one, with the memory they take checked as they come.
    crate::memory::check(size as u64).map_err(|over| {
        let what = format!("this ttlog 0.1 snapshot decompresses into {} first", crate::memory::size_text(size as u64));
        (0, Problem::MemoryLimit { what, limit: over.limit })
    })?;
    let raw = lz4::block::decompress(body, Some(size as i32)).map_err(|e| {
        (4, Problem::NotASnapshot(format!("no TTLOGSNP magic, and not a ttlog 0.1 snapshot (LZ4 data: {e})")))
    })?;
    let mut rows = Rows { limit: crate::memory::limit(), base: raw.len() as u64, ..Rows::default() };
    let mut de = serde_cbor::Deserializer::from_slice(&raw);
    let parsed = serde::de::DeserializeSeed::deserialize(SnapshotSeed(&mut rows), &mut de).and_then(|snap| {
        de.end()?;
        Ok(snap)
    });
    let snap = match parsed {
        Ok(snap) => snap,
        Err(_) if rows.over.is_some() => {
            let (events, limit) = rows.over.unwrap_or_default();
            let what = format!(
                "decoding this ttlog 0.1 snapshot ({} once decompressed) takes about {} after {events} of its events",
                crate::memory::size_text(size as u64),
                crate::memory::size_text(rows.need())
            );
            return Err((0, Problem::MemoryLimit { what, limit }));
        }
        Err(e) => {
            return Err((
                4,
                Problem::NotASnapshot(format!("no TTLOGSNP magic, and not a ttlog 0.1 snapshot (CBOR: {e})")),
            ));
        }
    };
    drop(raw);
    let Rows { site_list, mut threads, mut rows, .. } = rows;
    for t in &mut threads {
        t.written = 0;
    }
    for r in &mut rows {
        let t = &mut threads[r.thread as usize];
        r.seq = t.written;
        t.written += 1;
    }
    rows.sort_by_key(|r| r.ts);

    let mut cols = ChunkColumns::default();
    let mut columns: HashMap<(u32, u32), Values> = HashMap::new();
    let mut counts = vec![0u32; site_list.len()];
    for r in rows {
        cols.timestamps.push(r.ts);
        cols.callsites.push(r.cs);
        cols.threads.push(r.thread);
        cols.seqs.push(r.seq);
        cols.ranks.push(counts[r.cs as usize - 1]);
        counts[r.cs as usize - 1] += 1;
        for (f, v) in r.values.into_iter().enumerate() {
            let col = columns.entry((r.cs, f as u32)).or_insert_with(|| empty_values(v.kind()));
            push_value(col, v);
        }
    }
    let mut columns: Vec<FieldColumn> =
        columns.into_iter().map(|((callsite, field), values)| FieldColumn { callsite, field, values }).collect();
    columns.sort_by_key(|c| (c.callsite, c.field));
    cols.columns = columns;

    let n = cols.len() as u64;
    let created_at_ns =
        parse_created_at(&snap.created_at).unwrap_or_else(|| cols.timestamps.last().copied().unwrap_or(0));
    let header = Header {
        service: snap.service,
        hostname: snap.hostname,
        pid: snap.pid,
        reason: snap.reason,
        created_at_ns,
        library: "ttlog 0.1".to_owned(),
        clock: ClockEntry { source: "legacy-ms".to_owned(), ticks: 0, utc_ns: 0, ns_per_tick: 1.0 },
        threads,
        callsites: site_list,
        counters: Counters { logged: n, in_snapshot: n, ..Counters::default() },
        panic: None,
        instance: None,
        chunks: None,
    };
    Ok((header, cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_at() {
        assert_eq!(parse_created_at("19700101000001"), Some(1_000_000_000));
        assert_eq!(parse_created_at("1970010100000"), None);
        assert_eq!(parse_created_at("19701301000000"), None);
    }

    #[test]
    fn garbage_is_not_a_snapshot() {
        assert!(matches!(parse(b"hello world"), Err((_, Problem::NotASnapshot(_)))));
        assert!(matches!(parse(&[0xff; 64]), Err((_, Problem::NotASnapshot(_)))));
        assert!(matches!(parse(&[]), Err((_, Problem::NotASnapshot(_)))));
    }
}
