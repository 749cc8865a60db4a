//! Which rows of a decoded chunk count: the copies to keep, the time
//! bounds, and the filter.

use crate::catalog::{Catalog, ChunkKeep};
use crate::compile::{Compiler, PairFilter, Residual, Tri};
use crate::tables::Tables;
use polars::prelude::*;
use std::collections::HashMap;
use ttlog_core::snapshot::ChunkColumns;

/// Selects the rows of decoded chunks: the copies to keep, the time
/// bounds, the filter (by (call site, thread) verdict, then, where that
/// depends on field values, evaluated by polars on the chunk's rows).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Selector<'a> {
    pub(crate) catalog: &'a Catalog,
    pub(crate) tables: &'a Tables,
    pub(crate) pairs: &'a PairFilter,
    pub(crate) since: Option<i64>,
    pub(crate) until: Option<i64>,
}

impl Selector<'_> {
    /// Whether each row of a decoded chunk counts: owned (not a copy), in
    /// the time bounds, and matching the filter; and how many rows were
    /// copies.
    pub(crate) fn mask(
        &self,
        s: usize,
        c: usize,
        cols: &ChunkColumns,
        row_filter: bool,
    ) -> PolarsResult<(Vec<bool>, u64)> {
        let n = cols.len();
        let keep = &self.catalog.keep[s][c];
        let mut mask = vec![true; n];
        let mut copies = 0;
        if let ChunkKeep::Some(_) = keep {
            for (r, m) in mask.iter_mut().enumerate() {
                if !keep.keeps(cols.threads[r], cols.seqs[r]) {
                    *m = false;
                    copies += 1;
                }
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let (lo, hi) = (self.since.unwrap_or(i64::MIN), self.until.unwrap_or(i64::MAX));
            for (m, &t) in mask.iter_mut().zip(&cols.timestamps) {
                *m &= lo <= t && t <= hi;
            }
        }
        // The filter's verdict per local (call site, thread) pair of the
        // chunk, from its statistics; rows of pairs whose verdict depends
        // on field values are tested one by one.
        if !self.pairs.is_empty() {
            let width = self.tables.sources_threads(s).max(1) as usize;
            let st = self.catalog.stats[s][c].as_ref().expect("a planned chunk has statistics");
            // Per pair: 0 no row matches, 1 every row, 2 + k the rows for
            // which residual k holds.
            let mut residuals: Vec<Residual> = Vec::new();
            let mut verdict = |sc: &ttlog_core::snapshot::SiteCount| {
                let (cs, th) = (self.tables.site_code(s, sc.callsite), self.tables.thread_code(s, sc.thread));
                match self.pairs.test(cs, th) {
                    Tri::False => 0u32,
                    Tri::True => 1,
                    Tri::Unknown => match self.pairs.residual(cs, th) {
                        Residual::Const(b) => u32::from(b),
                        r => {
                            residuals.push(r);
                            residuals.len() as u32 + 1
                        }
                    },
                }
            };
            let n_sites = self.tables.sources_sites(s) as usize;
            let dense = (n_sites + 1) * width <= 1 << 20;
            let mut table = vec![0u32; if dense { (n_sites + 1) * width } else { 0 }];
            let mut sparse: HashMap<(u32, u32), u32> = HashMap::new();
            for sc in &st.counts {
                if dense {
                    table[sc.callsite as usize * width + sc.thread as usize] = verdict(sc);
                } else {
                    sparse.insert((sc.callsite, sc.thread), verdict(sc));
                }
            }
            let pair = |site: u32, th: u32| {
                if dense {
                    table[site as usize * width + th as usize]
                } else {
                    sparse.get(&(site, th)).copied().unwrap_or(0)
                }
            };
            let terms = if row_filter && !residuals.is_empty() { self.field_terms(s, cols)? } else { Vec::new() };
            for (r, m) in mask.iter_mut().enumerate() {
                if !*m {
                    continue;
                }
                *m = match pair(cols.callsites[r], cols.threads[r]) {
                    0 => false,
                    1 => true,
                    k => match &residuals[k as usize - 2] {
                        // The common case (one field term left): one load.
                        Residual::Term(i) => terms.get(*i).is_some_and(|t| t[r]),
                        res => !terms.is_empty() && res.eval(&|i| terms[i][r]),
                    },
                };
            }
        }
        Ok((mask, copies))
    }

    /// The field terms of the filter evaluated by polars on the chunk's
    /// field columns: one bitmap per term ([`PairFilter::field_terms`]),
    /// false where a row lacks the field.
    fn field_terms(&self, s: usize, cols: &ChunkColumns) -> PolarsResult<Vec<Vec<bool>>> {
        let n = cols.len();
        let tables = self.tables;
        let field = |name: &str| tables.fields.get(name).map(|info| tables.field_series(info, s, cols));
        let mut c = Compiler { tables, field: &field, extra: Vec::new() };
        let mut exprs = Vec::new();
        for (i, t) in self.pairs.field_terms().iter().enumerate() {
            let e = c
                .expr(&crate::filter::Expr::Term(t.clone()))
                .map_err(|e| PolarsError::ComputeError(e.message.into()))?;
            exprs.push(e.alias(format!("t{i}")));
        }
        if exprs.is_empty() {
            return Ok(Vec::new());
        }
        let df = DataFrame::new(n, std::mem::take(&mut c.extra))?;
        let out = df.lazy().select(exprs).collect()?;
        out.columns()
            .iter()
            .map(|col| {
                let m = col.as_materialized_series().bool()?.rechunk();
                if m.len() != n {
                    // A literal gives one value.
                    return Ok(vec![m.get(0).unwrap_or(false); n]);
                }
                let arr = m.downcast_iter().next().expect("one chunk");
                // Nulls (no such field) count as false.
                Ok(match arr.validity() {
                    Some(valid) => arr.values().iter().zip(valid.iter()).map(|(v, ok)| v && ok).collect(),
                    None => arr.values().iter().collect(),
                })
            })
            .collect()
    }
}
