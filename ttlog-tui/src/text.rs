//! Turning event data into screen text: escaping what a terminal would
//! execute, fields as `name=value`, times in and out.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use ttlog_core::Value;
use ttlog_core::snapshot::format::format_rfc3339;

/// `text` with everything a terminal could interpret made visible:
/// control characters (C0, DEL, C1, so every escape sequence) and the
/// bidirectional overrides that reorder what is shown. Log text is
/// untrusted; it is never written to the terminal raw.
///
/// ```
/// use ttlog_tui::escape;
/// assert_eq!(escape("plain"), "plain");
/// assert_eq!(escape("\x1b[31mred\x1b[0m\n"), "\\x1b[31mred\\x1b[0m\\n");
/// assert_eq!(escape("a\u{202e}b\u{9b}"), "a\\u{202e}b\\u{9b}");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

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

/// Full UTC time, RFC 3339 with nanoseconds.
pub fn full_time(ns: i64) -> String {
    format_rfc3339(ns)
}

/// Parses a time typed by the user: RFC 3339 (`2026-11-22T00:37:25.5Z`,
/// `T` or a space, `Z` optional) or a UTC time of day (`00:37`,
/// `00:37:25.033`) on the day of `reference_ns`.
///
/// ```
/// use ttlog_tui::parse_time;
/// let day = 1_795_307_845_033_000_000; // 2026-11-22T00:37:25.033Z
/// assert_eq!(parse_time("00:37:25.033", day), Ok(day));
/// assert_eq!(parse_time("2026-11-22T00:37:25.033Z", 0), Ok(day));
/// assert!(parse_time("25:00", day).is_err());
/// ```
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_time(input: &str, reference_ns: i64) -> Result<i64, String> {
    let s = input.trim();
    let s = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (Some(&s[..i]), &s[i + 1..]),
        None if s.contains(':') => (None, s),
        None => (Some(s), "00:00"),
    };
    let days = match date {
        Some(d) => {
            let parts: Vec<&str> = d.split('-').collect();
            let [y, m, dd] = parts[..] else {
                return Err(format!("expected a date as YYYY-MM-DD, got {d:?}"));
            };
            let y: i64 = y.parse().map_err(|_| format!("bad year {y:?}"))?;
            let m: u32 = m.parse().ok().filter(|m| (1..=12).contains(m)).ok_or(format!("bad month {m:?}"))?;
            let dd: u32 = dd.parse().ok().filter(|d| (1..=31).contains(d)).ok_or(format!("bad day {dd:?}"))?;
            days_from_civil(y, m, dd)
        }
        None => reference_ns.div_euclid(NS_PER_DAY),
    };
    let mut parts = time.split(':');
    let h = parse_part(parts.next(), "hour", 23)?;
    let mi = parse_part(parts.next(), "minute", 59)?;
    let (sec, frac_ns) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let whole = parse_part(Some(whole), "second", 60)?;
            if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("bad fraction of a second {frac:?}"));
            }
            let frac_ns = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse::<i64>().unwrap_or(0) };
            (whole, frac_ns)
        }
    };
    if parts.next().is_some() {
        return Err(format!("expected HH:MM[:SS[.fff]], got {time:?}"));
    }
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    secs.checked_mul(1_000_000_000).and_then(|n| n.checked_add(frac_ns)).ok_or_else(|| "time out of range".to_owned())
}

const NS_PER_DAY: i64 = 86_400_000_000_000;

fn parse_part(part: Option<&str>, what: &str, max: i64) -> Result<i64, String> {
    let p = part.ok_or_else(|| format!("missing {what}"))?;
    match p.parse::<i64>() {
        Ok(v) if (0..=max).contains(&v) && !p.is_empty() && p.len() <= 2 => Ok(v),
        _ => Err(format!("bad {what} {p:?}")),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips_through_text() {
        for ns in [0i64, 1_795_307_845_033_000_000, 951_782_400_000_000_001, 4_102_444_799_999_999_999] {
            assert_eq!(parse_time(&full_time(ns), 0), Ok(ns), "{}", full_time(ns));
        }
    }

    #[test]
    fn time_of_day_uses_the_reference_day() {
        let reference = parse_time("2026-11-22T13:00:00Z", 0).unwrap();
        assert_eq!(parse_time("01:02", reference), parse_time("2026-11-22 01:02:00", 0));
        assert_eq!(parse_time("2026-11-22", 0), parse_time("2026-11-22T00:00:00", 0));
        assert!(parse_time("1:2:3:4", reference).is_err());
        assert!(parse_time("12:60", reference).is_err());
        assert!(parse_time("12:00:00.1234567890", reference).is_err());
    }

    #[test]
    fn escapes_every_control_character() {
        for c in (0u32..0x20).chain(0x7f..0xa0) {
            let c = char::from_u32(c).unwrap();
            let e = escape(&c.to_string()).into_owned();
            assert!(e.starts_with('\\') && !e.chars().any(char::is_control), "{c:?} -> {e:?}");
        }
    }
}
