//! The memory limit of a program that reads snapshots: one process-wide
//! figure (`ttlog-view --memory-limit`), and the check made against it
//! before an allocation whose size comes from a file's contents.
//!
//! The readers bound every allocation by the bytes they read and by fixed
//! caps (see [`snapshot`](crate::snapshot)); what remains large is what a
//! file may legitimately hold: a stream's bytes, a `ttlog` 0.1 snapshot's
//! one block, every event of the inputs loaded at once. Each of those is
//! estimated *before* it is allocated and compared with [`limit`], so that
//! a file too big for the limit is refused with an error naming it and the
//! figure ([`OverLimit`]), never with an abort or the kernel's OOM killer.
//!
//! The check is of one structure against the whole limit, not of a running
//! total: the estimates are of the largest things a question holds at once
//! (the loaded events, a legacy file's decoded block), which dwarf the rest.
//!
//! ```
//! use ttlog_core::memory::{OverLimit, check_against};
//! assert!(check_against(1 << 20, Some(64 << 20)).is_ok());
//! let e: OverLimit = check_against(3 << 30, Some(1 << 30)).unwrap_err();
//! assert_eq!(e.to_string(), "needs about 3.0 GiB of memory, more than the memory limit of 1.0 GiB");
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// No limit: the value [`LIMIT`] holds until [`set_limit`] is called.
const UNLIMITED: u64 = u64::MAX;

/// The process-wide limit in bytes, or [`UNLIMITED`].
static LIMIT: AtomicU64 = AtomicU64::new(UNLIMITED);

/// Sets the process-wide memory limit (`None`: no limit, the default).
/// A program sets it once, before it reads anything.
pub fn set_limit(bytes: Option<u64>) {
    // Relaxed: a lone value read by later checks; no other memory is
    // published through it.
    LIMIT.store(bytes.unwrap_or(UNLIMITED), Ordering::Relaxed);
}

/// The process-wide memory limit in bytes, if one was set.
pub fn limit() -> Option<u64> {
    let l = LIMIT.load(Ordering::Relaxed);
    (l != UNLIMITED).then_some(l)
}

/// Whether something that needs about `need` bytes fits the process-wide
/// limit.
///
/// # Errors
/// When `need` is more than the limit.
pub fn check(need: u64) -> Result<(), OverLimit> {
    check_against(need, limit())
}

/// Whether something that needs about `need` bytes fits `limit` (`None`:
/// no limit).
///
/// # Errors
/// When `need` is more than `limit`.
pub fn check_against(need: u64, limit: Option<u64>) -> Result<(), OverLimit> {
    match limit {
        Some(limit) if need > limit => Err(OverLimit { need, limit }),
        _ => Ok(()),
    }
}

/// Something would need more memory than the limit allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit {
    /// About how many bytes it would need.
    pub need: u64,
    /// The limit, in bytes.
    pub limit: u64,
}

impl fmt::Display for OverLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "needs about {} of memory, more than the memory limit of {}",
            size_text(self.need),
            size_text(self.limit)
        )
    }
}

impl std::error::Error for OverLimit {}

/// A size for people, in binary units with one decimal from KiB on:
/// `512 bytes`, `1.5 KiB`, `64.0 MiB`, `5.5 GiB`.
///
/// ```
/// assert_eq!(ttlog_core::memory::size_text(5 << 29), "2.5 GiB");
/// assert_eq!(ttlog_core::memory::size_text(100), "100 bytes");
/// ```
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut x = bytes as f64 / 1024.0;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    format!("{x:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(size_text(1023), "1023 bytes");
        assert_eq!(size_text(1024), "1.0 KiB");
        assert_eq!(size_text(64 << 20), "64.0 MiB");
        assert_eq!(size_text(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn a_need_up_to_the_limit_fits() {
        assert!(check_against(100, Some(100)).is_ok());
        assert_eq!(check_against(101, Some(100)), Err(OverLimit { need: 101, limit: 100 }));
        assert!(check_against(u64::MAX, None).is_ok());
    }
}
