//! Changing what is recorded while the service runs: [`set_filter`],
//! [`set_level`] and the getters [`filter`] and [`level`].
//!
//! # Where this sits
//!
//! A filter change reaches every layer at once: the filter in force
//! ([`Filter`], kept by `filter`), the global minimum level (`level`),
//! the interest bit cached in every registered call site (`callsite`), the
//! installed recorder, and the `log` and `tracing` bridges. This module is
//! the one place that calls all of them; none of them calls back up here, so
//! the modules below it (level, filter, callsite, value, ring) depend only
//! on modules below themselves.

use crate::callsite;
use crate::filter::{self, Filter};
use crate::level::{self, Level};
use crate::recorder;
use std::sync::Arc;

/// Replaces the filter everywhere at once: the global minimum level and
/// every call site's cached interest are recomputed before this returns.
///
/// Like [`set_level`], it is remembered when no recorder is installed
/// yet, and used by the next install unless the builder sets a level or a
/// filter.
///
/// ```
/// ttlog_core::set_filter("warn,db=debug".parse().unwrap());
/// assert_eq!(ttlog_core::filter().to_string(), "warn,db=debug");
/// ttlog_core::set_level(ttlog_core::Level::Info); // back to one level for all
/// ```
pub fn set_filter(filter: Filter) {
    // Under the registry lock, so that a call site registering meanwhile
    // computes its interest under either the old filter (and is refreshed
    // below) or the new one, never a mix.
    callsite::with_registry_locked(|reg| {
        let filter = Arc::new(filter);
        filter::replace(Arc::clone(&filter));
        recorder::apply_min_level(filter.min_code());
        reg.refresh_interest(&filter);
    });
    #[cfg(feature = "log")]
    crate::log_bridge::sync_max_level();
    #[cfg(feature = "tracing")]
    tracing_core::callsite::rebuild_interest_cache();
}

/// The filter in force; see [`set_filter`].
pub fn filter() -> Filter {
    (*filter::current()).clone()
}

/// Sets the least severe level that is recorded, for every target, at once:
/// the same as [`set_filter`]`(Filter::new(level))`, so it also clears
/// per-target directives.
///
/// Has no effect before a logger is installed (nothing is recorded then) and
/// is remembered for when one is.
///
/// ```
/// ttlog_core::set_level(ttlog_core::Level::Warn);
/// assert_eq!(ttlog_core::level(), ttlog_core::Level::Warn);
/// ```
pub fn set_level(level: Level) {
    set_filter(Filter::new(level));
}

/// The default level of the filter in force (also before a logger is
/// installed); [`Level::Error`] if the default is `off`.
pub fn level() -> Level {
    filter::current().default_level().unwrap_or(Level::Error)
}

/// Starts recording once the recorder is installed: under `filter` if the
/// builder gave one, else under the filter set before install (or the
/// default).
pub(crate) fn start_recording(filter: Option<Filter>) {
    match filter {
        Some(f) => set_filter(f),
        None => level::store_min_level(filter::current().min_code()),
    }
}
