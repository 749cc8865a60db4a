//! The lexer: filter text to tokens.

use super::FilterError;
use super::parse::{Key, Op, Term};

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

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) kind: Tok,
    pub(super) column: usize,
}

impl Token {
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

/// Splits the text into tokens; a term is lexed whole, since a bare value
/// may contain anything but white space.
pub(super) fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
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
