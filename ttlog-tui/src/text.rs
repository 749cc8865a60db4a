//! Turning event data into screen text: fields as `name=value`, times of
//! day, counts. Escaping what a terminal would execute is
//! [`ttlog_core::text`]'s, full times and the times a user types are
//! [`ttlog_core::time`]'s: one behaviour in every TTLog tool.

use std::borrow::Cow;
use std::sync::Arc;
use ttlog_core::Value;
use ttlog_core::time::format_rfc3339;

/// A value as the table shows it: text quoted when it has spaces, quotes,
/// `=` or is empty, so that `name=value` pairs read unambiguously.
///
/// ```
/// use ttlog_core::Value;
/// use ttlog_tui::value_text;
/// assert_eq!(value_text(&Value::U64(7)), "7");
/// assert_eq!(value_text(&Value::Str("AAPL".into())), "AAPL");
/// assert_eq!(value_text(&Value::Str("a b".into())), "\"a b\"");
/// ```
pub fn value_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::Str(s) if s.is_empty() || s.contains([' ', '"', '=']) => Cow::Owned(format!("{s:?}")),
        Value::Str(s) => Cow::Borrowed(s),
        v => Cow::Owned(v.to_string()),
    }
}

/// Fields as `name=value` pairs separated by spaces (not yet escaped).
pub fn fields_text(fields: &[(Arc<str>, Value)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&value_text(value));
    }
    out
}

/// UTC time of day with microseconds: `HH:MM:SS.ffffff`.
///
/// ```
/// assert_eq!(ttlog_tui::time_of_day(1_795_307_845_033_000_123), "00:37:25.033000");
/// ```
pub fn time_of_day(ns: i64) -> String {
    format_rfc3339(ns)[11..26].to_owned()
}

/// A count with thousands separators: `12 345 678`.
///
/// ```
/// assert_eq!(ttlog_tui::count_text(1234567), "1 234 567");
/// assert_eq!(ttlog_tui::count_text(999), "999");
/// ```
pub fn count_text(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
