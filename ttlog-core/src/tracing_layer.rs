//! The `tracing` bridge: a [`tracing_subscriber::Layer`] that records every
//! `tracing` event in the calling thread's ring.
//!
//! ```
//! use tracing_subscriber::prelude::*;
//!
//! let trace = ttlog_core::Trace::builder().service("api").install().unwrap();
//! let _guard = tracing_subscriber::registry().with(ttlog_core::layer()).set_default();
//!
//! let span = tracing::info_span!("request", id = 42u64);
//! let _in = span.enter();
//! tracing::info!(user = "ada", bytes = 512u64, "served");
//!
//! let e = trace.events().into_iter().find(|e| &*e.message == "served").unwrap();
//! assert_eq!(e.field("user"), Some(&ttlog_core::Value::Str("ada".into())));
//! assert_eq!(e.field("request.id"), Some(&ttlog_core::Value::U64(42)));
//! assert_eq!(e.field("spans"), Some(&ttlog_core::Value::Str("request".into())));
//! ```
//!
//! # What an event becomes
//!
//! - level, target, module path, file and line: from the event's metadata;
//! - every field, typed as `tracing` hands it over (`u64`, `i64`, `u128`,
//!   `i128`, `f64`, `bool`, text; `?value` / `%value` and errors as their text);
//! - the message: when it is the text the call site showed the first time
//!   (a literal, as in `info!("served")`), it is the call site's message in
//!   the call-site table and costs nothing per event; when it varies
//!   (`info!("served {n}")`), the event goes to a sibling call site whose
//!   table message is empty and whose first field, `message`, holds the text;
//! - the enclosing spans, outermost first: their fields as `span.field` (the
//!   values recorded when the span was created or later with
//!   `Span::record`), and a text field `spans` with their names joined by
//!   `>` (`conn>request`). At most the 16 innermost spans are kept.
//!
//! See the [bridge design](crate::bridge) for how one `tracing` call site maps
//! onto our typed call sites.
//!
//! # Filtering and cost
//!
//! The layer never disables events for other layers: it ignores those the
//! [`Filter`](crate::Filter) rejects. Its [`max_level_hint`] is the filter's
//! most verbose level, so when it is the only layer `tracing`'s own level
//! check disables the rest; per-target decisions are cached per `tracing`
//! call site and thread. A recorded event is formatted only where `tracing`
//! makes us (`?`/`%` values and a formatted message), into a buffer the
//! thread reuses: no allocation per event after the thread's first events.
//!
//! [`max_level_hint`]: tracing_subscriber::Layer::max_level_hint

use crate::bridge::{FxBuild, KindSig, PAYLOAD_WORDS, Payload, SIG_FIELDS, bits, sig_kind, sig_with, str_value_is};
use crate::callsite::register_dynamic;
use crate::filter;
use crate::level::{self, Level};
use crate::value::{Kind, WordSink, put_str};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Spans of an event's scope that are recorded, innermost first.
const MAX_SPANS: usize = 16;
/// Words of a shape key: the event's (call site, message flag) and
/// signature, then (call site, signature) per span.
const KEY_WORDS: usize = 2 + 2 * MAX_SPANS;
/// Words of span fields kept before a span's buffer is compacted.
const SPAN_COMPACT_WORDS: usize = 4096;

/// The `tracing` layer; see the [module documentation](self).
#[derive(Debug, Clone, Default)]
pub struct TracingLayer {
    _private: (),
}

/// A [`TracingLayer`], to add to a `tracing_subscriber` registry:
/// `tracing_subscriber::registry().with(ttlog_core::layer()).init()`.
///
/// Events are recorded once a recorder is installed ([`crate::Trace`]); the
/// layer can be set up before or after.
pub fn layer() -> TracingLayer {
    TracingLayer::default()
}

fn level_of(meta: &Metadata<'_>) -> Level {
    match *meta.level() {
        tracing_core::Level::TRACE => Level::Trace,
        tracing_core::Level::DEBUG => Level::Debug,
        tracing_core::Level::INFO => Level::Info,
        tracing_core::Level::WARN => Level::Warn,
        _ => Level::Error,
    }
}

/// Where one field's words are in a buffer.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    start: u32,
    end: u32,
}

/// Collects field values into a [`Payload`], one slot per field index.
struct Collect<'a> {
    payload: &'a mut Payload,
    slots: [Slot; SIG_FIELDS],
    sig: KindSig,
    /// `{ bit i set: field i is present }`.
    mask: u32,
    /// Whether the `message` field is taken apart (events) or kept as a
    /// field (spans).
    take_message: bool,
    message: Option<Slot>,
}

impl<'a> Collect<'a> {
    fn new(payload: &'a mut Payload, take_message: bool) -> Collect<'a> {
        Collect { payload, slots: [Slot::default(); SIG_FIELDS], sig: 0, mask: 0, take_message, message: None }
    }

    #[inline]
    fn put(&mut self, field: &Field, kind: Kind, write: impl FnOnce(&mut Payload)) {
        let i = field.index();
        let start = self.payload.len() as u32;
        if self.take_message && field.name() == "message" {
            write(self.payload);
            self.message = Some(Slot { start, end: self.payload.len() as u32 });
            return;
        }
        if i >= SIG_FIELDS {
            return;
        }
        write(self.payload);
        self.slots[i] = Slot { start, end: self.payload.len() as u32 };
        self.sig = sig_with(self.sig, i, kind);
        self.mask |= 1 << i;
    }

    fn put_text(&mut self, field: &Field, args: fmt::Arguments<'_>) {
        self.put(field, Kind::Str, |p| p.put_fmt(args));
    }
}

impl Visit for Collect<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Kind::U64, |p| p.push(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Kind::I64, |p| p.push(value as u64));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, Kind::U128, |p| {
            p.push(value as u64);
            p.push((value >> 64) as u64);
        });
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.record_u128(field, value as u128);
        if field.index() < SIG_FIELDS && !(self.take_message && field.name() == "message") {
            self.sig = sig_with(self.sig, field.index(), Kind::I128);
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Kind::F64, |p| p.push(value.to_bits()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Kind::Bool, |p| p.push(value as u64));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Kind::Str, |p| put_str(value, p));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put_text(field, format_args!("{value}"));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put_text(field, format_args!("{value:?}"));
    }
}

/// The fields recorded for a span, kept in its extensions.
#[derive(Debug)]
struct SpanFields {
    sig: KindSig,
    /// `{ bit i set: field i is present }`.
    mask: u32,
    slots: [Slot; SIG_FIELDS],
    words: Vec<u64>,
    /// Words of the present values (what an event copies).
    live_words: usize,
    truncated: u32,
}

impl SpanFields {
    fn new() -> SpanFields {
        SpanFields {
            sig: 0,
            mask: 0,
            slots: [Slot::default(); SIG_FIELDS],
            words: Vec::new(),
            live_words: 0,
            truncated: 0,
        }
    }

    fn from_values(values: &tracing_core::field::ValueSet<'_>) -> SpanFields {
        let mut sf = SpanFields::new();
        sf.merge(|c| values.record(c));
        sf
    }

    /// Records new values over the old ones.
    fn merge(&mut self, record: impl FnOnce(&mut Collect<'_>)) {
        let mut payload = Payload::take();
        let mut c = Collect::new(&mut payload, false);
        record(&mut c);
        let (sig, mask, slots) = (c.sig, c.mask, c.slots);
        for i in bits(mask) {
            let kind = sig_kind(sig, i).expect("present fields have a kind");
            let slot = slots[i];
            let start = self.words.len() as u32;
            self.words.extend_from_slice(payload.get(slot.start as usize, slot.end as usize));
            self.slots[i] = Slot { start, end: self.words.len() as u32 };
            self.sig = sig_with(self.sig, i, kind);
            self.mask |= 1 << i;
        }
        self.truncated += payload.truncated;
        payload.give_back();
        self.live_words = bits(self.mask).map(|i| (self.slots[i].end - self.slots[i].start) as usize).sum();
        if self.words.len() > SPAN_COMPACT_WORDS.max(2 * self.live_words) {
            self.compact();
        }
    }

    /// Drops the words of replaced values.
    fn compact(&mut self) {
        let mut words = Vec::with_capacity(self.live_words);
        for i in bits(self.mask) {
            let s = self.slots[i];
            let start = words.len() as u32;
            words.extend_from_slice(&self.words[s.start as usize..s.end as usize]);
            self.slots[i] = Slot { start, end: words.len() as u32 };
        }
        self.words = words;
    }

    /// The words of the present values, in field order.
    fn values(&self) -> impl Iterator<Item = &u64> + '_ {
        bits(self.mask).flat_map(|i| &self.words[self.slots[i].start as usize..self.slots[i].end as usize])
    }
}

/// What a thread knows about one `tracing` call site.
#[derive(Debug)]
struct SiteCache {
    /// Filter generation `enabled` was computed for.
    generation: u64,
    enabled: bool,
    /// The message the call site showed first: events with it use the
    /// call site whose table message it is.
    usual_message: Arc<str>,
}

/// One of our call sites for one shape, as a thread caches it.
#[derive(Debug, Clone)]
struct Shape {
    id: u32,
    /// The `spans` text value, encoded once.
    spans_words: Box<[u64]>,
}

#[derive(Default)]
struct ThreadCache {
    sites: HashMap<usize, SiteCache, FxBuild>,
    shapes: HashMap<Box<[u128]>, Shape, FxBuild>,
}

thread_local! {
    static CACHE: RefCell<ThreadCache> = RefCell::new(ThreadCache::default());
}

/// Process-wide: the first message of each `tracing` call site, and the
/// registered shapes.
struct Shared {
    usual_messages: HashMap<usize, Arc<str>, FxBuild>,
    shapes: HashMap<Box<[u128]>, Shape, FxBuild>,
}

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

fn with_shared<R>(f: impl FnOnce(&mut Shared) -> R) -> R {
    let mut g = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(|| Shared { usual_messages: HashMap::default(), shapes: HashMap::default() }))
}

fn meta_key(meta: &'static Metadata<'static>) -> usize {
    meta as *const Metadata<'static> as usize
}

impl<S> tracing_subscriber::Layer<S> for TracingLayer
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match filter::current().max_level() {
            None => LevelFilter::OFF,
            Some(Level::Trace) => LevelFilter::TRACE,
            Some(Level::Debug) => LevelFilter::DEBUG,
            Some(Level::Info) => LevelFilter::INFO,
            Some(Level::Warn) => LevelFilter::WARN,
            Some(Level::Error) => LevelFilter::ERROR,
        })
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields::from_values(attrs.values()));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            match ext.get_mut::<SpanFields>() {
                Some(sf) => sf.merge(|c| values.record(c)),
                None => {
                    let mut sf = SpanFields::new();
                    sf.merge(|c| values.record(c));
                    ext.insert(sf);
                }
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = level_of(meta);
        if !level::enabled(level) {
            return;
        }
        let _ = CACHE.try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                // A field's Debug logged through tracing while we recorded.
                return crate::recorder::count_reentrant();
            };
            record_event(&mut cache, event, level, &ctx);
        });
    }
}

fn record_event<S>(cache: &mut ThreadCache, event: &Event<'_>, level: Level, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    let meta = event.metadata();
    let key0 = meta_key(meta);
    let generation = filter::generation();
    let site = match cache.sites.get_mut(&key0) {
        Some(s) if s.generation == generation => s,
        _ => {
            let enabled = filter::current().enabled(level, meta.target());
            let usual_message = match cache.sites.get(&key0) {
                Some(s) => Arc::clone(&s.usual_message),
                None => with_shared(|sh| sh.usual_messages.get(&key0).cloned()).unwrap_or_else(|| Arc::from("")),
            };
            cache.sites.insert(key0, SiteCache { generation, enabled, usual_message });
            cache.sites.get_mut(&key0).expect("just inserted")
        }
    };
    if !site.enabled {
        return;
    }

    let mut payload = Payload::take();
    let mut c = Collect::new(&mut payload, true);
    event.record(&mut c);
    let (sig, mask, slots, message) = (c.sig, c.mask, c.slots, c.message);

    // The message: the call site's usual one, or a field of its own.
    let message_range = message.map_or(0..0, |m| m.start as usize..m.end as usize);
    let message_words = payload.get(message_range.start, message_range.end);
    let mut usual = is_text(message_words, &site.usual_message);
    if !usual && site.usual_message.is_empty() && !message_words.is_empty() {
        // The first event of this call site (in this thread): its message
        // becomes the usual one, for every thread.
        let text = decode_text(message_words);
        let shared =
            with_shared(|sh| Arc::clone(sh.usual_messages.entry(key0).or_insert_with(|| Arc::from(text.as_str()))));
        usual = is_text(message_words, &shared);
        site.usual_message = shared;
    }

    // The enclosing spans, innermost first: their fields are copied into the
    // payload buffer now, so that no span or extension guard is held (or
    // dropped) per span later.
    let message_is_empty = message_words.is_empty();
    let mut spans = [SpanInfo::NONE; MAX_SPANS];
    let mut n_spans = 0;
    let mut truncated = payload.truncated;
    if let Some(scope) = ctx.event_scope(event) {
        for span in scope.take(MAX_SPANS) {
            let mut info = SpanInfo { meta: Some(span.metadata()), ..SpanInfo::NONE };
            if let Some(sf) = span.extensions().get::<SpanFields>() {
                info.sig = sf.sig;
                info.start = payload.len() as u32;
                sf.values().for_each(|&x| payload.push(x));
                info.end = payload.len() as u32;
                truncated += sf.truncated;
            }
            spans[n_spans] = info;
            n_spans += 1;
        }
    }
    let spans = &spans[..n_spans];

    let mut key = [0u128; KEY_WORDS];
    key[0] = key0 as u128 | (u128::from(usual) << 64);
    key[1] = sig;
    for (i, span) in spans.iter().enumerate() {
        key[2 + 2 * i] = span.meta.map_or(0, meta_key) as u128;
        key[3 + 2 * i] = span.sig;
    }
    let key = &key[..2 + 2 * n_spans];
    let shape = match cache.shapes.get(key) {
        Some(shape) => shape,
        None => {
            let shape = register_shape(key, meta, level, usual, &site.usual_message, spans);
            cache.shapes.entry(key.into()).or_insert(shape)
        }
    };

    let message_words = payload.get(message_range.start, message_range.end);
    let mut total = if usual { 0 } else { message_words.len().max(1) };
    for i in bits(mask) {
        total += (slots[i].end - slots[i].start) as usize;
    }
    total += spans.iter().map(|s| (s.end - s.start) as usize).sum::<usize>();
    total += shape.spans_words.len();
    if total > PAYLOAD_WORDS || payload.len() > PAYLOAD_WORDS {
        // Too large for a record: the ring drops it and counts it.
        total = total.max(PAYLOAD_WORDS + 1);
    }
    crate::recorder::record_with(shape.id, total, |w| {
        if total > PAYLOAD_WORDS {
            return;
        }
        if !usual {
            if message_is_empty {
                w.push(0); // the empty text
            } else {
                message_words.iter().for_each(|&x| w.push(x));
            }
        }
        for i in bits(mask) {
            payload.get(slots[i].start as usize, slots[i].end as usize).iter().for_each(|&x| w.push(x));
        }
        // Outermost span first.
        for span in spans.iter().rev() {
            payload.get(span.start as usize, span.end as usize).iter().for_each(|&x| w.push(x));
        }
        shape.spans_words.iter().for_each(|&x| w.push(x));
        for _ in 0..truncated {
            w.note_truncated();
        }
    });
    payload.give_back();
}

/// One enclosing span of an event, with its field values copied into the
/// event's payload buffer at `start..end`.
#[derive(Clone, Copy)]
struct SpanInfo {
    meta: Option<&'static Metadata<'static>>,
    sig: KindSig,
    start: u32,
    end: u32,
}

impl SpanInfo {
    const NONE: SpanInfo = SpanInfo { meta: None, sig: 0, start: 0, end: 0 };
}

/// Whether the encoded text `words` (none: no message) is `text`.
fn is_text(words: &[u64], text: &str) -> bool {
    if words.is_empty() { text.is_empty() } else { str_value_is(words, text) }
}

fn decode_text(words: &[u64]) -> String {
    match crate::value::decode(Kind::Str, words) {
        Some((crate::Value::Str(s), _)) => s,
        _ => String::new(),
    }
}

#[cold]
#[inline(never)]
fn register_shape(
    key: &[u128],
    meta: &'static Metadata<'static>,
    level: Level,
    usual: bool,
    usual_message: &str,
    spans: &[SpanInfo],
) -> Shape {
    with_shared(|sh| {
        if let Some(s) = sh.shapes.get(key) {
            return s.clone();
        }
        let sig = key[1];
        let mut fields: Vec<(String, Kind)> = Vec::new();
        if !usual {
            fields.push(("message".to_owned(), Kind::Str));
        }
        for (i, f) in meta.fields().iter().enumerate().take(SIG_FIELDS) {
            if let Some(k) = sig_kind(sig, i) {
                fields.push((f.name().to_owned(), k));
            }
        }
        let mut names = Vec::new();
        for span in spans.iter().rev() {
            let Some(span_meta) = span.meta else { continue };
            names.push(span_meta.name());
            for (f, field) in span_meta.fields().iter().enumerate().take(SIG_FIELDS) {
                if let Some(k) = sig_kind(span.sig, f) {
                    fields.push((format!("{}.{}", span_meta.name(), field.name()), k));
                }
            }
        }
        let mut spans_words = Vec::new();
        if !names.is_empty() {
            fields.push(("spans".to_owned(), Kind::Str));
            put_str(&names.join(">"), &mut spans_words);
        }
        let refs: Vec<(&str, Kind)> = fields.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        let id = register_dynamic(
            level,
            meta.target(),
            if usual { usual_message } else { "" },
            meta.file().unwrap_or(""),
            meta.line().unwrap_or(0),
            meta.module_path().unwrap_or(meta.target()),
            &refs,
        );
        let shape = Shape { id, spans_words: spans_words.into_boxed_slice() };
        sh.shapes.insert(key.into(), shape.clone());
        shape
    })
}
