//! UTC date and time as text: timestamps written as RFC 3339, and the times
//! people give (`--since`, the interactive view's "go to time") read back.
//!
//! Timestamps are `i64` nanoseconds since the Unix epoch, UTC, as events
//! carry them; every `i64` can be written (1677-09-21 to 2262-04-11). The
//! conversion between days and civil dates is Howard Hinnant's
//! `days_from_civil` / `civil_from_days` (proleptic Gregorian calendar, no
//! leap seconds), exact over that whole range.
//!
//! # Writing
//!
//! [`format_rfc3339`] and [`push_rfc3339`] write
//! `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`: always nine fraction digits and `Z`.
//!
//! # Reading
//!
//! [`parse`] reads an RFC 3339 timestamp and the shorter forms a person
//! types; [`parse_on_day`] also reads a bare time of day:
//!
//! ```text
//! text   = date [("T" | "t" | " ") time] [zone]     both
//!        | time [zone]                               parse_on_day: on the UTC day of its reference
//! date   = YYYY "-" M[M] "-" D[D]                    a real day (2026-02-30 is refused)
//! time   = H[H] ":" M[M] [":" S[S] ["." 1 to 9 digits]]
//!                                                    hour 0-23, minute 0-59, second 0-60
//!                                                    (60, a leap second, is the next second)
//! zone   = "Z" | "z" | ("+" | "-") HH ":" MM         an offset up to 23:59; none means UTC
//! ```
//!
//! Whitespace around the text is ignored. A date alone is its midnight.
//! More than nine fraction digits are refused rather than cut (they would
//! name a time finer than a timestamp holds).
//!
//! ```
//! use ttlog_core::time::{format_rfc3339, parse, parse_on_day};
//! let ns = parse("2026-11-22T01:37:25.033+01:00").unwrap();
//! assert_eq!(format_rfc3339(ns), "2026-11-22T00:37:25.033000000Z");
//! assert_eq!(parse("2026-11-22 00:37:25.033"), Ok(ns));
//! assert_eq!(parse_on_day("00:37:25.033", 1_795_310_000_000_000_000), Ok(ns));
//! assert!(parse("2026-11-22T25:00").is_err());
//! ```

use std::fmt;

const NS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Splits UTC nanoseconds into a civil date and time:
/// `(year, month, day, hour, minute, second, nanosecond)`.
pub(crate) fn civil_from_ns(ns: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = ns.div_euclid(NS_PER_SEC);
    let nanos = ns.rem_euclid(NS_PER_SEC) as u32;
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, sod / 3600, sod / 60 % 60, sod % 60, nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// UTC nanoseconds of a civil date and time (inverse of [`civil_from_ns`]),
/// saturating at the ends of the `i64` range.
pub(crate) fn ns_from_civil(y: i64, m: u32, d: u32, hh: u32, mm: u32, ss: u32) -> i64 {
    let secs = days_from_civil(y, m, d) * SECS_PER_DAY + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss);
    secs.saturating_mul(NS_PER_SEC)
}

/// Appends `ns` (UTC nanoseconds since the Unix epoch) as RFC 3339 with
/// nine fraction digits: `2026-11-22T00:27:23.123456789Z`. Allocates
/// nothing beyond `out`'s growth (exports write one per event).
///
/// ```
/// let mut s = String::new();
/// ttlog_core::time::push_rfc3339(&mut s, 1_700_000_000_123_456_789);
/// assert_eq!(s, "2023-11-14T22:13:20.123456789Z");
/// ```
pub fn push_rfc3339(out: &mut String, ns: i64) {
    let (y, mo, d, h, mi, s, n) = civil_from_ns(ns);
    // Every i64 falls in 1677..=2262: four digits.
    debug_assert!((0..=9999).contains(&y));
    let mut b = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for k in (at..at + width).rev() {
            b[k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u32);
    put(5, 2, mo);
    put(8, 2, d);
    put(11, 2, h);
    put(14, 2, mi);
    put(17, 2, s);
    put(20, 9, n);
    out.push_str(std::str::from_utf8(&b).expect("ASCII digits"));
}

/// `ns` as RFC 3339 with nanoseconds (see [`push_rfc3339`]).
///
/// ```
/// use ttlog_core::time::format_rfc3339;
/// assert_eq!(format_rfc3339(1_795_307_845_033_000_000), "2026-11-22T00:37:25.033000000Z");
/// ```
pub fn format_rfc3339(ns: i64) -> String {
    let mut s = String::with_capacity(30);
    push_rfc3339(&mut s, ns);
    s
}

/// A span from `a` to `b` (UTC ns) for people, in the unit that shows it:
/// `69.4 µs`, `12.5 ms`, `3.412 s`, `2.5 min`, `3.1 h`, `12.0 days`.
/// Computed in 128 bits: no pair of timestamps overflows.
///
/// ```
/// use ttlog_core::time::span_text;
/// assert_eq!(span_text(0, 69_400), "69.4 µs");
/// assert_eq!(span_text(0, 3_412_000_000), "3.412 s");
/// assert_eq!(span_text(0, 150 * 1_000_000_000), "2.5 min");
/// assert_eq!(span_text(i64::MIN, i64::MAX), "213504.0 days");
/// ```
pub fn span_text(a: i64, b: i64) -> String {
    let ns = (i128::from(b) - i128::from(a)) as f64;
    let s = ns / 1e9;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if s < 1.0 {
        format!("{:.1} ms", ns / 1e6)
    } else if s < 120.0 {
        format!("{s:.3} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86_400.0)
    }
}

/// The UTC date of `ns` as `YYYY-MM-DD`.
///
/// ```
/// assert_eq!(ttlog_core::time::format_date(951_782_400_000_000_000), "2000-02-29");
/// ```
pub fn format_date(ns: i64) -> String {
    let (y, mo, d, ..) = civil_from_ns(ns);
    format!("{y:04}-{mo:02}-{d:02}")
}

/// The error of [`parse`] and [`parse_on_day`]: what is wrong, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseTimeError {
    message: String,
    out_of_range: bool,
}

impl ParseTimeError {
    fn new(message: String) -> ParseTimeError {
        ParseTimeError { message, out_of_range: false }
    }

    /// Whether the text is a well-formed time outside the range of `i64`
    /// nanoseconds (before 1677-09-21 or after 2262-04-11).
    pub fn is_out_of_range(&self) -> bool {
        self.out_of_range
    }
}

impl fmt::Display for ParseTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseTimeError {}

/// Reads a date and time (see the [module documentation](self) for the
/// forms) as UTC nanoseconds since the Unix epoch.
///
/// ```
/// use ttlog_core::time::parse;
/// assert_eq!(parse("1970-01-01T00:00:01Z"), Ok(1_000_000_000));
/// assert_eq!(parse("1970-01-01T01:00:01+01:00"), Ok(1_000_000_000));
/// assert_eq!(parse("1970-01-02"), Ok(86_400_000_000_000));
/// assert!(parse("00:37").is_err(), "a time of day needs a day: parse_on_day");
/// ```
///
/// # Errors
/// When the text is none of those forms, names no real date or time, or
/// lies outside the range of `i64` nanoseconds.
pub fn parse(text: &str) -> Result<i64, ParseTimeError> {
    parse_time(text, None)
}

/// Like [`parse`], and also reads a bare time of day (`00:37`,
/// `00:37:25.033`, `00:37Z`) as that time on the UTC day of `day_ns`.
///
/// ```
/// use ttlog_core::time::parse_on_day;
/// let day = 1_795_307_845_033_000_000; // 2026-11-22T00:37:25.033Z
/// assert_eq!(parse_on_day("00:37:25.033", day), Ok(day));
/// assert_eq!(parse_on_day("2026-11-22T00:37:25.033Z", 0), Ok(day));
/// assert!(parse_on_day("25:00", day).is_err());
/// ```
///
/// # Errors
/// As [`parse`].
pub fn parse_on_day(text: &str, day_ns: i64) -> Result<i64, ParseTimeError> {
    parse_time(text, Some(day_ns))
}

fn fail<T>(message: String) -> Result<T, ParseTimeError> {
    Err(ParseTimeError::new(message))
}

fn parse_time(input: &str, day_ns: Option<i64>) -> Result<i64, ParseTimeError> {
    let s = input.trim();
    let (s, offset_secs) = split_zone(s)?;
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (Some(&s[..i]), Some(&s[i + 1..])),
        None if s.contains(':') => (None, Some(s)),
        None => (Some(s), None),
    };
    let days = match (date, day_ns) {
        (Some(d), _) => parse_date(d)?,
        (None, Some(day_ns)) => day_ns.div_euclid(NS_PER_SEC * SECS_PER_DAY),
        (None, None) => return fail(format!("expected a date as YYYY-MM-DD before the time, got {input:?}")),
    };
    let (secs_of_day, frac_ns) = match time {
        Some(t) => parse_time_of_day(t)?,
        None => (0, 0),
    };
    days.checked_mul(SECS_PER_DAY)
        .and_then(|s| s.checked_add(secs_of_day - offset_secs))
        .and_then(|s| s.checked_mul(NS_PER_SEC))
        .and_then(|n| n.checked_add(frac_ns))
        .ok_or_else(|| ParseTimeError {
            message: format!("{input:?} is outside the range of nanosecond timestamps (1677-09-21 to 2262-04-11)"),
            out_of_range: true,
        })
}

/// Splits a trailing zone off `s`: `Z`, `z` or `±HH:MM`, as seconds east of
/// UTC (0 when there is none).
fn split_zone(s: &str) -> Result<(&str, i64), ParseTimeError> {
    if let Some(rest) = s.strip_suffix(['Z', 'z']) {
        return Ok((rest, 0));
    }
    let Some(i) = s.rfind(['+', '-']).filter(|&i| i > 0) else { return Ok((s, 0)) };
    let zone = &s[i + 1..];
    let b = zone.as_bytes();
    // A date's own `-MM-DD` is no zone: a zone has the colon.
    if b.len() != 5 || b[2] != b':' {
        return Ok((s, 0));
    }
    let two = |p: &[u8]| match p {
        [a @ b'0'..=b'9', c @ b'0'..=b'9'] => Some(i64::from(a - b'0') * 10 + i64::from(c - b'0')),
        _ => None,
    };
    match (two(&b[..2]), two(&b[3..])) {
        (Some(h), Some(m)) if h <= 23 && m <= 59 => {
            let secs = h * 3600 + m * 60;
            Ok((&s[..i], if s.as_bytes()[i] == b'-' { -secs } else { secs }))
        }
        _ => Err(ParseTimeError::new(format!("bad time zone {:?} (expected Z or ±HH:MM)", &s[i..]))),
    }
}

/// Days since the epoch of `YYYY-M[M]-D[D]`.
fn parse_date(d: &str) -> Result<i64, ParseTimeError> {
    let parts: Vec<&str> = d.split('-').collect();
    let [y, m, dd] = parts[..] else {
        return fail(format!("expected a date as YYYY-MM-DD, got {d:?}"));
    };
    let Some(y) = number(y, 4, 4) else { return fail(format!("bad year {y:?}")) };
    let Some(m) = number(m, 1, 2).filter(|m| (1..=12).contains(m)) else { return fail(format!("bad month {m:?}")) };
    let Some(dd) = number(dd, 1, 2).filter(|&d| d >= 1 && d <= days_in_month(y, m)) else {
        return fail(format!("bad day {dd:?}"));
    };
    Ok(days_from_civil(i64::from(y), m, dd))
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `H[H]:M[M][:S[S][.fraction]]` as (seconds of the day, nanoseconds).
fn parse_time_of_day(time: &str) -> Result<(i64, i64), ParseTimeError> {
    let mut parts = time.split(':');
    let mut part = |what: &str, max: u32| {
        let p = parts.next().unwrap_or_default();
        match number(p, 1, 2).filter(|&v| v <= max) {
            Some(v) => Ok(i64::from(v)),
            None => fail(format!("bad {what} {p:?}")),
        }
    };
    let h = part("hour", 23)?;
    let mi = part("minute", 59)?;
    let (sec, frac_ns) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = match sec.split_once('.') {
                Some((whole, frac)) => (whole, Some(frac)),
                None => (sec, None),
            };
            let Some(whole) = number(whole, 1, 2).filter(|&s| s <= 60) else {
                return fail(format!("bad second {whole:?}"));
            };
            // Nine digits at most: a finer time than a timestamp holds is
            // refused, not cut.
            let frac_ns = match frac {
                None => 0,
                Some(f) => match number(f, 1, 9) {
                    Some(_) => number(&format!("{f:0<9}"), 9, 9).unwrap_or_default(),
                    None => return fail(format!("bad fraction of a second {f:?}")),
                },
            };
            (i64::from(whole), i64::from(frac_ns))
        }
    };
    if parts.next().is_some() {
        return fail(format!("expected HH:MM[:SS[.fff]], got {time:?}"));
    }
    Ok((h * 3600 + mi * 60 + sec, frac_ns))
}

/// `s` as a decimal number of `min..=max` ASCII digits.
fn number(s: &str, min: usize, max: usize) -> Option<u32> {
    if !(min..=max).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, SecondsFormat};
    use proptest::prelude::*;

    fn chrono_rfc3339(ns: i64) -> String {
        DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Nanos, true)
    }

    #[test]
    fn civil_dates() {
        // From snapshot/format.rs.
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        let ns = ns_from_civil(2026, 11, 22, 0, 27, 23) + 5;
        assert_eq!(format_rfc3339(ns), "2026-11-22T00:27:23.000000005Z");
        assert_eq!(ns_from_civil(2000, 2, 29, 12, 0, 0), 951_825_600_000_000_000);
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn rfc3339_matches_chrono() {
        // From ttlog-cli's copy.
        for &t in &[
            0i64,
            1,
            -1,
            1_700_000_000_123_456_789,
            951_782_400_000_000_000,
            -86_400_000_000_001,
            i64::MAX,
            i64::MIN + 1,
            i64::MIN,
        ] {
            assert_eq!(format_rfc3339(t), chrono_rfc3339(t), "{t}");
        }
        assert_eq!(format_date(951_782_400_000_000_000), "2000-02-29");
        // And at random times of the whole range.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = x as i64;
            assert_eq!(format_rfc3339(t), chrono_rfc3339(t), "{t}");
        }
    }

    #[test]
    fn time_round_trips_through_text() {
        // From ttlog-tui's copy.
        for ns in [0i64, 1_795_307_845_033_000_000, 951_782_400_000_000_001, 4_102_444_799_999_999_999] {
            assert_eq!(parse_on_day(&format_rfc3339(ns), 0), Ok(ns), "{}", format_rfc3339(ns));
        }
    }

    #[test]
    fn time_of_day_uses_the_reference_day() {
        // From ttlog-tui's copy.
        let reference = parse_on_day("2026-11-22T13:00:00Z", 0).unwrap();
        assert_eq!(parse_on_day("01:02", reference), parse_on_day("2026-11-22 01:02:00", 0));
        assert_eq!(parse_on_day("2026-11-22", 0), parse_on_day("2026-11-22T00:00:00", 0));
        assert!(parse_on_day("1:2:3:4", reference).is_err());
        assert!(parse_on_day("12:60", reference).is_err());
        assert!(parse_on_day("12:00:00.1234567890", reference).is_err());
        assert_eq!(parse_on_day("23:59:59.5-01:00", reference), parse("2026-11-23T00:59:59.5Z"));
        assert_eq!(parse_on_day("1:2", reference), parse_on_day("01:02", reference));
    }

    #[test]
    fn refuses_what_names_no_time() {
        for bad in [
            "",
            "soon",
            "2026-13-01",
            "2026-02-29",
            "2026-04-31T00:00Z",
            "26-11-22",
            "2026-11-22T24:00",
            "2026-11-22T00:00+24:00",
            "2026-11-22T00:00+01",
            "2026-11-22T00:00:61",
            "2026-11-22T00:00:00.",
            "2026-11-22Tx",
            "2026-11-22 00:00 extra",
            "00:37",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("2024-02-29").is_ok() && parse("2000-02-29").is_ok() && parse("1900-02-29").is_err());
        let far = parse("2263-01-01T00:00:00Z").unwrap_err();
        assert!(far.is_out_of_range(), "{far}");
        assert!(!parse("2026-13-01").unwrap_err().is_out_of_range());
        // A leap second is the next second, as chrono reads it.
        assert_eq!(parse("2016-12-31T23:59:60Z"), parse("2017-01-01T00:00:00Z"));
    }

    proptest! {
        #[test]
        fn formatted_times_read_back(ns in any::<i64>()) {
            prop_assert_eq!(parse(&format_rfc3339(ns)), Ok(ns));
        }

        #[test]
        fn reads_what_chrono_reads(ns in any::<i64>(), offset_min in -1439i32..=1439, digits in 0usize..=9) {
            let at = DateTime::from_timestamp_nanos(ns)
                .with_timezone(&chrono::FixedOffset::east_opt(offset_min * 60).unwrap());
            let text = match digits {
                0 => at.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                n => format!("{}.{:09}", at.format("%Y-%m-%dT%H:%M:%S"), at.timestamp_subsec_nanos())[..20 + n].to_owned()
                    + &at.format("%:z").to_string(),
            };
            let want = DateTime::parse_from_rfc3339(&text).ok().and_then(|t| t.timestamp_nanos_opt());
            prop_assert_eq!(parse(&text).ok(), want, "{}", text);
        }
    }
}
