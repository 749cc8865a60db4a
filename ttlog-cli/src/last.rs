//! `--last N`: the last moments of every thread. The last `N` events of
//! each thread (one thread of a process across its snapshots), threads in
//! the order of their last event, each with its name, process, and how
//! many events its ring kept and overwrote.
//!
//! The stream of events runs into a [`LastSink`], which keeps at most `N`
//! events per thread (references into their decoded chunks), so memory
//! depends on the number of threads and `N`, never on the events.

use crate::export::{Palette, push_event_json, push_text_line, target_width};
use crate::stream::{Decoded, RowRef, Sink, event_ref};
use crate::tables::Tables;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::Arc;

/// A thread's last events: references into their decoded chunks, in time
/// order.
pub type LastEvents = Vec<(Arc<Decoded>, u32)>;

/// Keeps the last `n` events of every thread of a stream.
#[derive(Debug)]
pub struct LastSink {
    n: usize,
    threads: HashMap<u32, VecDeque<(Arc<Decoded>, u32)>>,
}

impl LastSink {
    /// A sink that keeps `n` events per thread.
    pub fn new(n: usize) -> LastSink {
        LastSink { n, threads: HashMap::new() }
    }

    /// The threads that had events, ordered by their last event's time:
    /// for each, its thread code (the newest snapshot's) and its last
    /// events in time order.
    pub fn threads(&self, tables: &Tables) -> Vec<(u32, LastEvents)> {
        let mut out: Vec<(u32, LastEvents)> =
            self.threads.iter().map(|(&code, rows)| (code, rows.iter().cloned().collect())).collect();
        let last_ts = |rows: &[(Arc<Decoded>, u32)]| rows.last().map_or(i64::MIN, |(d, r)| event_ref(tables, d, *r).ts);
        out.sort_by_key(|(code, rows)| (last_ts(rows), *code));
        out
    }
}

impl Sink for LastSink {
    fn batch(&mut self, tables: &Tables, rows: &[RowRef<'_>]) -> io::Result<()> {
        if self.n == 0 {
            return Ok(());
        }
        for &(d, r) in rows {
            let code = tables.thread_code(d.s, d.cols.threads[r as usize]);
            let canon = tables.thread_canon.get(code as usize).copied().unwrap_or(code);
            let q = self.threads.entry(canon).or_default();
            if q.len() == self.n {
                q.pop_front();
            }
            q.push_back((Arc::clone(d), r));
        }
        Ok(())
    }

    fn finish(&mut self, _: &Tables) -> io::Result<()> {
        Ok(())
    }
}

/// Output formats of `--last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastFormat {
    /// A heading per thread, then its events as text lines.
    Text {
        /// ANSI colours.
        color: bool,
    },
    /// One JSON array of thread objects, each with its `events`.
    Json,
    /// One thread object per line.
    Ndjson,
}

/// Writes the threads of `sink` in `format`; returns how many events.
///
/// # Errors
/// Errors of the output.
pub fn write_last(sink: &LastSink, tables: &Tables, format: LastFormat, w: &mut dyn Write) -> io::Result<u64> {
    let threads = sink.threads(tables);
    let many_sources = tables.sources.len() > 1;
    let width = target_width(tables);
    let mut events = 0;
    let mut out = String::new();
    if format == LastFormat::Json {
        out.push('[');
    }
    for (i, (code, rows)) in threads.iter().enumerate() {
        let th = &tables.threads[*code as usize];
        let source = &tables.sources[th.source as usize];
        let label = th.label();
        let last = rows.last().map(|(d, r)| event_ref(tables, d, *r).ts);
        events += rows.len() as u64;
        match format {
            LastFormat::Text { color } => {
                let p = Palette::new(color);
                let esc = |s: &str| ttlog_core::text::escape(s).into_owned();
                let _ = writeln!(
                    out,
                    "{}== thread {} of {} (pid {}, {}): its last {} event{}; its ring kept {}, overwrote {}; last event {}",
                    if i == 0 { "" } else { "\n" },
                    esc(&label),
                    esc(&source.service),
                    source.pid,
                    esc(&source.path),
                    rows.len(),
                    if rows.len() == 1 { "" } else { "s" },
                    th.written.saturating_sub(th.overwritten),
                    th.overwritten,
                    last.map_or_else(|| "-".to_owned(), ttlog_core::time::format_rfc3339),
                );
                for (d, r) in rows {
                    push_text_line(&mut out, &event_ref(tables, d, *r), &p, width, many_sources);
                }
            }
            LastFormat::Json | LastFormat::Ndjson => {
                if format == LastFormat::Json && i > 0 {
                    out.push(',');
                }
                let head = serde_json::json!({
                    "thread": label,
                    "thread_id": th.id,
                    "service": &*source.service,
                    "hostname": &*source.hostname,
                    "pid": source.pid,
                    "file": source.path,
                    "kept": th.written.saturating_sub(th.overwritten),
                    "overwritten": th.overwritten,
                    "last": last.map(ttlog_core::time::format_rfc3339),
                });
                let head = head.to_string();
                // The thread's object, with its events appended.
                out.push_str(&head[..head.len() - 1]);
                out.push_str(",\"events\":[");
                for (k, (d, r)) in rows.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    push_event_json(&mut out, &event_ref(tables, d, *r));
                }
                out.push_str("]}");
                if format == LastFormat::Ndjson {
                    out.push('\n');
                }
            }
        }
        if out.len() > 1 << 20 {
            w.write_all(out.as_bytes())?;
            out.clear();
        }
    }
    if format == LastFormat::Json {
        out.push_str("]\n");
    }
    w.write_all(out.as_bytes())?;
    w.flush()?;
    Ok(events)
}
