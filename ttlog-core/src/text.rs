//! Making untrusted text safe to show on a terminal.
//!
//! Log text (messages, targets, string fields, thread names, file and
//! service names) comes from whoever wrote the event or the snapshot file. A
//! terminal executes some characters instead of showing them: the escape
//! sequences that start with ESC or CSI can move the cursor, clear the
//! screen, set the window title or answer back; the Unicode bidirectional
//! controls reorder what is shown, so that a line reads differently from
//! what it holds. Everything TTLog prints for a person goes through this
//! module (the live listeners' lines, `ttlog-view`'s text output and
//! messages, the interactive view), so they all show such text the same way.
//!
//! # What is escaped, and how
//!
//! [`needs_escape`] says which characters are never passed through:
//!
//! - every control character: C0 (U+0000–U+001F), DEL (U+007F) and C1
//!   (U+0080–U+009F, which includes CSI, U+009B);
//! - the bidirectional formatting characters: the marks U+061C (ALM),
//!   U+200E (LRM) and U+200F (RLM), the embeddings and overrides
//!   U+202A–U+202E (LRE, RLE, PDF, LRO, RLO) and the isolates U+2066–U+2069
//!   (LRI, RLI, FSI, PDI);
//! - the line and paragraph separators U+2028 and U+2029, which some
//!   terminals and editors break lines at.
//!
//! Such a character is written `\n`, `\t` or `\r` (for those three), `\x..`
//! with two lower-case hex digits when it is ASCII (ESC is `\x1b`, the
//! notation ANSI sequences are usually written in), else `\u{…}` with its
//! code point in lower-case hex (CSI is `\u{9b}`, RLO `\u{202e}`). Bytes
//! that are not UTF-8 ([`escape_bytes`]) are written `\x..` too: they are
//! all 0x80 or above, so `\x80` is a byte and `\u{80}` a character.
//! Everything else, including `\` itself, is copied as it is, so ordinary
//! text (Windows paths, regexes) reads unchanged; where text must also read
//! back unambiguously, [`push_field_value`] quotes it and escapes `"` and
//! `\` too.
//!
//! ```
//! use ttlog_core::text::escape;
//! assert_eq!(escape("plain text"), "plain text");
//! assert_eq!(escape("\x1b[31mred\x1b[0m\n"), "\\x1b[31mred\\x1b[0m\\n");
//! assert_eq!(escape("a\u{202e}b\u{9b}6n"), "a\\u{202e}b\\u{9b}6n");
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown escaped: a control character (C0, DEL, C1), a
/// bidirectional formatting character, or U+2028 / U+2029 (see the
/// [module documentation](self)).
///
/// ```
/// use ttlog_core::text::needs_escape;
/// assert!(needs_escape('\x1b') && needs_escape('\u{9b}') && needs_escape('\u{2066}'));
/// assert!(!needs_escape('é') && !needs_escape('\\') && !needs_escape(' '));
/// ```
#[inline]
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every character of [`needs_escape`] escaped; borrowed when
/// there is none.
///
/// ```
/// use std::borrow::Cow;
/// assert!(matches!(ttlog_core::text::escape("AAPL"), Cow::Borrowed("AAPL")));
/// assert_eq!(ttlog_core::text::escape("bell\u{7}"), "bell\\x07");
/// ```
pub fn escape(s: &str) -> Cow<'_, str> {
    if s.chars().any(needs_escape) {
        let mut out = String::with_capacity(s.len() + 8);
        push_escaped(&mut out, s);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

/// Appends `s` to `out` with every character of [`needs_escape`] escaped.
///
/// ```
/// let mut out = String::from("msg: ");
/// ttlog_core::text::push_escaped(&mut out, "a\tb\u{2028}");
/// assert_eq!(out, "msg: a\\tb\\u{2028}");
/// ```
pub fn push_escaped(out: &mut String, s: &str) {
    push(out, s, false);
}

/// Bytes that should be UTF-8 but may not be (file names, raw input) as
/// text safe for a terminal: valid UTF-8 as [`escape`] writes it, every
/// byte of an invalid sequence as `\x..`. Borrowed when the bytes are UTF-8
/// and need no escape.
///
/// ```
/// assert_eq!(ttlog_core::text::escape_bytes(b"caf\xc3\xa9"), "café");
/// assert_eq!(ttlog_core::text::escape_bytes(b"a\xff\x1bb\xc2\x9b"), "a\\xff\\x1bb\\u{9b}");
/// ```
pub fn escape_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return escape(s);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        push_escaped(&mut out, chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    Cow::Owned(out)
}

/// Appends a field value's text for a `name=value` pair: bare when it is one
/// simple word, otherwise in double quotes with `"` and `\` escaped as well
/// as every character of [`needs_escape`], so that the pairs of a line split
/// unambiguously. Simple: not empty, and no whitespace, `"`, `=` or
/// character to escape.
///
/// ```
/// use ttlog_core::text::push_field_value;
/// let mut out = String::new();
/// for v in ["AAPL", "two words", "", "say \"hi\"\x1b"] {
///     out.push(' ');
///     push_field_value(&mut out, v);
/// }
/// assert_eq!(out, r#" AAPL "two words" "" "say \"hi\"\x1b""#);
/// ```
pub fn push_field_value(out: &mut String, s: &str) {
    let simple = !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || needs_escape(c) || c == '"' || c == '=');
    if simple {
        out.push_str(s);
    } else {
        out.push('"');
        push(out, s, true);
        out.push('"');
    }
}

/// [`push_escaped`], also escaping `"` and `\` when `quoted`.
fn push(out: &mut String, s: &str, quoted: bool) {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escaped = match c {
            '"' | '\\' => quoted,
            c => needs_escape(c),
        };
        if !escaped {
            continue;
        }
        out.push_str(&s[start..i]);
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads back what [`push_field_value`] wrote in quotes.
    fn unquote(q: &str) -> String {
        let body = q.strip_prefix('"').and_then(|q| q.strip_suffix('"')).expect("quoted");
        let mut out = String::new();
        let mut it = body.chars();
        while let Some(c) = it.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match it.next().expect("an escape") {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'u' => {
                    let hex: String = it.by_ref().skip(1).take_while(|&c| c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                }
                'x' => {
                    let hex: String = it.by_ref().take(2).collect();
                    out.push(char::from(u8::from_str_radix(&hex, 16).unwrap()));
                }
                e => panic!("unknown escape {e:?}"),
            }
        }
        out
    }

    #[test]
    fn escapes_controls_and_bidi() {
        // From ttlog-cli's copy.
        // (ttlog-cli wrote ASCII controls as `\u{1b}`.)
        assert_eq!(escape("a\u{9b}31m\u{7f}\u{202e}b"), "a\\u{9b}31m\\x7f\\u{202e}b");
        let mut s = String::new();
        push_field_value(&mut s, "two words\x1b");
        assert_eq!(s, "\"two words\\x1b\"");
        let mut s = String::new();
        push_field_value(&mut s, "AAPL");
        assert_eq!(s, "AAPL");
        let mut s = String::new();
        push_field_value(&mut s, "");
        assert_eq!(s, "\"\"");
        // From ttlog-tui's copy.
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("\x1b[31mred\x1b[0m\n"), "\\x1b[31mred\\x1b[0m\\n");
        assert_eq!(escape("a\u{202e}b\u{9b}"), "a\\u{202e}b\\u{9b}");
        // Every listed bidi character and separator, and nothing next to them.
        for c in
            ['\u{61c}', '\u{200e}', '\u{200f}', '\u{2028}', '\u{2029}', '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}']
        {
            assert_eq!(escape(&c.to_string()), format!("\\u{{{:x}}}", c as u32));
        }
        for c in ['\u{61b}', '\u{61d}', '\u{200d}', '\u{2027}', '\u{202f}', '\u{2065}', '\u{206a}', '\u{a0}', '\\'] {
            assert!(!needs_escape(c), "{c:?}");
        }
    }

    #[test]
    fn escapes_every_control_character() {
        // From ttlog-tui's copy.
        for c in (0u32..0x20).chain(0x7f..0xa0) {
            let c = char::from_u32(c).unwrap();
            let e = escape(&c.to_string()).into_owned();
            assert!(e.starts_with('\\') && !e.chars().any(char::is_control), "{c:?} -> {e:?}");
        }
    }

    #[test]
    fn escapes_every_bidi_control_and_separator() {
        // Unicode's Bidi_Control property (PropList.txt): ALM, LRM, RLM,
        // LRE..RLO, LRI..PDI; and the line and paragraph separators.
        let bidi = ['\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}'];
        let isolates = ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'];
        for c in bidi.into_iter().chain(isolates).chain(['\u{2028}', '\u{2029}']) {
            assert!(needs_escape(c), "{c:?}");
            assert_eq!(escape(&format!("a{c}b")), format!("a\\u{{{:x}}}b", c as u32));
        }
        assert_eq!(escape("\u{61c}"), "\\u{61c}");
        // Neighbours that are ordinary text.
        for c in ['\u{61b}', '\u{200d}', '\u{2027}', '\u{202f}'] {
            assert!(!needs_escape(c), "{c:?}");
        }
    }

    #[test]
    fn invalid_utf8_bytes_are_shown_as_hex() {
        assert!(matches!(escape_bytes(b"ok"), Cow::Borrowed("ok")));
        assert_eq!(escape_bytes(b"\xe2\x80\xae\xe2\x80"), "\\u{202e}\\xe2\\x80");
        assert_eq!(escape_bytes(b"\xc0\xafx\r\x00"), "\\xc0\\xafx\\r\\x00");
    }

    proptest! {
        #[test]
        fn escaped_text_holds_nothing_a_terminal_acts_on(s in any::<String>()) {
            let e = escape(&s);
            prop_assert!(!e.chars().any(needs_escape), "{e:?}");
            prop_assert_eq!(matches!(e, Cow::Borrowed(_)), !s.chars().any(needs_escape));
            let mut v = String::new();
            push_field_value(&mut v, &s);
            prop_assert!(!v.chars().any(needs_escape));
            // A quoted value reads back exactly; a bare one is the value.
            if v.starts_with('"') {
                prop_assert_eq!(unquote(&v), s);
            } else {
                prop_assert_eq!(v, s);
            }
        }

        #[test]
        fn escaped_bytes_hold_nothing_a_terminal_acts_on(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let e = escape_bytes(&b);
            prop_assert!(!e.chars().any(needs_escape), "{e:?}");
            if let Ok(s) = std::str::from_utf8(&b) {
                prop_assert_eq!(e, escape(s));
            }
        }
    }
}
