//! The crate's only `unsafe` code: reading the CPU's time-stamp counter.
//!
//! Invariant: nothing here dereferences memory; each block is one CPU
//! instruction wrapped by `core::arch`.

/// Reads the time-stamp counter (`rdtsc`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` reads a register and touches no memory; every x86-64 CPU
    // has it (it predates the architecture). Whether its value is usable as a
    // clock is decided by `clock::init`, not here.
    unsafe { core::arch::x86_64::_rdtsc() }
}
