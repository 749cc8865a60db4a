//! The process-wide recorder: one ring per logging thread, the table of
//! rings, the hot-path entry point [`record`] and [`capture`], which reads
//! every ring.
//!
//! # Thread rings
//!
//! A thread gets its ring on its first event (the only time the hot path
//! allocates or locks) and keeps its [`Producer`](crate::ring::Producer)
//! behind a thread-local pointer (`sys::take_producer`). When the
//! thread exits, the thread-local's destructor marks its ring *idle*: its
//! events stay readable. A new thread takes, in this order, an idle ring whose
//! events have all been captured, else (once more than
//! `max_idle_rings` are idle) the ring idle the longest, whose unread events
//! then count as overwritten, else a new ring. Memory is therefore bounded by
//! `(live threads + max_idle_rings) × ring size`, however many threads come
//! and go.

use crate::callsite::{self, CallSite, OVERFLOW};
use crate::capture::{Capture, Dropped, ThreadCapture, ThreadInfo};
use crate::clock::{self, Calibration};
use crate::level::{self, LEVEL_OFF};
use crate::ring::{RecordWriter, Ring};
use crate::sys::{self, OwnedProducer};
use crate::value::{Encode, Kind};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// The values of one event's fields, as a tuple; implemented for tuples of up
/// to 24 [`Encode`] values. Built by the macros; not meant to be named.
#[doc(hidden)]
pub trait FieldSet {
    /// The kind of each value.
    const KINDS: &'static [Kind];
    /// Ring words the values take.
    fn words(&self) -> usize;
    /// Writes the values.
    fn encode(&self, w: &mut RecordWriter<'_>);
}

macro_rules! field_set {
    ($(($($t:ident $i:tt),*))*) => {$(
        impl<$($t: Encode),*> FieldSet for ($($t,)*) {
            const KINDS: &'static [Kind] = &[$($t::KIND),*];
            #[inline(always)]
            fn words(&self) -> usize {
                0 $(+ self.$i.words())*
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn encode(&self, w: &mut RecordWriter<'_>) {
                $(self.$i.encode(w);)*
            }
        }
    )*};
}

field_set! {
    ()
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18, T 19)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18, T 19, U 20)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18, T 19, U 20, V 21)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18, T 19, U 20, V 21, W 22)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18, T 19, U 20, V 21, W 22, X 23)
}

/// Ring configuration fixed at install.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingConfig {
    /// Words per thread ring (a power of two).
    pub(crate) ring_words: usize,
    /// Idle rings kept before the oldest is reused unread.
    pub(crate) max_idle_rings: usize,
    /// Rings in huge pages where the system has them.
    pub(crate) huge_pages: bool,
}

#[derive(Debug)]
enum SlotState {
    Live,
    /// Idle since the `n`-th release (smaller = idle longer).
    Idle(u64),
}

#[derive(Debug)]
struct Slot {
    ring: Arc<Ring>,
    thread: ThreadInfo,
    state: SlotState,
    /// Records written to the ring as of the last capture that read it.
    read_upto: u64,
    /// `{ number of times the ring changed owner }`: a capture that read the
    /// ring without the table lock keeps its read only if this did not move.
    owner_epoch: u64,
}

#[derive(Debug, Default)]
struct Table {
    slots: Vec<Slot>,
    releases: u64,
    next_thread_id: u64,
}

/// The most events one thread's ring can hold (records of a header alone),
/// once a recorder is installed.
pub(crate) fn ring_events_max() -> Option<u64> {
    RECORDER.get().map(|r| (r.config.ring_words / crate::ring::RECORD_HEADER_WORDS) as u64)
}

/// The installed recorder.
#[derive(Debug)]
pub(crate) struct Recorder {
    config: RingConfig,
    table: Mutex<Table>,
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Drop counters for causes outside any ring (cold paths only).
static DROPPED_REENTRANT: AtomicU64 = AtomicU64::new(0);
static DROPPED_THREAD_EXIT: AtomicU64 = AtomicU64::new(0);
static DROPPED_CALLSITE_OVERFLOW: AtomicU64 = AtomicU64::new(0);
static DROPPED_NOT_INSTALLED: AtomicU64 = AtomicU64::new(0);

/// Makes `code` (`{ Level as u8 | LEVEL_OFF }`, the most verbose level of
/// the filter) the global minimum, if a recorder is installed.
pub(crate) fn apply_min_level(code: u8) {
    if RECORDER.get().is_some() {
        level::store_min_level(code);
    }
}

/// Installs the recorder; `false` if one is installed already. Events stay
/// disabled until the caller starts recording
/// ([`crate::control::start_recording`]), so the clock is calibrated first.
pub(crate) fn install(config: RingConfig) -> bool {
    let mut fresh = false;
    RECORDER.get_or_init(|| {
        fresh = true;
        Recorder { config, table: Mutex::new(Table { next_thread_id: 1, ..Table::default() }) }
    });
    if fresh {
        clock::init();
    }
    fresh
}

/// Stops recording (every event is disabled again); rings stay readable.
pub(crate) fn disable() {
    level::store_min_level(LEVEL_OFF);
}

pub(crate) fn recorder() -> Option<&'static Recorder> {
    RECORDER.get()
}

/// A thread's producer; returns its ring to the table when the thread exits.
struct Local {
    slot: usize,
    /// Reached on the hot path through [`sys::take_producer`]; dropped
    /// after `release` (fields drop after `Drop::drop`).
    _producer: OwnedProducer,
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(rec) = RECORDER.get() {
            rec.release(self.slot);
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Records one event of `callsite`, whose state word the macro loaded (and
/// found not filtered out). The hot path: called by the macros after the
/// level check.
#[doc(hidden)]
#[inline(always)]
pub fn record<F: FieldSet>(callsite: &'static CallSite, state: u32, fields: F) {
    if callsite::is_ready(state) {
        record_id(state, fields.words(), |w| fields.encode(w));
    } else {
        record_unready(callsite, fields);
    }
}

/// A call site's first event (it registers), an event of a call site with a
/// rate limit (which decides), or of a call site past the id limit (counted
/// as dropped).
#[cold]
#[inline(never)]
fn record_unready<F: FieldSet>(callsite: &'static CallSite, fields: F) {
    // `None`: the filter disables the call site (registration just found out).
    let Some(state) = callsite.registered(F::KINDS) else { return };
    if state & callsite::LIMITED != 0 && !callsite.limit().is_none_or(|l| l.admit(clock::now())) {
        return;
    }
    record_with(state & callsite::ID_MASK, fields.words(), |w| fields.encode(w));
}

/// Records one event of call site `id` whose payload is `words` words,
/// written by `encode`: the path of the bridges, whose ids may be
/// [`OVERFLOW`].
#[inline(always)]
pub(crate) fn record_with(id: u32, words: usize, encode: impl FnOnce(&mut RecordWriter<'_>)) {
    if id == OVERFLOW {
        return count(&DROPPED_CALLSITE_OVERFLOW);
    }
    record_id(id, words, encode);
}

/// Records one event of call site `id` (registered, below [`OVERFLOW`]).
#[inline(always)]
fn record_id(id: u32, words: usize, encode: impl FnOnce(&mut RecordWriter<'_>)) {
    // One thread-local load; the first event of a thread, an event logged
    // while this thread is writing one, and events after the thread's ring
    // was given back take the cold path.
    let Some(mut producer) = sys::take_producer().or_else(claim_local) else {
        return;
    };
    // Read after the producer's pointers, so that their loads overlap the
    // clock read instead of waiting behind it.
    let timestamp = clock::now();
    producer.write(id, timestamp, words, encode);
}

/// The thread's producer when it has none installed: claims a ring on the
/// thread's first event; otherwise counts the event as dropped, by cause.
#[cold]
#[inline(never)]
fn claim_local() -> Option<sys::BorrowedProducer> {
    let claimed = LOCAL.try_with(|local| {
        let Ok(mut local) = local.try_borrow_mut() else {
            return count_none(&DROPPED_REENTRANT);
        };
        if local.is_some() {
            // The producer is out: an event is being written by this thread
            // and something inside it logged (an `Encode` impl, or a signal
            // handler; `%`/`?` values are formatted before the write begins).
            return count_none(&DROPPED_REENTRANT);
        }
        match RECORDER.get().map(Recorder::claim) {
            Some(l) => {
                *local = Some(l);
                sys::take_producer()
            }
            None => count_none(&DROPPED_NOT_INSTALLED),
        }
    });
    // Err: the thread is exiting and its thread-locals are gone.
    claimed.unwrap_or_else(|_| count_none(&DROPPED_THREAD_EXIT))
}

fn count_none<T>(counter: &AtomicU64) -> Option<T> {
    count(counter);
    None
}

/// Counts an event dropped because it was logged while the thread was
/// already recording one (a bridge's re-entrancy guard).
#[cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
#[cold]
pub(crate) fn count_reentrant() {
    count(&DROPPED_REENTRANT);
}

#[cold]
#[inline(never)]
fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every mutation of the table is completed before any call that could
        // panic, so a poisoned lock holds a consistent table.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn claim(&self) -> Local {
        let current = std::thread::current();
        let name: Option<Arc<str>> = current.name().map(Arc::from);
        let mut t = self.lock();
        let id = t.next_thread_id;
        t.next_thread_id += 1;
        let thread = ThreadInfo { id, name };

        let idle = |s: &Slot| matches!(s.state, SlotState::Idle(_));
        let fully_read = t.slots.iter().position(|s| idle(s) && s.read_upto >= s.ring.written());
        let idle_count = t.slots.iter().filter(|s| idle(s)).count();
        let reuse = fully_read.or_else(|| {
            (idle_count >= self.config.max_idle_rings)
                .then(|| {
                    t.slots
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| match s.state {
                            SlotState::Idle(n) => Some((n, i)),
                            SlotState::Live => None,
                        })
                        .min()
                        .map(|(_, i)| i)
                })
                .flatten()
        });
        let slot = match reuse {
            Some(i) => {
                let s = &mut t.slots[i];
                // Unread events of the previous owner become overwritten.
                s.ring.discard_all();
                s.ring.set_owner(thread.id, thread.name.as_deref());
                s.thread = thread;
                s.state = SlotState::Live;
                s.owner_epoch += 1;
                i
            }
            None => {
                let ring = crate::persist::active().and_then(|p| p.new_ring(t.slots.len(), self.config.ring_words));
                let ring = Arc::new(ring.unwrap_or_else(|| match self.config.huge_pages {
                    true => Ring::in_huge_pages(self.config.ring_words),
                    false => Ring::new(self.config.ring_words),
                }));
                ring.set_owner(thread.id, thread.name.as_deref());
                t.slots.push(Slot { ring, thread, state: SlotState::Live, read_upto: 0, owner_epoch: 0 });
                t.slots.len() - 1
            }
        };
        let producer = t.slots[slot].ring.producer();
        drop(t);
        Local { slot, _producer: OwnedProducer::install(producer) }
    }

    fn release(&self, slot: usize) {
        let mut t = self.lock();
        t.releases += 1;
        let n = t.releases;
        if let Some(s) = t.slots.get_mut(slot) {
            s.state = SlotState::Idle(n);
        }
    }

    /// Reads every ring.
    ///
    /// The table lock is held only to list the rings and, afterwards, to
    /// check that none changed owner while it was copied: copying (tens of
    /// milliseconds for millions of events) never delays a new thread's
    /// first event or a thread's exit. A ring that did change owner meanwhile
    /// (rare: only idle rings are reused) is read again under the lock, so
    /// every record is attributed to the thread that wrote it.
    pub(crate) fn capture(&self) -> Capture {
        let calibration = Calibration::now();
        let callsites = callsite::callsites();
        let listed: Vec<(Arc<Ring>, u64)> =
            self.lock().slots.iter().map(|s| (Arc::clone(&s.ring), s.owner_epoch)).collect();
        let reads: Vec<_> = listed.iter().map(|(ring, _)| ring.read()).collect();
        let mut t = self.lock();
        let mut threads = Vec::with_capacity(listed.len());
        for ((slot, (_, epoch)), read) in t.slots.iter_mut().zip(&listed).zip(reads) {
            let read = if slot.owner_epoch == *epoch { read } else { slot.ring.read() };
            slot.read_upto = slot.read_upto.max(read.written);
            threads.push(ThreadCapture::new(
                slot.thread.clone(),
                read,
                slot.ring.dropped_too_large(),
                Some(slot.ring.capacity_words() as u64 * 8),
            ));
        }
        drop(t);
        Capture::new(calibration, callsites, threads, dropped_outside_rings(), self.truncated())
    }

    /// Every ring with the thread that owns it now (for live listeners,
    /// which read them incrementally).
    pub(crate) fn rings(&self) -> Vec<(Arc<Ring>, ThreadInfo)> {
        self.lock().slots.iter().map(|s| (Arc::clone(&s.ring), s.thread.clone())).collect()
    }

    /// Totals over all rings.
    pub(crate) fn totals(&self) -> RingTotals {
        let t = self.lock();
        let mut r = RingTotals::default();
        for s in &t.slots {
            r.written += s.ring.written();
            r.overwritten += s.ring.overwritten();
            r.dropped_too_large += s.ring.dropped_too_large();
            r.truncated += s.ring.truncated();
            r.used_bytes += s.ring.used_words() * 8;
            r.capacity_bytes += s.ring.capacity_words() as u64 * 8;
            r.memory_bytes += s.ring.bytes() as u64;
            r.rings += 1;
            r.mapped += usize::from(s.ring.is_mapped());
            r.huge += usize::from(s.ring.in_huge_page_memory());
            if matches!(s.state, SlotState::Live) {
                r.live += 1;
            }
        }
        r
    }

    fn truncated(&self) -> u64 {
        self.lock().slots.iter().map(|s| s.ring.truncated()).sum()
    }

    pub(crate) fn ring_bytes(&self) -> usize {
        self.config.ring_words * 8
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RingTotals {
    pub(crate) written: u64,
    pub(crate) overwritten: u64,
    pub(crate) dropped_too_large: u64,
    pub(crate) truncated: u64,
    pub(crate) used_bytes: u64,
    pub(crate) capacity_bytes: u64,
    pub(crate) memory_bytes: u64,
    pub(crate) rings: usize,
    pub(crate) live: usize,
    /// Rings in mapped files (persistent rings).
    pub(crate) mapped: usize,
    /// Rings whose data lives in huge pages.
    pub(crate) huge: usize,
}

/// Drops counted outside the rings (the `too_large` cause is per ring and
/// added by callers).
pub(crate) fn dropped_outside_rings() -> Dropped {
    Dropped {
        too_large: 0,
        reentrant: DROPPED_REENTRANT.load(Ordering::Relaxed),
        thread_exit: DROPPED_THREAD_EXIT.load(Ordering::Relaxed),
        callsite_overflow: DROPPED_CALLSITE_OVERFLOW.load(Ordering::Relaxed),
        not_installed: DROPPED_NOT_INSTALLED.load(Ordering::Relaxed),
    }
}

/// Reads every ring of the installed recorder (an empty capture when none
/// is installed).
pub fn capture() -> Capture {
    match RECORDER.get() {
        Some(r) => r.capture(),
        None => Capture::new(Calibration::now(), callsite::callsites(), Vec::new(), dropped_outside_rings(), 0),
    }
}
