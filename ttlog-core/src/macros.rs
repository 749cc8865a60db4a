//! The logging macros.
//!
//! Each expands to a `static` [`CallSite`](crate::CallSite), the level check
//! (one relaxed load and a branch), the call site's state word (one more
//! load, only for events that pass the level check: its cached filter
//! interest and its id) and, when enabled, the hot path with the field
//! values as a tuple of references.

/// Records an event at [`Level::Trace`](crate::Level::Trace).
///
/// See [`info!`](crate::info) for the syntax.
#[macro_export]
macro_rules! trace {
    (target: $target:expr, limit: $n:literal / s, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Trace, $target, ::core::option::Option::Some($n), $($rest)+) };
    (target: $target:expr, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Trace, $target, ::core::option::Option::None, $($rest)+) };
    (limit: $n:literal / s, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Trace, ::core::module_path!(), ::core::option::Option::Some($n), $($rest)+) };
    ($($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Trace, ::core::module_path!(), ::core::option::Option::None, $($rest)+) };
}

/// Records an event at [`Level::Debug`](crate::Level::Debug).
///
/// See [`info!`](crate::info) for the syntax.
#[macro_export]
macro_rules! debug {
    (target: $target:expr, limit: $n:literal / s, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Debug, $target, ::core::option::Option::Some($n), $($rest)+) };
    (target: $target:expr, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Debug, $target, ::core::option::Option::None, $($rest)+) };
    (limit: $n:literal / s, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Debug, ::core::module_path!(), ::core::option::Option::Some($n), $($rest)+) };
    ($($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Debug, ::core::module_path!(), ::core::option::Option::None, $($rest)+) };
}

/// Records an event at [`Level::Info`](crate::Level::Info).
///
/// A message literal, then fields: `name = value`, `name = %value`
/// (Display), `name = ?value` (Debug), or `name` / `%name` / `?name` to
/// record a variable under its own name. `target: "name",` first overrides
/// the target (the module path by default); `limit: N / s,` (after the
/// target, if any) writes at most N events a second from this statement and
/// counts the rest (see [`limit`](crate::limit)).
///
/// ```
/// # let _t = ttlog_core::Trace::builder().install();
/// let user = "ada";
/// let addr: std::net::IpAddr = "10.0.0.1".parse().unwrap();
/// ttlog_core::info!("Trade executed", symbol = "AAPL", qty = 1000u64, price = 150.25, ok = true);
/// ttlog_core::info!(target: "auth", "login", user, peer = %addr, attempts = ?[1, 2], http.status = 200u16);
/// ttlog_core::info!("started");
/// for i in 0..1000u64 {
///     ttlog_core::warn!(limit: 10 / s, "queue full", i); // at most 10 a second
/// }
/// ```
#[macro_export]
macro_rules! info {
    (target: $target:expr, limit: $n:literal / s, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Info, $target, ::core::option::Option::Some($n), $($rest)+) };
    (target: $target:expr, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Info, $target, ::core::option::Option::None, $($rest)+) };
    (limit: $n:literal / s, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Info, ::core::module_path!(), ::core::option::Option::Some($n), $($rest)+) };
    ($($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Info, ::core::module_path!(), ::core::option::Option::None, $($rest)+) };
}

/// Records an event at [`Level::Warn`](crate::Level::Warn).
///
/// See [`info!`](crate::info) for the syntax.
#[macro_export]
macro_rules! warn {
    (target: $target:expr, limit: $n:literal / s, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Warn, $target, ::core::option::Option::Some($n), $($rest)+) };
    (target: $target:expr, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Warn, $target, ::core::option::Option::None, $($rest)+) };
    (limit: $n:literal / s, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Warn, ::core::module_path!(), ::core::option::Option::Some($n), $($rest)+) };
    ($($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Warn, ::core::module_path!(), ::core::option::Option::None, $($rest)+) };
}

/// Records an event at [`Level::Error`](crate::Level::Error).
///
/// See [`info!`](crate::info) for the syntax.
#[macro_export]
macro_rules! error {
    (target: $target:expr, limit: $n:literal / s, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Error, $target, ::core::option::Option::Some($n), $($rest)+) };
    (target: $target:expr, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Error, $target, ::core::option::Option::None, $($rest)+) };
    (limit: $n:literal / s, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Error, ::core::module_path!(), ::core::option::Option::Some($n), $($rest)+) };
    ($($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Error, ::core::module_path!(), ::core::option::Option::None, $($rest)+) };
}

/// Records an event at a level given as a constant expression, e.g.
/// `event!(ttlog_core::Level::Warn, "disk slow", ms = 250u64)`.
#[macro_export]
macro_rules! event {
    (target: $target:expr, $lvl:expr, $($rest:tt)+) => { $crate::__ttlog_event!($lvl, $target, ::core::option::Option::None, $($rest)+) };
    ($lvl:expr, $($rest:tt)+) => { $crate::__ttlog_event!($lvl, ::core::module_path!(), ::core::option::Option::None, $($rest)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __ttlog_event {
    ($lvl:expr, $target:expr, $limit:expr, $msg:literal $(,)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $limit, $msg, [], [],)
    };
    ($lvl:expr, $target:expr, $limit:expr, $msg:literal, $($fields:tt)+) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $limit, $msg, [], [], $($fields)+)
    };
}

/// Munches `name = value` pairs into a list of names and a list of value
/// expressions, then emits the call site.
#[doc(hidden)]
#[macro_export]
macro_rules! __ttlog_fields {
    // Done: emit.
    (@ $lvl:expr, $target:expr, $limit:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], ) => {{
        static __TTLOG_LIMIT: $crate::__private::RateLimit = $crate::__private::RateLimit::new($limit);
        static __TTLOG_CALLSITE: $crate::__private::CallSite = $crate::__private::CallSite::limited($crate::__private::Metadata {
            level: $lvl,
            target: $target,
            message: $msg,
            file: ::core::file!(),
            line: ::core::line!(),
            module_path: ::core::module_path!(),
            fields: &[$($n),*],
        }, if ::core::option::Option::<u32>::is_some(&$limit) { ::core::option::Option::Some(&__TTLOG_LIMIT) } else { ::core::option::Option::None });
        if $crate::__private::enabled($lvl) {
            let state = __TTLOG_CALLSITE.state();
            if $crate::__private::CallSite::interested(state) {
                $crate::__private::record(&__TTLOG_CALLSITE, state, ($($v,)*));
            }
        }
    }};
    // name = %value
    (@ $lvl:expr, $target:expr, $limit:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $($k:ident).+ = %$val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $limit, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* $crate::__private::FmtBuf::display(&$val)], $($($rest)*)?)
    };
    // name = ?value
    (@ $lvl:expr, $target:expr, $limit:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $($k:ident).+ = ?$val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $limit, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* $crate::__private::FmtBuf::debug(&$val)], $($($rest)*)?)
    };
    // name = value
    (@ $lvl:expr, $target:expr, $limit:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $($k:ident).+ = $val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $limit, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* &$val], $($($rest)*)?)
    };
    // "name" = %value
    (@ $lvl:expr, $target:expr, $limit:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $k:literal = %$val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $limit, $msg, [$($n,)* $k], [$($v,)* $crate::__private::FmtBuf::display(&$val)], $($($rest)*)?)
    };
    // "name" = ?value
    (@ $lvl:expr, $target:expr, $limit:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $k:literal = ?$val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $limit, $msg, [$($n,)* $k], [$($v,)* $crate::__private::FmtBuf::debug(&$val)], $($($rest)*)?)
    };
    // "name" = value
    (@ $lvl:expr, $target:expr, $limit:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $k:literal = $val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $limit, $msg, [$($n,)* $k], [$($v,)* &$val], $($($rest)*)?)
    };
    // %name
    (@ $lvl:expr, $target:expr, $limit:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], %$($k:ident).+ $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $limit, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* $crate::__private::FmtBuf::display(&$($k).+)], $($($rest)*)?)
    };
    // ?name
    (@ $lvl:expr, $target:expr, $limit:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], ?$($k:ident).+ $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $limit, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* $crate::__private::FmtBuf::debug(&$($k).+)], $($($rest)*)?)
    };
    // name
    (@ $lvl:expr, $target:expr, $limit:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $($k:ident).+ $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $limit, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* &$($k).+], $($($rest)*)?)
    };
}
