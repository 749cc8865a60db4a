//! The crate's only `unsafe` code: reading the CPU's time-stamp counter,
//! indexing a ring's word array without a bounds check on the hot path, the
//! memory a ring's words live in (heap, or a file mapped into memory), and
//! two system calls of persistent rings (`posix_fallocate`, `kill(pid, 0)`).
//!
//! Invariants:
//! - `rdtsc` touches no memory;
//! - `ring_word` indexes only with `pos & mask` where `mask + 1` is the
//!   array's (power-of-two) length;
//! - a [`Words`] owns the `len` words at `ptr` for its whole life: a leaked
//!   `Box<[AtomicU64]>` it gives back when dropped, or a shared file mapping
//!   it unmaps when dropped; the memory never moves; a ring splits it only
//!   when `len >= RING_HEADER_WORDS`.

use crate::ring::RING_HEADER_WORDS;
use crate::sync::AtomicU64;
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

/// Where a [`Words`] came from, to give it back.
enum Owner {
    /// `Box::<[AtomicU64]>::into_raw` of `len` words at `ptr`.
    Heap,
    /// A shared, writable mapping of a file of exactly `len * 8` bytes.
    #[cfg(not(loom))]
    Mapped(#[allow(dead_code)] memmap2::MmapRaw),
}

/// An array of atomic words that stays put: on the heap, or in a file mapped
/// into memory (persistent rings) so that what the process wrote survives
/// its death in the page cache.
///
/// The two cases look the same to the ring (a `&[AtomicU64]`), so the hot
/// path pays nothing for the choice.
pub(crate) struct Words {
    ptr: NonNull<AtomicU64>,
    len: usize,
    owner: Owner,
}

// SAFETY: a `Words` is a uniquely owned array of atomics (`Box<[AtomicU64]>`
// or a private mapping standing for one); atomics may be shared and sent
// between threads.
unsafe impl Send for Words {}
// SAFETY: as above: shared access goes through `&AtomicU64` only.
unsafe impl Sync for Words {}

impl std::fmt::Debug for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.owner {
            Owner::Heap => "heap",
            #[cfg(not(loom))]
            Owner::Mapped(_) => "mapped",
        };
        f.debug_struct("Words").field("len", &self.len).field("memory", &kind).finish()
    }
}

impl Words {
    /// `len` zeroed words on the heap.
    pub(crate) fn heap(len: usize) -> Words {
        let boxed: Box<[AtomicU64]> = (0..len).map(|_| AtomicU64::new(0)).collect();
        let raw = Box::into_raw(boxed);
        // `Box::into_raw` never returns null, even for an empty slice.
        let ptr = NonNull::new(raw.cast::<AtomicU64>()).unwrap_or(NonNull::dangling());
        Words { ptr, len, owner: Owner::Heap }
    }

    /// The words of a shared, writable file mapping.
    ///
    /// The file must stay the mapping's length while the process lives
    /// (the persistent-ring directory is private to the process: 0700, and
    /// the recoverer refuses to touch the files of a live process).
    /// Returns `None` if the mapping's length is not a whole number of
    /// words or its address is not word-aligned.
    #[cfg(not(loom))]
    pub(crate) fn mapped(map: memmap2::MmapRaw) -> Option<Words> {
        let len = map.len() / 8;
        let ptr = NonNull::new(map.as_mut_ptr().cast::<AtomicU64>())?;
        if !map.len().is_multiple_of(8) || !ptr.as_ptr().is_aligned() {
            return None;
        }
        Some(Words { ptr, len, owner: Owner::Mapped(map) })
    }

    /// Whether the words live in a mapped file.
    pub(crate) fn is_mapped(&self) -> bool {
        !matches!(self.owner, Owner::Heap)
    }

    /// The first [`RING_HEADER_WORDS`] words and the rest, without a bounds
    /// check (this is on the hot path, several times per event).
    ///
    /// Invariant: `len >= RING_HEADER_WORDS`, which every `Ring`
    /// constructor checks before it keeps a `Words` (checked again here in
    /// debug builds).
    #[inline(always)]
    pub(crate) fn split_header(&self) -> (&[AtomicU64; RING_HEADER_WORDS], &[AtomicU64]) {
        debug_assert!(self.len >= RING_HEADER_WORDS);
        let base = self.ptr.as_ptr();
        // SAFETY: `base` points to `len >= RING_HEADER_WORDS` initialised,
        // aligned words owned by `self` (see `as_slice`), so its first
        // RING_HEADER_WORDS form an array, and the `len - RING_HEADER_WORDS`
        // words after them a slice; both live as long as `&self` and are
        // only accessed through shared references to atomics.
        unsafe {
            (
                &*base.cast::<[AtomicU64; RING_HEADER_WORDS]>(),
                std::slice::from_raw_parts(base.add(RING_HEADER_WORDS), self.len - RING_HEADER_WORDS),
            )
        }
    }

    /// The words.
    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[AtomicU64] {
        // SAFETY: `ptr` is non-null, aligned for `AtomicU64` and points to
        // `len` initialised words that `self` owns for its whole life (the
        // leaked box, or the mapping, checked for length and alignment in
        // `mapped`; mapped pages are always initialised, and every bit
        // pattern is a valid `AtomicU64`). The memory is only ever accessed
        // through shared references to atomics, so handing out `&[AtomicU64]`
        // for the lifetime of `&self` aliases nothing mutably.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Words {
    fn drop(&mut self) {
        if let Owner::Heap = self.owner {
            let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
            // SAFETY: `ptr`/`len` came from `Box::into_raw` in `Words::heap`
            // and are given back exactly once, here; no reference into the
            // words outlives `self`.
            drop(unsafe { Box::from_raw(slice) });
        }
        // A mapping unmaps itself when `owner` drops.
    }
}

/// Reserves the first `len` bytes of `file` on disk (`posix_fallocate`), so
/// that writing them through a mapping cannot fail later for want of space.
/// File systems that cannot reserve (`EOPNOTSUPP`, `EINVAL`) are not an
/// error: their blocks are allocated on first write, as without this call.
#[cfg(target_os = "linux")]
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
