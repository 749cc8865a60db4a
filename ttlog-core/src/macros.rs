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
    (target: $target:expr, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Trace, $target, $($rest)+) };
    ($($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Trace, ::core::module_path!(), $($rest)+) };
}

/// Records an event at [`Level::Debug`](crate::Level::Debug).
///
/// See [`info!`](crate::info) for the syntax.
#[macro_export]
macro_rules! debug {
    (target: $target:expr, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Debug, $target, $($rest)+) };
    ($($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Debug, ::core::module_path!(), $($rest)+) };
}

/// Records an event at [`Level::Info`](crate::Level::Info).
///
/// A message literal, then fields: `name = value`, `name = %value`
/// (Display), `name = ?value` (Debug), or `name` / `%name` / `?name` to
/// record a variable under its own name. `target: "name",` first overrides
/// the target (the module path by default).
///
/// ```
/// # let _t = ttlog_core::Trace::builder().install();
/// let user = "ada";
/// let addr: std::net::IpAddr = "10.0.0.1".parse().unwrap();
/// ttlog_core::info!("Trade executed", symbol = "AAPL", qty = 1000u64, price = 150.25, ok = true);
/// ttlog_core::info!(target: "auth", "login", user, peer = %addr, attempts = ?[1, 2], http.status = 200u16);
/// ttlog_core::info!("started");
/// ```
#[macro_export]
macro_rules! info {
    (target: $target:expr, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Info, $target, $($rest)+) };
    ($($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Info, ::core::module_path!(), $($rest)+) };
}

/// Records an event at [`Level::Warn`](crate::Level::Warn).
///
/// See [`info!`](crate::info) for the syntax.
#[macro_export]
macro_rules! warn {
    (target: $target:expr, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Warn, $target, $($rest)+) };
    ($($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Warn, ::core::module_path!(), $($rest)+) };
}

/// Records an event at [`Level::Error`](crate::Level::Error).
///
/// See [`info!`](crate::info) for the syntax.
#[macro_export]
macro_rules! error {
    (target: $target:expr, $($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Error, $target, $($rest)+) };
    ($($rest:tt)+) => { $crate::__ttlog_event!($crate::Level::Error, ::core::module_path!(), $($rest)+) };
}

/// Records an event at a level given as a constant expression, e.g.
/// `event!(ttlog_core::Level::Warn, "disk slow", ms = 250u64)`.
#[macro_export]
macro_rules! event {
    (target: $target:expr, $lvl:expr, $($rest:tt)+) => { $crate::__ttlog_event!($lvl, $target, $($rest)+) };
    ($lvl:expr, $($rest:tt)+) => { $crate::__ttlog_event!($lvl, ::core::module_path!(), $($rest)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __ttlog_event {
    ($lvl:expr, $target:expr, $msg:literal $(,)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $msg, [], [],)
    };
    ($lvl:expr, $target:expr, $msg:literal, $($fields:tt)+) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $msg, [], [], $($fields)+)
    };
}

/// Munches `name = value` pairs into a list of names and a list of value
/// expressions, then emits the call site.
#[doc(hidden)]
#[macro_export]
macro_rules! __ttlog_fields {
    // Done: emit.
    (@ $lvl:expr, $target:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], ) => {{
        static __TTLOG_CALLSITE: $crate::__private::CallSite = $crate::__private::CallSite::new($crate::__private::Metadata {
            level: $lvl,
            target: $target,
            message: $msg,
            file: ::core::file!(),
            line: ::core::line!(),
            module_path: ::core::module_path!(),
            fields: &[$($n),*],
        });
        if $crate::__private::enabled($lvl) {
            let state = __TTLOG_CALLSITE.state();
            if $crate::__private::CallSite::interested(state) {
                $crate::__private::record(&__TTLOG_CALLSITE, state, ($($v,)*));
            }
        }
    }};
    // name = %value
    (@ $lvl:expr, $target:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $($k:ident).+ = %$val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* $crate::__private::FmtBuf::display(&$val)], $($($rest)*)?)
    };
    // name = ?value
    (@ $lvl:expr, $target:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $($k:ident).+ = ?$val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* $crate::__private::FmtBuf::debug(&$val)], $($($rest)*)?)
    };
    // name = value
    (@ $lvl:expr, $target:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $($k:ident).+ = $val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* &$val], $($($rest)*)?)
    };
    // "name" = %value
    (@ $lvl:expr, $target:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $k:literal = %$val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $msg, [$($n,)* $k], [$($v,)* $crate::__private::FmtBuf::display(&$val)], $($($rest)*)?)
    };
    // "name" = ?value
    (@ $lvl:expr, $target:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $k:literal = ?$val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $msg, [$($n,)* $k], [$($v,)* $crate::__private::FmtBuf::debug(&$val)], $($($rest)*)?)
    };
    // "name" = value
    (@ $lvl:expr, $target:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $k:literal = $val:expr $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $msg, [$($n,)* $k], [$($v,)* &$val], $($($rest)*)?)
    };
    // %name
    (@ $lvl:expr, $target:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], %$($k:ident).+ $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* $crate::__private::FmtBuf::display(&$($k).+)], $($($rest)*)?)
    };
    // ?name
    (@ $lvl:expr, $target:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], ?$($k:ident).+ $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* $crate::__private::FmtBuf::debug(&$($k).+)], $($($rest)*)?)
    };
    // name
    (@ $lvl:expr, $target:expr, $msg:literal, [$($n:expr),*], [$($v:expr),*], $($k:ident).+ $(, $($rest:tt)*)?) => {
        $crate::__ttlog_fields!(@ $lvl, $target, $msg, [$($n,)* ::core::stringify!($($k).+)], [$($v,)* &$($k).+], $($($rest)*)?)
    };
}
