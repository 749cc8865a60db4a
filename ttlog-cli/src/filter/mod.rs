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
        let shown = crate::text::escape(text);
        format!("  {shown}\n  {}^", " ".repeat(self.column.saturating_sub(1)))
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=` or `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `~`: regular expression match.
    Match,
    /// `!~`: no regular expression match.
    NotMatch,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Match => "~",
            Op::NotMatch => "!~",
        }
    }

    /// Whether `ordering` (of the event's value against the filter's)
    /// satisfies this comparison operator (`false` for `~` and `!~`).
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Op::Eq => ordering == Equal,
            Op::Ne => ordering != Equal,
            Op::Gt => ordering == Greater,
            Op::Ge => ordering != Less,
            Op::Lt => ordering == Less,
            Op::Le => ordering != Greater,
            Op::Match | Op::NotMatch => false,
        }
    }
}

/// What a term compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `level`.
    Level,
    /// `target`.
    Target,
    /// `message` / `msg`.
    Message,
    /// `thread`: name or id.
    Thread,
    /// `file`.
    File,
    /// `line`.
    Line,
    /// `service`.
    Service,
    /// `host` / `hostname`.
    Host,
    /// `pid`.
    Pid,
    /// A field of the events.
    Field(String),
}

impl Key {
    /// The key for a name as written in a filter or `--group-by`.
    pub fn from_name(name: &str) -> Key {
        match name {
            "level" => Key::Level,
            "target" => Key::Target,
            "message" | "msg" => Key::Message,
            "thread" => Key::Thread,
            "file" => Key::File,
            "line" => Key::Line,
            "service" => Key::Service,
            "host" | "hostname" => Key::Host,
            "pid" => Key::Pid,
            other => Key::Field(other.to_owned()),
        }
    }

    /// The key's name (the canonical one for aliases).
    pub fn name(&self) -> &str {
        match self {
            Key::Level => "level",
            Key::Target => "target",
            Key::Message => "message",
            Key::Thread => "thread",
            Key::File => "file",
            Key::Line => "line",
            Key::Service => "service",
            Key::Host => "hostname",
            Key::Pid => "pid",
            Key::Field(f) => f,
        }
    }
}

/// One `KEY OP VALUE` comparison, with where its parts are in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// What is compared.
    pub key: Key,
    /// How.
    pub op: Op,
    /// With what (unquoted).
    pub value: String,
    /// 1-based column of the key.
    pub key_column: usize,
    /// 1-based column of the value.
    pub value_column: usize,
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A comparison.
    Term(Term),
    /// Both hold.
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// Does not hold.
    Not(Box<Expr>),
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
        let toks = lex(text)?;
        let mut p = Parser { toks: &toks, pos: 0, end_column: text.chars().count() + 1 };
        let expr = p.or()?;
        if let Some(t) = p.peek() {
            return Err(FilterError {
                column: t.column,
                message: match t.kind {
                    Tok::RParen => "unmatched ')'".into(),
                    _ => format!("expected 'and', 'or' or the end of the filter, found {}", t.describe()),
                },
            });
        }
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

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    /// A whole `KEY OP VALUE`.
    Term(Term),
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    column: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.kind {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::And => "'and'".into(),
            Tok::Or => "'or'".into(),
            Tok::Not => "'not'".into(),
            Tok::Term(t) => format!("the term '{}{}…'", t.key.name(), t.op.as_str()),
        }
    }
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '/' | '@')
}

/// Splits the text into tokens; a term is lexed whole, since a bare value
/// may contain anything but white space.
fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let cs: Vec<char> = text.chars().collect();
    let err = |i: usize, m: String| FilterError { column: i + 1, message: m };
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        match c {
            '(' => {
                out.push(Token { kind: Tok::LParen, column: i + 1 });
                i += 1;
                continue;
            }
            ')' => {
                out.push(Token { kind: Tok::RParen, column: i + 1 });
                i += 1;
                continue;
            }
            '!' if cs.get(i + 1) != Some(&'=') && cs.get(i + 1) != Some(&'~') => {
                out.push(Token { kind: Tok::Not, column: i + 1 });
                i += 1;
                continue;
            }
            '&' | '|' => {
                if cs.get(i + 1) == Some(&c) {
                    out.push(Token { kind: if c == '&' { Tok::And } else { Tok::Or }, column: i + 1 });
                    i += 2;
                    continue;
                }
                return Err(err(i, format!("unexpected '{c}' (write '{c}{c}', or quote the value)")));
            }
            _ => {}
        }
        if !is_key_char(c) {
            if c == '"' || c == '\'' {
                return Err(err(i, "expected a key before the quoted value (KEY OP VALUE)".into()));
            }
            return Err(err(i, format!("unexpected character '{}'", c.escape_debug())));
        }
        while i < cs.len() && is_key_char(cs[i]) {
            i += 1;
        }
        let word: String = cs[start..i].iter().collect();
        let lower = word.to_ascii_lowercase();
        // A keyword stands alone; `and=1` would be a term on a field "and".
        let next_non_ws = cs[i..].iter().find(|c| !c.is_whitespace());
        let is_op_next = matches!(next_non_ws, Some('=' | '!' | '>' | '<' | '~'))
            && !(next_non_ws == Some(&'!') && {
                let j = i + cs[i..].iter().position(|c| !c.is_whitespace()).unwrap_or(0);
                !matches!(cs.get(j + 1), Some('=' | '~'))
            });
        if !is_op_next {
            match lower.as_str() {
                "and" => {
                    out.push(Token { kind: Tok::And, column: start + 1 });
                    continue;
                }
                "or" => {
                    out.push(Token { kind: Tok::Or, column: start + 1 });
                    continue;
                }
                "not" => {
                    out.push(Token { kind: Tok::Not, column: start + 1 });
                    continue;
                }
                _ => {}
            }
        }
        while i < cs.len() && cs[i].is_whitespace() {
            i += 1;
        }
        let op_col = i;
        let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
        let op = match two.as_str() {
            "==" => Some((Op::Eq, 2)),
            "!=" => Some((Op::Ne, 2)),
            ">=" => Some((Op::Ge, 2)),
            "<=" => Some((Op::Le, 2)),
            "!~" => Some((Op::NotMatch, 2)),
            _ => match cs.get(i) {
                Some('=') => Some((Op::Eq, 1)),
                Some('>') => Some((Op::Gt, 1)),
                Some('<') => Some((Op::Lt, 1)),
                Some('~') => Some((Op::Match, 1)),
                _ => None,
            },
        };
        let Some((op, len)) = op else {
            let found = match cs.get(i) {
                None => "the end of the filter".to_owned(),
                Some(c) => format!("'{}'", c.escape_debug()),
            };
            return Err(err(
                op_col,
                format!("expected an operator (= != > >= < <= ~ !~) after '{word}', found {found}"),
            ));
        };
        i += len;
        while i < cs.len() && cs[i].is_whitespace() {
            i += 1;
        }
        let value_col = i;
        let value = match cs.get(i) {
            None => return Err(err(i, format!("expected a value after '{word}{}'", op.as_str()))),
            Some(&q @ ('"' | '\'')) => {
                i += 1;
                let mut v = String::new();
                loop {
                    match cs.get(i) {
                        None => return Err(err(value_col, "unterminated quoted value".into())),
                        Some('\\') if matches!(cs.get(i + 1), Some('"' | '\'' | '\\')) => {
                            v.push(cs[i + 1]);
                            i += 2;
                        }
                        Some(&c) if c == q => {
                            i += 1;
                            break;
                        }
                        Some(&c) => {
                            v.push(c);
                            i += 1;
                        }
                    }
                }
                v
            }
            Some(_) => {
                // A bare value: up to white space, or a ')' that closes
                // nothing opened inside the value.
                let mut inner = 0usize;
                let vstart = i;
                while i < cs.len() && !cs[i].is_whitespace() {
                    match cs[i] {
                        '(' => inner += 1,
                        ')' if inner > 0 => inner -= 1,
                        ')' => break,
                        _ => {}
                    }
                    i += 1;
                }
                if i == vstart {
                    return Err(err(i, format!("expected a value after '{word}{}'", op.as_str())));
                }
                cs[vstart..i].iter().collect()
            }
        };
        out.push(Token {
            kind: Tok::Term(Term {
                key: Key::from_name(&word),
                op,
                value,
                key_column: start + 1,
                value_column: value_col + 1,
            }),
            column: start + 1,
        });
    }
    Ok(out)
}

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    end_column: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while matches!(self.peek().map(|t| &t.kind), Some(Tok::Or)) {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        while matches!(self.peek().map(|t| &t.kind), Some(Tok::And)) {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        let Some(t) = self.peek().cloned() else {
            return Err(FilterError {
                column: self.end_column,
                message: "expected a term (KEY OP VALUE), found the end of the filter".into(),
            });
        };
        self.pos += 1;
        match t.kind {
            Tok::Not => Ok(Expr::Not(Box::new(self.unary()?))),
            Tok::LParen => {
                let e = self.or()?;
                match self.peek() {
                    Some(Token { kind: Tok::RParen, .. }) => {
                        self.pos += 1;
                        Ok(e)
                    }
                    Some(other) => Err(FilterError {
                        column: other.column,
                        message: format!("expected ')' or 'and'/'or', found {}", other.describe()),
                    }),
                    None => Err(FilterError { column: t.column, message: "this '(' is never closed".into() }),
                }
            }
            Tok::Term(term) => Ok(Expr::Term(term)),
            _ => Err(FilterError {
                column: t.column,
                message: format!("expected a term (KEY OP VALUE), found {}", t.describe()),
            }),
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
