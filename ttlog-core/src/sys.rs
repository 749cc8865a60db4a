//! The crate's only `unsafe` code: reading the CPU's time-stamp counter, and
//! indexing a ring's word array without a bounds check on the hot path.
//!
//! Invariants: `rdtsc` touches no memory; `ring_word` indexes only with
//! `pos & mask` where `mask + 1` is the array's (power-of-two) length.

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
