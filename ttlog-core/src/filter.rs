//! Per-target level filters, as in `RUST_LOG`: `info,db=debug,hyper=warn`.
//!
//! # Directives
//!
//! A [`Filter`] is a default level plus directives `target=level`. An event
//! is recorded when its level is at least the level of the directive with the
//! longest target that matches its target, else the default. A directive's
//! target matches an event's target when they are equal or the event's target
//! continues it after a `::` (`db` matches `db` and `db::pool`, not
//! `dbx`). Levels are `trace`, `debug`, `info`, `warn`, `error` and `off`; a
//! directive with only a target (`db`) enables every level for it.
//!
//! # How a disabled event stays cheap
//!
//! Two checks, each one relaxed load and a branch:
//!
//! 1. [`MIN_LEVEL`](crate::level) holds the most verbose level of the
//!    default and every directive. An event below it is disabled for every
//!    target: that is all a disabled event costs when it is below every
//!    directive, and all an enabled event costs when the filter has no
//!    directive at all.
//! 2. Each static call site caches its *interest* in its state word (see
//!    [`CallSite`](crate::CallSite)): a bit that says a directive for its
//!    target disables it. It is computed when the call site registers, and
//!    every registered call site's bit is recomputed, under the registry lock,
//!    when the filter changes ([`crate::set_filter`], [`crate::set_level`]). So
//!    `info,hyper=warn` costs an `info!` in `hyper` two loads and two
//!    branches, and nothing is recorded.
//!
//! Bridges (`tracing`, `log`) have no static call site of ours; they cache
//! the answer per call site of theirs together with the filter
//! [`generation`] it was computed for, and recompute it when the generation
//! moves.

use crate::level::{LEVEL_OFF, Level};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// A default level and per-target levels.
///
/// ```
/// use ttlog_core::{Filter, Level};
/// let f: Filter = "info,db=debug,hyper=warn,noisy=off".parse().unwrap();
/// assert!(f.enabled(Level::Debug, "db::pool"));
/// assert!(!f.enabled(Level::Debug, "dbx"));
/// assert!(!f.enabled(Level::Info, "hyper::client"));
/// assert!(!f.enabled(Level::Error, "noisy"));
/// assert!(f.enabled(Level::Info, "anything::else"));
/// assert_eq!(f.to_string(), "info,hyper=warn,noisy=off,db=debug");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `{ Level as u8 | LEVEL_OFF }` for targets no directive matches.
    default: u8,
    /// The rate limit of targets no directive matches (events a second per
    /// call site).
    default_limit: Option<u32>,
    /// `(target, { Level as u8 | LEVEL_OFF }, rate limit)`, longest target first.
    directives: Vec<(String, u8, Option<u32>)>,
}

/// The error of parsing a [`Filter`]: which directive, where it starts in
/// the text, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFilterError {
    directive: String,
    at: usize,
    problem: &'static str,
}

impl fmt::Display for ParseFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid filter directive {:?} at byte {}: {} (expected LEVEL, TARGET or TARGET=LEVEL, each optionally \
             followed by @N/s; levels: trace, debug, info, warn, error, off)",
            self.directive, self.at, self.problem
        )
    }
}

impl std::error::Error for ParseFilterError {}

fn level_code(s: &str) -> Option<u8> {
    if s.eq_ignore_ascii_case("off") {
        return Some(LEVEL_OFF);
    }
    s.parse::<Level>().ok().map(|l| l as u8)
}

fn code_name(code: u8) -> &'static str {
    match Level::from_u8(code) {
        Some(Level::Trace) => "trace",
        Some(Level::Debug) => "debug",
        Some(Level::Info) => "info",
        Some(Level::Warn) => "warn",
        Some(Level::Error) => "error",
        None => "off",
    }
}

impl Filter {
    /// Every target at `level`.
    pub fn new(level: Level) -> Filter {
        Filter { default: level as u8, default_limit: None, directives: Vec::new() }
    }

    /// Adds (or replaces) the directive for `target`; `None` turns the target
    /// off.
    ///
    /// ```
    /// use ttlog_core::{Filter, Level};
    /// let f = Filter::new(Level::Warn).with_target("db", Some(Level::Debug)).with_target("chatty", None);
    /// assert!(f.enabled(Level::Debug, "db"));
    /// assert!(!f.enabled(Level::Error, "chatty::x"));
    /// ```
    pub fn with_target(self, target: impl Into<String>, level: Option<Level>) -> Filter {
        self.with_target_limited(target, level, None)
    }

    /// Adds (or replaces) the directive for `target`, with a rate limit: at
    /// most `per_second` events a second from each of its call sites (see
    /// [`limit`](crate::limit)).
    ///
    /// ```
    /// use ttlog_core::{Filter, Level};
    /// let f = Filter::new(Level::Info).with_target_limited("net::conn", Some(Level::Warn), Some(50));
    /// assert_eq!(f.limit_for("net::conn::tls"), Some(50));
    /// assert_eq!(f.limit_for("net"), None);
    /// assert_eq!(f.to_string(), "info,net::conn=warn@50/s");
    /// ```
    pub fn with_target_limited(
        mut self,
        target: impl Into<String>,
        level: Option<Level>,
        per_second: Option<u32>,
    ) -> Filter {
        let target = target.into();
        let code = level.map_or(LEVEL_OFF, |l| l as u8);
        self.directives.retain(|(t, _, _)| *t != target);
        self.directives.push((target, code, per_second));
        // Longest first, so the first match is the most specific; ties by
        // name keep the order (and `Display`) deterministic.
        self.directives.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        self
    }

    /// The level for targets no directive matches (`None`: off).
    pub fn default_level(&self) -> Option<Level> {
        Level::from_u8(self.default)
    }

    /// The code of the level and the rate limit that apply to `target`.
    fn rule_for(&self, target: &str) -> (u8, Option<u32>) {
        for (t, code, limit) in &self.directives {
            if let Some(rest) = target.strip_prefix(t.as_str())
                && (rest.is_empty() || rest.starts_with("::"))
            {
                return (*code, *limit);
            }
        }
        (self.default, self.default_limit)
    }

    /// The code of the level that applies to `target`.
    fn code_for(&self, target: &str) -> u8 {
        self.rule_for(target).0
    }

    /// The rate limit (events a second per call site) that applies to
    /// `target`: the one of the directive that decides its level.
    pub fn limit_for(&self, target: &str) -> Option<u32> {
        self.rule_for(target).1
    }

    /// Whether an event of `level` and `target` passes.
    pub fn enabled(&self, level: Level, target: &str) -> bool {
        level as u8 >= self.code_for(target)
    }

    /// The most verbose level any target can record (`None`: every target
    /// is off).
    pub fn max_level(&self) -> Option<Level> {
        Level::from_u8(self.min_code())
    }

    /// `{ Level as u8 | LEVEL_OFF }`: the most verbose level of all.
    pub(crate) fn min_code(&self) -> u8 {
        self.directives.iter().map(|(_, c, _)| *c).fold(self.default, u8::min)
    }

    /// Whether some directive can disable a target the default would allow:
    /// only then do call sites need their interest bit.
    pub(crate) fn has_directives(&self) -> bool {
        !self.directives.is_empty()
    }
}

impl Default for Filter {
    /// Every target at [`Level::Info`].
    fn default() -> Filter {
        Filter::new(Level::Info)
    }
}

impl FromStr for Filter {
    type Err = ParseFilterError;

    /// Parses `RUST_LOG`-style text; whitespace around directives is ignored,
    /// and a later directive for the same target (or default) wins. An empty
    /// text is [`Filter::default`].
    fn from_str(s: &str) -> Result<Filter, ParseFilterError> {
        let mut f = Filter::default();
        let mut at = 0;
        for raw in s.split(',') {
            let start = at + (raw.len() - raw.trim_start().len());
            at += raw.len() + 1;
            let d = raw.trim();
            if d.is_empty() {
                continue;
            }
            let err = |problem| ParseFilterError { directive: d.to_owned(), at: start, problem };
            let (rule, limit) = match d.split_once('@') {
                Some((rule, rate)) => (rule.trim(), Some(parse_rate(rate.trim()).map_err(err)?)),
                None => (d, None),
            };
            match rule.split_once('=') {
                Some((target, level)) => {
                    let (target, level) = (target.trim(), level.trim());
                    let code = level_code(level).ok_or_else(|| err("unknown level"))?;
                    if target.is_empty() || target.contains(char::is_whitespace) {
                        return Err(err("a target is one word"));
                    }
                    f = f.with_target_limited(target, Level::from_u8(code), limit);
                }
                None => match level_code(rule) {
                    Some(code) => (f.default, f.default_limit) = (code, limit),
                    None if !rule.is_empty() && !rule.contains(char::is_whitespace) => {
                        f = f.with_target_limited(rule, Some(Level::Trace), limit)
                    }
                    None => return Err(err("neither a level nor a target")),
                },
            }
        }
        Ok(f)
    }
}

/// Parses a rate limit, `N/s` (N events a second, 0 to silence).
fn parse_rate(rate: &str) -> Result<u32, &'static str> {
    let (n, unit) = rate.split_once('/').ok_or("a rate limit is N/s")?;
    if unit.trim() != "s" {
        return Err("a rate limit is counted per second: N/s");
    }
    n.trim().parse::<u32>().map_err(|_| "the rate limit's N is a whole number of events a second")
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = |limit: Option<u32>| limit.map(|n| format!("@{n}/s")).unwrap_or_default();
        write!(f, "{}{}", code_name(self.default), rate(self.default_limit))?;
        for (t, c, limit) in &self.directives {
            write!(f, ",{t}={}{}", code_name(*c), rate(*limit))?;
        }
        Ok(())
    }
}

impl From<Level> for Filter {
    fn from(level: Level) -> Filter {
        Filter::new(level)
    }
}

/// The filter in force (also before a recorder is installed).
static FILTER: RwLock<Option<Arc<Filter>>> = RwLock::new(None);

/// `{ number of filter changes since the process started }`; bridges cache
/// their per-call-site answers against it.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The filter in force.
pub(crate) fn current() -> Arc<Filter> {
    let g = FILTER.read().unwrap_or_else(|e| e.into_inner());
    match &*g {
        Some(f) => Arc::clone(f),
        None => Arc::new(Filter::default()),
    }
}

/// The filter generation: changes whenever the filter does. Bridges cache
/// per-call-site answers of [`current`] against it.
#[cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
#[inline]
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Makes `filter` the filter in force and moves the [`generation`] on.
/// Only the control functions call this ([`crate::set_filter`]), which also
/// bring the global minimum level and the call sites' interest in step.
pub(crate) fn replace(filter: Arc<Filter>) {
    *FILTER.write().unwrap_or_else(|e| e.into_inner()) = Some(filter);
    // { generation += 1 }: Release, so a bridge that sees the new
    // generation also sees the new filter (it reads it under the lock
    // anyway).
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rust_log_syntax() {
        let f: Filter = " warn , db=debug,db::pool=trace,hyper=off,app ".parse().unwrap();
        assert_eq!(f.default_level(), Some(Level::Warn));
        assert!(f.enabled(Level::Trace, "db::pool::conn"));
        assert!(!f.enabled(Level::Trace, "db::other"));
        assert!(f.enabled(Level::Debug, "db::other"));
        assert!(!f.enabled(Level::Error, "hyper"));
        assert!(f.enabled(Level::Trace, "app"));
        assert!(!f.enabled(Level::Info, "apple"));
        assert_eq!(f.max_level(), Some(Level::Trace));
        assert_eq!("".parse::<Filter>().unwrap(), Filter::default());
        assert_eq!("off".parse::<Filter>().unwrap().max_level(), None);
        assert_eq!("debug,info".parse::<Filter>().unwrap().default_level(), Some(Level::Info));
        assert!("db=loud".parse::<Filter>().is_err());
        assert!("=info".parse::<Filter>().is_err());
        assert!("a b".parse::<Filter>().is_err());
        let text = "info,db::pool=trace,hyper=off,db=debug";
        assert_eq!(text.parse::<Filter>().unwrap().to_string(), text);
    }

    #[test]
    fn rate_limits_ride_on_directives() {
        let f: Filter = "info@1000/s, ttlog=info, net::conn=warn@50/s, chatty@0/s".parse().unwrap();
        assert_eq!(f.limit_for("net::conn::tls"), Some(50));
        assert!(!f.enabled(Level::Info, "net::conn"));
        assert_eq!(f.limit_for("ttlog::x"), None, "a directive without a limit lifts the default's");
        assert_eq!(f.limit_for("elsewhere"), Some(1000));
        assert_eq!(f.limit_for("chatty"), Some(0));
        assert!(f.enabled(Level::Trace, "chatty"));
        assert_eq!(f.to_string(), "info@1000/s,net::conn=warn@50/s,chatty=trace@0/s,ttlog=info");
        assert_eq!(f.to_string().parse::<Filter>().unwrap(), f);
        for (text, at, problem) in [
            ("info,net=warn@50", 5, "a rate limit is N/s"),
            ("info, net=warn@fast/s", 6, "whole number"),
            ("net=warn@5/min", 0, "per second"),
            ("a,b=loud", 2, "unknown level"),
        ] {
            let e = text.parse::<Filter>().unwrap_err();
            assert_eq!(e.at, at, "{text}");
            assert!(e.to_string().contains(problem), "{text}: {e}");
            assert!(e.to_string().contains(&format!("at byte {at}")), "{e}");
        }
    }
}
