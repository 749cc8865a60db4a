//! The filter's syntax tree ([`Expr`] of [`Term`]s) and the parser that
//! builds it from the tokens of [`lex`](super::lex): `or` of `and`s of
//! (possibly negated) terms or parenthesised expressions.

use super::FilterError;
use super::lex::{Tok, Token, lex};

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

/// Parses `text` (not blank) into its expression.
pub(super) fn expression(text: &str) -> Result<Expr, FilterError> {
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
    Ok(expr)
}

/// A recursive-descent parser over the tokens, one function per level of
/// binding: `or`, `and`, then `not`, parentheses and terms.
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
