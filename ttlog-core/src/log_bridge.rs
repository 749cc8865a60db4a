//! The `log` bridge: a [`log::Log`] implementation that records every `log`
//! record, key-values included, in the calling thread's ring.
//!
//! ```
//! let trace = ttlog_core::Trace::builder().service("api").install().unwrap();
//! ttlog_core::log_bridge::init().unwrap();
//!
//! log::info!(target: "db", user = "ada", rows = 3u64; "query done");
//! let ms = std::hint::black_box(250);
//! log::warn!("slow: {} ms", ms);
//!
//! let events = trace.events();
//! let q = events.iter().find(|e| &*e.message == "query done").unwrap();
//! assert_eq!(q.field("rows"), Some(&ttlog_core::Value::U64(3)));
//! assert_eq!(q.field("user"), Some(&ttlog_core::Value::Str("ada".into())));
//! let slow = events.iter().find(|e| e.field("message").is_some()).unwrap();
//! assert_eq!(slow.field("message"), Some(&ttlog_core::Value::Str("slow: 250 ms".into())));
//! ```
//!
//! # What a record becomes
//!
//! Level, target, module path, file and line; each key-value typed as `log`
//! hands it over (integers, floats, `bool`, `char`, text; anything else as
//! its `Display` text), at most 32 per record. A message without arguments
//! (`info!("query done")`) is the call site's message in the call-site table;
//! a formatted one (`warn!("slow: {} ms", ms)`; the compiler folds constant
//! arguments into the literal) is stored as a first field
//! `message` of a call site whose table message is empty. As for `tracing`,
//! each shape of record (call site, key names and kinds) maps onto one of
//! our typed call sites; see the [bridge design](crate::bridge).
//!
//! # Filtering
//!
//! [`log::max_level`] follows the [`Filter`](crate::Filter)'s most verbose
//! level (kept in step by [`crate::set_filter`] once [`init`] ran), so `log`'s
//! own check disables the rest; per-target decisions are cached per target
//! and thread.
//!
//! # Cost
//!
//! `log` hands over no call-site identity, so each thread keeps a
//! direct-mapped table of statements, slotted by line, level and the lengths
//! of target and file (no pass over their bytes) and confirmed by comparing
//! target and file eight bytes at a time. An entry holds the statement's
//! last shape, our call site for it and the filter's answer: a record like
//! the last one of its statement (nearly every record) is visited once, its
//! key names compared with the entry's as they come, and written. Anything
//! else (a new statement in the slot, a new shape) visits the record again
//! and goes through the thread's map of shapes, hashed by content.

use crate::bridge::{DIRECT_SLOTS, FxBuild, KindSig, Payload, SIG_FIELDS, same_bytes, sig_with};
use crate::callsite::{BridgedLimit, Statement, bridged_limit, register_dynamic};
use crate::filter;
use crate::level::{self, Level};
use crate::value::{Kind, WordSink, put_str};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The `log` logger; install it with [`init`].
#[derive(Debug, Default, Clone, Copy)]
pub struct LogBridge {
    _private: (),
}

static LOGGER: LogBridge = LogBridge { _private: () };
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Makes TTLog the `log` crate's logger (`log::set_logger`) and sets
/// `log::max_level` from the filter.
///
/// # Errors
/// When another logger is set already (only one per process).
pub fn init() -> Result<(), log::SetLoggerError> {
    log::set_logger(&LOGGER)?;
    INSTALLED.store(true, Ordering::Release);
    sync_max_level();
    Ok(())
}

/// Sets `log::max_level` to the filter's most verbose level, if [`init`] ran.
pub(crate) fn sync_max_level() {
    if INSTALLED.load(Ordering::Acquire) {
        log::set_max_level(match filter::current().max_level() {
            None => log::LevelFilter::Off,
            Some(Level::Trace) => log::LevelFilter::Trace,
            Some(Level::Debug) => log::LevelFilter::Debug,
            Some(Level::Info) => log::LevelFilter::Info,
            Some(Level::Warn) => log::LevelFilter::Warn,
            Some(Level::Error) => log::LevelFilter::Error,
        });
    }
}

fn level_of(level: log::Level) -> Level {
    match level {
        log::Level::Trace => Level::Trace,
        log::Level::Debug => Level::Debug,
        log::Level::Info => Level::Info,
        log::Level::Warn => Level::Warn,
        log::Level::Error => Level::Error,
    }
}

/// A record's shape, owned (the map key).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ShapeKey {
    level: u8,
    /// Address and length of the literal message, or `(0, 0)` when formatted.
    message: (usize, usize),
    target: Box<str>,
    file: Box<str>,
    line: u32,
    sig: KindSig,
    names: Box<[Box<str>]>,
}

impl ShapeKey {
    /// Whether a record of `level`, `target`, `file` and `line` comes from
    /// the statement this shape was seen at (compared eight bytes at a time).
    #[inline]
    fn same_site(&self, level: Level, target: &str, file: &str, line: u32) -> bool {
        self.level == level as u8 && self.line == line && same_str(&self.target, target) && same_str(&self.file, file)
    }
}

#[inline]
fn same_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && same_bytes(a.as_bytes(), b.as_bytes())
}

/// Key-values of one record, collected: compared with the names of an
/// expected shape as they come (the statement's last one), or kept for a
/// new shape.
struct Collect<'a, 'e> {
    payload: &'a mut Payload,
    /// The names of the expected shape.
    expected: &'e [Box<str>],
    /// Whether the names so far are the expected ones.
    as_expected: bool,
    /// The names, when kept.
    names: Option<&'e mut [&'a str; SIG_FIELDS]>,
    n: usize,
    sig: KindSig,
}

impl<'kvs> log::kv::VisitSource<'kvs> for Collect<'kvs, '_> {
    fn visit_pair(&mut self, key: log::kv::Key<'kvs>, value: log::kv::Value<'kvs>) -> Result<(), log::kv::Error> {
        if self.n >= SIG_FIELDS {
            return Ok(());
        }
        let Some(name) = key.to_borrowed_str() else {
            // A key that is not borrowed for the record's lifetime: kept by
            // its text, formatted.
            return Ok(());
        };
        let mut v = ValueKind { payload: &mut *self.payload, kind: Kind::Str };
        value.visit(&mut v)?;
        let kind = v.kind;
        self.as_expected &= self.expected.get(self.n).is_some_and(|e| same_str(e, name));
        if let Some(names) = &mut self.names {
            names[self.n] = name;
        }
        self.sig = sig_with(self.sig, self.n, kind);
        self.n += 1;
        Ok(())
    }
}

/// Encodes one value by its original type.
struct ValueKind<'p> {
    payload: &'p mut Payload,
    kind: Kind,
}

impl<'v> log::kv::VisitValue<'v> for ValueKind<'_> {
    fn visit_any(&mut self, value: log::kv::Value<'_>) -> Result<(), log::kv::Error> {
        self.payload.put_fmt(format_args!("{value}"));
        self.kind = Kind::Str;
        Ok(())
    }
    fn visit_null(&mut self) -> Result<(), log::kv::Error> {
        put_str("null", self.payload);
        self.kind = Kind::Str;
        Ok(())
    }
    fn visit_u64(&mut self, value: u64) -> Result<(), log::kv::Error> {
        self.payload.push(value);
        self.kind = Kind::U64;
        Ok(())
    }
    fn visit_i64(&mut self, value: i64) -> Result<(), log::kv::Error> {
        self.payload.push(value as u64);
        self.kind = Kind::I64;
        Ok(())
    }
    fn visit_u128(&mut self, value: u128) -> Result<(), log::kv::Error> {
        self.payload.push(value as u64);
        self.payload.push((value >> 64) as u64);
        self.kind = Kind::U128;
        Ok(())
    }
    fn visit_i128(&mut self, value: i128) -> Result<(), log::kv::Error> {
        self.visit_u128(value as u128)?;
        self.kind = Kind::I128;
        Ok(())
    }
    fn visit_f64(&mut self, value: f64) -> Result<(), log::kv::Error> {
        self.payload.push(value.to_bits());
        self.kind = Kind::F64;
        Ok(())
    }
    fn visit_bool(&mut self, value: bool) -> Result<(), log::kv::Error> {
        self.payload.push(value as u64);
        self.kind = Kind::Bool;
        Ok(())
    }
    fn visit_str(&mut self, value: &str) -> Result<(), log::kv::Error> {
        put_str(value, self.payload);
        self.kind = Kind::Str;
        Ok(())
    }
    fn visit_char(&mut self, value: char) -> Result<(), log::kv::Error> {
        self.payload.push(value as u64);
        self.kind = Kind::Char;
        Ok(())
    }
}

/// A statement as a thread last saw it in its slot: the shape of its last
/// record, our call site for it, and whether the filter passes it.
#[derive(Debug, Clone)]
struct Site {
    shape: Arc<ShapeKey>,
    id: u32,
    /// Filter generation `enabled` was computed for.
    generation: u64,
    enabled: bool,
    /// Its rate limit, when a filter rule gives its target one.
    limit: Option<&'static BridgedLimit>,
}

/// The slot of a statement: from its line, level and the lengths of its
/// target and file (no pass over their bytes).
#[inline]
fn statement_slot(level: Level, target: &str, file: &str, line: u32) -> usize {
    crate::bridge::direct_slot(
        u64::from(line) | (level as u64) << 32 | (target.len() as u64) << 40 | (file.len() as u64) << 52,
    )
}

struct ThreadCache {
    /// Per target: the filter generation and whether each level passes.
    targets: Targets,
    shapes: Shapes,
    /// The last statement seen in each slot.
    direct: Box<[Option<Site>]>,
    payload: Payload,
}

impl Default for ThreadCache {
    fn default() -> ThreadCache {
        ThreadCache {
            targets: HashMap::default(),
            shapes: Shapes::default(),
            direct: vec![None; DIRECT_SLOTS].into_boxed_slice(),
            payload: Payload::default(),
        }
    }
}

thread_local! {
    static CACHE: RefCell<ThreadCache> = RefCell::new(ThreadCache::default());
}

/// Shape hash → the shapes with that hash and their ids.
type Shapes = HashMap<u64, Vec<(Arc<ShapeKey>, u32)>, FxBuild>;

static SHARED: Mutex<Option<Shapes>> = Mutex::new(None);

impl ThreadCache {
    /// Whether the filter passes `level` for `target` (cached per target).
    fn enabled(&mut self, level: Level, target: &str) -> bool {
        target_enabled(&mut self.targets, level, target)
    }
}

/// Whether the filter passes `level` for `target`, cached per target in
/// `targets`.
fn target_enabled(targets: &mut Targets, level: Level, target: &str) -> bool {
    let generation = filter::generation();
    let code = match targets.get(target) {
        Some(&(g, code)) if g == generation => code,
        _ => {
            let f = filter::current();
            // The most verbose level that passes, as a code; the high bit
            // when a rule limits the target's rate.
            let code = Level::ALL.iter().find(|l| f.enabled(**l, target)).map_or(u8::MAX >> 1, |l| *l as u8)
                | if f.limit_for(target).is_some() { LIMITED_TARGET } else { 0 };
            targets.insert(target.into(), (generation, code));
            code
        }
    };
    level as u8 >= code & !LIMITED_TARGET
}

/// The bit of a target's cached code saying a filter rule limits its rate.
const LIMITED_TARGET: u8 = 0x80;

/// Per target: the filter generation, and the most verbose level that
/// passes with [`LIMITED_TARGET`].
type Targets = HashMap<Box<str>, (u64, u8), FxBuild>;

/// The rate limit of a statement whose target passes, when a rule limits
/// its target (cold: limited targets only).
fn statement_limit(
    targets: &Targets,
    level: Level,
    target: &str,
    file: &str,
    line: u32,
) -> Option<&'static BridgedLimit> {
    let (_, code) = targets.get(target)?;
    if code & LIMITED_TARGET == 0 {
        return None;
    }
    bridged_limit(Statement::Log(level, target.into(), file.into(), line), target)
}

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let level = level_of(metadata.level());
        level::enabled(level)
            && CACHE
                .try_with(|c| c.try_borrow_mut().is_ok_and(|mut c| c.enabled(level, metadata.target())))
                .unwrap_or(false)
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = level_of(record.level());
        if !level::enabled(level) {
            return;
        }
        let _ = CACHE.try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return crate::recorder::count_reentrant();
            };
            record_one(&mut cache, record, level);
        });
    }

    fn flush(&self) {}
}

fn record_one(cache: &mut ThreadCache, record: &log::Record<'_>, level: Level) {
    let (target, file, line) = (record.target(), record.file().unwrap_or(""), record.line().unwrap_or(0));
    let slot = statement_slot(level, target, file, line);
    let generation = filter::generation();
    let ThreadCache { targets, shapes, direct, payload } = cache;
    // The statement's entry: its last shape and the filter's answer.
    let enabled = match &mut direct[slot] {
        Some(site) if site.shape.same_site(level, target, file, line) => {
            if site.generation != generation {
                site.enabled = target_enabled(targets, level, target);
                site.limit = if site.enabled { statement_limit(targets, level, target, file, line) } else { None };
                site.generation = generation;
            }
            site.enabled
        }
        _ => target_enabled(targets, level, target),
    };
    if !enabled {
        return;
    }
    let site = direct[slot].as_ref().filter(|s| s.shape.same_site(level, target, file, line));
    let expected: &[Box<str>] = site.map_or(&[], |s| &s.shape.names);

    payload.clear();
    let literal = record.args().as_str();
    if literal.is_none() {
        payload.put_fmt(*record.args());
    }
    let message_key = literal.map_or((0, 0), |m| (m.as_ptr() as usize, m.len()));
    let kvs = record.key_values();
    let mut c = Collect { payload, expected, as_expected: true, names: None, n: 0, sig: 0 };
    let _ = kvs.visit(&mut c);
    let (n, sig) = (c.n, c.sig);
    let same_shape = site
        .is_some_and(|s| c.as_expected && n == expected.len() && s.shape.sig == sig && s.shape.message == message_key);
    let (id, limit) = match site {
        Some(site) if same_shape => (site.id, site.limit),
        _ => {
            // A new statement in this slot, or a new shape of it: again,
            // keeping the names, and through the thread's map.
            payload.clear();
            if literal.is_none() {
                payload.put_fmt(*record.args());
            }
            let mut names = [""; SIG_FIELDS];
            let mut c = Collect { payload, expected: &[], as_expected: false, names: Some(&mut names), n: 0, sig: 0 };
            let _ = kvs.visit(&mut c);
            let (n, sig) = (c.n, c.sig);
            let (shape, id) = shape_of(shapes, record, level, message_key, literal, sig, &names[..n]);
            let limit = match site {
                Some(site) => site.limit,
                None => statement_limit(targets, level, target, file, line),
            };
            direct[slot] = Some(Site { shape, id, generation, enabled: true, limit });
            (id, limit)
        }
    };
    if let Some(limit) = limit
        && !limit.admit(id, crate::clock::now())
    {
        return;
    }
    let total = payload.len();
    let truncated = payload.truncated;
    crate::recorder::record_with(id, total, |w| {
        payload.get(0, total).iter().for_each(|&x| w.push(x));
        for _ in 0..truncated {
            w.note_truncated();
        }
    });
}

/// The shape of a record and our call site for it, from the thread's map
/// (registered on first sight).
fn shape_of(
    shapes: &mut Shapes,
    record: &log::Record<'_>,
    level: Level,
    message_key: (usize, usize),
    literal: Option<&'static str>,
    sig: KindSig,
    names: &[&str],
) -> (Arc<ShapeKey>, u32) {
    let file = record.file().unwrap_or("");
    let line = record.line().unwrap_or(0);
    let mut h = FxBuild::default().build_hasher();
    (level as u8, message_key, record.target(), file, line, sig).hash(&mut h);
    names.hash(&mut h);
    let hash = h.finish();
    let matches = |k: &ShapeKey| {
        k.level == level as u8
            && k.message == message_key
            && k.sig == sig
            && k.line == line
            && *k.target == *record.target()
            && *k.file == *file
            && k.names.len() == names.len()
            && k.names.iter().zip(names).all(|(a, b)| **a == **b)
    };
    if let Some((k, id)) = shapes.get(&hash).and_then(|v| v.iter().find(|(k, _)| matches(k))) {
        return (Arc::clone(k), *id);
    }
    let key = Arc::new(ShapeKey {
        level: level as u8,
        message: message_key,
        target: record.target().into(),
        file: file.into(),
        line,
        sig,
        names: names.iter().map(|n| Box::from(*n)).collect(),
    });
    let id = register_shape(hash, &key, literal, record.module_path());
    shapes.entry(hash).or_default().push((Arc::clone(&key), id));
    (key, id)
}

#[cold]
#[inline(never)]
fn register_shape(hash: u64, key: &Arc<ShapeKey>, literal: Option<&'static str>, module_path: Option<&str>) -> u32 {
    let mut g = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    let shared = g.get_or_insert_with(HashMap::default);
    if let Some((_, id)) = shared.get(&hash).and_then(|v| v.iter().find(|(k, _)| **k == **key)) {
        return *id;
    }
    let mut fields: Vec<(&str, Kind)> = Vec::new();
    if literal.is_none() {
        fields.push(("message", Kind::Str));
    }
    for (i, n) in key.names.iter().enumerate() {
        fields.push((n, crate::bridge::sig_kind(key.sig, i).unwrap_or(Kind::Str)));
    }
    let level = Level::from_u8(key.level).unwrap_or(Level::Error);
    let id = register_dynamic(
        level,
        &key.target,
        literal.unwrap_or(""),
        &key.file,
        key.line,
        module_path.unwrap_or(&key.target),
        &fields,
    );
    shared.entry(hash).or_default().push((Arc::clone(key), id));
    id
}
