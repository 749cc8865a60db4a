//! `ttlog-view diff A B`: what changed between two sets of snapshots, per
//! call site: events and rate (events per second over each side's time
//! span) in A and in B, their ratio, call sites new in B or gone from B,
//! and error messages new in B; sorted by how much each changed.
//!
//! Each side is one question to the streaming engine (a group-by on the
//! call site's level, target, message, file and line, with `--stats` for
//! the span), so memory does not grow with the events.

use crate::catalog::{Catalog, OpenOptions};
use crate::dataset::Input;
use crate::filter::Filter;
use crate::query::{Plan, QueryError, Question};
use crate::stats::{GroupKey, KeyValue};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A call site, as the diff names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SiteKey {
    /// `ERROR`, `WARN`, ….
    pub level: String,
    /// Target.
    pub target: String,
    /// Message.
    pub message: String,
    /// Source file.
    pub file: String,
    /// Line.
    pub line: u64,
}

/// One side of a diff.
#[derive(Debug, Clone, Default)]
pub struct Side {
    /// Events (each once).
    pub events: u64,
    /// Seconds from the first to the last event (0 for fewer than two).
    pub span_s: f64,
    /// Events per call site.
    pub sites: BTreeMap<SiteKey, u64>,
}

impl Side {
    /// Asks the streaming engine for the events per call site of `inputs`.
    ///
    /// # Errors
    /// Unreadable inputs, a filter that does not fit the data.
    pub fn of(inputs: &[Input], filter: &Filter, strict: bool) -> Result<Side, QueryError> {
        let catalog = Catalog::open(inputs, OpenOptions::default(), &|_| ())?;
        let keys = ["level", "target", "message", "file", "line"]
            .iter()
            .map(|k| GroupKey::parse(k).expect("a built-in key"))
            .collect();
        let question =
            Question { filter: filter.clone(), since: None, until: None, stats: true, group: Some((keys, Vec::new())) };
        let answer = Plan::new(&catalog, question)?.run(strict, &|_| ())?;
        let mut side = Side { events: answer.events, ..Side::default() };
        if let Some((a, b)) = answer.stats.as_ref().and_then(|s| s.span) {
            side.span_s = (b as f64 - a as f64) / 1e9;
        }
        let text = |v: &KeyValue| match v {
            KeyValue::Str(s) => s.to_string(),
            KeyValue::Level(l) => l.as_str().to_owned(),
            KeyValue::Null => String::new(),
            other => format!("{other:?}"),
        };
        for row in answer.groups.map(|g| g.rows).unwrap_or_default() {
            let line = match row.key[4] {
                KeyValue::U64(n) => n,
                KeyValue::I64(n) => n.max(0) as u64,
                _ => 0,
            };
            let key = SiteKey {
                level: text(&row.key[0]),
                target: text(&row.key[1]),
                message: text(&row.key[2]),
                file: text(&row.key[3]),
                line,
            };
            *side.sites.entry(key).or_default() += row.count;
        }
        Ok(side)
    }

    /// Events per second of `n` events over this side's span (`None` when
    /// the span is zero).
    fn rate(&self, n: u64) -> Option<f64> {
        (self.span_s > 0.0).then(|| n as f64 / self.span_s)
    }
}

/// What changed at one call site.
#[derive(Debug, Clone)]
pub struct Change {
    /// The call site.
    pub site: SiteKey,
    /// Events in A and in B.
    pub events: (u64, u64),
    /// Events per second in A and in B.
    pub rate: (Option<f64>, Option<f64>),
    /// Rate in B over rate in A (`None` when either side has none).
    pub ratio: Option<f64>,
    /// `new` (only in B), `gone` (only in A) or `changed`.
    pub status: &'static str,
}

/// The diff of two sides: every call site of either, most changed first
/// (new and gone call sites by their events, the others by how far the
/// ratio of their rates is from 1).
pub fn diff(a: &Side, b: &Side) -> Vec<Change> {
    let mut keys: Vec<&SiteKey> = a.sites.keys().chain(b.sites.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out: Vec<Change> = keys
        .into_iter()
        .map(|k| {
            let (ea, eb) = (a.sites.get(k).copied().unwrap_or(0), b.sites.get(k).copied().unwrap_or(0));
            let rate = (a.rate(ea), b.rate(eb));
            let ratio = match rate {
                (Some(x), Some(y)) if x > 0.0 => Some(y / x),
                _ => None,
            };
            let status = match (ea, eb) {
                (0, _) => "new",
                (_, 0) => "gone",
                _ => "changed",
            };
            Change { site: k.clone(), events: (ea, eb), rate, ratio, status }
        })
        .collect();
    // How much it changed: new and gone by their events, others by the
    // log of the ratio (×4 and ÷4 are as far).
    let weight = |c: &Change| match c.status {
        "new" | "gone" => f64::INFINITY,
        _ => c.ratio.map_or(0.0, |r| if r > 0.0 { r.ln().abs() } else { f64::INFINITY }),
    };
    out.sort_by(|x, y| {
        weight(y)
            .total_cmp(&weight(x))
            .then_with(|| (y.events.0 + y.events.1).cmp(&(x.events.0 + x.events.1)))
            .then_with(|| x.site.cmp(&y.site))
    });
    out
}

fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

/// The diff as aligned text: a line per side, the call sites, then the
/// error messages new in B.
pub fn text(a: &Side, b: &Side, changes: &[Change]) -> String {
    let esc = |s: &str| ttlog_core::text::escape(s).into_owned();
    let mut o = String::new();
    let _ = writeln!(o, "A  {} events over {:.3} s ({} /s)", a.events, a.span_s, num(a.rate(a.events)));
    let _ = writeln!(o, "B  {} events over {:.3} s ({} /s)", b.events, b.span_s, num(b.rate(b.events)));
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<8} {:>10} {:>10} {:>10} {:>10} {:>8}  call site",
        "change", "A events", "A /s", "B events", "B /s", "B/A"
    );
    for c in changes {
        let ratio = match c.status {
            "changed" => c.ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.3}x")),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            o,
            "{:<8} {:>10} {:>10} {:>10} {:>10} {:>8}  {:<5} {}: {} ({}:{})",
            c.status,
            c.events.0,
            num(c.rate.0),
            c.events.1,
            num(c.rate.1),
            ratio,
            c.site.level,
            esc(&c.site.target),
            esc(&c.site.message),
            esc(&c.site.file),
            c.site.line
        );
    }
    let new_errors: Vec<&Change> = changes.iter().filter(|c| c.status == "new" && c.site.level == "ERROR").collect();
    if !new_errors.is_empty() {
        let _ = writeln!(o, "\nerror messages new in B");
        for c in new_errors {
            let _ = writeln!(o, "  {:>10}  {}: {}", c.events.1, esc(&c.site.target), esc(&c.site.message));
        }
    }
    o
}

/// The diff as a table with the columns of its CSV (`status`, `level`,
/// `target`, `message`, `file`, `line`, `a_events`, `b_events`,
/// `a_per_second`, `b_per_second`, `ratio`), signed integers as in the
/// Parquet export (docs/PARQUET.md).
///
/// # Errors
/// When polars cannot build the frame.
pub fn frame(changes: &[Change]) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
    use polars::prelude::{Column, DataFrame};
    let text = |name: &str, f: &dyn Fn(&Change) -> &str| {
        Column::new(name.into(), changes.iter().map(f).collect::<Vec<&str>>())
    };
    let int = |name: &str, f: &dyn Fn(&Change) -> u64| {
        Column::new(name.into(), changes.iter().map(|c| i64::try_from(f(c)).unwrap_or(i64::MAX)).collect::<Vec<i64>>())
    };
    let float = |name: &str, f: &dyn Fn(&Change) -> Option<f64>| {
        Column::new(name.into(), changes.iter().map(f).collect::<Vec<Option<f64>>>())
    };
    DataFrame::new(
        changes.len(),
        vec![
            text("status", &|c| c.status),
            text("level", &|c| &c.site.level),
            text("target", &|c| &c.site.target),
            text("message", &|c| &c.site.message),
            text("file", &|c| &c.site.file),
            int("line", &|c| c.site.line),
            int("a_events", &|c| c.events.0),
            int("b_events", &|c| c.events.1),
            float("a_per_second", &|c| c.rate.0),
            float("b_per_second", &|c| c.rate.1),
            float("ratio", &|c| c.ratio.filter(|_| c.status == "changed")),
        ],
    )
}

/// The diff as JSON: `{"a": …, "b": …, "changes": […], "new_errors": […]}`.
pub fn json(a: &Side, b: &Side, changes: &[Change]) -> serde_json::Value {
    use serde_json::json;
    let side = |s: &Side| json!({"events": s.events, "span_seconds": s.span_s, "events_per_second": s.rate(s.events)});
    let change = |c: &Change| {
        json!({
            "status": c.status,
            "level": c.site.level, "target": c.site.target, "message": c.site.message,
            "file": c.site.file, "line": c.site.line,
            "a_events": c.events.0, "b_events": c.events.1,
            "a_per_second": c.rate.0, "b_per_second": c.rate.1,
            "ratio": c.ratio.filter(|_| c.status == "changed"),
        })
    };
    json!({
        "a": side(a),
        "b": side(b),
        "changes": changes.iter().map(change).collect::<Vec<_>>(),
        "new_errors": changes.iter().filter(|c| c.status == "new" && c.site.level == "ERROR").map(change).collect::<Vec<_>>(),
    })
}
