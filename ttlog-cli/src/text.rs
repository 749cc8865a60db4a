//! Making untrusted log text safe for a terminal.
//!
//! Snapshot text (messages, targets, string fields, thread names, file names)
//! comes from whoever wrote the file. Control characters (C0, DEL, C1 —
//! which include ESC and CSI, the start of every terminal escape sequence)
//! and the Unicode bidirectional overrides are shown escaped as `\n`, `\t`,
//! `\u{1b}`…, never passed to the terminal. Invalid UTF-8 was already
//! replaced by U+FFFD when the snapshot was decoded.

use std::borrow::Cow;

/// Whether `c` must be shown escaped.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Appends `s` to `out` with unsafe characters escaped (and `\` doubled
/// when `quote` is set, so that the result reads back unambiguously).
pub fn push_escaped(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' if quote => out.push_str("\\\\"),
            '"' if quote => out.push_str("\\\""),
            c if is_unsafe(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// `s` with unsafe characters escaped; borrowed when nothing needed it.
///
/// ```
/// assert_eq!(ttlog_cli::text::escape("plain"), "plain");
/// assert_eq!(ttlog_cli::text::escape("red\x1b[31m\n"), "red\\u{1b}[31m\\n");
/// ```
pub fn escape(s: &str) -> Cow<'_, str> {
    if s.chars().any(is_unsafe) {
        let mut out = String::with_capacity(s.len() + 8);
        push_escaped(&mut out, s, false);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

/// Appends a field value's text: bare when it is a simple word, otherwise
/// in double quotes with escapes (so `key=value` pairs stay unambiguous).
pub fn push_value_text(out: &mut String, s: &str) {
    let simple = !s.is_empty() && s.chars().all(|c| !c.is_whitespace() && !is_unsafe(c) && c != '"' && c != '=');
    if simple {
        out.push_str(s);
    } else {
        out.push('"');
        push_escaped(out, s, true);
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi() {
        assert_eq!(escape("a\u{9b}31m\u{7f}\u{202e}b"), "a\\u{9b}31m\\u{7f}\\u{202e}b");
        let mut s = String::new();
        push_value_text(&mut s, "two words\x1b");
        assert_eq!(s, "\"two words\\u{1b}\"");
        let mut s = String::new();
        push_value_text(&mut s, "AAPL");
        assert_eq!(s, "AAPL");
        let mut s = String::new();
        push_value_text(&mut s, "");
        assert_eq!(s, "\"\"");
    }
}
