//! The filter language of `--filter` and of the TUI's filter box.
//!
//! A filter is terms `KEY OP VALUE` combined with `and`, `or`, `not` and
//! parentheses (`and` binds tighter than `or`; `&&`, `||` and `!` are
//! accepted too):
//!
//! ```text
//! level>=WARN and (target=orders or msg~"^order ") and not user_id=42
//! ```
//!
//! - `OP` is one of `=` (also `==`), `!=`, `>`, `>=`, `<`, `<=`, `~` (the
//!   value is a regular expression that must match somewhere in the text)
//!   and `!~` (must not match).
//! - `KEY` is `level`, `target`, `message` (or `msg`), `thread`, `file`,
//!   `line`, `service`, `host` (or `hostname`), `pid`, or the name of a
//!   field (`user_id`, `http.status`). Levels compare by severity
//!   (`level>=warn` keeps WARN and ERROR); `thread` matches a thread's name
//!   or its numeric id.
//! - `VALUE` is a bare word (ending at white space, or at a `)` that closes a
//!   parenthesis not opened inside the value) or a quoted string (`"…"` or `'…'`,
//!   with `\"`, `\'`, `\\` escapes).
//!
//! [`Filter::parse`] checks the syntax; applying a filter to a
//! [`Dataset`](crate::Dataset) checks the keys and values against it (an
//! unknown field, a number expected). Either error is a [`FilterError`]
//! whose `column` points at the character where it went wrong.
//!
//! # From text to a test of events
//!
//! 1. `lex` splits the text into tokens: parentheses, `and`/`or`/`not`,
//!    and whole `KEY OP VALUE` terms (a bare value may hold any character
//!    but white space, so a term is one token).
//! 2. `parse` builds the syntax tree ([`Expr`] of [`Term`]s) from them.
//! 3. [`compile`](crate::compile) turns the tree into polars expressions
//!    and per-chunk verdicts against a dataset's tables.
//!
//! Steps 1 and 2 use nothing but `std` and `thiserror`, so that the fuzzer
//! (`ttlog-cli/fuzz`) builds this module without polars.

mod lex;
mod parse;

pub use parse::{Expr, Key, Op, Term};
use std::fmt;

/// A syntax or meaning error in a filter expression.
///
/// ```
/// let e = ttlog_cli::Filter::parse("level>=WARN and").unwrap_err();
/// assert_eq!(e.column, 16);
/// assert_eq!(e.to_string(), "column 16: expected a term (KEY OP VALUE), found the end of the filter");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct FilterError {
    /// 1-based character position in the filter text where the error is.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl FilterError {
    /// The filter text with a caret line under the error, for terminals.
    pub fn pointer(&self, text: &str) -> String {
        let shown = ttlog_core::text::escape(text);
        format!("  {shown}\n  {}^", " ".repeat(self.column.saturating_sub(1)))
    }
}

/// A filter: a parsed expression and its text, or several that must all
/// hold (`--filter` given more than once).
///
/// ```
/// use ttlog_cli::Filter;
/// let f = Filter::parse("level>=warn and (target=orders or path~^/api/)").unwrap();
/// assert_eq!(f.to_string(), "level>=warn and (target=orders or path~^/api/)");
/// let all = Filter::all_of(vec![f, Filter::parse("pid=42").unwrap()]);
/// assert!(!all.is_empty());
/// assert!(Filter::parse("level>=").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    parts: Vec<(String, Expr)>,
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts.as_slice() {
            [] => Ok(()),
            [(text, _)] => f.write_str(text),
            parts => {
                for (i, (text, _)) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    write!(f, "({text})")?;
                }
                Ok(())
            }
        }
    }
}

impl Filter {
    /// The filter that keeps every event.
    pub fn none() -> Filter {
        Filter::default()
    }

    /// Parses a filter expression (see the [module docs](self)). Empty or
    /// blank text is the filter that keeps everything.
    ///
    /// # Errors
    /// A [`FilterError`] whose column points at the offending character.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        if text.trim().is_empty() {
            return Ok(Filter::none());
        }
        let expr = parse::expression(text)?;
        Ok(Filter { parts: vec![(text.to_owned(), expr)] })
    }

    /// All of `filters` must hold.
    pub fn all_of(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter { parts: filters.into_iter().flat_map(|f| f.parts).collect() }
    }

    /// Whether the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The expressions that must all hold, each with its text.
    pub fn parts(&self) -> &[(String, Expr)] {
        &self.parts
    }

    /// The names of the fields its terms test, each once.
    ///
    /// ```
    /// let f = ttlog_cli::Filter::parse("level>=warn and (qty>5 or not price<2) and qty<9").unwrap();
    /// assert_eq!(f.field_names(), ["qty", "price"]);
    /// ```
    pub fn field_names(&self) -> Vec<&str> {
        fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
            match e {
                Expr::Term(Term { key: Key::Field(f), .. }) => {
                    if !out.contains(&f.as_str()) {
                        out.push(f);
                    }
                }
                Expr::Term(_) => {}
                Expr::And(a, b) | Expr::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::Not(a) => walk(a, out),
            }
        }
        let mut out = Vec::new();
        for (_, e) in &self.parts {
            walk(e, &mut out);
        }
        out
    }
}

/// What the `filter_expr` fuzz target (`ttlog-cli/fuzz`) checks of any
/// text, also run on its corpus by the tests: parsing never panics, and
/// every column it reports (of an error, of a term's key and value) lies
/// within the text or just after its end. Not part of the API.
///
/// # Panics
/// When a column is out of range: a bug the fuzzer is to find.
#[doc(hidden)]
pub fn fuzz_check(text: &str) {
    let end = text.chars().count() + 1;
    match Filter::parse(text) {
        Err(e) => assert!((1..=end).contains(&e.column), "error column {} outside 1..={end}: {e}", e.column),
        Ok(f) => {
            let mut stack: Vec<&Expr> = f.parts().iter().map(|(_, e)| e).collect();
            while let Some(e) = stack.pop() {
                match e {
                    Expr::Term(t) => {
                        assert!((1..=end).contains(&t.key_column), "key column {} outside 1..={end}", t.key_column);
                        assert!(
                            (t.key_column..=end).contains(&t.value_column),
                            "value column {} outside {}..={end}",
                            t.value_column,
                            t.key_column
                        );
                    }
                    Expr::And(a, b) | Expr::Or(a, b) => stack.extend([&**a, &**b]),
                    Expr::Not(a) => stack.push(a),
                }
            }
            if text.trim().is_empty() {
                assert!(f.is_empty(), "blank text keeps everything");
            } else {
                assert_eq!(f.to_string(), text, "a parsed filter shows its own text");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(f: &Filter) -> &Term {
        match &f.parts()[0].1 {
            Expr::Term(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn terms() {
        let f = Filter::parse("latency_us>100").unwrap();
        let t = term(&f);
        assert_eq!((t.key.clone(), t.op, t.value.as_str()), (Key::Field("latency_us".into()), Op::Gt, "100"));
        let f = Filter::parse("path~^/api/(v1|v2)").unwrap();
        assert_eq!(term(&f).value, "^/api/(v1|v2)");
        let f = Filter::parse("msg = \"order \\\"filled\\\"\"").unwrap();
        assert_eq!((term(&f).key.clone(), term(&f).value.as_str()), (Key::Message, "order \"filled\""));
        let f = Filter::parse("level >= WARN").unwrap();
        assert_eq!(term(&f).value_column, 10);
        let f = Filter::parse("x!~a").unwrap();
        assert_eq!(term(&f).op, Op::NotMatch);
        let f = Filter::parse("http.status==200").unwrap();
        assert_eq!(term(&f).key, Key::Field("http.status".into()));
    }

    #[test]
    fn combinations() {
        let f = Filter::parse("a=1 or b=2 and not (c=3 || !d=4)").unwrap();
        match &f.parts()[0].1 {
            Expr::Or(l, r) => {
                assert!(matches!(**l, Expr::Term(_)));
                match &**r {
                    Expr::And(_, n) => assert!(matches!(**n, Expr::Not(_))),
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
        let f = Filter::parse("(level>=warn)").unwrap();
        assert!(matches!(f.parts()[0].1, Expr::Term(_)));
        let f = Filter::parse("(path~^/a/(b) and x=1)").unwrap();
        assert!(matches!(f.parts()[0].1, Expr::And(..)));
        assert!(Filter::parse("  ").unwrap().is_empty());
    }

    #[test]
    fn errors_point_at_the_column() {
        let cases = [
            ("level>=", 8, "expected a value"),
            ("level", 6, "expected an operator"),
            ("level>=WARN and", 16, "expected a term"),
            ("(a=1", 1, "never closed"),
            ("a=1)", 4, "unmatched ')'"),
            ("a=1 b=2", 5, "expected 'and'"),
            ("a='x", 3, "unterminated"),
            ("a=1 & b=2", 5, "unexpected '&'"),
            ("and and", 1, "expected a term"),
            ("a=1 or ?", 8, "unexpected character"),
        ];
        for (text, column, msg) in cases {
            let e = Filter::parse(text).unwrap_err();
            assert_eq!(e.column, column, "{text}: {e}");
            assert!(e.message.contains(msg), "{text}: {e}");
        }
    }
}
