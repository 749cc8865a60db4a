//! The lexer: filter text to tokens.
//!
//! A token is a parenthesis, a word or symbol that combines terms (`and`,
//! `&&`, `or`, `||`, `not`, `!`), or a whole `KEY OP VALUE` term: a bare
//! value may hold any character but white space, so only the lexer knows
//! where a term ends. Each kind of token is read by a small function of
//! [`Lexer`]; the operators, symbols and keywords are tables. Columns count
//! characters from 1.

use super::FilterError;
use super::parse::{Key, Op, Term};

/// The comparison operators, longest first (`>=` is not `>` then `=`).
const OPERATORS: [(&str, Op); 9] = [
    ("==", Op::Eq),
    ("!=", Op::Ne),
    (">=", Op::Ge),
    ("<=", Op::Le),
    ("!~", Op::NotMatch),
    ("=", Op::Eq),
    (">", Op::Gt),
    ("<", Op::Lt),
    ("~", Op::Match),
];

/// The symbols that combine terms, longest first. Where an operator begins
/// (`!=`, `!~`), `!` is not one.
const SYMBOLS: [(&str, Tok); 5] =
    [("&&", Tok::And), ("||", Tok::Or), ("(", Tok::LParen), (")", Tok::RParen), ("!", Tok::Not)];

/// The words that combine terms, in any case. Where an operator follows,
/// the word is a key: `and=1` is a term on a field named "and".
const KEYWORDS: [(&str, Tok); 3] = [("and", Tok::And), ("or", Tok::Or), ("not", Tok::Not)];

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    /// A whole `KEY OP VALUE`.
    Term(Term),
}

/// A token and the column where it begins.
#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) kind: Tok,
    pub(super) column: usize,
}

impl Token {
    /// The token as an error message names it.
    pub(super) fn describe(&self) -> String {
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

/// An error at 0-based character position `at`.
fn error(at: usize, message: String) -> FilterError {
    FilterError { column: at + 1, message }
}

/// Splits the text into tokens.
pub(super) fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut lexer = Lexer { chars: text.chars().collect(), at: 0 };
    let mut out = Vec::new();
    while lexer.skip_space() {
        out.push(lexer.token()?);
    }
    Ok(out)
}

/// The characters of the text and the position of the next one to read.
struct Lexer {
    chars: Vec<char>,
    at: usize,
}

impl Lexer {
    fn get(&self, at: usize) -> Option<char> {
        self.chars.get(at).copied()
    }

    /// Whether the text at position `at` begins with `s`.
    fn starts_with(&self, at: usize, s: &str) -> bool {
        s.chars().enumerate().all(|(k, c)| self.get(at + k) == Some(c))
    }

    /// The position of the first character at or after `at` that is not
    /// white space (the end of the text if none is).
    fn after_space(&self, at: usize) -> usize {
        at + self.chars[at..].iter().take_while(|c| c.is_whitespace()).count()
    }

    /// Moves past white space; whether any text is left.
    fn skip_space(&mut self) -> bool {
        self.at = self.after_space(self.at);
        self.at < self.chars.len()
    }

    /// The operator that begins at position `at`, and its length.
    fn operator_at(&self, at: usize) -> Option<(Op, usize)> {
        OPERATORS.iter().find(|(s, _)| self.starts_with(at, s)).map(|&(s, op)| (op, s.len()))
    }

    /// Reads the token that begins here (not white space).
    fn token(&mut self) -> Result<Token, FilterError> {
        let column = self.at + 1;
        if let Some(kind) = self.symbol() {
            return Ok(Token { kind, column });
        }
        match self.chars[self.at] {
            c if is_key_char(c) => self.word(),
            c @ ('&' | '|') => Err(error(self.at, format!("unexpected '{c}' (write '{c}{c}', or quote the value)"))),
            '"' | '\'' => Err(error(self.at, "expected a key before the quoted value (KEY OP VALUE)".into())),
            c => Err(error(self.at, format!("unexpected character '{}'", c.escape_debug()))),
        }
    }

    /// Reads a symbol that combines terms, if one begins here.
    fn symbol(&mut self) -> Option<Tok> {
        if self.operator_at(self.at).is_some() {
            return None;
        }
        let (s, kind) = SYMBOLS.iter().find(|(s, _)| self.starts_with(self.at, s))?;
        self.at += s.len();
        Some(kind.clone())
    }

    /// Reads a word: a keyword, or the key of a term and the rest of it.
    fn word(&mut self) -> Result<Token, FilterError> {
        let start = self.at;
        while self.get(self.at).is_some_and(is_key_char) {
            self.at += 1;
        }
        let word: String = self.chars[start..self.at].iter().collect();
        if self.operator_at(self.after_space(self.at)).is_none()
            && let Some((_, kind)) = KEYWORDS.iter().find(|(k, _)| word.eq_ignore_ascii_case(k))
        {
            return Ok(Token { kind: kind.clone(), column: start + 1 });
        }
        self.term(word, start)
    }

    /// Reads the operator and the value of the term whose key `key` began
    /// at position `start`.
    fn term(&mut self, key: String, start: usize) -> Result<Token, FilterError> {
        self.skip_space();
        let Some((op, len)) = self.operator_at(self.at) else {
            let found = match self.get(self.at) {
                None => "the end of the filter".to_owned(),
                Some(c) => format!("'{}'", c.escape_debug()),
            };
            return Err(error(
                self.at,
                format!("expected an operator (= != > >= < <= ~ !~) after '{key}', found {found}"),
            ));
        };
        self.at += len;
        self.skip_space();
        let value_at = self.at;
        let value = match self.get(self.at) {
            Some(quote @ ('"' | '\'')) => self.quoted(quote)?,
            _ => {
                self.bare().ok_or_else(|| error(value_at, format!("expected a value after '{key}{}'", op.as_str())))?
            }
        };
        let term = Term { key: Key::from_name(&key), op, value, key_column: start + 1, value_column: value_at + 1 };
        Ok(Token { kind: Tok::Term(term), column: start + 1 })
    }

    /// Reads a value in `quote`s: `\"`, `\'` and `\\` stand for the
    /// character after the backslash.
    fn quoted(&mut self, quote: char) -> Result<String, FilterError> {
        let start = self.at;
        self.at += 1;
        let mut value = String::new();
        loop {
            match (self.get(self.at), self.get(self.at + 1)) {
                (None, _) => return Err(error(start, "unterminated quoted value".into())),
                (Some('\\'), Some(c @ ('"' | '\'' | '\\'))) => {
                    value.push(c);
                    self.at += 2;
                }
                (Some(c), _) if c == quote => {
                    self.at += 1;
                    return Ok(value);
                }
                (Some(c), _) => {
                    value.push(c);
                    self.at += 1;
                }
            }
        }
    }

    /// Reads a bare value: up to white space, or to a `)` that closes no
    /// parenthesis opened inside the value. `None` if it is empty.
    fn bare(&mut self) -> Option<String> {
        let start = self.at;
        let mut depth = 0usize;
        while let Some(c) = self.get(self.at).filter(|c| !c.is_whitespace()) {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => break,
                ')' => depth -= 1,
                _ => {}
            }
            self.at += 1;
        }
        (self.at > start).then(|| self.chars[start..self.at].iter().collect())
    }
}
