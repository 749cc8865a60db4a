//! The crate's only `unsafe` code: reading the CPU's time-stamp counter,
//! indexing a ring's word array without a bounds check on the hot path, the
//! memory a ring's words live in (heap, transparent huge pages, or a file
//! mapped into memory), the thread's producer reached in one thread-local
//! load, and two system calls of persistent rings (`posix_fallocate`,
//! `kill(pid, 0)`). The compiler holds us to it: the crate root denies
//! `unsafe_code` and allows it on this module alone.
//!
//! Invariants:
//! - `rdtsc` touches no memory;
//! - `ring_word` indexes only with `pos & mask` where `mask + 1` is the
//!   array's (power-of-two) length;
//! - a [`Words`] owns its `RING_HEADER_WORDS` header words and `data_len`
//!   data words for its whole life: a leaked `Box<[AtomicU64]>` it gives
//!   back when dropped, a leaked header box plus a huge-page block it gives
//!   back to the free list when dropped (the block's mapping is never
//!   unmapped, and a block is handed out to one `Words` at a time), or a
//!   shared file mapping it unmaps when dropped; the memory never moves;
//! - `PRODUCER` is null or points to the `Producer` an [`OwnedProducer`]
//!   of this same thread owns; a [`BorrowedProducer`] holds that pointer
//!   while `PRODUCER` is null, so at most one `&mut Producer` exists at a
//!   time, and the `OwnedProducer` (dropped only by this thread) clears
//!   `PRODUCER` before it frees the producer.

use crate::ring::{Producer, RING_HEADER_WORDS, Ring};
use crate::sync::AtomicU64;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Reads the time-stamp counter (`rdtsc`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` reads a register and touches no memory; every x86-64 CPU
    // has it (it predates the architecture). Whether its value is usable as a
    // clock is decided by `clock::init`, not here.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The element of a ring's word array at logical position `pos`.
///
/// Invariant (checked in debug builds): `mask + 1 == data.len()` and the
/// length is a power of two, which `Ring::new` establishes and nothing
/// changes afterwards; so `pos & mask < data.len()` for every `pos`.
#[inline(always)]
pub(crate) fn ring_word<T>(data: &[T], pos: u64, mask: u64) -> &T {
    debug_assert!(data.len().is_power_of_two() && mask as usize + 1 == data.len());
    let i = (pos & mask) as usize;
    debug_assert!(i < data.len());
    // SAFETY: `i = pos & mask <= mask < mask + 1 == data.len()` by the
    // invariant above, so the index is in bounds.
    unsafe { data.get_unchecked(i) }
}

thread_local! {
    /// This thread's producer while no event is being written: null before
    /// the thread's first event, while an event is being written (so an
    /// event logged from inside that write finds none), and once the
    /// thread's ring has been given back. No destructor, so reading it is a
    /// single thread-local load: no registration state to check first.
    static PRODUCER: Cell<*mut Producer> = const { Cell::new(std::ptr::null_mut()) };
}

/// Owns the producer that [`take_producer`] reaches on this thread. Not
/// `Send` (it holds a raw pointer): it is dropped by the thread that made it.
#[derive(Debug)]
pub(crate) struct OwnedProducer(NonNull<Producer>);

impl OwnedProducer {
    /// Boxes `producer` and makes it this thread's.
    pub(crate) fn install(producer: Producer) -> OwnedProducer {
        let ptr = NonNull::from(Box::leak(Box::new(producer)));
        PRODUCER.with(|c| c.set(ptr.as_ptr()));
        OwnedProducer(ptr)
    }
}

impl Drop for OwnedProducer {
    fn drop(&mut self) {
        // `PRODUCER` is null here unless it holds this very producer: it is
        // set only by `install` and by a `BorrowedProducer` giving back what
        // it took, and no borrow is alive (borrows live inside one event,
        // and this runs from a thread-local destructor or a caller that
        // holds the `OwnedProducer`, never from inside an event).
        let _ = PRODUCER.try_with(|c| {
            if c.get() == self.0.as_ptr() {
                c.set(std::ptr::null_mut());
            }
        });
        // SAFETY: the pointer came from `Box::leak` in `install` and is given
        // back once, here. Nothing reaches it afterwards: `PRODUCER` no longer
        // holds it (cleared just above) and no `BorrowedProducer` holds it (see
        // above).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// This thread's producer, taken out of `PRODUCER` until the borrow is
/// dropped; `None` if the thread has none (first event, an event already
/// being written, or the thread's ring given back).
#[inline(always)]
pub(crate) fn take_producer() -> Option<BorrowedProducer> {
    let ptr = PRODUCER.with(|c| c.replace(std::ptr::null_mut()));
    NonNull::new(ptr).map(|ptr| BorrowedProducer { ptr, _not_send: PhantomData })
}

/// Exclusive use of this thread's producer for one event; puts it back when
/// dropped.
pub(crate) struct BorrowedProducer {
    ptr: NonNull<Producer>,
    _not_send: PhantomData<*mut Producer>,
}

impl std::ops::Deref for BorrowedProducer {
    type Target = Producer;
    #[inline(always)]
    fn deref(&self) -> &Producer {
        // SAFETY: `ptr` was in `PRODUCER`, so it points to a live producer
        // owned by this thread's `OwnedProducer` (module invariant); this
        // borrow took it out, so no other reference to it exists until this
        // borrow puts it back; the owner cannot drop it meanwhile (see
        // `OwnedProducer::drop`).
        unsafe { self.ptr.as_ref() }
    }
}

impl std::ops::DerefMut for BorrowedProducer {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Producer {
        // SAFETY: as in `deref`; `&mut self` makes the reference unique.
        unsafe { self.ptr.as_mut() }
    }
}

impl Drop for BorrowedProducer {
    #[inline(always)]
    fn drop(&mut self) {
        PRODUCER.with(|c| c.set(self.ptr.as_ptr()));
    }
}

/// The addresses of a ring's `RING_HEADER_WORDS` header words and
/// `data_len` data words: what a [`Words`] owns, and what a [`CachedRing`]
/// copies.
#[derive(Debug, Clone, Copy)]
struct RingPtrs {
    header: NonNull<AtomicU64>,
    data: NonNull<AtomicU64>,
    data_len: usize,
}

impl RingPtrs {
    /// The header as an array and the data as a slice, without a bounds
    /// check (this is on the hot path, several times per event).
    ///
    /// # Safety
    ///
    /// The words must be initialised, aligned, alive and in place for `'a`,
    /// and only ever accessed through shared references to atomics.
    #[inline(always)]
    unsafe fn split<'a>(self) -> (&'a [AtomicU64; RING_HEADER_WORDS], &'a [AtomicU64]) {
        // SAFETY: the caller's contract; `header` points to RING_HEADER_WORDS
        // words and `data` to `data_len` (how every constructor of `Words`
        // makes them).
        unsafe {
            (
                &*self.header.as_ptr().cast::<[AtomicU64; RING_HEADER_WORDS]>(),
                std::slice::from_raw_parts(self.data.as_ptr(), self.data_len),
            )
        }
    }
}

/// A shared ring with the addresses of its words cached beside the `Arc`
/// that keeps them alive: the producer reaches its ring's memory in one load
/// fewer than through the `Arc` (the hot path's chain of dependent loads,
/// thread-local to producer to ring to words, becomes one shorter).
pub(crate) struct CachedRing {
    ring: std::sync::Arc<Ring>,
    ptrs: RingPtrs,
}

// SAFETY: the pointers are to atomics owned by `ring` (see `split`), which
// may be shared and sent between threads like the `Arc` itself.
unsafe impl Send for CachedRing {}
// SAFETY: as above.
unsafe impl Sync for CachedRing {}

impl std::fmt::Debug for CachedRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedRing").field("data_len", &self.ptrs.data_len).finish_non_exhaustive()
    }
}

impl CachedRing {
    pub(crate) fn new(ring: std::sync::Arc<Ring>) -> CachedRing {
        let ptrs = ring.words().ptrs;
        CachedRing { ring, ptrs }
    }

    /// The ring's header and data words, as [`Words::split_header`] gives
    /// them.
    #[inline(always)]
    pub(crate) fn split(&self) -> (&[AtomicU64; RING_HEADER_WORDS], &[AtomicU64]) {
        // SAFETY: the pointers are those of the `Words` that `self.ring` owns;
        // the `Arc` keeps it alive as long as `self`, its memory never moves
        // and is only accessed through shared references to atomics (module
        // invariant), so they hold for the lifetime of `&self`.
        unsafe { self.ptrs.split() }
    }

    /// `capacity - 1`, the mask of a position into the data words.
    #[inline(always)]
    pub(crate) fn mask(&self) -> u64 {
        self.ptrs.data_len as u64 - 1
    }
}

impl std::ops::Deref for CachedRing {
    type Target = std::sync::Arc<Ring>;
    fn deref(&self) -> &std::sync::Arc<Ring> {
        &self.ring
    }
}

/// Where a [`Words`] came from, to give it back.
enum Owner {
    /// `Box::<[AtomicU64]>::into_raw` of `RING_HEADER_WORDS + data_len`
    /// words at `header`, the data right after the header.
    Heap,
    /// The header a leaked `Box<[AtomicU64; RING_HEADER_WORDS]>`, the data
    /// a block of [`huge_pages`] (`data_len * 8` bytes).
    #[cfg(all(target_os = "linux", not(loom)))]
    HugePages,
    /// A shared, writable mapping of a file of exactly
    /// `(RING_HEADER_WORDS + data_len) * 8` bytes, the data right after the
    /// header.
    #[cfg(not(loom))]
    Mapped(#[allow(dead_code)] memmap2::MmapRaw),
}

/// A ring's memory, which stays put: a header of [`RING_HEADER_WORDS`]
/// atomic words and `data_len` data words. On the heap; in blocks of
/// transparent huge pages; or in a file mapped into memory (persistent
/// rings) so that what the process wrote survives its death in the page
/// cache.
///
/// The cases look the same to the ring (a header array and a data slice),
/// so the hot path pays nothing for the choice.
pub(crate) struct Words {
    ptrs: RingPtrs,
    owner: Owner,
}

// SAFETY: a `Words` uniquely owns its atomics (a `Box`, a huge-page block or
// a private mapping standing for one); atomics may be shared and sent
// between threads.
unsafe impl Send for Words {}
// SAFETY: as above: shared access goes through `&AtomicU64` only.
unsafe impl Sync for Words {}

impl std::fmt::Debug for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.owner {
            Owner::Heap => "heap",
            #[cfg(all(target_os = "linux", not(loom)))]
            Owner::HugePages => "huge pages",
            #[cfg(not(loom))]
            Owner::Mapped(_) => "mapped",
        };
        f.debug_struct("Words").field("data_len", &self.ptrs.data_len).field("memory", &kind).finish()
    }
}

impl Words {
    /// A zeroed header and `data_len` zeroed data words, on the heap, in one
    /// allocation.
    pub(crate) fn heap(data_len: usize) -> Words {
        let boxed: Box<[AtomicU64]> = (0..RING_HEADER_WORDS + data_len).map(|_| AtomicU64::new(0)).collect();
        let header = NonNull::from(Box::leak(boxed)).cast::<AtomicU64>();
        // SAFETY: the allocation holds `RING_HEADER_WORDS + data_len` words,
        // so the data starts inside it (or one past its end when empty).
        let data = unsafe { header.add(RING_HEADER_WORDS) };
        Words { ptrs: RingPtrs { header, data, data_len }, owner: Owner::Heap }
    }

    /// A zeroed header on the heap and `data_len` zeroed data words (a power
    /// of two, at least 512: 4 KiB) in transparent huge pages, already
    /// faulted in. `None` where huge pages cannot be had (the caller falls
    /// back to [`Words::heap`]).
    ///
    /// A producer stores into its ring page after page: with 4 KiB pages,
    /// every ~100 events of 40 bytes the first store to the next page waits
    /// for its address translation, which the TLB no longer holds a ring's
    /// length later, and in a virtual machine a page walk costs hundreds of
    /// nanoseconds. One 2 MiB page holds 512 of those translations.
    #[cfg(all(target_os = "linux", not(loom)))]
    pub(crate) fn huge_pages(data_len: usize) -> Option<Words> {
        if !data_len.is_power_of_two() || data_len < 512 {
            return None;
        }
        let data = huge_pages::alloc(data_len.checked_mul(8)?)?.cast::<AtomicU64>();
        let header_box: Box<[AtomicU64; RING_HEADER_WORDS]> = Box::new(std::array::from_fn(|_| AtomicU64::new(0)));
        let header = NonNull::from(Box::leak(header_box)).cast::<AtomicU64>();
        Some(Words { ptrs: RingPtrs { header, data, data_len }, owner: Owner::HugePages })
    }

    /// Huge pages exist only on Linux (and not under loom's atomics).
    #[cfg(not(all(target_os = "linux", not(loom))))]
    pub(crate) fn huge_pages(_data_len: usize) -> Option<Words> {
        None
    }

    /// The words of a shared, writable file mapping: the header, then the
    /// data.
    ///
    /// The file must stay the mapping's length while the process lives
    /// (the persistent-ring directory is private to the process: 0700, and
    /// the recoverer refuses to touch the files of a live process).
    /// Returns `None` if the mapping is shorter than a header, is not a
    /// whole number of words, or its address is not word-aligned.
    #[cfg(not(loom))]
    pub(crate) fn mapped(map: memmap2::MmapRaw) -> Option<Words> {
        let len = map.len() / 8;
        let header = NonNull::new(map.as_mut_ptr().cast::<AtomicU64>())?;
        if !map.len().is_multiple_of(8) || !header.as_ptr().is_aligned() || len < RING_HEADER_WORDS {
            return None;
        }
        // SAFETY: the mapping holds `len >= RING_HEADER_WORDS` words.
        let data = unsafe { header.add(RING_HEADER_WORDS) };
        let ptrs = RingPtrs { header, data, data_len: len - RING_HEADER_WORDS };
        Some(Words { ptrs, owner: Owner::Mapped(map) })
    }

    /// Whether the words live in a mapped file.
    pub(crate) fn is_mapped(&self) -> bool {
        #[cfg(not(loom))]
        return matches!(self.owner, Owner::Mapped(_));
        #[cfg(loom)]
        return false;
    }

    /// Whether the data words live in huge pages.
    pub(crate) fn in_huge_pages(&self) -> bool {
        #[cfg(all(target_os = "linux", not(loom)))]
        return matches!(self.owner, Owner::HugePages);
        #[cfg(not(all(target_os = "linux", not(loom))))]
        return false;
    }

    /// Data words.
    pub(crate) fn data_len(&self) -> usize {
        self.ptrs.data_len
    }

    /// The header words and the data words, without a bounds check (this is
    /// on the hot path, several times per event).
    #[inline(always)]
    pub(crate) fn split_header(&self) -> (&[AtomicU64; RING_HEADER_WORDS], &[AtomicU64]) {
        // SAFETY: the words are initialised and aligned, and `self` owns them
        // for its whole life, in place (a leaked box, a huge-page block
        // handed out once, or the mapping, checked for length and alignment
        // in `mapped`; mapped pages are always initialised, and every bit
        // pattern is a valid `AtomicU64`). The memory is only ever accessed
        // through shared references to atomics, so handing them out for the
        // lifetime of `&self` aliases nothing mutably.
        unsafe { self.ptrs.split() }
    }
}

impl Drop for Words {
    fn drop(&mut self) {
        match self.owner {
            Owner::Heap => {
                let RingPtrs { header, data_len, .. } = self.ptrs;
                let slice = std::ptr::slice_from_raw_parts_mut(header.as_ptr(), RING_HEADER_WORDS + data_len);
                // SAFETY: header/length came from the leaked box in
                // `Words::heap` and are given back exactly once, here; no
                // reference into the words outlives `self`.
                drop(unsafe { Box::from_raw(slice) });
            }
            #[cfg(all(target_os = "linux", not(loom)))]
            Owner::HugePages => {
                let header = self.ptrs.header.as_ptr().cast::<[AtomicU64; RING_HEADER_WORDS]>();
                // SAFETY: the header came from the leaked box in
                // `Words::huge_pages`, given back once, here; no reference
                // into it outlives `self`.
                drop(unsafe { Box::from_raw(header) });
                // The block goes back to the free list; nothing refers to it
                // any more (as above).
                huge_pages::release(self.ptrs.data.cast::<u8>(), self.ptrs.data_len * 8);
            }
            // A mapping unmaps itself when `owner` drops.
            #[cfg(not(loom))]
            Owner::Mapped(_) => {}
        }
    }
}

/// Blocks of transparent huge pages for ring data: 2 MiB-aligned chunks
/// mapped once, marked `MADV_HUGEPAGE`, faulted in at once, and cut into
/// blocks of one power-of-two size each. A block given back is kept for the
/// next ring of its size (the recorder reuses rings rather than freeing
/// them, so this stays as large as the most rings alive at once). Where the
/// kernel gives no huge pages (`transparent_hugepage` set to `never`), the
/// blocks are ordinary pages, faulted in just the same.
#[cfg(all(target_os = "linux", not(loom)))]
mod huge_pages {
    use std::ptr::NonNull;
    use std::sync::Mutex;

    /// The huge-page size on x86-64 and on arm64 with 4 KiB pages.
    const HUGE_PAGE: usize = 2 << 20;
    /// Ordinary pages, at most this size: the stride of the fault-in loop.
    const SMALL_PAGE: usize = 4096;

    /// Free blocks: (bytes, address).
    static FREE: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

    /// A zeroed block of `bytes` (a power of two), aligned to
    /// `min(bytes, HUGE_PAGE)`; `None` if the system has no memory to map.
    pub(super) fn alloc(bytes: usize) -> Option<NonNull<u8>> {
        debug_assert!(bytes.is_power_of_two());
        let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
        // The block given back last first: its pages are the warmest.
        if let Some(i) = free.iter().rposition(|&(b, _)| b == bytes) {
            let (_, addr) = free.remove(i);
            let block = NonNull::new(addr as *mut u8)?;
            // SAFETY: the block (`bytes` long, inside a mapping never
            // unmapped) was given back by `release`, so nothing refers to it;
            // zero it as a fresh block would be.
            unsafe { std::ptr::write_bytes(block.as_ptr(), 0, bytes) };
            return Some(block);
        }
        let chunk = bytes.max(HUGE_PAGE);
        let span = chunk.checked_add(HUGE_PAGE)?;
        // SAFETY: an anonymous private mapping of `span` bytes at an address
        // the kernel picks; it touches no memory of ours.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                span,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let start = raw as usize;
        let aligned = start.next_multiple_of(HUGE_PAGE);
        let tail = aligned + chunk;
        // SAFETY: `[start, aligned)` and `[tail, start + span)` lie inside
        // the mapping just made, page-aligned (the kernel's `start` and the
        // 2 MiB multiples are), and nothing refers to them: unmapping the
        // slack leaves exactly `[aligned, tail)` mapped. `madvise` only
        // advises on that range. The fault-in writes zeros (what the fresh
        // mapping holds) into it before any reference to it exists.
        unsafe {
            if aligned > start {
                libc::munmap(raw, aligned - start);
            }
            if start + span > tail {
                libc::munmap(tail as *mut libc::c_void, start + span - tail);
            }
            // Advice only: refused (THP off) means ordinary pages.
            libc::madvise(aligned as *mut libc::c_void, chunk, libc::MADV_HUGEPAGE);
            // Fault every page in now, on the thread's first event (the cold
            // path), not one page at a time as the ring first fills.
            for off in (0..chunk).step_by(SMALL_PAGE) {
                std::ptr::write_volatile((aligned + off) as *mut u8, 0);
            }
        }
        free.extend((1..chunk / bytes).map(|i| (bytes, aligned + i * bytes)));
        NonNull::new(aligned as *mut u8)
    }

    /// Gives back a block `alloc` handed out.
    pub(super) fn release(block: NonNull<u8>, bytes: usize) {
        FREE.lock().unwrap_or_else(|e| e.into_inner()).push((bytes, block.as_ptr() as usize));
    }
}

/// Reserves the first `len` bytes of `file` on disk (`posix_fallocate`), so
/// that writing them through a mapping cannot fail later for want of space.
/// File systems that cannot reserve (`EOPNOTSUPP`, `EINVAL`) are not an
/// error: their blocks are allocated on first write, as without this call.
#[cfg(target_os = "linux")]
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn reserve_blocks(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(|_| std::io::Error::other("file too large"))?;
    // SAFETY: `posix_fallocate` reads its three integer arguments and acts on
    // the descriptor, which `file` owns and keeps open for the call; it
    // touches no memory of ours.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    match rc {
        0 | libc::EOPNOTSUPP | libc::EINVAL => Ok(()),
        rc => Err(std::io::Error::from_raw_os_error(rc)),
    }
}

/// Elsewhere blocks are allocated on first write.
#[cfg(not(target_os = "linux"))]
pub(crate) fn reserve_blocks(_file: &std::fs::File, _len: u64) -> std::io::Result<()> {
    Ok(())
}

/// Whether a process with this pid exists (`kill(pid, 0)`: it exists if the
/// call succeeds or is refused for lack of permission).
#[cfg(unix)]
pub(crate) fn pid_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        // 0 and negative pids name process groups, not a process.
        return false;
    }
    // SAFETY: `kill` with signal 0 sends nothing and touches no memory of
    // ours; it only checks whether the pid exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Without `kill`, every pid is taken to be alive (recovery then refuses,
/// which is the safe side).
#[cfg(not(unix))]
pub(crate) fn pid_exists(_pid: u32) -> bool {
    true
}
