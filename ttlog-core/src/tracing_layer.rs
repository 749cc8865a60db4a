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
//! What an event costs beyond `tracing`'s own dispatch and the visit of its
//! fields (which any layer that reads them pays), each step without a lock
//! or a hash:
//!
//! - its call site's state: a direct-mapped table of metadata addresses per
//!   thread (a multiply, a load, a compare), the filter decision cached in it
//!   against the filter generation;
//! - its message: compared with the call site's usual message while
//!   `tracing` formats it, so the usual message is neither copied nor
//!   encoded;
//! - its values: written in the order `tracing` visits them into a fixed
//!   buffer the thread keeps, positions noted only when they come out of
//!   field order;
//! - its spans: the layer mirrors the registry's stack of entered spans per
//!   thread (`on_enter`/`on_exit`), and an entered span keeps its scope
//!   (names, kinds and values of it and its parents) from its first event
//!   until any span's fields change (`on_record` moves a process-wide
//!   generation), so an event inside spans does not walk the registry;
//! - its shape: compared with the call site's last one, field by field.
//!
//! [`max_level_hint`]: tracing_subscriber::Layer::max_level_hint

use crate::bridge::{
    DIRECT_SLOTS, FxBuild, KindSig, PAYLOAD_WORDS, Payload, SIG_FIELDS, bits, direct_slot, same_bytes, sig_kind,
    sig_with,
};
use crate::callsite::{BridgedLimit, Statement, bridged_limit, register_dynamic};
use crate::filter;
use crate::level::{self, Level};
use crate::value::{Kind, WordSink, put_str};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// Spans of an event's scope that are recorded, innermost first.
const MAX_SPANS: usize = 16;
/// Words of span fields kept before a span's buffer is compacted.
const SPAN_COMPACT_WORDS: usize = 4096;

/// The `tracing` layer; see the [module documentation](self).
#[derive(Debug, Clone, Default)]
pub struct TracingLayer {
    /// This layer's identity among the layers of the process, given when
    /// it is added to a subscriber (`on_layer`); 0 before, and then the
    /// layer does not trust its mirror of the entered spans.
    id: u64,
}

/// The last layer identity handed out.
static LAYER_IDS: AtomicU64 = AtomicU64::new(0);

/// `{ number of span field updates (on_record) in the process }`: the
/// cached scope of an entered span is good while this has not moved.
static RECORD_GENERATION: AtomicU64 = AtomicU64::new(0);

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

/// Where one field's words are in a buffer, by field index.
#[derive(Debug, Clone, Copy)]
struct FieldAt {
    index: u32,
    slot: Slot,
}

/// Collects field values into a [`Payload`] in the order they come, and
/// where each one is.
struct Collect<'a, 'm> {
    payload: &'a mut Payload,
    /// Where each field is, in the order they came: kept only when asked
    /// for (spans, and events whose fields came out of order).
    fields: Option<&'a mut Vec<FieldAt>>,
    /// Whether the fields came by ascending index (`tracing`'s macros visit
    /// in field order): then their words are in the payload in field order.
    in_order: bool,
    /// One more than the last field index seen.
    next: u32,
    sig: KindSig,
    /// `{ bit i set: field i is present }`.
    mask: u32,
    /// The index of the field that is the event's message (events), or
    /// `usize::MAX` (spans keep `message` as a field).
    message_index: usize,
    message: Message<'m>,
}

/// An event's message as it is formatted: compared with the call site's
/// usual message while the two agree, copied out only once they differ, so
/// that the usual message costs no copy and no encoding.
struct Message<'a> {
    usual: &'a str,
    /// Bytes of `usual` matched so far.
    matched: usize,
    /// `Some` once the text differs from `usual`: the text so far.
    differs: Option<&'a mut String>,
    /// The buffer `differs` takes (the thread's, reused).
    spare: Option<&'a mut String>,
    /// Whether the event had a message field at all.
    seen: bool,
}

impl<'a> Message<'a> {
    fn new(usual: &'a str, text: &'a mut String) -> Message<'a> {
        Message { usual, matched: 0, differs: None, spare: Some(text), seen: false }
    }

    /// Whether the message is the usual one.
    fn is_usual(&self) -> bool {
        self.differs.is_none() && self.matched == self.usual.len() && (self.seen || self.usual.is_empty())
    }

    /// Where the text is once formatting is over.
    fn end(self) -> MessageEnd {
        if self.is_usual() {
            MessageEnd::Usual
        } else if self.differs.is_some() {
            MessageEnd::Own { seen: self.seen }
        } else {
            MessageEnd::Prefix { len: self.matched }
        }
    }
}

/// An event's message, once formatted.
#[derive(Debug, Clone, Copy)]
enum MessageEnd {
    /// The call site's usual message.
    Usual,
    /// The first `len` bytes of the usual message (which it is not).
    Prefix { len: usize },
    /// The text in the thread's message buffer.
    Own { seen: bool },
}

impl MessageEnd {
    /// The text of a message that is not the usual one.
    fn text<'a>(self, usual: &'a str, own: &'a str) -> &'a str {
        match self {
            MessageEnd::Usual => usual,
            MessageEnd::Prefix { len } => &usual[..len],
            MessageEnd::Own { .. } => own,
        }
    }
}

impl fmt::Write for Message<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(text) = &mut self.differs {
            text.push_str(s);
            return Ok(());
        }
        let rest = &self.usual.as_bytes()[self.matched..];
        if rest.len() >= s.len() && same_bytes(&rest[..s.len()], s.as_bytes()) {
            self.matched += s.len();
            return Ok(());
        }
        let text = self.spare.take().expect("taken once");
        text.clear();
        text.push_str(&self.usual[..self.matched]);
        text.push_str(s);
        self.differs = Some(text);
        Ok(())
    }
}

impl<'a, 'm> Collect<'a, 'm> {
    fn new(
        payload: &'a mut Payload,
        mut fields: Option<&'a mut Vec<FieldAt>>,
        message_index: usize,
        message: Message<'m>,
    ) -> Collect<'a, 'm> {
        payload.clear();
        if let Some(f) = &mut fields {
            f.clear();
        }
        Collect { payload, fields, in_order: true, next: 0, sig: 0, mask: 0, message_index, message }
    }

    /// A collector for span fields (no message taken apart).
    fn span_fields(payload: &'a mut Payload, fields: &'a mut Vec<FieldAt>, text: &'m mut String) -> Collect<'a, 'm> {
        Collect::new(payload, Some(fields), usize::MAX, Message::new("", text))
    }

    /// Puts the fields in field order (they are, unless `in_order` is false).
    fn sort_fields(fields: &mut Vec<FieldAt>, in_order: bool) {
        if !in_order {
            // Stable: a field recorded twice keeps its last value.
            fields.sort_by_key(|f| f.index);
            fields.reverse();
            fields.dedup_by_key(|f| f.index);
            fields.reverse();
        }
    }

    #[inline]
    fn put(&mut self, field: &Field, kind: Kind, write: impl FnOnce(&mut Payload)) {
        let i = field.index();
        if i >= SIG_FIELDS {
            return;
        }
        let start = self.payload.len() as u32;
        write(self.payload);
        if (i as u32) < self.next {
            self.in_order = false;
        }
        self.next = i as u32 + 1;
        if let Some(fields) = &mut self.fields {
            fields.push(FieldAt { index: i as u32, slot: Slot { start, end: self.payload.len() as u32 } });
        }
        self.sig = sig_with(self.sig, i, kind);
        self.mask |= 1 << i;
    }

    /// Formats `args` as the message, or as a text field.
    fn put_text(&mut self, field: &Field, args: fmt::Arguments<'_>) {
        if field.index() == self.message_index {
            self.message.seen = true;
            let _ = fmt::Write::write_fmt(&mut self.message, args);
        } else {
            self.put(field, Kind::Str, |p| p.put_fmt(args));
        }
    }

    /// Whether `field` is the message (then formatted as text).
    #[inline]
    fn is_message(&self, field: &Field) -> bool {
        field.index() == self.message_index
    }
}

impl Visit for Collect<'_, '_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.is_message(field) {
            return self.put_text(field, format_args!("{value}"));
        }
        self.put(field, Kind::U64, |p| p.push(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.is_message(field) {
            return self.put_text(field, format_args!("{value}"));
        }
        self.put(field, Kind::I64, |p| p.push(value as u64));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        if self.is_message(field) {
            return self.put_text(field, format_args!("{value}"));
        }
        self.put(field, Kind::U128, |p| {
            p.push(value as u64);
            p.push((value >> 64) as u64);
        });
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        if self.is_message(field) {
            return self.put_text(field, format_args!("{value}"));
        }
        self.put(field, Kind::I128, |p| {
            p.push(value as u64);
            p.push((value as u128 >> 64) as u64);
        });
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.is_message(field) {
            return self.put_text(field, format_args!("{value}"));
        }
        self.put(field, Kind::F64, |p| p.push(value.to_bits()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.is_message(field) {
            return self.put_text(field, format_args!("{value}"));
        }
        self.put(field, Kind::Bool, |p| p.push(value as u64));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.is_message(field) {
            self.message.seen = true;
            let _ = fmt::Write::write_str(&mut self.message, value);
            return;
        }
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
    fn merge(&mut self, record: impl FnOnce(&mut Collect<'_, '_>)) {
        let mut payload = Payload::take();
        let (mut text, mut fields) = (String::new(), Vec::new());
        let mut c = Collect::span_fields(&mut payload, &mut fields, &mut text);
        record(&mut c);
        let (sig, in_order) = (c.sig, c.in_order);
        Collect::sort_fields(&mut fields, in_order);
        for &FieldAt { index, slot } in &fields {
            let i = index as usize;
            let kind = sig_kind(sig, i).expect("present fields have a kind");
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
    /// The call site's metadata address (its key).
    key: usize,
    /// Filter generation `enabled` was computed for.
    generation: u64,
    enabled: bool,
    /// Its rate limit, when a filter rule gives its target one (decided
    /// with `enabled`).
    limit: Option<&'static BridgedLimit>,
    /// The index of its `message` field (`usize::MAX`: none).
    message_index: usize,
    /// The message the call site showed first: events with it use the
    /// call site whose table message it is.
    usual_message: Arc<str>,
    /// The shape of its last event and our call site for it: the next event
    /// of the same shape (nearly always) finds it without hashing.
    last: Option<Arc<Shape>>,
}

/// One of our call sites for one shape, as a thread caches it.
#[derive(Debug)]
struct Shape {
    /// `[call site | usual message << 64, signature, (span call site,
    /// signature) per span, innermost first]`.
    key: Box<[u128]>,
    id: u32,
    /// The `spans` text value, encoded once.
    spans_words: Box<[u64]>,
}

struct ThreadCache {
    /// `(call site key, index in sites)`: the last call site seen in each
    /// slot (key 0: empty).
    direct: Box<[(usize, u32); DIRECT_SLOTS]>,
    sites: Vec<SiteCache>,
    /// Every call site this thread met, for the ones the table lost.
    by_key: HashMap<usize, u32, FxBuild>,
    shapes: HashMap<Box<[u128]>, Arc<Shape>, FxBuild>,
    /// Where a message that is not the usual one is formatted.
    text: String,
    /// The spans each of our layers saw entered on this thread, by layer.
    entered: Vec<(u64, Vec<Entered>)>,
    /// Scopes of exited spans, kept for the next ones entered (no
    /// allocation per span entered once warm).
    spare: Vec<Scope>,
    /// The scope of an event that is not the current span's (an explicit
    /// parent, or no mirror to trust).
    scratch: Scope,
    /// The event's encoded values, and where each field is.
    payload: Payload,
    fields: Vec<FieldAt>,
}

impl Default for ThreadCache {
    fn default() -> ThreadCache {
        ThreadCache {
            direct: Box::new([(0, 0); DIRECT_SLOTS]),
            sites: Vec::new(),
            by_key: HashMap::default(),
            shapes: HashMap::default(),
            // Room for every message kept whole: no growth after the first.
            text: String::with_capacity(crate::value::MAX_STR_BYTES),
            entered: Vec::new(),
            spare: Vec::new(),
            scratch: Scope::default(),
            payload: Payload::default(),
            fields: Vec::with_capacity(SIG_FIELDS),
        }
    }
}

impl ThreadCache {
    /// The index of call site `meta` in `sites`, with its filter decision
    /// up to date.
    #[inline]
    fn site(&mut self, meta: &'static Metadata<'static>, level: Level) -> usize {
        let key = meta_key(meta);
        let slot = direct_slot(key as u64);
        let (k, i) = self.direct[slot];
        let i = if k == key { i as usize } else { self.site_slow(meta, slot) };
        let generation = filter::generation();
        if self.sites[i].generation != generation {
            let site = &mut self.sites[i];
            site.enabled = filter::current().enabled(level, meta.target());
            site.limit = if site.enabled { bridged_limit(Statement::Tracing(key), meta.target()) } else { None };
            site.generation = generation;
        }
        i
    }

    #[cold]
    #[inline(never)]
    fn site_slow(&mut self, meta: &'static Metadata<'static>, slot: usize) -> usize {
        let key = meta_key(meta);
        let i = match self.by_key.get(&key) {
            Some(&i) => i as usize,
            None => {
                let usual_message =
                    with_shared(|sh| sh.usual_messages.get(&key).cloned()).unwrap_or_else(|| Arc::from(""));
                let message_index = meta.fields().field("message").map_or(usize::MAX, |f| f.index());
                self.sites.push(SiteCache {
                    key,
                    // Never a generation: decided on first use.
                    generation: u64::MAX,
                    enabled: false,
                    limit: None,
                    message_index,
                    usual_message,
                    last: None,
                });
                let i = self.sites.len() - 1;
                self.by_key.insert(key, i as u32);
                i
            }
        };
        self.direct[slot] = (key, i as u32);
        i
    }
}

/// A span entered on this thread, as one of our layers saw it: the
/// registry's stack of entered spans, mirrored, so that an event finds its
/// current span without the registry.
#[derive(Debug)]
struct Entered {
    id: u64,
    /// Entered again while already entered (the registry's current span is
    /// the last entry that is not a duplicate).
    duplicate: bool,
    /// Its scope, worked out at its first event (and again after any span's
    /// fields changed); `filled` says whether it was.
    scope: Scope,
    filled: bool,
}

/// What our mirror of the entered spans says an event's scope is.
enum Mirror<'a> {
    /// The current span, whose scope is the event's.
    Current(&'a mut Entered),
    /// No span entered: no scope.
    Root,
    /// The mirror does not know (an event with an explicit parent, or a
    /// layer that was never added to a subscriber): ask the registry.
    Unknown,
}

/// The current span of `layer` on this thread for `event`, by the
/// registry's rule: the last entered span that is not a duplicate entry.
///
/// The mirror sees every `on_enter` and `on_exit` of the layer's
/// subscriber. A per-layer filter that hides a span from this layer hides
/// its enters too, and an event inside it is then attributed to the nearest
/// entered span the layer saw (the registry would pick the hidden span's
/// nearest visible ancestor: the same span but where a span was entered on a
/// thread other than its parent's).
fn mirror<'a>(entered: &'a mut [(u64, Vec<Entered>)], layer: u64, event: &Event<'_>) -> Mirror<'a> {
    if event.is_root() {
        return Mirror::Root;
    }
    if layer == 0 || !event.is_contextual() {
        return Mirror::Unknown;
    }
    match entered.iter_mut().find(|(l, _)| *l == layer) {
        Some((_, stack)) => match stack.iter_mut().rev().find(|e| !e.duplicate) {
            Some(e) => Mirror::Current(e),
            None => Mirror::Root,
        },
        None => Mirror::Root,
    }
}

/// An event's enclosing spans, innermost first, with their field values.
#[derive(Debug, Default)]
struct Scope {
    /// [`RECORD_GENERATION`] when it was worked out.
    generation: u64,
    spans: Vec<SpanInfo>,
    /// The spans' field values; each [`SpanInfo`] says where its own are.
    words: Vec<u64>,
    /// Strings cut short among them.
    truncated: u32,
}

impl Scope {
    /// Fills in the spans of `scope` (innermost first).
    fn fill<'a, R: LookupSpan<'a> + 'a>(&mut self, scope: impl Iterator<Item = SpanRef<'a, R>>) {
        self.clear();
        for span in scope.take(MAX_SPANS) {
            let mut info = SpanInfo { meta: Some(span.metadata()), ..SpanInfo::NONE };
            if let Some(sf) = span.extensions().get::<SpanFields>() {
                info.sig = sf.sig;
                info.start = self.words.len() as u32;
                self.words.extend(sf.values());
                info.end = self.words.len() as u32;
                self.truncated += sf.truncated;
            }
            self.spans.push(info);
        }
    }

    /// No span.
    fn clear(&mut self) {
        // Before any value is read: an update in between makes the next
        // event read them again.
        self.generation = RECORD_GENERATION.load(Ordering::Acquire);
        self.spans.clear();
        self.words.clear();
        self.truncated = 0;
    }

    /// Whether no span's fields changed since it was worked out.
    #[inline]
    fn is_fresh(&self) -> bool {
        self.generation == RECORD_GENERATION.load(Ordering::Acquire)
    }
}

thread_local! {
    static CACHE: RefCell<ThreadCache> = RefCell::new(ThreadCache::default());
}

/// Process-wide: the first message of each `tracing` call site, and the
/// registered shapes.
struct Shared {
    usual_messages: HashMap<usize, Arc<str>, FxBuild>,
    shapes: HashMap<Box<[u128]>, Arc<Shape>, FxBuild>,
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

    fn on_layer(&mut self, _subscriber: &mut S) {
        self.id = LAYER_IDS.fetch_add(1, Ordering::Relaxed) + 1;
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        if self.id == 0 {
            return;
        }
        let _ = CACHE.try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else { return };
            let ThreadCache { entered, spare, .. } = &mut *cache;
            let stack = match entered.iter().position(|(l, _)| *l == self.id) {
                Some(i) => &mut entered[i].1,
                None => {
                    entered.push((self.id, Vec::new()));
                    &mut entered.last_mut().expect("just pushed").1
                }
            };
            let id = id.into_u64();
            let duplicate = stack.iter().any(|e| e.id == id);
            stack.push(Entered { id, duplicate, scope: spare.pop().unwrap_or_default(), filled: false });
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        if self.id == 0 {
            return;
        }
        let _ = CACHE.try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else { return };
            let ThreadCache { entered, spare, .. } = &mut *cache;
            let Some((_, stack)) = entered.iter_mut().find(|(l, _)| *l == self.id) else { return };
            let id = id.into_u64();
            // As the registry pops: the last entry of this span.
            if let Some(i) = stack.iter().rposition(|e| e.id == id) {
                spare.push(stack.remove(i).scope);
            }
        });
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
        // { the values above are in place }: cached scopes are stale.
        RECORD_GENERATION.fetch_add(1, Ordering::AcqRel);
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
            record_event(&mut cache, self.id, event, level, &ctx);
        });
    }
}

fn record_event<S>(cache: &mut ThreadCache, layer: u64, event: &Event<'_>, level: Level, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    let meta = event.metadata();
    let i = cache.site(meta, level);
    let ThreadCache { sites, shapes, text, payload, fields, entered, scratch, .. } = cache;
    let site = &mut sites[i];
    if !site.enabled {
        return;
    }
    let limit = site.limit;

    let mut c = Collect::new(payload, None, site.message_index, Message::new(&site.usual_message, text));
    event.record(&mut c);
    let (mut sig, in_order, mut message) = (c.sig, c.in_order, c.message.end());
    if !in_order {
        // Fields out of order (a value set built by hand): again, noting
        // where each one is.
        let mut c = Collect::new(payload, Some(fields), site.message_index, Message::new(&site.usual_message, text));
        event.record(&mut c);
        (sig, message) = (c.sig, c.message.end());
        Collect::sort_fields(fields, false);
    }
    let fields_end = payload.len();
    let mut usual = matches!(message, MessageEnd::Usual);
    if let MessageEnd::Own { seen: true } = message
        && site.usual_message.is_empty()
        && !text.is_empty()
    {
        // The first event of this call site (in this thread): its message
        // becomes the usual one, for every thread.
        let first = text.as_str();
        let shared =
            with_shared(|sh| Arc::clone(sh.usual_messages.entry(site.key).or_insert_with(|| Arc::from(first))));
        usual = *shared == *first;
        site.usual_message = shared;
    }
    // The message, when it is not the usual one: a field of its own (the
    // empty text when the event had none).
    let message_start = payload.len();
    if !usual {
        put_str(message.text(&site.usual_message, text), payload);
    }
    let message_end = payload.len();

    // The enclosing spans: the current span's scope, kept with our mirror of
    // the entered spans until a span's fields change; else looked up.
    let scope: &Scope = match mirror(entered, layer, event) {
        Mirror::Current(current) => {
            if !(current.filled && current.scope.is_fresh()) {
                match ctx.span(&Id::from_u64(current.id)) {
                    Some(span) => current.scope.fill(span.scope()),
                    None => current.scope.clear(),
                }
                current.filled = true;
            }
            &current.scope
        }
        Mirror::Root => {
            scratch.clear();
            scratch
        }
        Mirror::Unknown => {
            match ctx.event_scope(event) {
                Some(spans) => scratch.fill(spans),
                None => scratch.clear(),
            }
            scratch
        }
    };
    let spans = &scope.spans[..];
    let truncated = payload.truncated + scope.truncated;

    // The shape: the call site's last one, else the thread's map, else
    // registered.
    let shape = match &site.last {
        Some(last) if last.matches(usual, sig, spans) => last,
        _ => {
            // A stack key: a shape met before costs no allocation.
            let mut key = [0u128; 2 + 2 * MAX_SPANS];
            key[0] = site.key as u128 | (u128::from(usual) << 64);
            key[1] = sig;
            for (i, span) in spans.iter().enumerate() {
                key[2 + 2 * i] = span.meta.map_or(0, meta_key) as u128;
                key[3 + 2 * i] = span.sig;
            }
            let key = &key[..2 + 2 * spans.len()];
            let shape = match shapes.get(key) {
                Some(shape) => Arc::clone(shape),
                None => {
                    let shape = register_shape(key, meta, level, usual, &site.usual_message, spans);
                    shapes.insert(key.into(), Arc::clone(&shape));
                    shape
                }
            };
            site.last.insert(shape)
        }
    };

    let message_words = payload.get(message_start, message_end);
    let mut total = message_words.len();
    total += if in_order { fields_end } else { fields.iter().map(|f| (f.slot.end - f.slot.start) as usize).sum() };
    total += spans.iter().map(|s| (s.end - s.start) as usize).sum::<usize>();
    total += shape.spans_words.len();
    if total > PAYLOAD_WORDS || payload.len() > PAYLOAD_WORDS {
        // Too large for a record: the ring drops it and counts it.
        total = total.max(PAYLOAD_WORDS + 1);
    }
    if let Some(limit) = limit
        && !limit.admit(shape.id, crate::clock::now())
    {
        return;
    }
    crate::recorder::record_with(shape.id, total, |w| {
        if total > PAYLOAD_WORDS {
            return;
        }
        message_words.iter().for_each(|&x| w.push(x));
        if in_order {
            payload.get(0, fields_end).iter().for_each(|&x| w.push(x));
        } else {
            for f in fields {
                payload.get(f.slot.start as usize, f.slot.end as usize).iter().for_each(|&x| w.push(x));
            }
        }
        // Outermost span first.
        for span in spans.iter().rev() {
            scope.words[span.start as usize..span.end as usize].iter().for_each(|&x| w.push(x));
        }
        shape.spans_words.iter().for_each(|&x| w.push(x));
        for _ in 0..truncated {
            w.note_truncated();
        }
    });
}

impl Shape {
    /// Whether an event of this shape is another one like the last.
    #[inline]
    fn matches(&self, usual: bool, sig: KindSig, spans: &[SpanInfo]) -> bool {
        let k = &self.key;
        (k[0] >> 64 != 0) == usual
            && k[1] == sig
            && k.len() == 2 + 2 * spans.len()
            && k[2..]
                .chunks_exact(2)
                .zip(spans)
                .all(|(pair, s)| pair[0] == s.meta.map_or(0, meta_key) as u128 && pair[1] == s.sig)
    }
}

/// One enclosing span of an event, with where its field values are in its
/// [`Scope`]'s words (`start..end`).
#[derive(Debug, Clone, Copy)]
struct SpanInfo {
    meta: Option<&'static Metadata<'static>>,
    sig: KindSig,
    start: u32,
    end: u32,
}

impl SpanInfo {
    const NONE: SpanInfo = SpanInfo { meta: None, sig: 0, start: 0, end: 0 };
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
) -> Arc<Shape> {
    with_shared(|sh| {
        if let Some(s) = sh.shapes.get(key) {
            return Arc::clone(s);
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
        let shape = Arc::new(Shape { key: key.into(), id, spans_words: spans_words.into_boxed_slice() });
        sh.shapes.insert(key.into(), Arc::clone(&shape));
        shape
    })
}
