//! The filter language compiled against the [`Tables`]: to a polars
//! expression over a frame of codes and field columns (`Compiler`), and to
//! a three-valued test of (call site, thread) pairs ([`PairFilter`]) that
//! lets the streaming engine skip, count or decode a chunk from its
//! statistics.

use crate::dataset::cols;
use crate::filter::{self, FilterError, Key, Op};
use crate::tables::{Site, SourceInfo, Tables, ThreadRef};
use polars::prelude::*;
use ttlog_core::Level;

/// Turns filter expressions into polars expressions over a frame of
/// `cs` and `th` codes (a view's, or a batch's of the streaming engine),
/// with the field columns it names taken from `field` and pushed to
/// [`Compiler::extra`] (to be stacked beside the frame).
pub(crate) struct Compiler<'a> {
    pub(crate) tables: &'a Tables,
    /// The column of a field for the frame's rows, in its order.
    pub(crate) field: &'a dyn Fn(&str) -> Option<Series>,
    /// Field columns the expressions refer to, in the frame's order.
    pub(crate) extra: Vec<Column>,
}

fn value_error(t: &filter::Term, message: String) -> FilterError {
    FilterError { column: t.value_column, message }
}

fn compare(c: Expr, op: Op, v: Expr) -> Expr {
    match op {
        Op::Eq => c.eq(v),
        Op::Ne => c.neq(v),
        Op::Gt => c.gt(v),
        Op::Ge => c.gt_eq(v),
        Op::Lt => c.lt(v),
        Op::Le => c.lt_eq(v),
        Op::Match | Op::NotMatch => unreachable!("regex terms are resolved to sets"),
    }
}

/// `column IN codes`, simplified when the set is empty or complete.
fn in_set(column: &str, codes: Vec<u32>, all: usize) -> Expr {
    if codes.is_empty() {
        lit(false)
    } else if codes.len() == all {
        lit(true)
    } else {
        col(column).is_in(lit(Series::new("codes".into(), codes)).implode(false), false)
    }
}

impl Compiler<'_> {
    /// The polars expression of `e`.
    ///
    /// # Errors
    /// A key or value that does not fit the data.
    pub(crate) fn expr(&mut self, e: &filter::Expr) -> Result<Expr, FilterError> {
        Ok(match e {
            filter::Expr::And(a, b) => self.expr(a)?.and(self.expr(b)?),
            filter::Expr::Or(a, b) => self.expr(a)?.or(self.expr(b)?),
            filter::Expr::Not(a) => self.expr(a)?.not(),
            filter::Expr::Term(t) => self.term(t)?,
        })
    }
}

fn regex(t: &filter::Term) -> Result<regex::Regex, FilterError> {
    regex::RegexBuilder::new(&t.value)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| value_error(t, format!("bad regular expression: {e}")))
}

/// Matches a text against the term: compares, or searches the regex.
fn text_matcher(t: &filter::Term) -> Result<impl Fn(&str) -> bool, FilterError> {
    let re = match t.op {
        Op::Match | Op::NotMatch => Some(regex(t)?),
        _ => None,
    };
    let (op, value) = (t.op, t.value.clone());
    Ok(move |s: &str| match (&re, op) {
        (Some(re), Op::Match) => re.is_match(s),
        (Some(re), _) => !re.is_match(s),
        _ => op.holds(s.cmp(value.as_str())),
    })
}

/// Matches a number against the term (`~` searches its decimal text).
fn number_matcher(t: &filter::Term) -> Result<impl Fn(u64) -> bool, FilterError> {
    let re = match t.op {
        Op::Match | Op::NotMatch => Some(regex(t)?),
        _ => None,
    };
    let v: Option<u64> = if re.is_none() {
        Some(t.value.parse().map_err(|_| {
            value_error(t, format!("'{}' compares numbers; '{}' is not a whole number", t.key.name(), t.value))
        })?)
    } else {
        None
    };
    let op = t.op;
    Ok(move |x: u64| match (&re, v) {
        (Some(re), _) => re.is_match(&x.to_string()) == (op == Op::Match),
        (None, Some(v)) => op.holds(x.cmp(&v)),
        _ => false,
    })
}

impl Compiler<'_> {
    fn term(&mut self, t: &filter::Term) -> Result<Expr, FilterError> {
        Ok(match term_codes(self.tables, t)? {
            TermCodes::Sites(m) => in_set(cols::CS, codes_of(&m), m.len()),
            TermCodes::Threads(m) => in_set(cols::TH, codes_of(&m), m.len()),
            TermCodes::Field(name) => self.field_term(t, &name)?,
        })
    }
}

fn codes_of(matches: &[bool]) -> Vec<u32> {
    matches.iter().enumerate().filter(|(_, m)| **m).map(|(i, _)| i as u32).collect()
}

/// What a term tests, resolved against the tables.
pub(crate) enum TermCodes {
    /// A call-site property: whether each call-site code matches.
    Sites(Vec<bool>),
    /// The thread: whether each thread code matches.
    Threads(Vec<bool>),
    /// A field, tested row by row.
    Field(String),
}

/// Resolves a term against the tables: the call sites or threads it keeps,
/// or the field it tests.
///
/// # Errors
/// A value that does not fit its key (a bad level, a bad regular
/// expression, text where a number is needed).
pub(crate) fn term_codes(tables: &Tables, t: &filter::Term) -> Result<TermCodes, FilterError> {
    let sites_where = |keep: &dyn Fn(&Site, &SourceInfo) -> bool| {
        TermCodes::Sites(tables.sites.iter().map(|s| keep(s, &tables.sources[s.source as usize])).collect())
    };
    Ok(match &t.key {
        Key::Level => {
            let m: Box<dyn Fn(Level) -> bool> = match t.op {
                Op::Match | Op::NotMatch => {
                    let m = text_matcher(t)?;
                    Box::new(move |l: Level| m(l.as_str()))
                }
                op => {
                    let v: Level = t.value.parse().map_err(|e| value_error(t, format!("{e}")))?;
                    Box::new(move |l: Level| op.holds(l.cmp(&v)))
                }
            };
            sites_where(&|s, _| m(s.info.level))
        }
        Key::Target => {
            let m = text_matcher(t)?;
            sites_where(&|s, _| m(&s.info.target))
        }
        Key::Message => {
            let m = text_matcher(t)?;
            sites_where(&|s, _| m(&s.info.message))
        }
        Key::File => {
            let m = text_matcher(t)?;
            sites_where(&|s, _| m(&s.info.file))
        }
        Key::Service => {
            let m = text_matcher(t)?;
            sites_where(&|_, src| m(&src.service))
        }
        Key::Host => {
            let m = text_matcher(t)?;
            sites_where(&|_, src| m(&src.hostname))
        }
        Key::Line => {
            let m = number_matcher(t)?;
            sites_where(&|s, _| m(u64::from(s.info.line)))
        }
        Key::Pid => {
            let m = number_matcher(t)?;
            sites_where(&|_, src| m(u64::from(src.pid)))
        }
        Key::Thread => {
            // A thread is named by its name or its numeric id (`7` or `#7`).
            let num = t.value.strip_prefix('#').unwrap_or(&t.value).parse::<u64>().ok();
            let text = text_matcher(t)?;
            let op = t.op;
            let keep = |th: &ThreadRef| match op {
                Op::Eq | Op::Ne => {
                    let same = th.name.as_deref() == Some(t.value.as_str()) || num == Some(th.id);
                    same == (op == Op::Eq)
                }
                Op::Match | Op::NotMatch => text(&th.label()),
                _ => match num {
                    Some(v) => op.holds(th.id.cmp(&v)),
                    None => text(&th.label()),
                },
            };
            TermCodes::Threads(tables.threads.iter().map(keep).collect())
        }
        Key::Field(name) => TermCodes::Field(name.clone()),
    })
}

impl Compiler<'_> {
    fn field_term(&mut self, t: &filter::Term, name: &str) -> Result<Expr, FilterError> {
        let Some(info) = self.tables.fields.get(name) else {
            return Err(FilterError {
                column: t.key_column,
                message: format!(
                    "no event has a field '{name}' (keys: level, target, message, thread, file, line, service, host, pid, or a field name)"
                ),
            });
        };
        let dtype = info.dtype.clone();
        let column = (self.field)(name).expect("known field");
        let alias = format!("__f{}", self.extra.len());
        let c = col(alias.as_str());
        let expr = match t.op {
            Op::Match | Op::NotMatch => {
                let re = regex(t)?;
                let text = column.cast(&DataType::String).map_err(|e| value_error(t, e.to_string()))?;
                let uniq = text.unique().map_err(|e| value_error(t, e.to_string()))?;
                let uniq = uniq.str().map_err(|e| value_error(t, e.to_string()))?;
                let keep: Vec<&str> = uniq.iter().flatten().filter(|s| re.is_match(s) == (t.op == Op::Match)).collect();
                let keep = Series::new("values".into(), keep);
                let text = text.with_name(alias.as_str().into());
                self.extra.push(text.into_column());
                return Ok(c.is_in(lit(keep).implode(false), false).fill_null(lit(false)));
            }
            op => match dtype {
                DataType::Boolean => {
                    let v = match t.value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(value_error(t, format!("field '{name}' is true or false, not '{}'", t.value))),
                    };
                    if !matches!(op, Op::Eq | Op::Ne) {
                        return Err(value_error(t, format!("field '{name}' is boolean: use = or !=")));
                    }
                    compare(c, op, lit(v))
                }
                DataType::String => compare(c, op, lit(t.value.clone())),
                _ => {
                    let not_num =
                        || value_error(t, format!("field '{name}' holds numbers; '{}' is not a number", t.value));
                    match (&dtype, t.value.parse::<u64>(), t.value.parse::<i64>()) {
                        (DataType::UInt64, Ok(v), _) => compare(c, op, lit(v)),
                        (DataType::Int64, _, Ok(v)) => compare(c, op, lit(v)),
                        _ => {
                            let v: f64 = t.value.parse().map_err(|_| not_num())?;
                            if v.is_nan() {
                                return Err(not_num());
                            }
                            compare(c.cast(DataType::Float64), op, lit(v))
                        }
                    }
                }
            },
        };
        self.extra.push(column.with_name(alias.as_str().into()).into_column());
        Ok(expr.fill_null(lit(false)))
    }
}

/// A three-valued truth: what a filter says of every event of one (call
/// site, thread) pair, when that is known without the event's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    /// Every event of the pair matches.
    True,
    /// No event of the pair matches.
    False,
    /// It depends on the events' field values.
    Unknown,
}

impl Tri {
    fn and(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::True, Tri::True) => Tri::True,
            _ => Tri::Unknown,
        }
    }

    fn or(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::True, _) | (_, Tri::True) => Tri::True,
            (Tri::False, Tri::False) => Tri::False,
            _ => Tri::Unknown,
        }
    }

    fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

/// A filter resolved to call-site and thread codes: for any (call-site
/// code, thread code) pair, whether all, none or some of its events match
/// ([`Tri`]). A term on a field is false for the events of call sites that
/// lack the field (as row by row), unknown otherwise.
///
/// ```
/// use ttlog_cli::catalog::{Catalog, OpenOptions};
/// use ttlog_cli::compile::{PairFilter, Tri};
/// use ttlog_cli::{Filter, Input, tables::Tables};
/// let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
/// let tables = Tables::of(&Catalog::open(&[Input::File(p)], OpenOptions::default(), &|_| ()).unwrap());
/// let orders = tables.sites.iter().position(|s| &*s.info.target == "orders").unwrap() as u32;
/// let risk = tables.sites.iter().position(|s| &*s.info.target == "risk").unwrap() as u32;
/// let f = PairFilter::new(&tables, &Filter::parse("target=orders and qty>1000").unwrap()).unwrap();
/// assert_eq!(f.test(orders, 0), Tri::Unknown);
/// assert_eq!(f.test(risk, 0), Tri::False);
/// let f = PairFilter::new(&tables, &Filter::parse("not qty>1000").unwrap()).unwrap();
/// assert_eq!(f.test(risk, 0), Tri::True, "no qty field: the term is false, its negation true");
///
/// // What is left for a pair whose verdict depends on field values.
/// use ttlog_cli::compile::Residual;
/// let f = PairFilter::new(&tables, &Filter::parse("target=orders and qty>1000 or target=risk").unwrap()).unwrap();
/// assert_eq!(f.residual(orders, 0), Residual::Term(0));
/// assert_eq!(f.residual(risk, 0), Residual::Const(true));
/// let f = PairFilter::new(&tables, &Filter::parse("not (qty>1000 and qty<1500)").unwrap()).unwrap();
/// let r = f.residual(orders, 0);
/// assert!(r.eval(&|i| i == 0) && !r.eval(&|_| true) && r.eval(&|_| false));
/// ```
#[derive(Debug, Clone)]
pub struct PairFilter {
    parts: Vec<Node>,
    /// The field terms, in the order of [`Node::Field`]'s indices.
    field_terms: Vec<filter::Term>,
}

/// The part of a filter that depends on field values, for one (call site,
/// thread) pair ([`PairFilter::residual`]): a formula over the field terms
/// (indices into [`PairFilter::field_terms`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Residual {
    /// Decided without field values.
    Const(bool),
    /// The value of field term `i`.
    Term(usize),
    /// Both hold.
    And(Box<Residual>, Box<Residual>),
    /// The inner formula does not hold.
    Not(Box<Residual>),
}

impl Residual {
    fn and(a: Residual, b: Residual) -> Residual {
        match (a, b) {
            (Residual::Const(false), _) | (_, Residual::Const(false)) => Residual::Const(false),
            (Residual::Const(true), x) | (x, Residual::Const(true)) => x,
            (a, b) => Residual::And(Box::new(a), Box::new(b)),
        }
    }

    fn not(a: Residual) -> Residual {
        match a {
            Residual::Const(b) => Residual::Const(!b),
            Residual::Not(x) => *x,
            x => Residual::Not(Box::new(x)),
        }
    }

    /// The formula's value, given each field term's value for the row.
    #[inline]
    pub fn eval(&self, term: &impl Fn(usize) -> bool) -> bool {
        match self {
            Residual::Const(b) => *b,
            Residual::Term(i) => term(*i),
            Residual::And(a, b) => a.eval(term) && b.eval(term),
            Residual::Not(a) => !a.eval(term),
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Sites(Vec<bool>),
    Threads(Vec<bool>),
    /// A field term (index into the field terms): whether each call site
    /// has the field.
    Field(Vec<bool>, usize),
}

impl PairFilter {
    /// Resolves `filter` against `tables`.
    ///
    /// # Errors
    /// As applying the filter: an unknown field, a value that does not fit.
    pub fn new(tables: &Tables, filter: &filter::Filter) -> Result<PairFilter, FilterError> {
        fn node(tables: &Tables, e: &filter::Expr, terms: &mut Vec<filter::Term>) -> Result<Node, FilterError> {
            Ok(match e {
                filter::Expr::And(a, b) => {
                    Node::And(Box::new(node(tables, a, terms)?), Box::new(node(tables, b, terms)?))
                }
                filter::Expr::Or(a, b) => {
                    Node::Or(Box::new(node(tables, a, terms)?), Box::new(node(tables, b, terms)?))
                }
                filter::Expr::Not(a) => Node::Not(Box::new(node(tables, a, terms)?)),
                filter::Expr::Term(t) => match term_codes(tables, t)? {
                    TermCodes::Sites(m) => Node::Sites(m),
                    TermCodes::Threads(m) => Node::Threads(m),
                    TermCodes::Field(name) => {
                        let Some(info) = tables.fields.get(name.as_str()) else {
                            return Err(FilterError {
                                column: t.key_column,
                                message: format!(
                                    "no event has a field '{name}' (keys: level, target, message, thread, file, line, service, host, pid, or a field name)"
                                ),
                            });
                        };
                        let mut has = vec![false; tables.sites.len()];
                        for &(code, _) in &info.sites {
                            has[code as usize] = true;
                        }
                        terms.push(t.clone());
                        Node::Field(has, terms.len() - 1)
                    }
                },
            })
        }
        let mut field_terms = Vec::new();
        let parts = filter.parts().iter().map(|(_, e)| node(tables, e, &mut field_terms)).collect::<Result<_, _>>()?;
        // Compiled once on empty columns: the value errors of field terms
        // (text where a number is needed, a bad regular expression) are
        // found now, not chunk by chunk.
        let empty = |name: &str| tables.fields.get(name).map(|f| Series::new_empty(name.into(), &f.dtype));
        let mut c = Compiler { tables, field: &empty, extra: Vec::new() };
        for (_, e) in filter.parts() {
            let _ = c.expr(e)?;
        }
        Ok(PairFilter { parts, field_terms })
    }

    /// What the filter says of the events of call-site code `cs` on thread
    /// code `th`.
    pub fn test(&self, cs: u32, th: u32) -> Tri {
        fn eval(n: &Node, cs: usize, th: usize) -> Tri {
            match n {
                Node::And(a, b) => match eval(a, cs, th) {
                    Tri::False => Tri::False,
                    x => x.and(eval(b, cs, th)),
                },
                Node::Or(a, b) => match eval(a, cs, th) {
                    Tri::True => Tri::True,
                    x => x.or(eval(b, cs, th)),
                },
                Node::Not(a) => eval(a, cs, th).not(),
                Node::Sites(m) => {
                    if m[cs] {
                        Tri::True
                    } else {
                        Tri::False
                    }
                }
                Node::Threads(m) => {
                    if m[th] {
                        Tri::True
                    } else {
                        Tri::False
                    }
                }
                Node::Field(has, _) => {
                    if has[cs] {
                        Tri::Unknown
                    } else {
                        Tri::False
                    }
                }
            }
        }
        self.parts
            .iter()
            .fold(Tri::True, |acc, n| if acc == Tri::False { acc } else { acc.and(eval(n, cs as usize, th as usize)) })
    }

    /// Whether the filter has no term at all (every event matches).
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The terms on fields, which only an event's values decide: the
    /// indices of [`Residual::Term`] in [`PairFilter::residual`] refer to them.
    pub fn field_terms(&self) -> &[filter::Term] {
        &self.field_terms
    }

    /// What is left of the filter for events of call-site code `cs` on
    /// thread code `th`: a formula over the field terms (the call site's
    /// and the thread's parts decided, a term of a field the call site
    /// lacks false). Worked out once per pair, it is then evaluated on
    /// each of the pair's rows without walking the whole filter.
    pub fn residual(&self, cs: u32, th: u32) -> Residual {
        fn of(n: &Node, cs: usize, th: usize) -> Residual {
            match n {
                Node::And(a, b) => Residual::and(of(a, cs, th), of(b, cs, th)),
                Node::Or(a, b) => {
                    Residual::not(Residual::and(Residual::not(of(a, cs, th)), Residual::not(of(b, cs, th))))
                }
                Node::Not(a) => Residual::not(of(a, cs, th)),
                Node::Sites(m) => Residual::Const(m[cs]),
                Node::Threads(m) => Residual::Const(m[th]),
                Node::Field(has, i) => {
                    if has[cs] {
                        Residual::Term(*i)
                    } else {
                        Residual::Const(false)
                    }
                }
            }
        }
        self.parts.iter().fold(Residual::Const(true), |acc, n| Residual::and(acc, of(n, cs as usize, th as usize)))
    }
}
