//! Severity levels and the global level switch.
//!
//! The check a disabled event pays is [`enabled`]: one relaxed load of
//! [`MIN_LEVEL`] and a compare-and-branch against the call site's level,
//! which is a constant in the macro expansion.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

/// How important an event is, from [`Level::Trace`] (most verbose) to
/// [`Level::Error`].
///
/// ```
/// use ttlog_core::Level;
/// assert!(Level::Error > Level::Warn);
/// assert_eq!("warn".parse::<Level>().unwrap(), Level::Warn);
/// assert_eq!(Level::Info.as_str(), "INFO");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// Very fine-grained detail.
    Trace = 0,
    /// Diagnostic detail.
    Debug = 1,
    /// Normal operation (the default level).
    Info = 2,
    /// Something unexpected that the service handled.
    Warn = 3,
    /// A failure.
    Error = 4,
}

impl Level {
    /// All levels, most verbose first.
    pub const ALL: [Level; 5] = [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error];

    /// The upper-case name, as shown by the viewer (`"INFO"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// The level with this numeric code (`Level::X as u8`), if any.
    pub const fn from_u8(code: u8) -> Option<Level> {
        match code {
            0 => Some(Level::Trace),
            1 => Some(Level::Debug),
            2 => Some(Level::Info),
            3 => Some(Level::Warn),
            4 => Some(Level::Error),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The error of parsing a [`Level`] from text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLevelError(String);

impl fmt::Display for ParseLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown level {:?} (expected trace, debug, info, warn or error)", self.0)
    }
}

impl std::error::Error for ParseLevelError {}

impl FromStr for Level {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Level, ParseLevelError> {
        match s.to_ascii_lowercase().as_str() {
            "trace" => Ok(Level::Trace),
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warn" | "warning" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            _ => Err(ParseLevelError(s.to_owned())),
        }
    }
}

/// Code stored in [`MIN_LEVEL`] while no logger is installed: above every
/// level, so every event is disabled.
pub(crate) const LEVEL_OFF: u8 = u8::MAX;

/// `{ least severe enabled level as u8 | LEVEL_OFF }`.
pub(crate) static MIN_LEVEL: AtomicU8 = AtomicU8::new(LEVEL_OFF);

/// Whether an event of `level` is recorded: one relaxed load and a branch.
#[doc(hidden)]
#[inline(always)]
pub fn enabled(level: Level) -> bool {
    level as u8 >= MIN_LEVEL.load(Ordering::Relaxed)
}

/// Sets [`MIN_LEVEL`]: called by the control functions
/// ([`crate::set_filter`]) and when recording stops.
pub(crate) fn store_min_level(code: u8) {
    MIN_LEVEL.store(code, Ordering::Relaxed);
}
