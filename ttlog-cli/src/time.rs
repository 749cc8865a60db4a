//! The `--since` / `--until` arguments: an RFC 3339 time (read by
//! [`ttlog_core::time::parse`]) or a duration before the last event; and
//! durations (`5m`, `1h30m`) as `--bucket` also takes them.

const NS_PER_SEC: i64 = 1_000_000_000;

/// A point in time as given to `--since` / `--until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    /// UTC nanoseconds since the Unix epoch (an RFC 3339 timestamp).
    Absolute(i64),
    /// Nanoseconds before the last event (`-5m`, or `5m`).
    BeforeLast(i64),
}

impl TimeSpec {
    /// Parses a time as [`ttlog_core::time::parse`] reads it
    /// (`2026-11-22T00:27:00Z`, `2026-11-22T01:27:00.5+01:00`; without a
    /// zone, UTC) or a duration before the last event:
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
        match ttlog_core::time::parse(t) {
            Ok(ns) => return Ok(TimeSpec::Absolute(ns)),
            Err(e) if e.is_out_of_range() => {
                return Err(format!("{s:?} is outside the range of nanosecond timestamps"));
            }
            Err(_) => {}
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
