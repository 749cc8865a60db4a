//! Call sites: the static description of each logging statement, registered
//! once and then known by a compact id.
//!
//! # What a call site is
//!
//! Every `info!(…)` (and friends) expands to a `static` [`CallSite`] holding
//! its [`Metadata`]: level, target, message, file, line, module path and field
//! names, all `&'static str` built at compile time. Nothing of it is copied
//! into the ring: an event stores only the call site's id.
//!
//! # Registration
//!
//! The first time a call site fires, [`CallSite::id`] takes the cold path:
//! it locks the process-wide registry, interns the strings (each distinct
//! string is kept once, shared by every call site that uses it), records the
//! kinds of the field values, and stores the new id in the call site's
//! atomic. Every later call is one acquire load (a plain load on x86-64) and
//! a branch. Ids start at 1; `0` means "not yet registered".
//!
//! # Interest
//!
//! The same state word caches whether the [filter](crate::Filter) wants the
//! call site's events: `FILTERED_OUT` (bit 31) is set when a directive for its
//! target disables its level. The macros test it right after the global
//! level check, so an event that passes `MIN_LEVEL` but not its target's
//! directive costs one more load and branch. The bit is computed when the
//! call site registers and recomputed for every registered call site when
//! the filter changes, both under the registry lock, so a call site never
//! keeps the interest of an older filter once [`crate::set_filter`] has
//! returned. The state machine:
//!
//! ```text
//!   UNREGISTERED ──first event (registry lock)──► id | (FILTERED_OUT if the filter disables it)
//!        │                                          ▲ │
//!        │                                          │ │ set_filter (registry lock): bit recomputed
//!        │                                          └─┘
//!        └──(more than MAX_CALLSITE_ID sites)──► OVERFLOW | (FILTERED_OUT …), bit recomputed
//!                                                 likewise; its events are counted as dropped
//! ```
//!
//! The macros load the state word once: [`CallSite::interested`] tests the
//! bit, then one comparison (`is_ready`) sends every state but a plain id
//! (unregistered, overflowed) to the cold path.
//!
//! Bridges whose metadata is not `'static` in our sense (`log` records,
//! `tracing` events recorded with run-time value types) register through
//! [`register_dynamic`].
//!
//! # Watching registrations
//!
//! A module above this one that must see every call site as it registers
//! (persistent rings append it to their `callsites` file, so that a crash
//! leaves the table beside the rings) installs a hook with
//! `watch_registrations` rather than being called from here: this module
//! depends only on the level, filter, value and ring modules below it.

use crate::level::Level;
use crate::limit::RateLimit;
use crate::ring::MAX_CALLSITE_ID;
use crate::value::Kind;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// The static description of one logging statement.
#[derive(Debug)]
pub struct Metadata {
    /// Severity.
    pub level: Level,
    /// Target: the module path unless overridden with `target: "…"`.
    pub target: &'static str,
    /// The message (a literal).
    pub message: &'static str,
    /// Source file.
    pub file: &'static str,
    /// Source line.
    pub line: u32,
    /// Module path.
    pub module_path: &'static str,
    /// Field names, in the order the values are recorded.
    pub fields: &'static [&'static str],
}

/// State word of a call site: not yet registered.
const UNREGISTERED: u32 = 0;
/// Id of a call site that could not get one (more than [`MAX_CALLSITE_ID`]
/// call sites); its events are dropped and counted. Above every real id.
pub(crate) const OVERFLOW: u32 = 0x3fff_ffff;
/// Bit of the state word: the filter disables this call site's events.
pub(crate) const FILTERED_OUT: u32 = 1 << 31;
/// Bit of the state word: a [rate limit](crate::limit) decides whether
/// each event is written (the cold path).
pub(crate) const LIMITED: u32 = 1 << 30;
/// Whether `state` is a registered, wanted call site with an id of its own
/// (not unregistered, not [`OVERFLOW`], not filtered out, not limited): one
/// comparison. The macros' hot path takes only these.
#[inline(always)]
pub(crate) const fn is_ready(state: u32) -> bool {
    // { UNREGISTERED = 0 < id < OVERFLOW < LIMITED < FILTERED_OUT }
    state.wrapping_sub(1) < OVERFLOW - 1
}

/// The id bits of the state word.
pub(crate) const ID_MASK: u32 = !(FILTERED_OUT | LIMITED);

/// A logging statement's static metadata plus its registered id.
///
/// Built by the logging macros in a `static`; see the [module
/// documentation](self) for how registration works.
pub struct CallSite {
    meta: Metadata,
    /// `{ filtered_out: 1 bit | limited: 1 bit | UNREGISTERED, id in
    /// 1..=MAX_CALLSITE_ID, or OVERFLOW: 30 bits }`.
    state: AtomicU32,
    /// The limit the statement declared (`info!(limit: 100 / s, …)`).
    own_limit: Option<&'static RateLimit>,
    /// The limit a filter rule gave it, made the first time one did and
    /// updated in place after (`per_second` none when no rule applies).
    rule_limit: OnceLock<&'static RateLimit>,
}

impl fmt::Debug for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSite")
            .field("meta", &self.meta)
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish()
    }
}

impl CallSite {
    /// A call site that is not registered yet.
    pub const fn new(meta: Metadata) -> CallSite {
        CallSite::limited(meta, None)
    }

    /// A call site with the rate limit its statement declared.
    #[doc(hidden)]
    pub const fn limited(meta: Metadata, limit: Option<&'static RateLimit>) -> CallSite {
        CallSite { meta, state: AtomicU32::new(UNREGISTERED), own_limit: limit, rule_limit: OnceLock::new() }
    }

    /// The rate limit that decides its events, if one does.
    pub(crate) fn limit(&self) -> Option<&'static RateLimit> {
        self.own_limit.or_else(|| self.rule_limit.get().copied())
    }

    /// Brings the call site's rule limit in step with `filter`, and returns
    /// the `LIMITED` bit its state word must carry.
    fn apply_limits(&'static self, filter: &crate::Filter) -> u32 {
        let rule = filter.limit_for(self.meta.target);
        if self.own_limit.is_none() {
            match self.rule_limit.get() {
                Some(l) => l.set(rule),
                None if rule.is_some() => {
                    let l: &'static RateLimit = Box::leak(Box::new(RateLimit::new(rule)));
                    let _ = self.rule_limit.set(l);
                }
                None => {}
            }
        }
        let ring_events = crate::recorder::ring_events_max().unwrap_or(u64::MAX);
        let limit = self.limit().and_then(RateLimit::per_second);
        if crate::limit::matters(limit, ring_events) { LIMITED } else { 0 }
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The state word, loaded once by the macros after the global level
    /// check: [`CallSite::interested`] and [`is_ready`] read it without
    /// loading it again.
    ///
    /// Acquire pairs with the release store in `register`, so a reader that
    /// sees an event with this id (through the ring's release/acquire on
    /// `head`) also sees the registry entry.
    #[doc(hidden)]
    #[inline(always)]
    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    /// Whether the filter wants the events of a call site in `state`: an
    /// unregistered call site says yes; registration decides.
    #[doc(hidden)]
    #[inline(always)]
    pub const fn interested(state: u32) -> bool {
        state & FILTERED_OUT == 0
    }

    /// The call site's state word, registering it (once) on first use.
    /// `kinds` are the kinds of its field values, one per field name. `None`
    /// when the filter disables the call site.
    #[inline(always)]
    pub(crate) fn registered(&'static self, kinds: &'static [Kind]) -> Option<u32> {
        let state = self.state();
        let state = if state != UNREGISTERED { state } else { self.register(kinds) };
        CallSite::interested(state).then_some(state)
    }

    /// The call site's id, registering it (once) on first use. `kinds` are
    /// the kinds of its field values, one per field name. `None` when the
    /// filter disables the call site.
    #[inline(always)]
    pub fn id(&'static self, kinds: &'static [Kind]) -> Option<u32> {
        self.registered(kinds).map(|state| state & ID_MASK)
    }

    #[cold]
    #[inline(never)]
    fn register(&'static self, kinds: &'static [Kind]) -> u32 {
        let mut reg = registry();
        // Another thread may have registered this call site while we waited.
        let state = self.state.load(Ordering::Acquire);
        if state != UNREGISTERED {
            return state;
        }
        let m = &self.meta;
        let fields = m.fields.iter().zip(kinds.iter().copied()).map(|(n, k)| (reg.intern(n), k)).collect();
        let id = reg.add(m.level, m.target, m.message, m.file, m.line, m.module_path, fields);
        let filter = crate::filter::current();
        let state = id | interest_bit(&filter, m) | self.apply_limits(&filter);
        // Overflowed sites too: a filter change must reach them, or one
        // filtered out at registration would stay silent (and uncounted)
        // once enabled.
        reg.statics.push(self);
        // { state = id | filtered_out }
        self.state.store(state, Ordering::Release);
        state
    }
}

/// `FILTERED_OUT` if `filter` disables events of `meta`, else 0.
fn interest_bit(filter: &crate::Filter, meta: &Metadata) -> u32 {
    if filter.has_directives() && !filter.enabled(meta.level, meta.target) { FILTERED_OUT } else { 0 }
}

/// Everything known about a registered call site, with its strings
/// interned. What readers, snapshots and the viewer see.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSiteInfo {
    /// The id events carry (1-based).
    pub id: u32,
    /// Severity.
    pub level: Level,
    /// Target.
    pub target: Arc<str>,
    /// Message.
    pub message: Arc<str>,
    /// Source file.
    pub file: Arc<str>,
    /// Source line.
    pub line: u32,
    /// Module path.
    pub module_path: Arc<str>,
    /// Field names and the kind of each value.
    pub fields: Vec<(Arc<str>, Kind)>,
    /// Its [rate limit](crate::limit) and the events it suppressed so far,
    /// when it has (or had) one.
    pub rate_limit: Option<RateLimitInfo>,
}

/// A call site's rate limit and what it suppressed, as of when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Events a second written at most (`None`: the limit was lifted).
    pub per_second: Option<u32>,
    /// Events not written because of the limit.
    pub suppressed: u64,
}

/// The process-wide call-site registry and string interner.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    strings: HashMap<Arc<str>, ()>,
    sites: Vec<Arc<CallSiteInfo>>,
    /// Every registered static call site, for [`Registry::refresh_interest`].
    statics: Vec<&'static CallSite>,
    /// The rate limits of statements bridged from `tracing` and `log`, by
    /// statement.
    bridged: HashMap<Statement, &'static BridgedLimit>,
}

/// A statement bridged from `tracing` or `log`: what its rate limit is
/// kept by (they have no static [`CallSite`] to hold it).
#[cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Statement {
    /// A `tracing` call site: its metadata's address.
    Tracing(usize),
    /// A `log` statement: level, target, file and line.
    #[cfg(feature = "log")]
    Log(Level, Box<str>, Box<str>, u32),
}

/// The rate limit of a bridged statement (a filter rule's for its target),
/// and the call site its suppressed events are reported on.
#[cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
#[derive(Debug)]
pub(crate) struct BridgedLimit {
    target: Box<str>,
    limit: RateLimit,
    /// The first of the statement's call sites (the bridges register one
    /// per shape of its events) that an event of it reached; 0 until then.
    /// Snapshots report the suppressed events on it, once.
    first_id: AtomicU32,
}

impl BridgedLimit {
    /// Whether an event at `ticks` may be written (it is counted as
    /// suppressed when not), and notes `id` as the statement's call site
    /// if it has none yet.
    #[inline]
    #[cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
    pub(crate) fn admit(&self, id: u32, ticks: u64) -> bool {
        if self.first_id.load(Ordering::Relaxed) == 0 {
            let _ = self.first_id.compare_exchange(0, id, Ordering::Relaxed, Ordering::Relaxed);
        }
        self.limit.admit(ticks)
    }
}

/// The rate limit of a bridged statement of `target` under the current
/// filter, made the first time a rule limits its target; `None` when no
/// rule does, or when the rule is no limit on these rings (a bridged event
/// then pays nothing for limits). The bridges ask when their per-thread
/// filter decision is out of date; a filter change updates every limit
/// made ([`Registry::refresh_interest`]).
#[cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
pub(crate) fn bridged_limit(statement: Statement, target: &str) -> Option<&'static BridgedLimit> {
    let filter = crate::filter::current();
    let mut reg = registry();
    let limit = match reg.bridged.get(&statement) {
        Some(&l) => l,
        None => {
            let rule = filter.limit_for(target)?;
            let l: &'static BridgedLimit = Box::leak(Box::new(BridgedLimit {
                target: target.into(),
                limit: RateLimit::new(Some(rule)),
                first_id: AtomicU32::new(0),
            }));
            reg.bridged.insert(statement, l);
            l
        }
    };
    let ring_events = crate::recorder::ring_events_max().unwrap_or(u64::MAX);
    crate::limit::matters(limit.limit.per_second(), ring_events).then_some(limit)
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

/// Call sites that could not be registered (beyond the id space).
pub(crate) static OVERFLOWED: AtomicU64 = AtomicU64::new(0);

pub(crate) struct RegistryGuard(MutexGuard<'static, Option<Registry>>);

impl std::ops::Deref for RegistryGuard {
    type Target = Registry;
    fn deref(&self) -> &Registry {
        self.0.as_ref().expect("registry initialised by registry()")
    }
}

impl std::ops::DerefMut for RegistryGuard {
    fn deref_mut(&mut self) -> &mut Registry {
        self.0.as_mut().expect("registry initialised by registry()")
    }
}

/// Locks the registry. A panic while it was held cannot leave it torn (every
/// mutation is a single push), so a poisoned lock is simply taken over.
pub(crate) fn registry() -> RegistryGuard {
    let mut g = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(Registry::default);
    RegistryGuard(g)
}

/// Runs `f` with the registry locked (the filter changes under it, so that
/// registration and a filter change never interleave).
pub(crate) fn with_registry_locked<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    f(&mut registry())
}

impl Registry {
    /// Recomputes the interest bit of every registered static call site.
    pub(crate) fn refresh_interest(&self, filter: &crate::Filter) {
        for site in &self.statics {
            let id = site.state.load(Ordering::Relaxed) & ID_MASK;
            // { state = id | filtered_out | limited under the new filter };
            // Release as in `register`.
            site.state.store(id | interest_bit(filter, &site.meta) | site.apply_limits(filter), Ordering::Release);
        }
        for b in self.bridged.values() {
            b.limit.set(filter.limit_for(&b.target));
        }
    }

    /// The shared copy of `s`.
    pub(crate) fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some((k, _)) = self.strings.get_key_value(s) {
            return Arc::clone(k);
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(Arc::clone(&a), ());
        a
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        level: Level,
        target: &str,
        message: &str,
        file: &str,
        line: u32,
        module_path: &str,
        fields: Vec<(Arc<str>, Kind)>,
    ) -> u32 {
        let id = self.sites.len() as u32 + 1;
        if id > MAX_CALLSITE_ID {
            OVERFLOWED.fetch_add(1, Ordering::Relaxed);
            return OVERFLOW;
        }
        let info = CallSiteInfo {
            id,
            level,
            target: self.intern(target),
            message: self.intern(message),
            file: self.intern(file),
            line,
            module_path: self.intern(module_path),
            fields,
            rate_limit: None,
        };
        let info = Arc::new(info);
        if let Some(hook) = ON_REGISTER.get() {
            hook(&info);
        }
        self.sites.push(info);
        id
    }

    /// All call sites, by id (`id - 1` is the index).
    pub(crate) fn all(&self) -> &[Arc<CallSiteInfo>] {
        &self.sites
    }
}

/// Called with every call site as it registers, under the registry lock
/// (before any event can carry its id); set once by
/// [`watch_registrations`].
static ON_REGISTER: OnceLock<fn(&CallSiteInfo)> = OnceLock::new();

/// Calls `hook` with every call site registered so far and, from then on,
/// with each one as it registers: all under the registry lock, so that none
/// is missed or seen twice. One hook per process; `false` (and `hook` is not
/// called) if one was installed already.
pub(crate) fn watch_registrations(hook: fn(&CallSiteInfo)) -> bool {
    let reg = registry();
    if ON_REGISTER.set(hook).is_err() {
        return false;
    }
    for site in reg.all() {
        hook(site);
    }
    true
}

/// Registers a call site whose metadata is known only at run time (the `log`
/// and `tracing` bridges) and returns its id; `OVERFLOW` when the id space is
/// exhausted. Callers cache the id: every call registers a new call site.
pub fn register_dynamic(
    level: Level,
    target: &str,
    message: &str,
    file: &str,
    line: u32,
    module_path: &str,
    fields: &[(&str, Kind)],
) -> u32 {
    let mut reg = registry();
    let fields = fields.iter().map(|(n, k)| (reg.intern(n), *k)).collect();
    reg.add(level, target, message, file, line, module_path, fields)
}

/// A copy of the call-site table (cheap: shared strings), with each rate
/// limit's suppressed count as of now.
pub fn callsites() -> Vec<Arc<CallSiteInfo>> {
    let reg = registry();
    let mut sites = reg.all().to_vec();
    for site in &reg.statics {
        let Some(limit) = site.limit() else { continue };
        let id = site.state.load(Ordering::Acquire) & ID_MASK;
        let Some(info) = (id as usize).checked_sub(1).and_then(|i| sites.get_mut(i)) else { continue };
        let rate_limit = RateLimitInfo { per_second: limit.per_second(), suppressed: limit.suppressed() };
        if rate_limit.per_second.is_some() || rate_limit.suppressed > 0 {
            *info = Arc::new(CallSiteInfo { rate_limit: Some(rate_limit), ..(**info).clone() });
        }
    }
    for b in reg.bridged.values() {
        let id = b.first_id.load(Ordering::Relaxed);
        let Some(info) = (id as usize).checked_sub(1).and_then(|i| sites.get_mut(i)) else { continue };
        let rate_limit = RateLimitInfo { per_second: b.limit.per_second(), suppressed: b.limit.suppressed() };
        if rate_limit.per_second.is_some() || rate_limit.suppressed > 0 {
            *info = Arc::new(CallSiteInfo { rate_limit: Some(rate_limit), ..(**info).clone() });
        }
    }
    sites
}

#[cfg(test)]
mod tests {
    use super::*;

    static SITE: CallSite = CallSite::new(Metadata {
        level: Level::Warn,
        target: "unit::target",
        message: "hello",
        file: file!(),
        line: line!(),
        module_path: module_path!(),
        fields: &["a", "b"],
    });

    #[test]
    fn registers_once_and_interns() {
        let id = SITE.id(&[Kind::U64, Kind::Str]).unwrap();
        assert_eq!(SITE.id(&[Kind::U64, Kind::Str]), Some(id));
        let threads: Vec<_> =
            (0..4).map(|_| std::thread::spawn(|| SITE.id(&[Kind::U64, Kind::Str]).unwrap())).collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), id);
        }
        let reg = registry();
        let info = &reg.all()[id as usize - 1];
        assert_eq!(&*info.target, "unit::target");
        assert_eq!(info.fields[1], (Arc::from("b"), Kind::Str));
        let again = reg.strings.get_key_value("unit::target").unwrap().0;
        assert!(Arc::ptr_eq(again, &info.target));
    }
}
