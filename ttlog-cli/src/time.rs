//! Time: RFC 3339 formatting of event timestamps (fast, no allocation), and
//! parsing of the `--since` / `--until` arguments.

use std::fmt::Write as _;

const NS_PER_SEC: i64 = 1_000_000_000;

/// Splits UTC nanoseconds into (year, month, day, seconds of the day,
/// nanoseconds). Howard Hinnant's `civil_from_days`, exact for every `i64`.
fn civil(ts_ns: i64) -> (i64, u32, u32, u32, u32) {
    let secs = ts_ns.div_euclid(NS_PER_SEC);
    let nanos = ts_ns.rem_euclid(NS_PER_SEC) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d, sod, nanos)
}

/// Appends `ts_ns` (UTC nanoseconds since the Unix epoch) as RFC 3339 with
/// nine fraction digits: `2026-11-22T00:27:23.123456789Z`.
///
/// ```
/// let mut s = String::new();
/// ttlog_cli::time::push_rfc3339(&mut s, 1_700_000_000_123_456_789);
/// assert_eq!(s, "2023-11-14T22:13:20.123456789Z");
/// ```
pub fn push_rfc3339(out: &mut String, ts_ns: i64) {
    let (y, mo, d, sod, ns) = civil(ts_ns);
    if !(0..=9999).contains(&y) {
        let _ = write!(out, "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{ns:09}Z", sod / 3600, sod / 60 % 60, sod % 60);
        return;
    }
    // The common case without the formatting machinery (exports write one
    // per event): digits into a fixed buffer.
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
    put(11, 2, sod / 3600);
    put(14, 2, sod / 60 % 60);
    put(17, 2, sod % 60);
    put(20, 9, ns);
    out.push_str(std::str::from_utf8(&b).expect("ASCII digits"));
}

/// `ts_ns` as RFC 3339 with nanoseconds (see [`push_rfc3339`]).
pub fn rfc3339(ts_ns: i64) -> String {
    let mut s = String::with_capacity(30);
    push_rfc3339(&mut s, ts_ns);
    s
}

/// The UTC date of `ts_ns` as `YYYY-MM-DD` (the `date` partition value).
pub fn date(ts_ns: i64) -> String {
    let (y, mo, d, _, _) = civil(ts_ns);
    format!("{y:04}-{mo:02}-{d:02}")
}

/// A point in time as given to `--since` / `--until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    /// UTC nanoseconds since the Unix epoch (an RFC 3339 timestamp).
    Absolute(i64),
    /// Nanoseconds before the last event (`-5m`, or `5m`).
    BeforeLast(i64),
}

impl TimeSpec {
    /// Parses an RFC 3339 timestamp (`2026-11-22T00:27:00Z`,
    /// `2026-11-22T01:27:00.5+01:00`) or a duration before the last event:
    /// an optional `-`, then one or more NUMBER UNIT pairs with UNIT one of
    /// `ns`, `us`, `ms`, `s`, `m`, `h`, `d` (`-5m`, `1h30m`, `250ms`).
    ///
    /// ```
    /// use ttlog_cli::time::TimeSpec;
    /// assert_eq!(TimeSpec::parse("-1m30s").unwrap(), TimeSpec::BeforeLast(90_000_000_000));
    /// assert!(matches!(TimeSpec::parse("2026-11-22T00:00:00Z").unwrap(), TimeSpec::Absolute(_)));
    /// assert!(TimeSpec::parse("soon").is_err());
    /// ```
    ///
    /// # Errors
    /// A message saying what is expected.
    pub fn parse(s: &str) -> Result<TimeSpec, String> {
        let t = s.trim();
        if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
            return dt
                .timestamp_nanos_opt()
                .map(TimeSpec::Absolute)
                .ok_or_else(|| format!("{s:?} is outside the range of nanosecond timestamps"));
        }
        let body = t.strip_prefix('-').unwrap_or(t);
        parse_duration(body)
            .map(TimeSpec::BeforeLast)
            .ok_or_else(|| format!("{s:?} is neither an RFC 3339 timestamp (2026-11-22T00:27:00Z) nor a duration before the last event (-5m, -1h30m, -250ms)"))
    }

    /// The UTC nanoseconds this stands for, given the last event's time.
    pub fn resolve(self, last_ns: i64) -> i64 {
        match self {
            TimeSpec::Absolute(t) => t,
            TimeSpec::BeforeLast(d) => last_ns.saturating_sub(d),
        }
    }
}

/// Parses `1h30m`, `5m`, `250ms`, … into nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let mut i = 0;
    let mut total: i64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let n: i64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = match &s[ustart..i] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => NS_PER_SEC,
            "m" => 60 * NS_PER_SEC,
            "h" => 3600 * NS_PER_SEC,
            "d" => 86_400 * NS_PER_SEC,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_chrono() {
        for &t in &[
            0i64,
            1,
            -1,
            1_700_000_000_123_456_789,
            951_782_400_000_000_000,
            -86_400_000_000_001,
            i64::MAX,
            i64::MIN + 1,
        ] {
            let c = chrono::DateTime::from_timestamp_nanos(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            assert_eq!(rfc3339(t), c, "{t}");
        }
        assert_eq!(date(951_782_400_000_000_000), "2000-02-29");
        // And at random times of the whole range.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = x as i64;
            let c = chrono::DateTime::from_timestamp_nanos(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            assert_eq!(rfc3339(t), c, "{t}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Some(300 * NS_PER_SEC));
        assert_eq!(parse_duration("1h30m"), Some(5400 * NS_PER_SEC));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
        assert_eq!(TimeSpec::parse("-5m").unwrap().resolve(1000 * NS_PER_SEC), 700 * NS_PER_SEC);
        assert_eq!(TimeSpec::parse("1970-01-01T00:00:01+00:00").unwrap(), TimeSpec::Absolute(NS_PER_SEC));
    }
}
