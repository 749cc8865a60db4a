//! The memory limit of `ttlog-view` (`--memory-limit`): its argument, its
//! default, and the estimates of the large structures that the engines
//! check against it before they build them.
//!
//! The limit is the process-wide one of [`ttlog_core::memory`], which the
//! reader checks too (a stream's bytes, a file read whole, a `ttlog` 0.1
//! snapshot's block). Here, what grows with the events:
//!
//! | structure | estimate | checked by |
//! | --- | --- | --- |
//! | every event loaded into a frame ([`Engine`](crate::Engine): `-i` up to 20 M events, `--limit`/`--tail` with `--stats`) | [`LOAD_BYTES_PER_EVENT`] per event plus the chunks' decompressed bytes | [`Engine::load_opened`](crate::Engine::load_opened) |
//! | the time-order index of the viewer above 20 M events ([`browse`](crate::browse)) | [`INDEX_BYTES_PER_EVENT`] per event | [`EngineSource`](crate::EngineSource) |
//! | the chunks a time-ordered stream holds at once ([`stream`](crate::stream)) | their buffers ([`ChunkColumns::heap_bytes`](ttlog_core::snapshot::ChunkColumns::heap_bytes)) | [`Stream::run`](crate::stream::Stream::run) |
//! | the groups of a streamed `--group-by` as they grow | 64 bytes a group, 48 per key part, 96 per aggregated field, 8 per value a quantile keeps | [`Plan::run`](crate::query::Plan::run) |
//! | the table `--sql` queries (the query's columns of every event) | polars' estimate of each batch as it is built | [`sql::Events`](crate::sql::Events) |
//!
//! The streaming questions (`--stats`, `--group-by` with few groups, the
//! exports) hold a few chunks per core and never come near a limit of a few
//! hundred MiB, whatever the input's size.

/// The default limit, in percent of the physical memory (or of the
/// control group's limit, when that is lower). DuckDB takes 80 % by
/// default, as a database that owns its machine; `ttlog-view` is run beside
/// the services whose snapshots it reads, often on the machine that just
/// crashed, so it leaves them half.
pub const DEFAULT_PERCENT: u64 = 50;

/// Bytes per event of a loaded dataset at the peak of its load, besides
/// the chunks' decompressed field values: the decoded columns (28 bytes),
/// the frame (20), and the sort that puts them in time order; the
/// viewer's target (at most 100 bytes per event) is taken as the estimate.
pub const LOAD_BYTES_PER_EVENT: u64 = 100;

/// Bytes per event of the viewer's index of inputs too large to load: 9
/// kept (position and level), up to 24 while its vectors grow by doubling.
pub const INDEX_BYTES_PER_EVENT: u64 = 24;

/// Parses a `--memory-limit`: bytes (`1000000`), a size with a unit (`KB`,
/// `MB`, `GB`, `TB` in powers of 1000; `KiB`, `MiB`, `GiB`, `TiB` in powers
/// of 1024; the case does not matter, a space may come before the unit), or
/// a percentage of the physical memory (`70%`).
///
/// ```
/// use ttlog_cli::memory::parse_limit;
/// assert_eq!(parse_limit("512MB"), Ok(512_000_000));
/// assert_eq!(parse_limit("2GiB"), Ok(2 << 30));
/// assert_eq!(parse_limit("1.5 kib"), Ok(1536));
/// assert!(parse_limit("70%").unwrap() > 0);
/// assert!(parse_limit("lots").is_err());
/// ```
///
/// # Errors
/// Text that is none of these, zero, or a percentage outside 1–100.
pub fn parse_limit(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if let Some(p) = t.strip_suffix('%') {
        let p: f64 = p.trim().parse().map_err(|_| format!("{text:?}: expected a percentage such as 70%"))?;
        if p.is_nan() || p <= 0.0 || p > 100.0 {
            return Err(format!("{text:?}: a percentage of the physical memory is between 0 and 100"));
        }
        let total = physical_memory().ok_or_else(|| {
            format!("{text:?}: the physical memory of this machine is unknown; give a size such as 4GiB")
        })?;
        return Ok((total as f64 * p / 100.0) as u64);
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a size such as 512MB, 2GiB or 70% (of the physical memory)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB or %)")),
    };
    let bytes = number * scale as f64;
    if bytes.is_nan() || bytes < 1.0 {
        return Err(format!("{text:?}: the limit must be at least one byte"));
    }
    Ok(bytes.min(u64::MAX as f64) as u64)
}

/// The memory this process may use: the physical memory
/// (`/proc/meminfo`), or its control group's limit when that is lower
/// (`memory.max` of cgroup v2, `memory.limit_in_bytes` of v1). `None` where
/// neither can be read.
pub fn physical_memory() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    })?;
    let cgroup = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok())
        .min();
    Some(cgroup.map_or(total, |c| c.min(total)))
}

/// The limit when `--memory-limit` is not given: [`DEFAULT_PERCENT`] of
/// [`physical_memory`], or none where that is unknown.
pub fn default_limit() -> Option<u64> {
    physical_memory().map(|m| m / 100 * DEFAULT_PERCENT)
}

/// The name of a set of inputs in a memory-limit error: the file when
/// there is one, else their number and the largest (by `events`).
pub(crate) fn inputs_name<'a>(inputs: impl Iterator<Item = (&'a str, u64)>) -> String {
    let mut n = 0usize;
    let mut largest: Option<(&str, u64)> = None;
    for (name, events) in inputs {
        n += 1;
        if largest.is_none_or(|(_, e)| events > e) {
            largest = Some((name, events));
        }
    }
    match (n, largest) {
        (1, Some((name, _))) => name.to_owned(),
        (_, Some((name, events))) => format!("{n} inputs (the largest {name}, {events} events)"),
        _ => "no input".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_every_unit() {
        assert_eq!(parse_limit("1000000"), Ok(1_000_000));
        assert_eq!(parse_limit("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_limit("1tb"), Ok(1_000_000_000_000));
        assert_eq!(parse_limit("0.5GB"), Ok(500_000_000));
        for bad in ["", "MB", "-5MB", "0", "12 parsecs", "150%", "0%", "x%"] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentages_are_of_the_memory_this_process_may_use() {
        if let Some(total) = physical_memory() {
            assert_eq!(parse_limit("100%"), Ok(total));
            let half = parse_limit("50%").unwrap();
            assert!(half.abs_diff(total / 2) <= 1, "{half} of {total}");
            assert_eq!(default_limit(), Some(total / 100 * DEFAULT_PERCENT));
        }
    }

    #[test]
    fn a_set_of_inputs_is_named_by_its_largest() {
        assert_eq!(inputs_name([("a.bin", 5)].into_iter()), "a.bin");
        assert_eq!(inputs_name([("a.bin", 5), ("b.bin", 9)].into_iter()), "2 inputs (the largest b.bin, 9 events)");
    }
}
