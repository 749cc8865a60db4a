//! [`MemorySource`]: snapshot events held in memory, for the tests and the
//! `view` example.

use crate::source::{
    Direction, ExportFormat, FilterError, Group, Groups, Histogram, InputInfo, LevelSet, LoadError, Needle, Progress,
    Query, Row, Source, Stats, Summary, View, histogram_of_sorted,
};
use crate::text::value_text;
use std::cmp::Ordering as CmpOrdering;
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, RwLock};
use ttlog_core::snapshot::{ChunkColumns, FieldColumn, Snapshot, Values};
use ttlog_core::{Event, Kind, Level, Value};

/// The events of snapshot files (or of a `Vec<Event>`) held in memory in
/// compact columns, with a simple filter language.
///
/// It backs the tests and `cargo run -p ttlog-tui --example view`, so the
/// TUI runs for real without the polars engine of `ttlog-cli`.
///
/// # Layout
///
/// Per input: one timestamp (8 bytes), call-site index (4), thread index
/// (4) and field offset (4) per event, field values as 8-byte words (two
/// for 128-bit integers; text as the index of the distinct string in a
/// table, each distinct string stored once), plus one `u32` per event for
/// the time order of all inputs and one per event that passes the current
/// filter. Targets, messages, files and thread names live once in the
/// call-site and thread tables. With three or four fields that is about 50
/// bytes per event. Because equal texts have equal words, a filter or a group-by
/// on a text field decides once per distinct string, not once per event.
///
/// # Filter language
///
/// Terms separated by spaces, all of which must hold; `!` before a term
/// negates it; values with spaces go in double quotes (`\"` inside).
///
/// | term | keeps events |
/// | --- | --- |
/// | `word` | whose message, target or a text field contains `word` |
/// | `level=warn`, `level>=warn` (`<`, `<=`, `>`, `!=`) | of that level / at least that level |
/// | `target=db`, `message=…`, `thread=…`, `file=…`, `module=…`, `service=…` | with exactly that value |
/// | `target~db` (any key) | whose value contains `db` |
/// | `qty=100`, `qty>=100`, `price<2.5`, `symbol=AAPL`, `ok=true` | whose field has that value (numbers compare as numbers) |
///
/// ```
/// use ttlog_tui::{MemorySource, Progress, Query, Source};
/// let source = MemorySource::new();
/// source.add_input("../testdata/many-threads.bin".as_ref(), &Progress::new()).unwrap();
/// let view = source.filter(&Query::new(""), &Progress::new()).unwrap();
/// assert_eq!(view.len(), 800);
/// ```
#[derive(Debug, Default)]
pub struct MemorySource {
    store: RwLock<Store>,
    /// Held by a load from start to end: a load publishes a partial input
    /// first and replaces it at the end, with no other input in between.
    loading: std::sync::Mutex<()>,
    /// Rows after which a load shows what it has ([`PARTIAL_EVENTS`]; 0 for
    /// the default).
    partial_after: usize,
    /// The last filter's result, which a narrower filter starts from.
    last: std::sync::Mutex<Option<LastFilter>>,
}

#[derive(Debug)]
struct LastFilter {
    query: Query,
    /// The time order it was computed over: the identity of the events
    /// loaded then.
    order: Arc<Vec<u32>>,
    rows: Arc<Vec<u32>>,
}

impl LastFilter {
    /// Whether every event passing `query` is among `rows`: same events
    /// loaded, no level added, and the expression this one's plus terms.
    fn narrowed_by(&self, query: &Query, order: &Arc<Vec<u32>>) -> bool {
        let (old, new) = (self.query.expr.trim(), query.expr.trim());
        Arc::ptr_eq(&self.order, order)
            && query.levels.is_subset(self.query.levels)
            && (old.is_empty()
                || new == old
                || new.strip_prefix(old).is_some_and(|rest| rest.starts_with(char::is_whitespace)))
    }
}

/// Everything loaded, cheap to clone: views keep the store they were made
/// from, so adding an input never changes a view.
#[derive(Debug, Clone, Default)]
struct Store {
    inputs: Vec<Arc<Input>>,
    infos: Vec<InputInfo>,
    /// Global row id of each input's first event.
    starts: Vec<u32>,
    /// Every global row id in time order (ties: load order).
    order: Arc<Vec<u32>>,
}

#[derive(Debug, Default)]
struct Input {
    sites: Vec<Site>,
    threads: Vec<Thread>,
    ts: Vec<i64>,
    site: Vec<u32>,
    thread: Vec<u32>,
    field_base: Vec<u32>,
    words: Vec<u64>,
    /// The distinct text values, back to back; a text word indexes `spans`.
    strings: String,
    spans: Vec<(u64, u32)>,
    /// Text to its word, while loading.
    /// (SipHash, the std default: the texts come from files that may be
    /// hostile, and a weak hash would let one make loading quadratic.)
    intern: HashMap<Box<str>, u64>,
}

#[derive(Debug, Clone)]
struct Site {
    level: Level,
    target: Arc<str>,
    message: Arc<str>,
    module_path: Arc<str>,
    file: Arc<str>,
    line: u32,
    /// Name, kind and word offset of each field.
    fields: Vec<(Arc<str>, Kind, u32)>,
}

#[derive(Debug, Clone)]
struct Thread {
    id: u64,
    name: Arc<str>,
}

/// Events loaded before the first of them are shown while the rest of a
/// large input loads.
const PARTIAL_EVENTS: usize = 100_000;

const BUILTIN_KEYS: [&str; 7] = ["level", "target", "message", "thread", "file", "module", "service"];

impl MemorySource {
    /// An empty source.
    pub fn new() -> MemorySource {
        MemorySource::default()
    }

    /// A source holding `events` as one input described by `info` (whose
    /// `events` count is set from `events`).
    ///
    /// ```
    /// use ttlog_tui::{InputInfo, MemorySource, Source};
    /// let s = MemorySource::from_events(Vec::new(), InputInfo::default());
    /// assert_eq!(s.summary().inputs.len(), 1);
    /// ```
    pub fn from_events(events: Vec<Event>, info: InputInfo) -> MemorySource {
        let s = MemorySource::new();
        s.add_events(events, info);
        s
    }

    /// Adds `events` as one more input described by `info`.
    pub fn add_events(&self, events: Vec<Event>, mut info: InputInfo) -> InputInfo {
        let _loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        let mut input = Input::default();
        let mut sites: HashMap<SiteKey, u32> = HashMap::new();
        let mut threads: HashMap<(u64, Option<Arc<str>>), u32> = HashMap::new();
        for e in &events {
            let key = SiteKey::of(e);
            let site = *sites.entry(key).or_insert_with(|| {
                input.sites.push(Site::new(
                    e.level,
                    &e.target,
                    &e.message,
                    &e.module_path,
                    &e.file,
                    e.line,
                    e.fields.iter().map(|(n, v)| (Arc::clone(n), v.kind())),
                ));
                (input.sites.len() - 1) as u32
            });
            let thread = *threads.entry((e.thread_id, e.thread_name.clone())).or_insert_with(|| {
                input.threads.push(Thread::new(e.thread_id, e.thread_name.as_deref()));
                (input.threads.len() - 1) as u32
            });
            input.push_row(e.timestamp_ns, site, thread);
            for (_, v) in &e.fields {
                input.push_value(v.clone());
            }
        }
        info.events = input.ts.len() as u64;
        input.finish();
        self.publish(input, info.clone(), false);
        info
    }

    /// Adds `input`, or replaces the last input (a partial copy of the
    /// first rows of `input`) with it.
    fn publish(&self, input: Input, info: InputInfo, replace_last: bool) {
        let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
        let (start, known) = if replace_last {
            let last = store.inputs.len() - 1;
            let known = store.inputs[last].ts.len();
            store.starts.pop();
            store.inputs.pop();
            store.infos.pop();
            (store.order.len() as u32 - known as u32, known)
        } else {
            (store.order.len() as u32, 0)
        };
        // The rows not in the order yet.
        let n = input.ts.len();
        let mut local: Vec<u32> = (known as u32..n as u32).collect();
        if !input.ts[known..].is_sorted() {
            local.sort_by_key(|&r| input.ts[r as usize]);
        }
        let n = local.len();
        // In place first: the order's ts lookups then find every row,
        // including those of the partial copy being replaced.
        store.starts.push(start);
        store.inputs.push(Arc::new(input));
        store.infos.push(info);
        let input = Arc::clone(store.inputs.last().expect("just pushed"));
        let merged: Vec<u32> = if store.order.is_empty() {
            local
        } else {
            let old = &store.order;
            let mut out = Vec::with_capacity(old.len() + n);
            let (mut i, mut j) = (0, 0);
            while i < old.len() && j < n {
                if store.ts(old[i]) <= input.ts[local[j] as usize] {
                    out.push(old[i]);
                    i += 1;
                } else {
                    out.push(start + local[j]);
                    j += 1;
                }
            }
            out.extend_from_slice(&old[i..]);
            out.extend(local[j..].iter().map(|r| start + r));
            out
        };
        store.order = Arc::new(merged);
    }

    /// Removes the last input (a partial one whose load was cancelled).
    fn unpublish_last(&self) {
        let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
        let Some(start) = store.starts.pop() else { return };
        store.inputs.pop();
        store.infos.pop();
        let order: Vec<u32> = store.order.iter().copied().filter(|&g| g < start).collect();
        store.order = Arc::new(order);
    }

    fn store(&self) -> Store {
        self.store.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(PartialEq, Eq, Hash)]
struct SiteKey {
    level: Level,
    target: Arc<str>,
    message: Arc<str>,
    module_path: Arc<str>,
    file: Arc<str>,
    line: u32,
    fields: Vec<(Arc<str>, u8)>,
}

impl SiteKey {
    fn of(e: &Event) -> SiteKey {
        SiteKey {
            level: e.level,
            target: Arc::clone(&e.target),
            message: Arc::clone(&e.message),
            module_path: Arc::clone(&e.module_path),
            file: Arc::clone(&e.file),
            line: e.line,
            fields: e.fields.iter().map(|(n, v)| (Arc::clone(n), v.kind() as u8)).collect(),
        }
    }
}

impl Site {
    fn new(
        level: Level,
        target: &Arc<str>,
        message: &Arc<str>,
        module_path: &Arc<str>,
        file: &Arc<str>,
        line: u32,
        fields: impl Iterator<Item = (Arc<str>, Kind)>,
    ) -> Site {
        let mut words = 0;
        let fields = fields
            .map(|(name, kind)| {
                let off = words;
                words += if matches!(kind, Kind::U128 | Kind::I128) { 2 } else { 1 };
                (name, kind, off)
            })
            .collect();
        Site {
            level,
            target: Arc::clone(target),
            message: Arc::clone(message),
            module_path: Arc::clone(module_path),
            file: Arc::clone(file),
            line,
            fields,
        }
    }
}

impl Thread {
    fn new(id: u64, name: Option<&str>) -> Thread {
        Thread { id, name: name.map_or_else(|| Arc::from(format!("#{id}")), Arc::from) }
    }
}

impl Input {
    fn push_row(&mut self, ts: i64, site: u32, thread: u32) {
        self.ts.push(ts);
        self.site.push(site);
        self.thread.push(thread);
        self.field_base.push(self.words.len() as u32);
    }

    fn push_value(&mut self, v: Value) {
        match v {
            Value::Bool(b) => self.words.push(u64::from(b)),
            Value::Char(c) => self.words.push(u64::from(c)),
            Value::U64(n) => self.words.push(n),
            Value::I64(n) => self.words.push(n as u64),
            Value::U128(n) => self.words.extend([n as u64, (n >> 64) as u64]),
            Value::I128(n) => self.words.extend([n as u64, ((n as u128) >> 64) as u64]),
            Value::F32(x) => self.words.push(f64::from(x).to_bits()),
            Value::F64(x) => self.words.push(x.to_bits()),
            Value::Str(s) => self.push_str(&s),
        }
    }

    fn push_str(&mut self, s: &str) {
        let word = match self.intern.get(s) {
            Some(&w) => w,
            None => {
                let w = self.spans.len() as u64;
                self.spans.push((self.strings.len() as u64, s.len() as u32));
                self.strings.push_str(s);
                self.intern.insert(s.into(), w);
                w
            }
        };
        self.words.push(word);
    }

    fn str_at(&self, word: u64) -> &str {
        let Some(&(off, len)) = self.spans.get(word as usize) else { return "" };
        self.strings.get(off as usize..off as usize + len as usize).unwrap_or("")
    }

    /// Fields of `row` as the table shows them (`name=value …`), into `out`.
    fn fields_text_into(&self, row: usize, site: &Site, out: &mut String) {
        use std::fmt::Write as _;
        for (i, (name, kind, off)) in site.fields.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(name);
            out.push('=');
            let w = self.field_base[row] as usize + *off as usize;
            match kind {
                Kind::Str => {
                    let s = self.str_at(self.words[w]);
                    if s.is_empty() || s.contains([' ', '"', '=']) {
                        let _ = write!(out, "{s:?}");
                    } else {
                        out.push_str(s);
                    }
                }
                Kind::U128 | Kind::I128 => {
                    let _ = write!(out, "{}", self.decode(*kind, self.words[w], self.words[w + 1]));
                }
                k => {
                    let _ = write!(out, "{}", self.decode(*k, self.words[w], 0));
                }
            }
        }
    }

    /// A copy of what is loaded so far, to show while the rest loads.
    fn partial_copy(&self) -> Input {
        Input {
            sites: self.sites.clone(),
            threads: self.threads.clone(),
            ts: self.ts.clone(),
            site: self.site.clone(),
            thread: self.thread.clone(),
            field_base: self.field_base.clone(),
            words: self.words.clone(),
            strings: self.strings.clone(),
            spans: self.spans.clone(),
            intern: HashMap::default(),
        }
    }

    /// Whether `pred` holds for each distinct text, by word.
    fn str_table(&self, pred: impl Fn(&str) -> bool) -> Vec<bool> {
        (0..self.spans.len()).map(|w| pred(self.str_at(w as u64))).collect()
    }

    /// Frees what only loading needs.
    fn finish(&mut self) {
        self.intern = HashMap::default();
        self.ts.shrink_to_fit();
        self.site.shrink_to_fit();
        self.thread.shrink_to_fit();
        self.field_base.shrink_to_fit();
        self.words.shrink_to_fit();
        self.strings.shrink_to_fit();
        self.spans.shrink_to_fit();
    }

    fn value(&self, row: usize, kind: Kind, off: u32) -> Value {
        let i = self.field_base[row] as usize + off as usize;
        let hi = if matches!(kind, Kind::U128 | Kind::I128) { self.words[i + 1] } else { 0 };
        self.decode(kind, self.words[i], hi)
    }

    /// The value of a field from its word(s).
    fn decode(&self, kind: Kind, w: u64, hi: u64) -> Value {
        match kind {
            Kind::Bool => Value::Bool(w != 0),
            Kind::Char => Value::Char(char::from_u32(w as u32).unwrap_or(char::REPLACEMENT_CHARACTER)),
            Kind::U64 => Value::U64(w),
            Kind::I64 => Value::I64(w as i64),
            Kind::U128 => Value::U128(u128::from(w) | (u128::from(hi) << 64)),
            Kind::I128 => Value::I128((u128::from(w) | (u128::from(hi) << 64)) as i128),
            Kind::F32 => Value::F32(f64::from_bits(w) as f32),
            Kind::F64 => Value::F64(f64::from_bits(w)),
            Kind::Str => Value::Str(self.str_at(w).to_owned()),
        }
    }

    /// Appends a decoded chunk of `snap`.
    fn push_chunk(&mut self, cols: &ChunkColumns) -> Result<(), String> {
        // The field columns of each call site, looked up once per chunk.
        let mut by_site: Vec<Vec<Option<&FieldColumn>>> = vec![Vec::new(); self.sites.len()];
        for (s, site) in self.sites.iter().enumerate() {
            by_site[s] = (0..site.fields.len()).map(|f| cols.column(s as u32 + 1, f as u32)).collect();
        }
        self.ts.reserve(cols.len());
        for row in 0..cols.len() {
            let cs = cols.callsites[row];
            let s = cs
                .checked_sub(1)
                .filter(|&s| (s as usize) < self.sites.len())
                .ok_or_else(|| format!("event {row} names call site {cs}, the header has {}", self.sites.len()))?;
            let t = cols.threads[row];
            if t as usize >= self.threads.len() {
                return Err(format!("event {row} names thread {t}, the header has {}", self.threads.len()));
            }
            self.push_row(cols.timestamps[row], s, t);
            let rank = cols.ranks[row] as usize;
            for (f, column) in by_site[s as usize].iter().enumerate() {
                let kind = self.sites[s as usize].fields[f].1;
                match column.map(|c| &c.values) {
                    Some(Values::Str(c)) if rank < c.len() => self.push_str(c.get(rank)),
                    Some(Values::U64(c)) if rank < c.len() => self.words.push(c[rank]),
                    Some(Values::I64(c)) if rank < c.len() => self.words.push(c[rank] as u64),
                    Some(Values::F64(c)) if rank < c.len() => self.words.push(c[rank].to_bits()),
                    Some(v) => match v.get(rank) {
                        Some(v) if v.kind() == kind => self.push_value(v),
                        _ => return Err(format!("event {row}: field {f} of call site {cs} is missing")),
                    },
                    None => return Err(format!("event {row}: field {f} of call site {cs} has no column")),
                }
            }
        }
        Ok(())
    }
}

impl Store {
    fn locate(&self, g: u32) -> (usize, usize) {
        if self.starts.len() == 1 {
            return (0, g as usize);
        }
        let i = self.starts.partition_point(|&s| s <= g) - 1;
        (i, (g - self.starts[i]) as usize)
    }

    fn ts(&self, g: u32) -> i64 {
        let (i, r) = self.locate(g);
        self.inputs[i].ts[r]
    }

    fn row(&self, g: u32) -> Row {
        let (i, r) = self.locate(g);
        let input = &self.inputs[i];
        let site = &input.sites[input.site[r] as usize];
        let thread = &input.threads[input.thread[r] as usize];
        Row {
            id: u64::from(g),
            timestamp_ns: input.ts[r],
            level: site.level,
            thread: Arc::clone(&thread.name),
            thread_id: thread.id,
            target: Arc::clone(&site.target),
            message: Arc::clone(&site.message),
            module_path: Arc::clone(&site.module_path),
            file: Arc::clone(&site.file),
            line: site.line,
            input: i,
            fields: site.fields.iter().map(|(n, k, off)| (Arc::clone(n), input.value(r, *k, *off))).collect(),
        }
    }

    fn field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for input in &self.inputs {
            for site in &input.sites {
                for (n, _, _) in &site.fields {
                    if !names.iter().any(|x| **x == **n) {
                        names.push(n.to_string());
                    }
                }
            }
        }
        names.sort();
        names
    }
}

impl Source for MemorySource {
    fn summary(&self) -> Summary {
        Summary { inputs: self.store.read().unwrap_or_else(|e| e.into_inner()).infos.clone() }
    }

    fn add_input(&self, path: &Path, progress: &Progress) -> Result<InputInfo, LoadError> {
        let _loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        let err = |message: String| LoadError { path: path.to_owned(), message };
        let snap = Snapshot::open(path).map_err(|e| err(e.to_string()))?;
        let h = snap.header();
        let mut info = InputInfo {
            path: path.to_owned(),
            service: h.service.clone(),
            hostname: h.hostname.clone(),
            pid: h.pid,
            reason: h.reason.clone(),
            created_at_ns: h.created_at_ns,
            events: 0,
            overwritten: h.counters.overwritten,
            dropped: h.counters.dropped(),
            problems: snap.problems().iter().map(ToString::to_string).collect(),
        };
        let mut input = Input {
            sites: snap
                .callsites()
                .iter()
                .map(|c| {
                    Site::new(
                        c.level,
                        &c.target,
                        &c.message,
                        &c.module_path,
                        &c.file,
                        c.line,
                        c.fields.iter().map(|(n, k)| (Arc::clone(n), *k)),
                    )
                })
                .collect(),
            threads: snap.threads().iter().map(|t| Thread::new(t.id, t.name.as_deref())).collect(),
            ..Input::default()
        };
        progress.set_total(snap.event_count());
        let mut published = false;
        let n_chunks = snap.chunks().len();
        // Decode on a second thread, one chunk ahead of the one appending.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<ChunkColumns, String>>(2);
        std::thread::scope(|s| {
            let snap = &snap;
            s.spawn(move || {
                for i in 0..n_chunks {
                    if progress.is_cancelled() {
                        break;
                    }
                    if tx.send(snap.decode_chunk(i).map_err(|e| e.to_string())).is_err() {
                        break;
                    }
                }
            });
            for chunk in 0..n_chunks {
                let partial_after = if self.partial_after == 0 { PARTIAL_EVENTS } else { self.partial_after };
                if !published && input.ts.len() >= partial_after && chunk + 1 < n_chunks {
                    let partial = InputInfo { events: input.ts.len() as u64, ..info.clone() };
                    self.publish(input.partial_copy(), partial, false);
                    published = true;
                }
                let Ok(next) = rx.recv() else { break };
                match next {
                    Ok(cols) => {
                        let before = (input.ts.len(), input.words.len());
                        if let Err(m) = input.push_chunk(&cols) {
                            // Keep the input consistent: drop the chunk's partial rows.
                            input.ts.truncate(before.0);
                            input.site.truncate(before.0);
                            input.thread.truncate(before.0);
                            input.field_base.truncate(before.0);
                            input.words.truncate(before.1);
                            info.problems.push(format!("{}: {m}", snap.name()));
                        }
                        progress.add(cols.len() as u64);
                    }
                    Err(m) => info.problems.push(m),
                }
            }
            drop(rx);
        });
        if progress.is_cancelled() {
            if published {
                self.unpublish_last();
            }
            return Err(err("cancelled".into()));
        }
        info.events = input.ts.len() as u64;
        input.finish();
        self.publish(input, info.clone(), published);
        Ok(info)
    }

    fn check(&self, expr: &str) -> Result<(), FilterError> {
        let store = self.store();
        parse(expr, &store.field_names()).map(|_| ())
    }

    fn filter(&self, query: &Query, progress: &Progress) -> Result<Arc<dyn View>, FilterError> {
        let store = self.store();
        let terms = parse(&query.expr, &store.field_names())?;
        if terms.is_empty() && query.levels.is_all() {
            let rows = Arc::clone(&store.order);
            return Ok(Arc::new(MemoryView { store, rows, expr: String::new() }));
        }
        let compiled: Vec<CompiledInput> =
            store.inputs.iter().zip(&store.infos).map(|(i, info)| compile(i, info, &terms, query.levels)).collect();
        // Typing usually narrows: when this query is the last one with
        // terms added (terms are ANDed) and no level added, over the same
        // events, only the last result needs checking.
        let candidates = {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            match &*last {
                Some(l) if l.narrowed_by(query, &store.order) => Arc::clone(&l.rows),
                _ => Arc::clone(&store.order),
            }
        };
        progress.set_total(candidates.len() as u64);
        let keep = |g: u32| {
            let (i, r) = store.locate(g);
            compiled[i].matches(&store.inputs[i], r)
        };
        let order = &candidates;
        let half = order.len() / 2;
        let run = |part: &[u32]| -> Option<Vec<u32>> {
            let mut out = Vec::new();
            for block in part.chunks(1 << 16) {
                if progress.is_cancelled() {
                    return None;
                }
                out.extend(block.iter().copied().filter(|&g| keep(g)));
                progress.add(block.len() as u64);
            }
            Some(out)
        };
        let (a, b) = std::thread::scope(|s| {
            let h = s.spawn(|| run(&order[half..]));
            let a = run(&order[..half]);
            (a, h.join().unwrap_or(None))
        });
        let (Some(mut rows), Some(b)) = (a, b) else {
            return Err(FilterError::cancelled());
        };
        rows.extend_from_slice(&b);
        rows.shrink_to_fit();
        drop(compiled);
        let rows = Arc::new(rows);
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(LastFilter { query: query.clone(), order: Arc::clone(&store.order), rows: Arc::clone(&rows) });
        Ok(Arc::new(MemoryView { store, rows, expr: query.expr.trim().to_owned() }))
    }

    fn group_keys(&self) -> Vec<String> {
        let store = self.store();
        let mut keys: Vec<String> = BUILTIN_KEYS.iter().map(|k| (*k).to_owned()).collect();
        keys.extend(store.field_names());
        keys
    }
}

/// A filtered selection of a [`MemorySource`].
#[derive(Debug)]
struct MemoryView {
    store: Store,
    rows: Arc<Vec<u32>>,
    /// The expression that made the view, which group filters extend.
    expr: String,
}

impl View for MemoryView {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn rows(&self, range: Range<usize>) -> Vec<Row> {
        let end = range.end.min(self.rows.len());
        let start = range.start.min(end);
        self.rows[start..end].iter().map(|&g| self.store.row(g)).collect()
    }

    fn histogram(&self, buckets: usize) -> Histogram {
        let (Some(&first), Some(&last)) = (self.rows.first(), self.rows.last()) else {
            return Histogram::default();
        };
        let (start_ns, end_ns) = (self.store.ts(first), self.store.ts(last));
        let events = self.rows.iter().map(|&g| {
            let (i, r) = self.store.locate(g);
            let input = &self.store.inputs[i];
            (input.ts[r], input.sites[input.site[r] as usize].level)
        });
        histogram_of_sorted(start_ns, end_ns, buckets, events)
    }

    fn stats(&self) -> Stats {
        // Counts per (input, call site) and per (input, thread) first: a
        // table lookup per event, no strings.
        let mut per_site: Vec<Vec<u64>> = self.store.inputs.iter().map(|i| vec![0; i.sites.len()]).collect();
        let mut per_thread: Vec<Vec<u64>> = self.store.inputs.iter().map(|i| vec![0; i.threads.len()]).collect();
        for &g in self.rows.iter() {
            let (i, r) = self.store.locate(g);
            let input = &self.store.inputs[i];
            per_site[i][input.site[r] as usize] += 1;
            per_thread[i][input.thread[r] as usize] += 1;
        }
        let mut stats = Stats { events: self.rows.len() as u64, ..Stats::default() };
        if let (Some(&a), Some(&b)) = (self.rows.first(), self.rows.last()) {
            stats.span_ns = Some((self.store.ts(a), self.store.ts(b)));
        }
        let mut messages: HashMap<(Level, Arc<str>, Arc<str>), u64> = HashMap::new();
        let mut threads: HashMap<Arc<str>, u64> = HashMap::new();
        for (i, input) in self.store.inputs.iter().enumerate() {
            for (s, &n) in per_site[i].iter().enumerate().filter(|(_, n)| **n > 0) {
                let site = &input.sites[s];
                stats.per_level[site.level as usize] += n;
                *messages.entry((site.level, Arc::clone(&site.target), Arc::clone(&site.message))).or_default() += n;
            }
            for (t, &n) in per_thread[i].iter().enumerate().filter(|(_, n)| **n > 0) {
                *threads.entry(Arc::clone(&input.threads[t].name)).or_default() += n;
            }
        }
        stats.top_messages = messages.into_iter().map(|((l, t, m), n)| (l, t, m, n)).collect();
        stats.top_messages.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| a.2.cmp(&b.2)));
        stats.top_messages.truncate(20);
        stats.per_thread = threads.into_iter().collect();
        stats.per_thread.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        stats
    }

    fn group_by(&self, key: &str, limit: usize) -> Result<Groups, FilterError> {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut missing = 0;
        if let Some(b) = builtin(key) {
            let mut per_site: Vec<Vec<u64>> = self.store.inputs.iter().map(|i| vec![0; i.sites.len()]).collect();
            let mut per_thread: Vec<Vec<u64>> = self.store.inputs.iter().map(|i| vec![0; i.threads.len()]).collect();
            for &g in self.rows.iter() {
                let (i, r) = self.store.locate(g);
                let input = &self.store.inputs[i];
                per_site[i][input.site[r] as usize] += 1;
                per_thread[i][input.thread[r] as usize] += 1;
            }
            for (i, input) in self.store.inputs.iter().enumerate() {
                match b {
                    Builtin::Thread => {
                        for (t, &n) in per_thread[i].iter().enumerate().filter(|(_, n)| **n > 0) {
                            *counts.entry(input.threads[t].name.to_string()).or_default() += n;
                        }
                    }
                    Builtin::Service => {
                        let n: u64 = per_site[i].iter().sum();
                        if n > 0 {
                            *counts.entry(self.store.infos[i].service.clone()).or_default() += n;
                        }
                    }
                    _ => {
                        for (s, &n) in per_site[i].iter().enumerate().filter(|(_, n)| **n > 0) {
                            *counts.entry(b.site_value(&input.sites[s])).or_default() += n;
                        }
                    }
                }
            }
        } else {
            if !self.store.field_names().iter().any(|n| n == key) {
                return Err(FilterError::new(0, format!("unknown key `{key}`")));
            }
            // Count by raw words (equal texts have equal words), text once
            // per distinct value.
            let mut raw: Vec<HashMap<(Kind, u64, u64), u64>> = vec![HashMap::new(); self.store.inputs.len()];
            let offsets: Vec<Vec<Option<(Kind, u32)>>> = self
                .store
                .inputs
                .iter()
                .map(|i| {
                    i.sites
                        .iter()
                        .map(|s| s.fields.iter().find(|(n, _, _)| &**n == key).map(|(_, k, off)| (*k, *off)))
                        .collect()
                })
                .collect();
            for &g in self.rows.iter() {
                let (i, r) = self.store.locate(g);
                let input = &self.store.inputs[i];
                match offsets[i][input.site[r] as usize] {
                    Some((kind, off)) => {
                        let w = input.field_base[r] as usize + off as usize;
                        let hi = if matches!(kind, Kind::U128 | Kind::I128) { input.words[w + 1] } else { 0 };
                        *raw[i].entry((kind, input.words[w], hi)).or_default() += 1;
                    }
                    None => missing += 1,
                }
            }
            for (i, input) in self.store.inputs.iter().enumerate() {
                for (&(kind, lo, hi), &n) in &raw[i] {
                    let text = match kind {
                        Kind::Str => input.str_at(lo).to_owned(),
                        _ => value_text(&input.decode(kind, lo, hi)).into_owned(),
                    };
                    *counts.entry(text).or_default() += n;
                }
            }
        }
        let mut groups: Vec<Group> = counts
            .into_iter()
            .map(|(value, count)| {
                let term = format!("{key}={}", quote(&value));
                let filter = if self.expr.is_empty() { term } else { format!("{} {term}", self.expr) };
                Group { filter, value, count }
            })
            .collect();
        groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        let more = groups.len().saturating_sub(limit);
        groups.truncate(limit);
        Ok(Groups { key: key.to_owned(), groups, missing, more })
    }

    fn find(&self, from: usize, direction: Direction, needle: &Needle, progress: &Progress) -> Option<usize> {
        let n = self.rows.len();
        // Per (input, call site): whether the site alone decides.
        let site_match: Vec<Vec<Option<bool>>> = self
            .store
            .inputs
            .iter()
            .map(|input| {
                input
                    .sites
                    .iter()
                    .map(|s| match needle {
                        Needle::Level(l) => Some(s.level >= *l),
                        Needle::Text(re) if re.is_match(&s.message) || re.is_match(&s.target) => Some(true),
                        Needle::Text(_) if s.fields.is_empty() => Some(false),
                        Needle::Text(_) => None,
                        Needle::Ids(_) => None,
                    })
                    .collect()
            })
            .collect();
        // The fields' text is built per event into one buffer per thread
        // (no Row).
        let test = |pos: usize, text: &mut String| -> bool {
            let g = self.rows[pos];
            if let Needle::Ids(ids) = needle {
                return ids.contains(&u64::from(g));
            }
            let (i, r) = self.store.locate(g);
            let input = &self.store.inputs[i];
            let site = input.site[r] as usize;
            match (site_match[i][site], needle) {
                (Some(m), _) => m,
                (None, Needle::Text(re)) => {
                    text.clear();
                    input.fields_text_into(r, &input.sites[site], text);
                    re.is_match(text)
                }
                (None, _) => needle.matches(&self.store.row(g)),
            }
        };
        // Positions in search order, as two halves: the nearer half on this
        // thread, the farther one on another, which stops as soon as the
        // nearer half has a match (it would not be the first).
        let (near, far): (Box<dyn Iterator<Item = usize> + Send>, Box<dyn Iterator<Item = usize> + Send>) =
            match direction {
                Direction::Forward => {
                    let mid = from + n.saturating_sub(from) / 2;
                    (Box::new(from..mid), Box::new(mid..n))
                }
                Direction::Backward => {
                    if from >= n {
                        return None;
                    }
                    let mid = from.div_ceil(2);
                    (Box::new((mid..=from).rev()), Box::new((0..mid).rev()))
                }
            };
        progress.set_total(match direction {
            Direction::Forward => n.saturating_sub(from),
            Direction::Backward => from.min(n) + 1,
        } as u64);
        let found_near = std::sync::atomic::AtomicBool::new(false);
        let scan = |positions: Box<dyn Iterator<Item = usize> + Send>, stop: &std::sync::atomic::AtomicBool| {
            let mut text = String::new();
            for (checked, pos) in positions.enumerate() {
                if checked % 4096 == 4095 {
                    progress.add(4096);
                    if progress.is_cancelled() || stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return None;
                    }
                }
                if test(pos, &mut text) {
                    return Some(pos);
                }
            }
            None
        };
        let never = std::sync::atomic::AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            let far = s.spawn(|| scan(far, &found_near));
            match scan(near, &never) {
                Some(pos) => {
                    found_near.store(true, std::sync::atomic::Ordering::Relaxed);
                    Some(pos)
                }
                None => far.join().ok().flatten(),
            }
        });
        if progress.is_cancelled() { None } else { result }
    }

    fn position_of_time(&self, timestamp_ns: i64) -> usize {
        self.rows.partition_point(|&g| self.store.ts(g) < timestamp_ns)
    }

    fn export(&self, path: &Path, format: ExportFormat, progress: &Progress) -> std::io::Result<u64> {
        let names: Vec<String> = self.store.infos.iter().map(InputInfo::name).collect();
        crate::export::write_file(path, format, self.rows.len(), &|r| self.rows(r), &names, progress)
    }
}

// ---------------------------------------------------------------------------
// The filter language.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Level,
    Target,
    Message,
    Thread,
    File,
    Module,
    Service,
}

fn builtin(key: &str) -> Option<Builtin> {
    Some(match key {
        "level" => Builtin::Level,
        "target" => Builtin::Target,
        "message" | "msg" => Builtin::Message,
        "thread" => Builtin::Thread,
        "file" => Builtin::File,
        "module" => Builtin::Module,
        "service" => Builtin::Service,
        _ => return None,
    })
}

impl Builtin {
    fn site_value(self, site: &Site) -> String {
        match self {
            Builtin::Level => site.level.as_str().to_ascii_lowercase(),
            Builtin::Target => site.target.to_string(),
            Builtin::Message => site.message.to_string(),
            Builtin::File => site.file.to_string(),
            Builtin::Module => site.module_path.to_string(),
            Builtin::Thread | Builtin::Service => String::new(),
        }
    }
}

#[derive(Debug, Clone)]
enum Term {
    Text { negate: bool, needle: String },
    Key { negate: bool, key: String, op: Op, value: String, level: Option<Level> },
}

/// `value`, in double quotes if the filter language needs them.
fn quote(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '"', '\\', '\t']) {
        return value.to_owned();
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Parses an expression, checking keys against the known field names.
fn parse(expr: &str, fields: &[String]) -> Result<Vec<Term>, FilterError> {
    let chars: Vec<char> = expr.chars().collect();
    let mut terms = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let negate = chars[i] == '!';
        if negate {
            i += 1;
        }
        // Key or bare word, up to an operator or a space.
        let word_start = i;
        let mut word = String::new();
        if i < chars.len() && chars[i] == '"' {
            let (w, next) = quoted(&chars, i)?;
            word = w;
            i = next;
            terms.push(Term::Text { negate, needle: word });
            continue;
        }
        while i < chars.len() && !chars[i].is_whitespace() && !"=!<>~".contains(chars[i]) {
            word.push(chars[i]);
            i += 1;
        }
        let op = match (chars.get(i), chars.get(i + 1)) {
            (Some('='), _) => Some((Op::Eq, 1)),
            (Some('!'), Some('=')) => Some((Op::Ne, 2)),
            (Some('<'), Some('=')) => Some((Op::Le, 2)),
            (Some('>'), Some('=')) => Some((Op::Ge, 2)),
            (Some('<'), _) => Some((Op::Lt, 1)),
            (Some('>'), _) => Some((Op::Gt, 1)),
            (Some('~'), _) => Some((Op::Contains, 1)),
            (Some('!'), _) => return Err(FilterError::new(i, "`!` goes before a term, or write `!=`")),
            _ => None,
        };
        let Some((op, op_len)) = op else {
            if word.is_empty() {
                return Err(FilterError::new(start, "expected a term after `!`"));
            }
            terms.push(Term::Text { negate, needle: word });
            continue;
        };
        if word.is_empty() {
            return Err(FilterError::new(i, "expected a key before the operator"));
        }
        let is_builtin = builtin(&word);
        if is_builtin.is_none() && !fields.contains(&word) {
            let mut known: Vec<&str> = BUILTIN_KEYS.to_vec();
            known.extend(fields.iter().map(String::as_str));
            return Err(FilterError::new(word_start, format!("unknown key `{word}` (known: {})", known.join(", "))));
        }
        i += op_len;
        let value_start = i;
        let value = if i < chars.len() && chars[i] == '"' {
            let (v, next) = quoted(&chars, i)?;
            i = next;
            v
        } else {
            let mut v = String::new();
            while i < chars.len() && !chars[i].is_whitespace() {
                v.push(chars[i]);
                i += 1;
            }
            if v.is_empty() {
                return Err(FilterError::new(value_start, format!("expected a value after `{word}`")));
            }
            v
        };
        let mut level = None;
        match is_builtin {
            Some(Builtin::Level) => {
                if op == Op::Contains {
                    return Err(FilterError::new(value_start - 1, "`~` does not apply to levels"));
                }
                level = Some(value.parse::<Level>().map_err(|e| FilterError::new(value_start, e.to_string()))?);
            }
            Some(_) if !matches!(op, Op::Eq | Op::Ne | Op::Contains) => {
                return Err(FilterError::new(value_start - op_len, format!("`{word}` takes =, != or ~")));
            }
            _ => {}
        }
        terms.push(Term::Key { negate, key: word, op, value, level });
    }
    Ok(terms)
}

/// The string in double quotes starting at `chars[i]`, and the index after
/// it.
fn quoted(chars: &[char], i: usize) -> Result<(String, usize), FilterError> {
    let mut out = String::new();
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '"' => return Ok((out, j + 1)),
            '\\' if j + 1 < chars.len() => {
                out.push(chars[j + 1]);
                j += 2;
            }
            c => {
                out.push(c);
                j += 1;
            }
        }
    }
    Err(FilterError::new(i, "unterminated quote"))
}

/// A term made concrete for one input: decided per call site, per thread,
/// or per event from a field word.
enum Check {
    Sites(Vec<bool>),
    Threads(Vec<bool>),
    /// `strs`: the predicate on each distinct text, for text fields.
    Field {
        per_site: Vec<Option<(Kind, u32)>>,
        pred: FieldPred,
        strs: Vec<bool>,
        negate: bool,
    },
    Text {
        sites: Vec<bool>,
        str_fields: Vec<Vec<u32>>,
        strs: Vec<bool>,
        negate: bool,
    },
}

/// How a field value is compared: as a number when the term's value is
/// one, else as text.
enum FieldPred {
    Num { op: Op, value: f64, int: Option<i128> },
    Str { op: Op, value: String },
}

struct CompiledInput {
    levels: Vec<bool>,
    checks: Vec<Check>,
}

fn compare_str(op: Op, have: &str, want: &str) -> bool {
    match op {
        Op::Eq => have == want,
        Op::Ne => have != want,
        Op::Contains => have.contains(want),
        Op::Lt => have < want,
        Op::Le => have <= want,
        Op::Gt => have > want,
        Op::Ge => have >= want,
    }
}

fn compare_ord(op: Op, ord: Option<CmpOrdering>) -> bool {
    let Some(ord) = ord else { return op == Op::Ne };
    match op {
        Op::Eq => ord.is_eq(),
        Op::Ne => ord.is_ne(),
        Op::Lt => ord.is_lt(),
        Op::Le => ord.is_le(),
        Op::Gt => ord.is_gt(),
        Op::Ge => ord.is_ge(),
        Op::Contains => false,
    }
}

fn compile(input: &Input, info: &InputInfo, terms: &[Term], levels: LevelSet) -> CompiledInput {
    let checks = terms
        .iter()
        .map(|t| match t {
            Term::Text { negate, needle } => Check::Text {
                sites: input
                    .sites
                    .iter()
                    .map(|s| s.message.contains(needle.as_str()) || s.target.contains(needle.as_str()))
                    .collect(),
                str_fields: input
                    .sites
                    .iter()
                    .map(|s| s.fields.iter().filter(|f| f.1 == Kind::Str).map(|f| f.2).collect())
                    .collect(),
                strs: input.str_table(|s| s.contains(needle.as_str())),
                negate: *negate,
            },
            Term::Key { negate, key, op, value, level } => match builtin(key) {
                Some(Builtin::Level) => {
                    let want = level.unwrap_or(Level::Info);
                    Check::Sites(
                        input.sites.iter().map(|s| compare_ord(*op, Some(s.level.cmp(&want))) != *negate).collect(),
                    )
                }
                Some(Builtin::Thread) => {
                    Check::Threads(input.threads.iter().map(|t| compare_str(*op, &t.name, value) != *negate).collect())
                }
                Some(Builtin::Service) => {
                    let m = compare_str(*op, &info.service, value) != *negate;
                    Check::Sites(vec![m; input.sites.len()])
                }
                Some(b) => Check::Sites(
                    input.sites.iter().map(|s| compare_str(*op, &b.site_value(s), value) != *negate).collect(),
                ),
                None => {
                    let per_site = input
                        .sites
                        .iter()
                        .map(|s| s.fields.iter().find(|(n, _, _)| **n == **key).map(|(_, k, off)| (*k, *off)))
                        .collect();
                    let pred = match value.parse::<f64>() {
                        Ok(v) if *op != Op::Contains => FieldPred::Num { op: *op, value: v, int: value.parse().ok() },
                        _ => FieldPred::Str { op: *op, value: value.clone() },
                    };
                    let strs = input.str_table(|s| str_matches(s, &pred));
                    Check::Field { per_site, pred, strs, negate: *negate }
                }
            },
        })
        .collect();
    CompiledInput { levels: input.sites.iter().map(|s| levels.contains(s.level)).collect(), checks }
}

impl CompiledInput {
    fn matches(&self, input: &Input, r: usize) -> bool {
        let site = input.site[r] as usize;
        if !self.levels[site] {
            return false;
        }
        self.checks.iter().all(|c| match c {
            Check::Sites(m) => m[site],
            Check::Threads(m) => m[input.thread[r] as usize],
            Check::Text { sites, str_fields, strs, negate } => {
                let hit = sites[site]
                    || str_fields[site]
                        .iter()
                        .any(|&off| strs[input.words[input.field_base[r] as usize + off as usize] as usize]);
                hit != *negate
            }
            Check::Field { per_site, pred, strs, negate } => {
                let Some((kind, off)) = per_site[site] else {
                    // No such field: only a negated or `!=` term holds.
                    let ne = matches!(pred, FieldPred::Num { op: Op::Ne, .. } | FieldPred::Str { op: Op::Ne, .. });
                    return ne != *negate;
                };
                let hit = match kind {
                    Kind::Str => strs[input.words[input.field_base[r] as usize + off as usize] as usize],
                    _ => field_matches(input, r, kind, off, pred),
                };
                hit != *negate
            }
        })
    }
}

fn field_matches(input: &Input, r: usize, kind: Kind, off: u32, pred: &FieldPred) -> bool {
    let w = input.words[input.field_base[r] as usize + off as usize];
    match pred {
        FieldPred::Num { op, value, int } => match kind {
            Kind::U64 => {
                compare_ord(*op, int.map_or_else(|| (w as f64).partial_cmp(value), |i| i128::from(w).partial_cmp(&i)))
            }
            Kind::I64 => compare_ord(
                *op,
                int.map_or_else(|| (w as i64 as f64).partial_cmp(value), |i| i128::from(w as i64).partial_cmp(&i)),
            ),
            // As typed, `0.93` is the f32 nearest to it for an f32 field.
            Kind::F32 => compare_ord(*op, (f64::from_bits(w) as f32).partial_cmp(&(*value as f32))),
            Kind::F64 => compare_ord(*op, f64::from_bits(w).partial_cmp(value)),
            Kind::U128 | Kind::I128 | Kind::Bool | Kind::Char => {
                let v = input.value(r, kind, off);
                let num = match v {
                    Value::U128(n) => n as f64,
                    Value::I128(n) => n as f64,
                    Value::Bool(b) => f64::from(u8::from(b)),
                    Value::Char(c) => return compare_str(*op, &c.to_string(), &value.to_string()),
                    _ => return false,
                };
                compare_ord(*op, num.partial_cmp(value))
            }
            Kind::Str => str_matches(input.str_at(w), pred),
        },
        FieldPred::Str { op, value } => match kind {
            Kind::Str => compare_str(*op, input.str_at(w), value),
            _ => compare_str(*op, &input.value(r, kind, off).to_string(), value),
        },
    }
}

/// `pred` on a text value (a number typed for a text field compares with
/// texts that are numbers).
fn str_matches(s: &str, pred: &FieldPred) -> bool {
    match pred {
        FieldPred::Num { op, value, .. } => match s.parse::<f64>() {
            Ok(x) => compare_ord(*op, x.partial_cmp(value)),
            Err(_) => *op == Op::Ne,
        },
        FieldPred::Str { op, value } => compare_str(*op, s, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> MemorySource {
        let s = MemorySource::new();
        s.add_input(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin"), &Progress::new()).unwrap();
        s
    }

    fn count(s: &MemorySource, expr: &str) -> usize {
        s.filter(&Query::new(expr), &Progress::new()).unwrap().len()
    }

    #[test]
    fn loads_every_event_of_the_testdata() {
        let s = source();
        let all = s.filter(&Query::new(""), &Progress::new()).unwrap();
        assert_eq!(all.len(), 43);
        assert_eq!(s.summary().total_events(), 43);
        let rows = all.rows(0..43);
        assert!(rows.windows(2).all(|w| w[0].timestamp_ns <= w[1].timestamp_ns));
        // Every value kind survives the compact layout.
        let kinds: std::collections::BTreeSet<&str> =
            rows.iter().flat_map(|r| r.fields.iter().map(|(_, v)| v.kind().as_str())).collect();
        for k in ["bool", "char", "u64", "i64", "u128", "i128", "f32", "f64", "str"] {
            assert!(kinds.contains(k), "{k} missing from {kinds:?}");
        }
    }

    #[test]
    fn rows_match_the_snapshot_reader() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
        let events: Vec<Event> = Snapshot::open(&path).unwrap().events().collect::<Result<_, _>>().unwrap();
        let s = source();
        let rows = s.filter(&Query::new(""), &Progress::new()).unwrap().rows(0..100);
        for (e, r) in events.iter().zip(&rows) {
            assert_eq!(
                (e.timestamp_ns, e.level, &e.message, &e.fields),
                (r.timestamp_ns, r.level, &r.message, &r.fields)
            );
        }
    }

    #[test]
    fn filter_terms() {
        let s = source();
        let all = count(&s, "");
        assert_eq!(count(&s, "level=error") + count(&s, "level!=error"), all);
        assert!(count(&s, "level>=warn") >= count(&s, "level=warn") + count(&s, "level=error"));
        assert_eq!(count(&s, "!level>=warn"), count(&s, "level<warn"));
        assert_eq!(count(&s, "nosuchtextanywhere"), 0);
        assert_eq!(count(&s, "!nosuchtextanywhere"), all);
        assert!(s.check("level=").is_err());
        assert_eq!(s.check("nosuchkey=1").unwrap_err().column, 0);
        assert_eq!(s.check("level=warn bogus=1").unwrap_err().column, 11);
        assert_eq!(s.check("level=loud").unwrap_err().column, 6);
        assert_eq!(s.check("\"open").unwrap_err().message, "unterminated quote");
        assert!(s.check("target~x message=\"a \\\" b\"").is_ok());
    }

    #[test]
    fn narrowing_filters_start_from_the_last_result() {
        let s = MemorySource::from_events(
            (0..10u64)
                .map(|i| {
                    let level = if i < 5 { Level::Info } else { Level::Warn };
                    crate::testing::event(i as i64, level, "t", "m", vec![("n", Value::U64(i))])
                })
                .collect(),
            InputInfo::default(),
        );
        let mut q = Query::new("n>=2");
        q.levels.toggle(Level::Warn);
        assert_eq!(s.filter(&q, &Progress::new()).unwrap().len(), 3);
        // Narrower: terms added.
        q.expr = "n>=2 n<4".into();
        assert_eq!(s.filter(&q, &Progress::new()).unwrap().len(), 2);
        // Not narrower: a level added back, a term changed, a prefix that is
        // not a whole term.
        q.levels.toggle(Level::Warn);
        assert_eq!(s.filter(&q, &Progress::new()).unwrap().len(), 2);
        assert_eq!(count(&s, "n>=2 n<4"), 2);
        assert_eq!(count(&s, "n>=1"), 9);
        assert_eq!(count(&s, "n>=1 n<9"), 8);
        assert_eq!(count(&s, "n>=1 n<9 !n=5"), 7);
        assert_eq!(count(&s, "n>=1"), 9);
        assert_eq!(count(&s, "n>=10"), 0);
        assert_eq!(count(&s, "n>=1"), 9);
        // New events loaded: the last result does not cover them.
        assert_eq!(count(&s, "n>=1 n<9"), 8);
        s.add_events(
            vec![crate::testing::event(20, Level::Info, "t", "m", vec![("n", Value::U64(3))])],
            InputInfo::default(),
        );
        assert_eq!(count(&s, "n>=1 n<9 n=3"), 2);
    }

    #[test]
    fn numeric_and_text_fields() {
        let s = MemorySource::from_events(
            (0..10u64)
                .map(|i| {
                    crate::testing::event(
                        i as i64,
                        Level::Info,
                        "t",
                        "m",
                        vec![("n", Value::U64(i)), ("s", Value::Str(format!("v{i}")))],
                    )
                })
                .collect(),
            InputInfo::default(),
        );
        assert_eq!(count(&s, "n>=5"), 5);
        assert_eq!(count(&s, "n<2.5"), 3);
        assert_eq!(count(&s, "s=v3"), 1);
        assert_eq!(count(&s, "s~v"), 10);
        assert_eq!(count(&s, "v7"), 1);
        let mut q = Query::new("");
        q.levels.toggle(Level::Info);
        assert_eq!(s.filter(&q, &Progress::new()).unwrap().len(), 0);
        let g = s.filter(&Query::new(""), &Progress::new()).unwrap().group_by("s", 3).unwrap();
        assert_eq!((g.groups.len(), g.more, g.missing), (3, 7, 0));
        assert_eq!(count(&s, &g.groups[0].filter), 1);
    }

    #[test]
    fn groups_give_filters_that_select_them() {
        let s = source();
        let view = s.filter(&Query::new(""), &Progress::new()).unwrap();
        for key in s.group_keys() {
            let groups = view.group_by(&key, 1000).unwrap();
            let total: u64 = groups.groups.iter().map(|g| g.count).sum::<u64>() + groups.missing;
            assert_eq!(total, 43, "{key}");
            for g in &groups.groups {
                assert_eq!(count(&s, &g.filter) as u64, g.count, "{key}: {}", g.filter);
            }
        }
        assert!(view.group_by("nope", 10).is_err());
    }

    #[test]
    fn several_inputs_merge_in_time_order() {
        let s = MemorySource::new();
        for f in ["normal.bin", "many-threads.bin", "chunked.bin"] {
            s.add_input(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata").join(f), &Progress::new()).unwrap();
        }
        let v = s.filter(&Query::new(""), &Progress::new()).unwrap();
        assert_eq!(v.len(), 43 + 800 + 1000);
        let rows = v.rows(0..v.len());
        assert!(rows.windows(2).all(|w| w[0].timestamp_ns <= w[1].timestamp_ns));
        assert_eq!(rows.iter().map(|r| r.input).collect::<std::collections::BTreeSet<_>>().len(), 3);
        let mid = rows[900].timestamp_ns;
        assert_eq!(rows[v.position_of_time(mid)].timestamp_ns, mid);
        assert_eq!(v.position_of_time(i64::MAX), v.len());
        let h = v.histogram(10);
        assert_eq!(h.buckets.iter().map(|b| b.total).sum::<u64>(), v.len() as u64);
    }

    #[test]
    fn a_large_input_shows_its_first_rows_while_loading() {
        let s = MemorySource { partial_after: 150, ..MemorySource::default() };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        s.add_input(&dir.join("normal.bin"), &Progress::new()).unwrap();
        // Loading on another thread; a filter made meanwhile sees a part.
        let seen = std::thread::scope(|scope| {
            let loader = scope.spawn(|| s.add_input(&dir.join("chunked.bin"), &Progress::new()).unwrap());
            let mut seen = std::collections::BTreeSet::new();
            while !loader.is_finished() {
                seen.insert(s.filter(&Query::new(""), &Progress::new()).unwrap().len());
            }
            assert_eq!(loader.join().unwrap().events, 1000);
            seen
        });
        assert!(seen.iter().all(|&n| n == 43 || n == 43 + 200 || n == 1043), "{seen:?}");
        let all = s.filter(&Query::new(""), &Progress::new()).unwrap();
        assert_eq!(all.len(), 1043);
        let rows = all.rows(0..all.len());
        assert!(rows.windows(2).all(|w| w[0].timestamp_ns <= w[1].timestamp_ns));
        let ids: std::collections::BTreeSet<u64> = rows.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 1043);
        assert_eq!(s.summary().inputs[1].events, 1000);
    }

    #[test]
    fn histogram_walk_agrees_with_bucket_index() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut ts: Vec<i64> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 1_000_003) as i64 - 7
            })
            .collect();
        ts.sort_unstable();
        ts.extend([3, -7, 999_995]); // out of order at the end
        let (start, end) = (-7, 999_995);
        for n in [1, 2, 3, 7, 100, 997, 5000] {
            let h = histogram_of_sorted(start, end, n, ts.iter().map(|&t| (t, Level::Info)));
            let mut want = vec![0u64; n];
            for &t in &ts {
                want[crate::bucket_index(start, end, n, t).unwrap()] += 1;
            }
            assert_eq!(h.buckets.iter().map(|b| b.total).collect::<Vec<_>>(), want, "{n} buckets");
        }
    }

    #[test]
    fn damaged_inputs_load_their_intact_chunks() {
        let s = MemorySource::new();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        let t = s.add_input(&dir.join("truncated.bin"), &Progress::new()).unwrap();
        assert_eq!(t.events, 300);
        assert!(!t.problems.is_empty());
        let c = s.add_input(&dir.join("corrupt-chunk.bin"), &Progress::new()).unwrap();
        assert_eq!(c.events, 900);
        assert!(!c.problems.is_empty());
        assert!(s.add_input(&dir.join("README.md"), &Progress::new()).is_err());
        let legacy = s.add_input(&dir.join("legacy-0.1.21.bin"), &Progress::new()).unwrap();
        assert_eq!(legacy.events, 7);
    }

    #[test]
    fn find_agrees_with_a_plain_scan_everywhere() {
        let s = MemorySource::new();
        for f in ["normal.bin", "chunked.bin"] {
            s.add_input(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata").join(f), &Progress::new()).unwrap();
        }
        let v = s.filter(&Query::new(""), &Progress::new()).unwrap();
        let rows = v.rows(0..v.len());
        let needles = [
            Needle::Level(Level::Warn),
            Needle::Text(regex::Regex::new("hit=true").unwrap()),
            Needle::Text(regex::Regex::new("^order").unwrap()),
            Needle::Text(regex::Regex::new("i=99[0-9]").unwrap()),
            Needle::Ids(Arc::new([rows[3].id, rows[700].id].into_iter().collect())),
        ];
        let p = Progress::new();
        for needle in &needles {
            for from in [0, 1, 2, 3, 42, 500, 700, 701, 1041, 1042, 1043, 5000] {
                let fwd = (from..rows.len()).find(|&i| needle.matches(&rows[i]));
                let back = (from < rows.len()).then(|| (0..=from).rev().find(|&i| needle.matches(&rows[i]))).flatten();
                assert_eq!(v.find(from, Direction::Forward, needle, &p), fwd, "{needle:?} from {from}");
                assert_eq!(v.find(from, Direction::Backward, needle, &p), back, "{needle:?} back from {from}");
            }
        }
    }

    #[test]
    fn find_searches_both_ways_without_wrapping() {
        let s = source();
        let v = s.filter(&Query::new(""), &Progress::new()).unwrap();
        let p = Progress::new();
        let first_err = v.find(0, Direction::Forward, &Needle::Level(Level::Error), &p);
        let rows = v.rows(0..v.len());
        let expect = rows.iter().position(|r| r.level == Level::Error);
        assert_eq!(first_err, expect);
        let re = regex::Regex::new(&regex::escape(&rows[5].message)).unwrap();
        let last = v.len() - 1;
        let back = v.find(last, Direction::Backward, &Needle::Text(re.clone()), &p);
        assert_eq!(back.map(|i| rows[i].message.clone()), Some(rows[5].message.clone()));
        assert_eq!(v.find(back.unwrap() + 1, Direction::Forward, &Needle::Text(re.clone()), &p), None);
        assert_eq!(v.find(v.len(), Direction::Backward, &Needle::Text(re), &p), None);
        let ids = Arc::new([rows[7].id].into_iter().collect());
        assert_eq!(v.find(0, Direction::Forward, &Needle::Ids(ids), &p), Some(7));
    }
}
